"""Reads for `tgparser export kb`: messages with their current document, in one streamed query.

Everything a knowledge-base entry needs comes out of one SELECT per export, so memory stays
flat and the work is one pass over the archive: the message, the followed chat it belongs to,
the comments of a post (a correlated lookup through the parent index), and the message's
current document (the `llm` row when it was made from the message's current content, else the
`builtin` row made from it; a document of an older content does not count).

The functions take any `Storage`; the SQL is the same in both dialects except for the list
aggregate, which each dialect spells its own way.
"""

from __future__ import annotations

from collections.abc import Iterator

from tgparser.storage.base import MessageFilter, Row, Storage

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
# Document columns, read from the current document (null when there is none).
DOCUMENT_COLUMNS = {
    "processor": "text",
    "processor_version": "text",
    "model": "text",
    "prompt_id": "text",
    "text_clean": "text",
    "language": "text",
    "is_ad": "bool",
    "is_noise": "bool",
    "duplicate_of_chat_id": "int",
    "duplicate_of_message_id": "int",
    "keywords": "json",
    "summary": "text",
    "entities": "json",
}
# Kinds a knowledge base holds: service messages (joins, pins) carry no knowledge.
KB_KINDS = ("post", "comment", "message")


def _list_agg(storage: Storage, expression: str) -> str:
    """SQL joining the values of `expression` (text) with commas, in no particular order."""
    if storage.dialect == "postgresql":
        return f"string_agg({expression}, ',')"
    return f"group_concat({expression})"


def _current_document_joins() -> str:
    return (
        "LEFT JOIN documents dl ON dl.chat_id = m.chat_id AND dl.message_id = m.message_id "
        "AND dl.processor = 'llm' AND dl.content_hash = m.content_hash "
        "LEFT JOIN documents db ON db.chat_id = m.chat_id AND db.message_id = m.message_id "
        "AND db.processor = 'builtin' AND db.content_hash = m.content_hash"
    )


def iter_kb_messages(
    storage: Storage, f: MessageFilter, *, batch_size: int = 2000
) -> Iterator[Row]:
    """Stream the messages `f` selects, in (chat_id, date, message_id) order, each with:
    `source_username` / `source_title` (the followed chat's: a comment's channel);
    `comments`: a post's stored comments as sorted (chat_id, message_id) pairs;
    `document`: the current document's columns, or None when the message has none."""
    clauses, params = storage._filter_sql(f)
    columns = ", ".join(
        storage._timestamp_text(f"m.{c}") if c in _TIMESTAMPS else f"m.{c}" for c in MESSAGE_COLUMNS
    )
    documents = ", ".join(
        f"CASE WHEN dl.chat_id IS NOT NULL THEN dl.{c} ELSE db.{c} END" for c in DOCUMENT_COLUMNS
    )
    # A post's comments as "chat:message" pairs (they live in its discussion group).
    pair = "c.chat_id || ':' || c.message_id"
    comments = (
        f"CASE WHEN m.kind = 'post' THEN (SELECT {_list_agg(storage, pair)} "
        "FROM messages c WHERE c.parent_chat_id = m.chat_id "
        "AND c.parent_message_id = m.message_id AND c.kind = 'comment') END"
    )
    where = " AND ".join(clauses) if clauses else "1 = 1"
    sql = (
        f"SELECT {columns}, s.username, s.title, {comments}, "
        f"CASE WHEN dl.chat_id IS NOT NULL OR db.chat_id IS NOT NULL THEN 1 ELSE 0 END, "
        f"{documents} "
        "FROM messages m LEFT JOIN sources s "
        "ON s.chat_id = COALESCE(m.parent_chat_id, m.chat_id) "
        f"{_current_document_joins()} "
        f"WHERE {where} ORDER BY m.chat_id, m.date, m.message_id"
    )
    width = len(MESSAGE_COLUMNS)
    decode_json = storage.decoders.get("json")
    doc_decoders = [
        (name, storage.decoders[kind])
        for name, kind in DOCUMENT_COLUMNS.items()
        if kind in storage.decoders
    ]
    doc_names = tuple(DOCUMENT_COLUMNS)
    for values in storage._stream(sql, params, batch_size):
        row = dict(zip(MESSAGE_COLUMNS, values[:width], strict=True))
        if decode_json is not None and row["reactions"] is not None:
            row["reactions"] = decode_json(row["reactions"])
        username, title, comments_text, has_document = values[width : width + 4]
        row["source_username"] = username
        row["source_title"] = title
        row["comments"] = _pairs(comments_text) if comments_text else []
        if has_document:
            document = dict(zip(doc_names, values[width + 4 :], strict=True))
            for name, decode in doc_decoders:
                if document[name] is not None:
                    document[name] = decode(document[name])
            row["document"] = document
        else:
            row["document"] = None
        yield row


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
    sql = (
        f"SELECT count(*) FROM messages m {_current_document_joins()} "
        f"WHERE dl.chat_id IS NULL AND db.chat_id IS NULL{where}"
    )
    return int(storage._query(sql, params)[0][0])


def has_messages(storage: Storage) -> bool:
    """Whether the archive holds any message a knowledge base could contain."""
    marks = ", ".join([storage.placeholder] * len(KB_KINDS))
    sql = f"SELECT 1 FROM messages WHERE kind IN ({marks}) LIMIT 1"
    return bool(storage._query(sql, KB_KINDS))
