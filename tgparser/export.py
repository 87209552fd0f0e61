"""Getting messages out: one documented field set, written as NDJSON, JSON or CSV.

The same rows come out of SQLite and PostgreSQL; writers stream, so memory stays flat
whatever the archive size. See docs/export.md for the fields.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import stat
import sys
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from tgparser.errors import TgparserError
from tgparser.links import (  # noqa: F401 - chat_link and message_url: part of this module's API
    CHANNEL_ID_OFFSET,
    chat_link,
    message_url,
)
from tgparser.storage import Storage
from tgparser.storage.base import MessageFilter, Row

FORMATS = ("ndjson", "json", "csv", "txt", "html")
# For people rather than programs: a transcript of every message, not a choice of fields.
READABLE_FORMATS = ("txt", "html")

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
    "reply_to_message_id",
    "forum_topic_id",
    "action",
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
    "reply_to_msg_id",
    "forum_topic_id",
    "action",
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
    authors: Sequence[str] = (),
) -> MessageFilter:
    """A storage filter from command-line values; REFs must name followed chats, and each
    AUTHOR (a sender id, or a signature or sender name, exactly) someone in the archive."""
    if topic is not None and storage.get_topic(topic) is None:
        raise TgparserError(f"{topic}: no such topic (see `tgparser topics list`)")
    chat_ids: tuple[int, ...] = ()
    if sources:
        from tgparser.sources import find_source

        chat_ids = tuple(dict.fromkeys(find_source(storage, ref)["chat_id"] for ref in sources))
    if since is not None and until is not None and until <= since:
        raise TgparserError("--until must be after --since")
    wanted: list[int | str] = []
    for author in authors:
        value = _author_value(author)
        probe = storage.iter_export(MessageFilter(authors=(value,)), columns=("chat_id",), limit=1)
        if next(probe, None) is None:
            raise TgparserError(
                f"--from {author}: nobody of that name or id wrote a message in the archive "
                "(names must match exactly: the post signature or the sender's full name)"
            )
        wanted.append(value)
    return MessageFilter(
        sources=chat_ids,
        kinds=tuple(kinds),
        since=since,
        until=until,
        has_media=has_media,
        min_views=min_views,
        topic=topic,
        authors=tuple(wanted),
    )


def _author_value(author: str) -> int | str:
    text = author.strip()
    try:
        return int(text)
    except ValueError:
        return text


def choose_fields(fields: str | None, *, raw: bool = False) -> tuple[str, ...]:
    """The fields to write: all by default, or the comma-separated ones asked for."""
    if fields is None:
        return FIELDS + (("raw",) if raw else ())
    chosen = tuple(f.strip() for f in fields.split(",") if f.strip())
    if not chosen:
        raise BadFields(f"--fields names no field (fields: {', '.join(FIELDS)}, raw)")
    unknown = [f for f in chosen if f not in FIELDS + OPTIONAL_FIELDS]
    if unknown:
        raise BadFields(f"unknown field {unknown[0]!r} (fields: {', '.join(FIELDS)}, raw)")
    if raw and "raw" not in chosen:
        chosen += ("raw",)
    return chosen


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
        "reactions": _reactions(row["reactions"]),
        "media_kind": row["media_kind"],
        "album_id": row["grouped_id"],
        "forward_from_id": row["fwd_from_id"],
        "forward_from_name": row["fwd_from_name"],
        "forward_from_message_id": row["fwd_from_message_id"],
        "parent_message_id": row["parent_message_id"],
        "reply_to_message_id": row["reply_to_msg_id"],
        "forum_topic_id": row["forum_topic_id"],
        "action": row["action"],
    }
    if fields is FIELDS:  # the default: already in order, nothing to pick
        return values
    values["raw"] = row.get("raw")
    return {name: values[name] for name in fields}


def _reactions(value: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
    """The documented key order, whatever the backend handed back (jsonb sorts keys)."""
    if not value:
        return value
    return [{"reaction": x.get("reaction"), "count": x.get("count"), **x} for x in value]


# The export fields as SQL over messages m and the followed chat's sources row s, for
# exports the database writes itself (`Storage.iter_export_json`); the same values as
# `export_record`, which tests/test_hardening_output.py checks byte for byte.
_CHAT_LINK = (
    "CASE WHEN s.username <> '' THEN 'https://t.me/' || s.username "
    f"WHEN {{chat}} < -{CHANNEL_ID_OFFSET} "
    f"THEN 'https://t.me/c/' || (-{{chat}} - {CHANNEL_ID_OFFSET}) END"
)
_FIELD_SQL = {
    "source_chat_id": "CASE WHEN m.kind = 'comment' AND m.parent_chat_id IS NOT NULL "
    "THEN m.parent_chat_id ELSE m.chat_id END",
    "source_username": "s.username",
    "chat_id": "m.chat_id",
    "message_id": "m.message_id",
    "kind": "m.kind",
    "author": "CASE WHEN m.post_author <> '' THEN m.post_author ELSE m.sender_name END",
    "sender_id": "m.sender_id",
    "text": "m.text",
    "url": "CASE WHEN m.kind = 'comment' AND m.parent_chat_id IS NOT NULL THEN "
    + _CHAT_LINK.format(chat="m.parent_chat_id")
    + " || '/' || m.parent_message_id || '?comment=' || m.message_id ELSE "
    + _CHAT_LINK.format(chat="m.chat_id")
    + " || '/' || m.message_id END",
    "views": "m.views",
    "forwards": "m.forwards",
    "replies": "m.replies",
    "media_kind": "m.media_kind",
    "album_id": "m.grouped_id",
    "forward_from_id": "m.fwd_from_id",
    "forward_from_name": "m.fwd_from_name",
    "forward_from_message_id": "m.fwd_from_message_id",
    "parent_message_id": "m.parent_message_id",
    "reply_to_message_id": "m.reply_to_msg_id",
    "forum_topic_id": "m.forum_topic_id",
    "action": "m.action",
}


def field_sql(storage: Storage, fields: Sequence[str]) -> list[tuple[str, str]]:
    """(name, SQL expression) of each export field, for `Storage.iter_export_json`."""
    special = {
        "date": storage.timestamp_text_sql("m.date"),
        "edit_date": storage.timestamp_text_sql("m.edit_date"),
        "reactions": storage.reactions_json_sql("m.reactions"),
    }
    return [(name, special.get(name) or _FIELD_SQL[name]) for name in fields]


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
    limit: int | None = None,
) -> int:
    """Write the selected messages to `out`; return how many were written. The readable
    formats (txt, html) always use every field and show chat titles."""
    if fmt in READABLE_FORMATS:
        fields = FIELDS
    elif fmt in ("ndjson", "json") and "raw" not in fields:
        # Each object made by the database: no Python per row (raw JSON is re-encoded in
        # Python, so --raw takes the general path).
        lines = storage.iter_export_json(
            filters, field_sql(storage, fields), with_comments=with_comments, limit=limit
        )
        return write_json_lines(lines, out, fmt)
    columns = EXPORT_COLUMNS + (("raw",) if "raw" in fields else ())
    rows = storage.iter_export(filters, with_comments=with_comments, columns=columns, limit=limit)
    records = (export_record(r, fields) for r in rows)
    if fmt in READABLE_FORMATS:
        from tgparser import transcript

        chats = {s["chat_id"]: s for s in storage.list_sources()}
        write = transcript.write_text if fmt == "txt" else transcript.write_html
        return write(records, out, chats)
    return write_records(records, out, fmt, fields)


def write_records(
    records: Iterable[dict[str, Any]], out: TextIO, fmt: str, fields: Sequence[str]
) -> int:
    """NDJSON: one object per line. JSON: one array. CSV: RFC 4180 with a header row, nested
    values (reactions, raw) as JSON text. UTF-8, nothing ASCII-escaped. (The readable formats
    need chat titles: see `export_messages` and `tgparser.transcript`.)"""
    if fmt not in FORMATS or fmt in READABLE_FORMATS:
        raise TgparserError(f"unknown format {fmt!r} (use ndjson, json or csv)")
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
        import csv  # here, like tempfile and glob below: `search --json` needs none (start-up)

        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(fields)
        for record in records:
            writer.writerow(_csv_value(record[name]) for name in fields)
            count += 1
    return count


def write_json_lines(lines: Iterable[str], out: TextIO, fmt: str = "ndjson") -> int:
    """Write ready-made JSON object texts as NDJSON or as one JSON array (as `write_records`
    would write them); return how many."""
    count = 0
    batch: list[str] = []
    if fmt == "json":
        out.write("[")
    for line in itertools.chain(lines, [None]):
        if line is not None:
            batch.append(line)
        # Fewer, larger writes: the text layer's cost is per call.
        if batch and (line is None or len(batch) == 2000):
            if fmt == "ndjson":
                out.write("\n".join(batch) + "\n")
            else:
                out.write((",\n" if count else "\n") + ",\n".join(batch))
            count += len(batch)
            batch = []
    if fmt == "json":
        out.write("\n]\n" if count else "]\n")
    return count


_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return _dumps(value)
    return value


# -- writing to a file ------------------------------------------------------------------------

# Paths that name this process's own standard output: written through it, never opened anew
# (opening /dev/stdout again would truncate a file the shell appends to).
_STDOUT_PATHS = ("-", "/dev/stdout", "/dev/fd/1", "/proc/self/fd/1")
_TEMP_MARK = ".tgparser-tmp"


@contextmanager
def open_output(output: str) -> Iterator[TextIO]:
    """A text stream for `output` (UTF-8, newline="" so CSV keeps its \r\n).

    - `-` or `/dev/stdout`: standard output.
    - A regular file (new or existing): written to a temporary file beside it and renamed over
      it once complete, so readers never see half an export. The file gets the mode of the one
      it replaces, or the user's umask when new (not mkstemp's 0600). SIGTERM, SIGHUP and
      Ctrl-C remove the temporary file; one left by `kill -9` is removed by the next export
      to the same path.
    - Anything else that exists (a device such as /dev/null, a FIFO, a socket): written in
      place, never replaced.
    """
    if output in _STDOUT_PATHS:
        yield sys.stdout
        sys.stdout.flush()
        return
    path = Path(output)
    try:
        info = path.stat()  # follows symlinks: what the path finally names
    except FileNotFoundError:
        info = None
    except OSError as exc:
        raise TgparserError(f"cannot write {output}: {exc.strerror}") from None
    if info is not None and stat.S_ISDIR(info.st_mode):
        raise TgparserError(f"{output} is a directory")
    if info is not None and not stat.S_ISREG(info.st_mode):
        try:
            stream = open(path, "w", encoding="utf-8", newline="")  # noqa: SIM115
        except OSError as exc:
            raise TgparserError(f"cannot write {output}: {exc.strerror}") from None
        with stream:
            yield stream
        return
    # A symlink to a file: replace the file it points to, keep the link.
    target = Path(os.path.realpath(path)) if path.is_symlink() else path
    with _temporary_beside(target, output) as (fd, tmp):
        mode = stat.S_IMODE(info.st_mode) if info is not None else 0o666 & ~_umask()
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding="utf-8", newline="", closefd=False) as out:
            yield out
        os.replace(tmp, target)


@contextmanager
def _temporary_beside(target: Path, shown: str) -> Iterator[tuple[int, str]]:
    """A locked temporary file in the target's folder, removed unless renamed away, also on
    SIGTERM/SIGHUP/SIGINT. Stale ones (their writer died) are removed first."""
    import tempfile

    folder = target.parent
    _remove_stale_temporaries(folder, target.name)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=_TEMP_MARK, dir=folder)
    except OSError as exc:
        raise TgparserError(f"cannot write {shown}: {exc.strerror}") from None
    try:
        _lock(fd)  # held while writing: tells a later export this file is not stale
        with _signals_raise():
            yield fd, tmp
    finally:
        os.close(fd)
        Path(tmp).unlink(missing_ok=True)  # gone already when renamed into place


def _remove_stale_temporaries(folder: Path, name: str) -> None:
    import glob

    try:
        leftovers = list(folder.glob(f".{glob.escape(name)}.*{_TEMP_MARK}"))
    except OSError:
        return
    for leftover in leftovers:
        try:
            fd = os.open(leftover, os.O_RDONLY)
        except OSError:
            continue
        try:
            if _lock(fd, wait=False):  # nobody writes it: its export was killed
                leftover.unlink(missing_ok=True)
        finally:
            os.close(fd)


def _lock(fd: int, *, wait: bool = True) -> bool:
    try:
        import fcntl
    except ImportError:  # no flock: leftovers are kept rather than risk another's file
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
    except OSError:
        return False
    return True


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


class Terminated(SystemExit):
    """SIGTERM or SIGHUP arrived while an output file was being written."""


@contextmanager
def _signals_raise() -> Iterator[None]:
    """SIGTERM/SIGHUP raise (as SIGINT does) so cleanup runs; the exit code is 128 + signal."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: Any) -> None:
        raise Terminated(128 + signum)

    wanted = [getattr(signal, n) for n in ("SIGTERM", "SIGHUP") if hasattr(signal, n)]
    # Only where the signal would kill us anyway: an ignored SIGHUP (nohup) stays ignored.
    wanted = [sig for sig in wanted if signal.getsignal(sig) is signal.SIG_DFL]
    previous = {sig: signal.signal(sig, stop) for sig in wanted}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
