"""What every source of messages (the API, Telegram Desktop exports) computes the same way."""

from __future__ import annotations

import hashlib
import json
from typing import Any

# Bumped if the canonical form hashed by content_hash ever changes, so old and new hashes
# can never collide by accident.
_HASH_VERSION = 1

# Built once: json.dumps() with options constructs a new encoder on every call.
_canonical_json = json.JSONEncoder(
    sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False
).encode


def content_hash(text: str, entities: list | None, media: dict | None) -> str:
    """sha256 hex identifying one *version* of a message's content.

    Covers the text, its formatting and which media is attached (kind + id), and nothing that
    moves on its own (views, forwards, reactions, replies, poll votes), so a changed hash means
    the message was really edited. ``None`` and empty text/entities hash the same.
    """
    payload = {
        "v": _HASH_VERSION,
        "text": text or "",
        "entities": entities or [],
        "media": _media_identity(media),
    }
    return hashlib.sha256(_canonical_json(payload).encode("utf-8")).hexdigest()


def _media_identity(media: dict | None) -> Any:
    if not media:
        return None
    if media.get("id") is not None:
        return {"kind": media.get("kind"), "id": media["id"]}
    # Id-less media (geo, contact, dice, ...) are identified by their whole metadata, so e.g.
    # a live location update is a new version.
    return media
