"""t.me links to chats and messages: one place builds them for export, search, transcripts,
stats, documents, topics and the knowledge base."""

from __future__ import annotations

from typing import Any

# Marked channel ids are -(10**12 + id). Defined here, not in `tgparser.telegram.refs` (which
# imports it from here): export and search build links without importing the REF parser.
CHANNEL_ID_OFFSET = 1_000_000_000_000


def chat_link(chat_id: int, username: str | None) -> str | None:
    """The t.me address of a chat: public by username, private by its internal id."""
    if username:
        return f"https://t.me/{username}"
    if chat_id < -CHANNEL_ID_OFFSET:  # channels and supergroups: t.me/c/<internal id>
        return f"https://t.me/c/{-chat_id - CHANNEL_ID_OFFSET}"
    return None  # basic groups and private chats have no links


def message_url(row: dict[str, Any]) -> str | None:
    """A working link to the message; for a comment, to it under its channel post."""
    if row["kind"] == "comment" and row.get("parent_chat_id") is not None:
        channel = chat_link(row["parent_chat_id"], row.get("source_username"))
        if channel is None:
            return None
        return f"{channel}/{row['parent_message_id']}?comment={row['message_id']}"
    chat = chat_link(row["chat_id"], row.get("source_username"))
    return f"{chat}/{row['message_id']}" if chat else None
