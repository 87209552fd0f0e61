"""`export documents`: the current document of each selected message, with the message's
coordinates and link, in the export formats of tgparser.export (see docs/process.md)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any, TextIO

from tgparser.export import iso_utc, message_url, write_records
from tgparser.storage import Storage
from tgparser.storage.base import MessageFilter, Row

DOCUMENT_FIELDS: tuple[str, ...] = (
    "source_chat_id",
    "source_username",
    "chat_id",
    "message_id",
    "kind",
    "date",
    "url",
    "language",
    "text_clean",
    "summary",
    "keywords",
    "entities",
    "urls",
    "hashtags",
    "mentions",
    "is_ad",
    "ad_reasons",
    "is_noise",
    "noise_reason",
    "duplicate_of",
    "processor",
    "processor_version",
    "model",
    "prompt_id",
    "content_hash",
    "processed_at",
    "tokens_in",
    "tokens_out",
    "cost",
    "topic_ids",
)


def document_record(row: Row) -> dict[str, Any]:
    comment = row["kind"] == "comment" and row["parent_chat_id"] is not None
    duplicate = (
        {"chat_id": row["duplicate_of_chat_id"], "message_id": row["duplicate_of_message_id"]}
        if row["duplicate_of_message_id"] is not None
        else None
    )
    return {
        "source_chat_id": row["parent_chat_id"] if comment else row["chat_id"],
        "source_username": row["source_username"],
        "chat_id": row["chat_id"],
        "message_id": row["message_id"],
        "kind": row["kind"],
        "date": iso_utc(row["date"]),
        "url": message_url(row),
        "language": row["language"],
        "text_clean": row["text_clean"],
        "summary": row["summary"],
        "keywords": row["keywords"],
        "entities": row["entities"],
        "urls": row["urls"],
        "hashtags": row["hashtags"],
        "mentions": row["mentions"],
        "is_ad": row["is_ad"],
        "ad_reasons": row["ad_reasons"],
        "is_noise": row["is_noise"],
        "noise_reason": row["noise_reason"],
        "duplicate_of": duplicate,
        "processor": row["processor"],
        "processor_version": row["processor_version"],
        "model": row["model"] or None,
        "prompt_id": row["prompt_id"] or None,
        "content_hash": row["content_hash"],
        "processed_at": iso_utc(row["processed_at"]),
        "tokens_in": row["tokens_in"],
        "tokens_out": row["tokens_out"],
        "cost": row["cost"],
    }


def export_documents(
    storage: Storage,
    out: TextIO,
    *,
    filters: MessageFilter,
    fmt: str = "ndjson",
    no_ads: bool = False,
    no_noise: bool = False,
) -> int:
    """Write the current documents of the selected messages; return how many."""
    rows = storage.iter_current_documents(filters, no_ads=no_ads, no_noise=no_noise)
    records = (document_record(r) for r in rows)
    return write_records(_with_topic_ids(storage, records), out, fmt, DOCUMENT_FIELDS)


def _with_topic_ids(
    storage: Storage, records: Iterator[dict[str, Any]]
) -> Iterator[dict[str, Any]]:
    """Each record with `topic_ids`: the active topics its message belongs to (`topics`)."""
    for batch in iter(lambda: list(itertools.islice(records, 400)), []):
        topics = storage.topics_of_messages((r["chat_id"], r["message_id"]) for r in batch)
        for record in batch:
            record["topic_ids"] = topics.get((record["chat_id"], record["message_id"]), [])
            yield record
