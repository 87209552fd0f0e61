"""The table registry: every table tgparser creates, the logical type of each of its columns,
and whether `db copy` / `db verify` carry it.

The SQL files say how each dialect stores a column; this map says what Python value it is, so
both adapters can hand back the same values (aware UTC datetimes, parsed JSON, bools, ints) for
the same row. A test checks it against the migrated schema of both dialects, so the two cannot
drift apart.
"""

from __future__ import annotations

from typing import Literal

ColumnType = Literal["int", "text", "timestamp", "json", "bool", "float"]

TABLE_COLUMNS: dict[str, dict[str, ColumnType]] = {
    "sources": {
        "chat_id": "int",
        "username": "text",
        "title": "text",
        "type": "text",
        "linked_chat_id": "int",
        "options": "json",
        "status": "text",
        "created_at": "timestamp",
        "updated_at": "timestamp",
        "access_hash": "int",
        "linked_access_hash": "int",
        "high_water_id": "int",
        "low_water_id": "int",
        "backfill_done": "bool",
        "not_before": "timestamp",
        "telegram_count": "int",
    },
    "messages": {
        "chat_id": "int",
        "message_id": "int",
        "kind": "text",
        "date": "timestamp",
        "edit_date": "timestamp",
        "sender_id": "int",
        "sender_name": "text",
        "post_author": "text",
        "text": "text",
        "entities": "json",
        "reply_to_msg_id": "int",
        "reply_to_top_id": "int",
        "forum_topic_id": "int",
        "parent_chat_id": "int",
        "parent_message_id": "int",
        "views": "int",
        "forwards": "int",
        "replies": "int",
        "replies_max_id": "int",
        "reactions": "json",
        "fwd_from_id": "int",
        "fwd_from_name": "text",
        "fwd_from_message_id": "int",
        "fwd_post_author": "text",
        "fwd_date": "timestamp",
        "grouped_id": "int",
        "action": "text",
        "media_kind": "text",
        "media": "json",
        "is_pinned": "bool",
        "raw": "json",
        "content_hash": "text",
        "first_seen_at": "timestamp",
        "updated_at": "timestamp",
    },
    "ingest_runs": {
        "id": "int",
        "chat_id": "int",
        "started_at": "timestamp",
        "finished_at": "timestamp",
        "status": "text",
        "fetched": "int",
        "inserted": "int",
        "updated": "int",
        "error": "text",
        "details": "json",
    },
    "message_versions": {
        "chat_id": "int",
        "message_id": "int",
        "content_hash": "text",
        "text": "text",
        "entities": "json",
        "media_kind": "text",
        "media": "json",
        "edit_date": "timestamp",
        "captured_at": "timestamp",
    },
    "thread_cursors": {
        "chat_id": "int",
        "message_id": "int",
        "synced_max_id": "int",
        "synced_at": "timestamp",
    },
    "source_locks": {
        "chat_id": "int",
        "owner": "text",
        "host": "text",
        "pid": "int",
        "acquired_at": "timestamp",
        "expires_at": "timestamp",
    },
    "documents": {
        "chat_id": "int",
        "message_id": "int",
        "processor": "text",
        "processor_version": "text",
        "model": "text",
        "prompt_id": "text",
        "content_hash": "text",
        "text_clean": "text",
        "text_hash": "text",
        "language": "text",
        "urls": "json",
        "hashtags": "json",
        "mentions": "json",
        "is_ad": "bool",
        "ad_reasons": "json",
        "is_noise": "bool",
        "noise_reason": "text",
        "duplicate_of_chat_id": "int",
        "duplicate_of_message_id": "int",
        "keywords": "json",
        "summary": "text",
        "entities": "json",
        "tokens_in": "int",
        "tokens_out": "int",
        "cost": "float",
        "processed_at": "timestamp",
    },
    "document_failures": {
        "chat_id": "int",
        "message_id": "int",
        "processor": "text",
        "processor_version": "text",
        "model": "text",
        "prompt_id": "text",
        "content_hash": "text",
        "error": "text",
        "attempts": "int",
        "first_failed_at": "timestamp",
        "last_attempt_at": "timestamp",
    },
    "llm_cache": {
        "model": "text",
        "prompt_id": "text",
        "input_hash": "text",
        "response": "json",
        "tokens_in": "int",
        "tokens_out": "int",
        "cost": "float",
        "created_at": "timestamp",
    },
    "process_chats": {
        "chat_id": "int",
        "processor": "text",
        "identity": "text",
        "scanned_to": "timestamp",
        "owner": "text",
        "host": "text",
        "pid": "int",
        "expires_at": "timestamp",
    },
}

# Columns the database maintains itself (never written or read by tgparser): PostgreSQL's
# generated full-text vector. SQLite keeps its search index in a separate FTS5 table.
INTERNAL_COLUMNS: dict[str, frozenset[str]] = {"messages": frozenset({"search"})}

# The tables `db copy` and `db verify` carry, in foreign-key order (parents first). A table a
# migration creates is either here or in NOT_COPIED with the reason: a test fails otherwise, so
# a new table can never be silently left out of a "verified" copy.
COPIED_TABLES: tuple[str, ...] = (
    "sources",
    "ingest_runs",
    "messages",
    "message_versions",
    "thread_cursors",
    "documents",
    "document_failures",
    # Paid-for LLM replies: copying them means the target never pays for the same text again.
    "llm_cache",
)
NOT_COPIED: dict[str, str] = {
    "source_locks": "a running ingest's lock on its source, not archive data",
    "process_chats": "where process runs scanned to and which run holds a chat; a target "
    "without it rescans once against its copied documents, which is correct",
}

MESSAGE_KINDS = ("post", "comment", "message", "service")
SOURCE_TYPES = ("channel", "supergroup", "group", "forum", "user")
