"""`tgparser export kb`: the archive as a knowledge base a RAG system can load as it is.

A KB is a folder: `kb_entries.ndjson` (one self-sufficient entry a line: messages and
topics), `topics.json` (the topic index), `topic_<id>.json` (a topic's card and bundle) and
`manifest.json` (what made it, from what, and the sha256 of every file). Every file has a
JSON Schema shipped in `tgparser/kb_schemas/`; docs/kb.md describes each field.

The folder is written whole or not at all: into a temporary folder beside it, then swapped
in by renames, under a lock on the parent folder. A folder that is not a previous KB (no KB
manifest) is never replaced.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import re
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from tgparser import __version__
from tgparser.errors import EXIT_TEMPFAIL, TgparserError
from tgparser.export import build_filter, chat_link, iso_utc, message_url
from tgparser.storage import Storage
from tgparser.storage import kb as kb_storage
from tgparser.storage.base import MessageFilter, Row

KB_FORMAT = "tgparser-kb"
SCHEMA_VERSION = 1
ENTRIES_FILE = "kb_entries.ndjson"
TOPICS_FILE = "topics.json"
MANIFEST_FILE = "manifest.json"
SCHEMA_FILES = {
    ENTRIES_FILE: "kb_entry.schema.json",  # each line
    TOPICS_FILE: "topics.schema.json",
    "topic_*.json": "topic_file.schema.json",
    MANIFEST_FILE: "manifest.schema.json",
}
# Tests only: after the first batch of entries is on disk, create this file and wait, so a
# test can kill the export mid-write.
PAUSE_ENV = "TGPARSER_KB_TEST_PAUSE_FILE"
_BATCH = 1000  # entries per write


class KBError(TgparserError):
    """The knowledge base cannot be written where or as asked."""


class KBBusy(KBError):
    """Another export is writing the same folder."""

    exit_code = EXIT_TEMPFAIL


@dataclass(frozen=True)
class KBOptions:
    refs: tuple[str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None
    with_ads: bool = False
    with_noise: bool = False
    with_comments: bool = True
    require_processed: bool = False


@dataclass
class KBResult:
    out: Path
    manifest: dict[str, Any]
    warnings: list[str] = field(default_factory=list)


# -- entries ------------------------------------------------------------------------------------


def entry_id(chat_id: int, message_id: int) -> str:
    """The stable id of a message entry."""
    return f"tg:{chat_id}:{message_id}"


def reactions_total(reactions: Any) -> int:
    if not reactions:
        return 0
    return sum(int(r.get("count") or 0) for r in reactions if isinstance(r, dict))


def _entities(value: Any) -> list[dict[str, Any]] | None:
    # Rebuilt with a fixed key order: PostgreSQL's jsonb hands keys back in its own order.
    if value is None:
        return None
    return [
        {"type": e.get("type"), "value": e.get("value"), "confidence": e.get("confidence")}
        for e in value
        if isinstance(e, dict)
    ]


def message_entry(row: Row) -> dict[str, Any]:
    """One `type: "message"` line of kb_entries.ndjson from a row of `iter_kb_messages`."""
    chat_id, message_id, kind = row["chat_id"], row["message_id"], row["kind"]
    is_comment = kind == "comment" and row["parent_chat_id"] is not None
    doc = row["document"]
    # One dict literal (no merged parts): this runs once per message of the archive.
    if doc is not None:
        duplicate = doc["duplicate_of_chat_id"]
        text_clean = doc["text_clean"]
        summary = doc["summary"] or None
        language = doc["language"]
        keywords = list(doc["keywords"] or [])
        entities = _entities(doc["entities"])
        is_ad = bool(doc["is_ad"])
        is_noise = bool(doc["is_noise"])
        duplicate_of = (
            entry_id(duplicate, doc["duplicate_of_message_id"])
            if duplicate is not None and doc["duplicate_of_message_id"] is not None
            else None
        )
        provenance = {
            "processor": doc["processor"],
            "processor_version": doc["processor_version"],
            "model": doc["model"] or None,
            "prompt_id": doc["prompt_id"] or None,
            "content_hash": doc["content_hash"],
        }
    else:
        text_clean = row["text"] or ""
        summary = language = entities = duplicate_of = None
        keywords = []
        is_ad = is_noise = False
        provenance = {
            "processor": None,
            "processor_version": None,
            "model": None,
            "prompt_id": None,
            "content_hash": row["content_hash"],
        }
    comments = row["comments"]
    return {
        "type": "message",
        "id": f"tg:{chat_id}:{message_id}",
        "chat_id": chat_id,
        "message_id": message_id,
        "source_chat_id": row["parent_chat_id"] if is_comment else chat_id,
        "source_username": row["source_username"],
        "source_title": row["source_title"],
        "kind": kind,
        "date": iso_utc(row["date"]),
        "edit_date": iso_utc(row["edit_date"]),
        "url": message_url(row),
        "author": row["post_author"] or row["sender_name"],
        "text_clean": text_clean,
        "summary": summary,
        "language": language,
        "keywords": keywords,
        "entities": entities,
        "topic_ids": row["topic_ids"],
        "views": row["views"],
        "forwards": row["forwards"],
        "replies": row["replies"],
        "reactions": reactions_total(row["reactions"]),
        "post_id": entry_id(row["parent_chat_id"], row["parent_message_id"])
        if is_comment
        else None,
        "comment_ids": [f"tg:{c}:{m}" for c, m in comments],
        "comment_count": len(comments),
        "is_ad": is_ad,
        "is_noise": is_noise,
        "duplicate_of": duplicate_of,
        "processed": doc is not None,
        "provenance": provenance,
    }


# -- topics -------------------------------------------------------------------------------------

EXCERPT_CHARS = 280


def excerpt(text: str | None, limit: int = EXCERPT_CHARS) -> str:
    """The start of a text on one line, cut at a word and marked … when shortened."""
    flat = " ".join((text or "").split())
    if len(flat) <= limit:
        return flat
    cut = flat[:limit].rsplit(" ", 1)[0] or flat[:limit]
    return cut + "…"


def _strings(value: Any) -> list[str]:
    """A JSON list as strings (topic fields written by the topics builder)."""
    if not isinstance(value, list):
        return []
    out = []
    for item in value:
        if isinstance(item, dict):
            item = item.get("id", item.get("text", ""))
        out.append(item if isinstance(item, str) else json.dumps(item, ensure_ascii=False))
    return out


def bundle_item(row: Row) -> dict[str, Any]:
    """A member of a topic's bundle, resolved: entry id, date, link, excerpt, role, score."""
    return {
        "id": entry_id(row["chat_id"], row["message_id"]),
        "chat_id": row["chat_id"],
        "message_id": row["message_id"],
        "date": iso_utc(row["date"]),
        "url": message_url(row),
        "excerpt": excerpt(row["excerpt"]),
        "kind": row["member_kind"],
        "role": row["role"],
        # rounded: the same digits from both backends' floating-point columns
        "score": round(float(row["score"]), 4),
        "justification": row["justification"] or "",
    }


