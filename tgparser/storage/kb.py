"""Reads for `tgparser export kb`: messages with their current document, in one streamed query.

Everything a knowledge-base entry needs comes out of one SELECT per export, so memory stays
flat and the work is one pass over the archive: the message, the followed chat it belongs to,
the comments of a post (a correlated lookup through the parent index), the active topics it
belongs to, and the message's current document (`documents.current_document_sql`: the `llm`
row when it was made from the message's current content, else the `builtin` row).

The functions take any `Storage`; the SQL is the same in both dialects except for the list
aggregate, which each dialect spells its own way.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

from tgparser.storage.base import MessageFilter, Row, Storage
from tgparser.storage.documents import current_document_sql

# Message columns an entry is made of (timestamps come back as ISO-8601 UTC text).
MESSAGE_COLUMNS = (
    "chat_id",
    "message_id",
    "kind",
    "date",
    "edit_date",
    "sender_name",
    "post_author",
    "text",
    "views",
    "forwards",
    "replies",
    "reactions",
    "parent_chat_id",
    "parent_message_id",
    "content_hash",
)
_TIMESTAMPS = ("date", "edit_date")
# Columns read from the current document (null when there is none).
DOCUMENT_COLUMNS = (
    "processor",
    "processor_version",
    "model",
    "prompt_id",
    "content_hash",
    "text_clean",
    "language",
    "is_ad",
    "is_noise",
    "duplicate_of_chat_id",
    "duplicate_of_message_id",
    "keywords",
    "summary",
    "entities",
)
# Kinds a knowledge base holds: service messages (joins, pins) carry no knowledge.
KB_KINDS = ("post", "comment", "message")


def _list_agg(storage: Storage, expression: str) -> str:
    """SQL joining the values of `expression` (text) with commas, in no particular order."""
    if storage.dialect == "postgresql":
        return f"string_agg({expression}, ',')"
    return f"group_concat({expression})"


def _document_join() -> str:
    """The message's current document as `d` (no row: the message was never processed)."""
    return (
        "LEFT JOIN documents d ON d.chat_id = m.chat_id AND d.message_id = m.message_id "
        f"AND {current_document_sql('d', 'm')}"
    )


def _topic_ids_sql(storage: Storage) -> str:
    """SQL: the active topics a message belongs to, comma-separated."""
    return (
        f"(SELECT {_list_agg(storage, 'tm.topic_id')} FROM topic_members tm "
        "JOIN topics t ON t.id = tm.topic_id "
        "WHERE tm.chat_id = m.chat_id AND tm.message_id = m.message_id AND t.status = 'active')"
    )


def iter_kb_messages(
    storage: Storage, f: MessageFilter, *, batch_size: int = 2000
) -> Iterator[Row]:
    """Stream the messages `f` selects, in (chat_id, date, message_id) order, each with:
    `source_username` / `source_title` (the followed chat's: a comment's channel);
    `comments`: a post's stored comments as sorted (chat_id, message_id) pairs;
    `topic_ids`: the active topics it belongs to, sorted;
    `document`: the current document's columns, or None when the message has none."""
    clauses, params = storage._filter_sql(f)

    def column(name: str) -> str:
        if name in _TIMESTAMPS:
            return storage._timestamp_text(f"m.{name}")
        if name == "text":  # needed only without a document (which has text_clean)
            return "CASE WHEN d.chat_id IS NULL THEN m.text END"
        return f"m.{name}"

    columns = ", ".join(column(c) for c in MESSAGE_COLUMNS)
    documents = ", ".join(f"d.{c}" for c in DOCUMENT_COLUMNS)
    # A post's comments as "chat:message" pairs (they live in its discussion group).
    pair = "c.chat_id || ':' || c.message_id"
    comments = (
        f"CASE WHEN m.kind = 'post' THEN (SELECT {_list_agg(storage, pair)} "
        "FROM messages c WHERE c.parent_chat_id = m.chat_id "
        "AND c.parent_message_id = m.message_id AND c.kind = 'comment') END"
    )
    where = " AND ".join(clauses) if clauses else "1 = 1"
    sql = (
        f"SELECT {columns}, s.username, s.title, {comments}, {_topic_ids_sql(storage)}, "
        f"d.chat_id, {documents} "
        "FROM messages m LEFT JOIN sources s "
        "ON s.chat_id = COALESCE(m.parent_chat_id, m.chat_id) "
        f"{_document_join()} "
        f"WHERE {where} ORDER BY m.chat_id, m.date, m.message_id"
    )
    width = len(MESSAGE_COLUMNS)
    decode_json = _fast_json(storage.decoders.get("json"))
    doc_names = tuple(DOCUMENT_COLUMNS)
    doc_decoders = [
        (name, _fast_json(decode))
        for name, decode in storage._decoded_columns("documents", doc_names)
    ]
    # The SELECT fixes the tuple's shape: plain zip, no per-row length checks (a row a message).
    columns_and_extras = (
        *MESSAGE_COLUMNS,
        "source_username",
        "source_title",
        "comments",
        "topic_ids",
    )
    first_doc = width + 5
    for values in storage._stream(sql, params, batch_size):
        row = dict(zip(columns_and_extras, values))  # noqa: B905 - stops at topic_ids
        if decode_json is not None and row["reactions"] is not None:
            row["reactions"] = decode_json(row["reactions"])
        comments_text, topics_text = row["comments"], row["topic_ids"]
        row["comments"] = _pairs(comments_text) if comments_text else []
        row["topic_ids"] = sorted(topics_text.split(",")) if topics_text else []
        if values[first_doc - 1] is not None:
            document = dict(zip(doc_names, values[first_doc:]))  # noqa: B905 - same length
            for name, decode in doc_decoders:
                if document[name] is not None:
                    document[name] = decode(document[name])
            row["document"] = document
        else:
            row["document"] = None
        yield row


