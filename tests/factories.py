"""Small builders for records, so tests state only what they are about."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

BASE_DATE = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
CHANNEL_ID = -1001234567890


def make_source(chat_id: int = CHANNEL_ID, **fields: Any) -> dict[str, Any]:
    return {
        "chat_id": chat_id,
        "username": "expert_channel",
        "title": "Expert channel",
        "type": "channel",
        **fields,
    }


def make_message(message_id: int = 1, chat_id: int = CHANNEL_ID, **fields: Any) -> dict[str, Any]:
    text = fields.get("text", f"post number {message_id}")
    record = {
        "chat_id": chat_id,
        "message_id": message_id,
        "kind": "post",
        "date": BASE_DATE + timedelta(minutes=message_id),
        "text": text,
        "views": 10 * message_id,
        "raw": {"_": "Message", "id": message_id, "message": text},
        "content_hash": hashlib.sha256(text.encode()).hexdigest(),
    }
    record.update(fields)
    return record