def topic_card(topic: Row, bundle: list[Row]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The TopicCard (what the topic is about, its anchors and the chats it draws on, each
    with a working link) and its bundle items."""
    items = [bundle_item(row) for row in bundle]
    by_key = {(item["chat_id"], item["message_id"]): item for item in items}
    anchor_keys = [
        (a["chat_id"], a["message_id"])
        for a in topic["anchors"] or []
        if isinstance(a, dict) and "chat_id" in a and "message_id" in a
    ] or [key for key, item in by_key.items() if item["role"] == "anchor"]
    anchors = [
        {k: by_key[key][k] for k in ("id", "chat_id", "message_id", "date", "url", "excerpt")}
        for key in anchor_keys
        if key in by_key  # a member whose message left the archive is not in the bundle
    ]
    chats: dict[int, dict[str, Any]] = {}
    for row in bundle:
        comment = row["kind"] == "comment" and row["parent_chat_id"] is not None
        chat_id = row["parent_chat_id"] if comment else row["chat_id"]
        chat = chats.get(chat_id)
        if chat is None:
            chat = chats[chat_id] = {
                "chat_id": chat_id,
                "username": row["source_username"],
                "title": row["source_title"],
                "url": chat_link(chat_id, row["source_username"]),
                "items": 0,
            }
        chat["items"] += 1
    return {
        "id": topic["id"],
        "space": topic["space"],
        "title": topic["title"] or "",
        "type": topic["type"],
        "status": "active",
        "summary": topic["summary"] or "",
        "scope_in": _strings(topic["scope_in"]),
        "scope_out": _strings(topic["scope_out"]),
        "keywords": _strings(topic["keywords"]),
        "tags": _strings(topic["tags"]),
        "related_topic_ids": _strings(topic["related_topics"]),
        "size": topic["size"],
        "first_date": iso_utc(topic["first_date"]),
        "last_date": iso_utc(topic["last_date"]),
        "anchors": anchors,
        # as in `topics show`: the anchors as citations
        "sources": [
            {"chat_id": a["chat_id"], "message_id": a["message_id"], "url": a["url"]}
            for a in anchors
        ],
        "source_chats": sorted(chats.values(), key=lambda c: (-c["items"], c["chat_id"])),
        "lineage": _canonical(topic["lineage"] or []),
        "created_at": iso_utc(topic["created_at"]),
        "updated_at": iso_utc(topic["updated_at"]),
        "provenance": {
            "builder_version": topic["builder_version"] or None,
            "model": topic["model"] or None,
            "prompt_id": topic["prompt_id"] or None,
        },
    }, items


def _canonical(value: Any) -> Any:
    """JSON with object keys sorted: PostgreSQL's jsonb hands keys back in its own order."""
    if isinstance(value, dict):
        return {k: _canonical(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    return value


def topic_text(card: dict[str, Any]) -> str:
    """What a retriever embeds for a topic: title, summary and scope."""
    parts = [card["title"], card["summary"]]
    if card["scope_in"]:
        parts.append("In scope: " + "; ".join(card["scope_in"]))
    if card["scope_out"]:
        parts.append("Out of scope: " + "; ".join(card["scope_out"]))
    return "\n\n".join(p for p in parts if p)


def topic_entry(card: dict[str, Any], file_name: str) -> dict[str, Any]:
    """One `type: "topic"` line of kb_entries.ndjson."""
    return {
        "type": "topic",
        "id": f"topic:{card['id']}",
        "topic_id": card["id"],
        "file": file_name,
        "text": topic_text(card),
        "card": card,
    }


def _write_topics(
    storage: Storage,
    folder: Path,
    filters: MessageFilter,
    entries: HashedFile,
    files: dict[str, dict[str, Any]],
    producers: Counter[tuple[str, str, str, str, str]],
) -> list[dict[str, Any]]:
    """topic_<id>.json per topic, its entry in kb_entries.ndjson; returns the topics index."""
    index = []
    for topic in kb_storage.list_kb_topics(storage, filters):
        bundle = kb_storage.topic_bundle(storage, topic["id"])
        card, items = topic_card(topic, bundle)
        name = topic_file_name(topic["id"])
        if name in files:
            raise KBError(f"topics {topic['id']!r} and another share the file name {name}")
        files[name] = write_json(folder / name, {"card": card, "bundle": items}, len(items))
        entries.write(_encode(topic_entry(card, name)) + "\n")
        index.append(
            {
                "id": card["id"],
                "file": name,
                "title": card["title"],
                "type": card["type"],
                "status": card["status"],
                "size": card["size"],
                "first_date": card["first_date"],
                "last_date": card["last_date"],
                "keywords": card["keywords"],
            }
        )
        provenance = card["provenance"]
        producers[
            (
                "topics",
                "topics",
                provenance["builder_version"] or "",
                provenance["model"] or "",
                provenance["prompt_id"] or "",
            )
        ] += 1
    return index


# -- writing files ------------------------------------------------------------------------------


def _compact_encoder() -> Any:
    """`json.dumps(value, ensure_ascii=False, separators=(",", ":"))`, byte for byte, made once:
    `JSONEncoder.encode` builds a new C encoder and a circular-reference table on every call,
    a tenth of the time of a KB export's entries (entries hold no cycles)."""
    from json.encoder import c_make_encoder, encode_basestring

    if c_make_encoder is None:  # a Python without the C accelerator
        return json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode

    def not_json(value: Any) -> Any:
        raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")

    encoder = c_make_encoder(None, not_json, encode_basestring, None, ":", ",", False, False, True)
    join = "".join
    return lambda value: join(encoder(value, 0))


_encode = _compact_encoder()
_encode_pretty = json.JSONEncoder(ensure_ascii=False, indent=2).encode


class HashedFile:
    """A binary file that keeps the sha256 and size of what was written to it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[bytes] = open(path, "wb")  # noqa: SIM115 - closed by close()
        self._hash = hashlib.sha256()
        self.size = 0

    def write(self, text: str) -> None:
        data = text.encode("utf-8")
        self._hash.update(data)
        self._file.write(data)
        self.size += len(data)

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> str:
        """Flush to disk and close; return the sha256 (hex)."""
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        return self._hash.hexdigest()


def write_json(path: Path, value: Any, records: int) -> dict[str, Any]:
    """Write one JSON document (indented, UTF-8, newline at the end); return its manifest
    line: sha256, size and how many records it holds."""
    out = HashedFile(path)
    try:
        out.write(_encode_pretty(value) + "\n")
    finally:
        digest = out.close()
    return {"sha256": digest, "bytes": out.size, "records": records}


_UNSAFE = re.compile(r"[^A-Za-z0-9-]")


def topic_file_name(topic_id: str) -> str:
    """`topic_<id>.json` with every character other than ASCII letters, digits and `-`
    replaced by `_`: `-1001234567890:42` becomes `topic_-1001234567890_42.json`."""
    return f"topic_{_UNSAFE.sub('_', str(topic_id))}.json"


# -- the folder: lock, temporary folder, swap -----------------------------------------------------


def _is_kb(path: Path) -> bool:
    try:
        with open(path / MANIFEST_FILE, encoding="utf-8") as f:
            manifest = json.load(f)
    except (OSError, ValueError):
        return False
    return isinstance(manifest, dict) and manifest.get("format") == KB_FORMAT


def check_target(out: Path) -> Path:
    """The absolute folder to write, or a one-line error when it may not be (re)placed."""
    target = Path(os.path.abspath(os.path.expanduser(out)))
    if target.parent == target or not target.name:
        raise KBError(f"{out}: cannot write a knowledge base at the root of a file system")
    parent = target.parent
    if not parent.is_dir():
        raise KBError(f"{out}: the folder {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise KBError(f"{out}: cannot write in {parent} (permission denied)")
    if target.is_symlink():
        raise KBError(f"{out} is a symbolic link: give the real folder")
    if target.exists():
        if not target.is_dir():
            raise KBError(f"{out} exists and is not a folder")
        if any(target.iterdir()) and not _is_kb(target):
            raise KBError(
                f"{out} exists and is not a tgparser knowledge base (no KB manifest.json): "
                "refusing to replace it; choose a new or empty folder"
            )
    return target


@contextlib.contextmanager
def _parent_lock(target: Path) -> Iterator[None]:
    """One export at a time per parent folder (flock on the folder itself: no lock file)."""
    fd = os.open(target.parent, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise KBBusy(
                    f"another `tgparser export kb` is writing in {target.parent}; try again later"
                ) from None
            raise
        yield
    finally:
        os.close(fd)  # releases the lock


def _temp_prefix(target: Path) -> str:
    return f".{target.name}.tmp-"


def _old_prefix(target: Path) -> str:
    return f".{target.name}.old-"


def recover(target: Path) -> None:
    """Under the lock: clean up after an export that was killed.

    A temporary folder is a half-written KB: removed. An old folder is the previous KB set
    aside for the swap; if the kill came between the two renames (no KB in place), it is put
    back, otherwise removed.
    """
    parent = target.parent
    for leftover in sorted(parent.glob(_temp_prefix(target) + "*")):
        shutil.rmtree(leftover, ignore_errors=True)
    olds = sorted(
        parent.glob(_old_prefix(target) + "*"), key=lambda p: p.stat().st_mtime, reverse=True
    )
    for old in olds:
        if not target.exists() and _is_kb(old):
            os.rename(old, target)
        else:
            shutil.rmtree(old, ignore_errors=True)


def swap_in(temp: Path, target: Path) -> None:
    """Put the finished KB in place: the old one aside, the new one in, the old one removed.

    A kill between the two renames leaves no KB at `target` but the previous one beside it,
    which `recover` puts back on the next run.
    """
    _fsync_dir(temp)
    if target.exists():
        old = target.with_name(_old_prefix(target) + temp.name.rsplit("tmp-", 1)[1])
        os.rename(target, old)
        os.rename(temp, target)
        _fsync_dir(target.parent)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.rename(temp, target)
        _fsync_dir(target.parent)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# -- the export ---------------------------------------------------------------------------------


def export_kb(storage: Storage, out: str | Path, options: KBOptions) -> KBResult:
    """Write the knowledge base to `out` atomically; return its manifest and warnings."""
    kinds = ("post", "comment", "message") if options.with_comments else ("post", "message")
    filters = build_filter(
        storage, sources=options.refs, kinds=kinds, since=options.since, until=options.until
    )
    if not kb_storage.has_messages(storage):
        raise KBError("the archive holds no messages: nothing to export (run `tgparser ingest`)")
    if options.require_processed:
        missing = kb_storage.count_unprocessed(storage, filters)
        if missing:
            raise KBError(
                f"{missing:,} selected messages are not processed (run `tgparser process`, "
                "or leave out --require-processed to export them with their raw text)"
            )
    target = check_target(Path(out))
    with _parent_lock(target):
        recover(target)
        target = check_target(Path(out))  # again, now that nobody else writes here
        try:
            temp = Path(tempfile.mkdtemp(prefix=_temp_prefix(target), dir=target.parent))
        except OSError as exc:
            raise KBError(f"cannot write in {target.parent}: {exc.strerror}") from None
        try:
            os.chmod(temp, 0o777 & ~_umask())  # a plain folder, not mkdtemp's private one
            manifest, warnings = _write_kb(storage, temp, filters, options)
            swap_in(temp, target)
        except OSError as exc:  # a full disk, a quota: the previous KB stays as it was
            shutil.rmtree(temp, ignore_errors=True)
            raise KBError(f"cannot write the knowledge base {out}: {exc.strerror}") from None
        except BaseException:
            shutil.rmtree(temp, ignore_errors=True)
            raise
    return KBResult(target, manifest, warnings)


def _write_kb(
    storage: Storage, folder: Path, filters: MessageFilter, options: KBOptions
) -> tuple[dict[str, Any], list[str]]:
    files: dict[str, dict[str, Any]] = {}
    per_source: dict[int, dict[str, Any]] = {}
    producers: Counter[tuple[str, str, str, str, str]] = Counter()
    counts: Counter[str] = Counter()
    pause = os.environ.get(PAUSE_ENV)

    entries = HashedFile(folder / ENTRIES_FILE)
    try:
        lines: list[str] = []
        for row in kb_storage.iter_kb_messages(storage, filters):
            doc = row["document"]
            if doc is not None:
                if doc["is_ad"] and not options.with_ads:
                    counts["ads_left_out"] += 1
                    continue
                if doc["is_noise"] and not options.with_noise:
                    counts["noise_left_out"] += 1
                    continue
            entry = message_entry(row)
            lines.append(_encode(entry))
            _count(entry, per_source, producers, counts)
            if len(lines) == _BATCH:
                entries.write("\n".join(lines) + "\n")
                lines = []
                pause = _pause_for_tests(entries, pause)
        if lines:
            entries.write("\n".join(lines) + "\n")
            _pause_for_tests(entries, pause)
        if counts["messages"] == 0:
            raise KBError("no messages match: nothing to export (check the REFs and dates)")
        topics_index = _write_topics(storage, folder, filters, entries, files, producers)
        counts["topics"] = len(topics_index)
    finally:
        digest = entries.close()

    files[ENTRIES_FILE] = {
        "sha256": digest,
        "bytes": entries.size,
        "records": counts["messages"] + counts["topics"],
    }
    files[TOPICS_FILE] = write_json(
        folder / TOPICS_FILE, {"topics": topics_index}, len(topics_index)
    )

    warnings = []
    if counts["unprocessed"]:
        warnings.append(
            f"{counts['unprocessed']:,} messages are not processed: exported with their raw "
            "text and processed: false (run `tgparser process`)"
        )
    manifest = {
        "format": KB_FORMAT,
        "schema_version": SCHEMA_VERSION,
        "tgparser_version": __version__,
        "archive_schema_version": storage.schema_state().version,
        "created_at": iso_utc(datetime.now(UTC)),
        "filters": {
            "sources": list(filters.sources),
            "since": iso_utc(options.since),
            "until": iso_utc(options.until),
            "with_ads": options.with_ads,
            "with_noise": options.with_noise,
            "with_comments": options.with_comments,
            "require_processed": options.require_processed,
        },
        "counts": {
            "entries": counts["messages"] + counts["topics"],
            "messages": counts["messages"],
            "topics": counts["topics"],
            "unprocessed": counts["unprocessed"],
            "ads_left_out": counts["ads_left_out"],
            "noise_left_out": counts["noise_left_out"],
        },
        "sources": [per_source[k] for k in sorted(per_source)],
        "producers": [
            {
                "what": what,
                "processor": processor,
                "processor_version": version,
                "model": model or None,
                "prompt_id": prompt or None,
                "entries": n,
            }
            for (what, processor, version, model, prompt), n in sorted(producers.items())
        ],
        "files": {name: files[name] for name in sorted(files)},
    }
    write_json(folder / MANIFEST_FILE, manifest, 1)
    return manifest, warnings


def _pause_for_tests(entries: HashedFile, pause: str | None) -> None:
    """With PAUSE_ENV set (tests only): make what is written visible, say so, and wait to be
    killed."""
    if pause:
        entries.flush()
        Path(pause).touch()
        time.sleep(120)
    return None


def _count(
    entry: dict[str, Any],
    per_source: dict[int, dict[str, Any]],
    producers: Counter[tuple[str, str, str, str, str]],
    counts: Counter[str],
) -> None:
    counts["messages"] += 1
    source_id = entry["source_chat_id"]
    source = per_source.get(source_id)
    if source is None:
        source = per_source[source_id] = {
            "chat_id": source_id,
            "username": entry["source_username"],
            "title": entry["source_title"],
            "posts": 0,
            "comments": 0,
            "messages": 0,
            "unprocessed": 0,
        }
    source[entry["kind"] + "s"] += 1
    provenance = entry["provenance"]
    if entry["processed"]:
        producers[
            (
                "documents",
                provenance["processor"],
                provenance["processor_version"],
                provenance["model"] or "",
                provenance["prompt_id"] or "",
            )
        ] += 1
    else:
        counts["unprocessed"] += 1
        source["unprocessed"] += 1
