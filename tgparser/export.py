"""Getting messages out: one documented field set, written as NDJSON, JSON or CSV.

The same rows come out of SQLite and PostgreSQL; writers stream, so memory stays flat
whatever the archive size. See docs/export.md for the fields.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, TextIO

from tgparser.errors import TgparserError
from tgparser.storage import Storage
from tgparser.storage.base import MessageFilter, Row
from tgparser.telegram.refs import CHANNEL_ID_OFFSET

FORMATS = ("ndjson", "json", "csv")

# The exported fields, in order. `raw` is added by --raw.
FIELDS: tuple[str, ...] = (
    "source_chat_id",
    "source_username",
    "chat_id",
    "message_id",
    "kind",
    "date",
    "edit_date",
    "author",
    "sender_id",
    "text",
    "url",
    "views",
    "forwards",
    "replies",
    "reactions",
    "media_kind",
    "album_id",
    "forward_from_id",
    "forward_from_name",
    "forward_from_message_id",
    "parent_message_id",
)
OPTIONAL_FIELDS = ("raw",)
# The stored columns the fields are made of (raw, the largest, only when asked for).
EXPORT_COLUMNS = (
    "chat_id",
    "message_id",
    "kind",
    "date",
    "edit_date",
    "sender_id",
    "sender_name",
    "post_author",
    "text",
    "views",
    "forwards",
    "replies",
    "reactions",
    "media_kind",
    "grouped_id",
    "fwd_from_id",
    "fwd_from_name",
    "fwd_from_message_id",
    "parent_chat_id",
    "parent_message_id",
)


class BadFields(TgparserError):
    """--fields names something that is not a field."""


def build_filter(
    storage: Storage,
    *,
    sources: Sequence[str] = (),
    kinds: Sequence[str] = (),
    since: datetime | None = None,
    until: datetime | None = None,
    has_media: bool = False,
    min_views: int | None = None,
    topic: str | None = None,
) -> MessageFilter:
    """A storage filter from command-line values; REFs must name followed chats."""
    if topic is not None and storage.get_topic(topic) is None:
        raise TgparserError(f"{topic}: no such topic (see `tgparser topics list`)")
    from tgparser.sources import find_source

    chat_ids = tuple(dict.fromkeys(find_source(storage, ref)["chat_id"] for ref in sources))
    if since is not None and until is not None and until <= since:
        raise TgparserError("--until must be after --since")
    return MessageFilter(
        sources=chat_ids,
        kinds=tuple(kinds),
        since=since,
        until=until,
        has_media=has_media,
        min_views=min_views,
        topic=topic,
    )


def choose_fields(fields: str | None, *, raw: bool = False) -> tuple[str, ...]:
    """The fields to write: all by default, or the comma-separated ones asked for."""
    if not fields:
        return FIELDS + (("raw",) if raw else ())
    chosen = tuple(f.strip() for f in fields.split(",") if f.strip())
    unknown = [f for f in chosen if f not in FIELDS + OPTIONAL_FIELDS]
    if unknown:
        raise BadFields(f"unknown field {unknown[0]!r} (fields: {', '.join(FIELDS)}, raw)")
    if raw and "raw" not in chosen:
        chosen += ("raw",)
    return chosen


def chat_link(chat_id: int, username: str | None) -> str | None:
    """The t.me address of a chat: public by username, private by its internal id."""
    if username:
        return f"https://t.me/{username}"
    if chat_id < -CHANNEL_ID_OFFSET:  # channels and supergroups: t.me/c/<internal id>
        return f"https://t.me/c/{-chat_id - CHANNEL_ID_OFFSET}"
    return None  # basic groups and private chats have no links


def message_url(row: Row) -> str | None:
    """A working link to the message; for a comment, to it under its channel post."""
    if row["kind"] == "comment" and row.get("parent_chat_id") is not None:
        channel = chat_link(row["parent_chat_id"], row.get("source_username"))
        if channel is None:
            return None
        return f"{channel}/{row['parent_message_id']}?comment={row['message_id']}"
    chat = chat_link(row["chat_id"], row.get("source_username"))
    return f"{chat}/{row['message_id']}" if chat else None


def export_record(row: Row, fields: Sequence[str] = FIELDS) -> dict[str, Any]:
    """A stored message as the documented export fields."""
    values = {
        "source_chat_id": row["parent_chat_id"]
        if row["kind"] == "comment" and row["parent_chat_id"] is not None
        else row["chat_id"],
        "source_username": row.get("source_username"),
        "chat_id": row["chat_id"],
        "message_id": row["message_id"],
        "kind": row["kind"],
        "date": iso_utc(row["date"]),
        "edit_date": iso_utc(row["edit_date"]),
        "author": row["post_author"] or row["sender_name"],
        "sender_id": row["sender_id"],
        "text": row["text"],
        "url": message_url(row),
        "views": row["views"],
        "forwards": row["forwards"],
        "replies": row["replies"],
        "reactions": row["reactions"],
        "media_kind": row["media_kind"],
        "album_id": row["grouped_id"],
        "forward_from_id": row["fwd_from_id"],
        "forward_from_name": row["fwd_from_name"],
        "forward_from_message_id": row["fwd_from_message_id"],
        "parent_message_id": row["parent_message_id"],
    }
    if fields is FIELDS:  # the default: already in order, nothing to pick
        return values
    values["raw"] = row.get("raw")
    return {name: values[name] for name in fields}


def iso_utc(value: datetime | str | None) -> str | None:
    """The export's timestamp format, fixed width: 2025-03-01T09:00:00.000000Z (rows read for
    export already carry it as text)."""
    if value is None or isinstance(value, str):
        return value
    return value.astimezone(UTC).isoformat(timespec="microseconds")[:-6] + "Z"


def export_messages(
    storage: Storage,
    out: TextIO,
    *,
    filters: MessageFilter,
    fmt: str = "ndjson",
    fields: Sequence[str] = FIELDS,
    with_comments: bool = False,
) -> int:
    """Write the selected messages to `out`; return how many were written."""
    columns = EXPORT_COLUMNS + (("raw",) if "raw" in fields else ())
    rows = storage.iter_export(filters, with_comments=with_comments, columns=columns)
    return write_records((export_record(r, fields) for r in rows), out, fmt, fields)


def write_records(
    records: Iterable[dict[str, Any]], out: TextIO, fmt: str, fields: Sequence[str]
) -> int:
    """NDJSON: one object per line. JSON: one array. CSV: RFC 4180 with a header row, nested
    values (reactions, raw) as JSON text. UTF-8, nothing ASCII-escaped."""
    if fmt not in FORMATS:
        raise TgparserError(f"unknown format {fmt!r} (use {', '.join(FORMATS)})")
    count = 0
    if fmt == "ndjson":
        lines: list[str] = []
        for record in records:
            lines.append(_dumps(record))
            if len(lines) == 1000:  # fewer, larger writes: the text layer's cost is per call
                out.write("\n".join(lines) + "\n")
                count += len(lines)
                lines = []
        if lines:
            out.write("\n".join(lines) + "\n")
            count += len(lines)
    elif fmt == "json":
        out.write("[")
        for record in records:
            out.write(",\n" if count else "\n")
            out.write(_dumps(record))
            count += 1
        out.write("\n]\n" if count else "]\n")
    else:
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(fields)
        for record in records:
            writer.writerow(_csv_value(record[name]) for name in fields)
            count += 1
    return count


_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return _dumps(value)
    return value