def _fast_json(decode: Callable[[Any], Any] | None) -> Callable[[Any], Any] | None:
    """`json.loads` without its Python layers (a tenth of the row reading, with two JSON
    columns a row): the C scanner straight on the stored text, `json.loads` for anything it
    does not read whole (leading or trailing space: never written by tgparser)."""
    if decode is not json.loads:
        return decode
    scan = json.JSONDecoder().scan_once

    def loads(text: str) -> Any:
        try:
            value, end = scan(text, 0)
        except StopIteration:
            return json.loads(text)  # raises the usual error
        return value if end == len(text) else json.loads(text)

    return loads


def _pairs(text: str) -> list[tuple[int, int]]:
    pairs = []
    for item in text.split(","):
        chat, message = item.rsplit(":", 1)
        pairs.append((int(chat), int(message)))
    return sorted(pairs)


def count_unprocessed(storage: Storage, f: MessageFilter) -> int:
    """How many of the messages `f` selects have no current document."""
    clauses, params = storage._filter_sql(f)
    where = "".join(f" AND {c}" for c in clauses)
    sql = f"SELECT count(*) FROM messages m {_document_join()} WHERE d.chat_id IS NULL{where}"
    return int(storage._query(sql, params)[0][0])


def has_messages(storage: Storage) -> bool:
    """Whether the archive holds any message a knowledge base could contain."""
    marks = ", ".join([storage.placeholder] * len(KB_KINDS))
    sql = f"SELECT 1 FROM messages WHERE kind IN ({marks}) LIMIT 1"
    return bool(storage._query(sql, KB_KINDS))


# -- topics ---------------------------------------------------------------------------------------

TOPIC_COLUMNS = (
    "id",
    "space",
    "type",
    "title",
    "summary",
    "scope_in",
    "scope_out",
    "keywords",
    "tags",
    "related_topics",
    "anchors",
    "size",
    "first_date",
    "last_date",
    "lineage",
    "builder_version",
    "model",
    "prompt_id",
    "created_at",
    "updated_at",
)
_TOPIC_TIMESTAMPS = ("first_date", "last_date", "created_at", "updated_at")
MEMBER_COLUMNS = (
    "chat_id",
    "message_id",
    "role",
    "member_kind",
    "score",
    "justification",
    "date",
    "kind",
    "parent_chat_id",
    "parent_message_id",
    "source_username",
    "source_title",
    "excerpt",
)
EXCERPT_CHARS = 400  # read from the database; the KB cuts excerpts shorter, at a word


def list_kb_topics(storage: Storage, f: MessageFilter) -> list[Row]:
    """The active topics with at least one member among the messages `f` selects, biggest
    first (then by id), without their vectors. Timestamps as ISO-8601 UTC text."""
    clauses, params = storage._filter_sql(f)
    where = "".join(f" AND {c}" for c in clauses)
    columns = ", ".join(
        storage._timestamp_text(f"t.{c}") if c in _TOPIC_TIMESTAMPS else f"t.{c}"
        for c in TOPIC_COLUMNS
    )
    sql = (
        f"SELECT {columns} FROM topics t WHERE t.status = 'active' AND EXISTS ("
        "SELECT 1 FROM topic_members tm JOIN messages m "
        "ON m.chat_id = tm.chat_id AND m.message_id = tm.message_id "
        f"WHERE tm.topic_id = t.id{where}) ORDER BY t.size DESC, t.id"
    )
    decoders = storage._decoded_columns(
        "topics", tuple(c for c in TOPIC_COLUMNS if c not in _TOPIC_TIMESTAMPS)
    )
    topics = []
    for values in storage._query(sql, params):
        row = dict(zip(TOPIC_COLUMNS, values, strict=True))
        for name, decode in decoders:
            if row[name] is not None:
                row[name] = decode(row[name])
        topics.append(row)
    return topics


def topic_bundle(storage: Storage, topic_id: str) -> list[Row]:
    """A topic's members, anchors first then by score, each resolved against the archive:
    the message's date (text), kind, parent, followed chat and the start of its current text
    (`excerpt`: the document's text_clean, else the raw text). Members whose message is no
    longer in the archive are left out."""
    p = storage.placeholder
    sql = (
        "SELECT tm.chat_id, tm.message_id, tm.role, tm.kind, tm.score, tm.justification, "
        f"{storage._timestamp_text('m.date')}, m.kind, m.parent_chat_id, m.parent_message_id, "
        "s.username, s.title, "
        f"substr(CASE WHEN d.chat_id IS NULL THEN m.text ELSE d.text_clean END, 1, "
        f"{EXCERPT_CHARS}) "
        "FROM topic_members tm JOIN messages m "
        "ON m.chat_id = tm.chat_id AND m.message_id = tm.message_id "
        "LEFT JOIN sources s ON s.chat_id = COALESCE(m.parent_chat_id, m.chat_id) "
        f"{_document_join()} "
        f"WHERE tm.topic_id = {p} "
        "ORDER BY CASE tm.role WHEN 'anchor' THEN 0 ELSE 1 END, tm.score DESC, "
        "tm.chat_id, tm.message_id"
    )
    return [dict(zip(MEMBER_COLUMNS, v, strict=True)) for v in storage._query(sql, (topic_id,))]
