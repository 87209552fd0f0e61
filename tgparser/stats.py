"""`stats`: what the archive holds per followed chat."""

from __future__ import annotations

from typing import Any

from tgparser.export import chat_link, iso_utc
from tgparser.storage import Storage


def archive_stats(storage: Storage) -> list[dict[str, Any]]:
    """Per source: posts (or messages), comments, first and last message date, the last
    successful run, the last error, and the share of Telegram's own count archived."""
    out = []
    documents = storage.document_stats()
    for item in storage.source_stats():
        source = item["source"]
        telegram_count = source.get("telegram_count")
        last_run = item["last_run"]
        out.append(
            {
                "chat_id": source["chat_id"],
                "username": source["username"],
                "title": source["title"],
                "type": source["type"],
                "link": chat_link(source["chat_id"], source["username"]),
                "messages": item["messages"],
                "comments": item["comments"],
                "first_date": iso_utc(item["first_date"]),
                "last_date": iso_utc(item["last_date"]),
                "last_success_at": iso_utc(item["last_success_at"]),
                "last_error": last_run["error"] if last_run else None,
                "telegram_count": telegram_count,
                # Telegram counts messages still there; deleted ones we kept can push it over 1.
                "archived_share": round(item["messages"] / telegram_count, 4)
                if telegram_count
                else None,
                # Knowledge documents (`tgparser process`): posts and their comments.
                "documents": documents.get(
                    source["chat_id"], {"processed": 0, "pending": 0, "failed": 0, "ads": 0}
                ),
            }
        )
    return out
