"""Shared builders for the topics tests: the labelled story fixture as an archive."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.factories import CHANNEL_ID, make_source
from tgparser.storage import Storage

FIXTURE = Path(__file__).parent / "fixtures" / "topics_stories.txt"
BASE = datetime(2025, 3, 1, tzinfo=UTC)


def stories() -> list[tuple[str, str, str]]:
    """(story, language, text) of every fixture post, in file order."""
    rows = []
    for line in FIXTURE.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            story, lang, text = line.split("|", 2)
            rows.append((story, lang, text.strip()))
    return rows


def message(chat_id: int, message_id: int, text: str, **fields: Any) -> dict[str, Any]:
    return {
        "chat_id": chat_id,
        "message_id": message_id,
        "kind": "post",
        "date": BASE + timedelta(minutes=message_id),
        "text": text,
        "raw": {"_": "Message", "id": message_id},
        "content_hash": hashlib.sha256(text.encode()).hexdigest(),
        **fields,
    }


def document(msg: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {
        "chat_id": msg["chat_id"],
        "message_id": msg["message_id"],
        "processor": "builtin",
        "processor_version": "test",
        "content_hash": msg["content_hash"],
        "text_clean": msg["text"],
        **fields,
    }


def add_posts(
    storage: Storage,
    posts: list[tuple[int, str]],
    chat_id: int = CHANNEL_ID,
    *,
    username: str = "expert_channel",
    doc_fields: dict[int, dict[str, Any]] | None = None,
    msg_fields: dict[int, dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """Store posts (message id, text) of a channel and their builtin documents."""
    if storage.get_source(chat_id) is None:
        storage.upsert_source(make_source(chat_id, username=username))
    messages = [
        message(chat_id, mid, text, **(msg_fields or {}).get(mid, {})) for mid, text in posts
    ]
    storage.upsert_messages(messages)
    storage.upsert_documents(
        [document(m, **(doc_fields or {}).get(m["message_id"], {})) for m in messages]
    )
    return messages


def fixture_archive(storage: Storage, chat_id: int = CHANNEL_ID) -> dict[int, str]:
    """The whole story fixture as one channel's posts; returns message id -> story."""
    rows = stories()
    add_posts(storage, [(i + 1, text) for i, (_, _, text) in enumerate(rows)], chat_id)
    return {i + 1: story for i, (story, _, _) in enumerate(rows)}


def assignment(storage: Storage, space: str) -> dict[tuple[int, int], str]:
    """(chat_id, message_id) -> topic id, for the posts of a space's active topics."""
    active = {t["id"] for t in storage.list_topics(statuses=["active"])}
    return {
        (m["chat_id"], m["message_id"]): m["topic_id"]
        for m in storage.space_members(space)
        if m["kind"] == "post" and m["topic_id"] in active
    }
