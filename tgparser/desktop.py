"""`import desktop`: build the archive from Telegram Desktop's "Export chat history" (JSON).

Both kinds of export are read: a single chat's `result.json` (`name`, `type`, `id`,
`messages`) and a whole account's (`chats.list[]`, `left_chats.list[]`). The file is parsed
as a stream (ijson), so memory stays bounded whatever its size. Chats get the same marked ids
as through the API (channels and supergroups -100…, basic groups negative, users positive),
so an import and a later `ingest` of the same chat merge without duplicates.

An import runs in one transaction: a file that turns out to be malformed halfway leaves the
archive exactly as it was. Importing the same file again adds nothing; a newer export of the
same chat adds what is new and keeps edited texts as versions.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO

from tgparser.errors import TgparserError
from tgparser.records import content_hash
from tgparser.storage import Storage
from tgparser.telegram.refs import CHANNEL_ID_OFFSET

BATCH = 1000

# Telegram Desktop's chat types -> tgparser's source types.
CHAT_TYPES = {
    "public_channel": "channel",
    "private_channel": "channel",
    "public_supergroup": "supergroup",
    "private_supergroup": "supergroup",
    "private_group": "group",
    "personal_chat": "user",
    "bot_chat": "user",
    "saved_messages": "user",
}
MEDIA_TYPES = {
    "video_file": "video",
    "voice_message": "voice",
    "video_message": "video_note",
    "audio_file": "audio",
    "animation": "animation",
    "sticker": "sticker",
}
# Text part / entity types -> the entity names the API path stores (tgparser.telegram.mapping).
ENTITY_TYPES = {
    "link": "url",
    "text_link": "text_url",
    "strikethrough": "strike",
    "mention_name": "mention_name",
}


class BadExport(TgparserError):
    """Not a Telegram Desktop JSON export, or a damaged one."""


class BadMessage(TgparserError):
    """One message that cannot be stored (no id, no date): skipped, the import goes on."""


@dataclass
class ChatImport:
    chat_id: int
    name: str | None
    type: str
    messages: int = 0
    inserted: int = 0
    updated: int = 0
    skipped: list[dict[str, Any]] = field(default_factory=list)  # [{"id", "reason"}]


@dataclass
class ImportSummary:
    path: str
    chats: list[ChatImport] = field(default_factory=list)

    @property
    def messages(self) -> int:
        return sum(c.messages for c in self.chats)

    @property
    def skipped(self) -> int:
        return sum(len(c.skipped) for c in self.chats)


_HTML_HINT = (
    "this is an HTML export; export the chat again in Telegram Desktop with "
    'Format: "Machine-readable JSON"'
)


def find_result_json(path: Path) -> Path:
    if path.is_dir():
        if not (path / "result.json").exists() and (path / "messages.html").exists():
            raise BadExport(f"{path}: {_HTML_HINT}")
        path = path / "result.json"
    if not path.exists():
        raise BadExport(f"{path}: no such file (give result.json or the export folder)")
    if path.is_file() and _looks_like_html(path):
        raise BadExport(f"{path}: {_HTML_HINT}")
    return path


def _looks_like_html(path: Path) -> bool:
    with path.open("rb") as file:
        head = file.read(256).lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return head.startswith((b"<!doctype html", b"<html"))


def marked_id(chat_type: str, raw_id: Any) -> int:
    """The API's marked id for a chat id as Telegram Desktop writes it."""
    try:
        value = int(raw_id)
    except (TypeError, ValueError):
        raise BadExport(f"chat id {raw_id!r} is not a number") from None
    kind = CHAT_TYPES.get(chat_type)
    if kind in ("channel", "supergroup"):
        return value if value < 0 else -(CHANNEL_ID_OFFSET + value)
    if kind == "group":
        return value if value < 0 else -value
    return value


def peer_id(value: Any) -> int | None:
    """`user123` / `channel123` / `chat123` (as in from_id) -> a marked id."""
    if not isinstance(value, str):
        return int(value) if isinstance(value, int) else None
    for prefix, mark in (
        ("user", lambda v: v),
        ("channel", lambda v: -(CHANNEL_ID_OFFSET + v)),
        ("chat", lambda v: -v),
    ):
        if value.startswith(prefix) and value[len(prefix) :].isdigit():
            return mark(int(value[len(prefix) :]))
    return None


def import_desktop(
    storage: Storage,
    path: Path,
    *,
    chats: Sequence[str] = (),
    progress: Callable[[int, int], None] | None = None,
) -> ImportSummary:
    """Import an export file (or folder) into the archive, in one transaction."""
    source = find_result_json(path)
    wanted = [c.strip() for c in chats if c.strip()]
    summary = ImportSummary(str(source))
    total = source.stat().st_size
    with source.open("rb") as raw, storage.transaction():
        reader = _Counting(raw, total, progress)
        matched: set[str] = set()
        held: list[dict[str, Any]] = []
        for chat, messages in _chats(reader):
            held.append(chat)
            selector = _selected(chat, wanted)
            if wanted and selector is None:
                for _ in messages:  # skip this chat's messages, still reading the stream
                    pass
                continue
            if selector:
                matched.add(selector)
            summary.chats.append(_import_chat(storage, chat, messages, source.parent))
        missing = [w for w in wanted if w not in matched]
        if missing:
            raise BadExport(f"no chat {missing[0]!r} in {source}; {_holds(held)}")
        if not summary.chats:
            raise BadExport(f"{source} holds no chat")
    return summary


def _holds(chats: list[dict[str, Any]], shown: int = 20) -> str:
    """`it holds 3 chats: 'Team Chat' (-1001500000001), …` for an unknown --chat."""
    names = [f"{c.get('name')!r} ({c['chat_id']})" for c in chats[:shown]]
    more = f" and {len(chats) - shown} more" if len(chats) > shown else ""
    noun = "chat" if len(chats) == 1 else "chats"
    return f"it holds {len(chats)} {noun}: {', '.join(names)}{more}"


def _selected(chat: dict[str, Any], wanted: list[str]) -> str | None:
    for selector in wanted:
        if selector.lower() == str(chat.get("name") or "").lower():
            return selector
        try:
            number = int(selector)
        except ValueError:
            continue
        if number in (chat["raw_id"], chat["chat_id"]):
            return selector
    return None


def _import_chat(
    storage: Storage, chat: dict[str, Any], messages: Iterator[dict[str, Any]], folder: Path
) -> ChatImport:
    result = ChatImport(chat["chat_id"], chat.get("name"), chat["type"])
    existing = storage.get_source(chat["chat_id"])
    source: dict[str, Any] = {"chat_id": chat["chat_id"], "title": chat.get("name")}
    if existing is None:
        # No access hash from a file: `ingest` skips it until `source add` resolves the chat.
        source.update(type=chat["type"], status="imported", options={"imported": True})
    storage.upsert_source(source)
    batch: list[dict[str, Any]] = []
    for message in messages:
        try:
            batch.append(message_record(message, chat, folder))
        except BadMessage as exc:  # one odd message never sinks an import
            result.skipped.append({"id": message.get("id"), "reason": str(exc)})
        except (TypeError, ValueError, KeyError, AttributeError) as exc:  # a shape never seen
            reason = f"unreadable ({type(exc).__name__}: {exc})"
            result.skipped.append({"id": message.get("id"), "reason": reason})
        if len(batch) >= BATCH:
            _save(storage, batch, result)
            batch = []
    if batch:
        _save(storage, batch, result)
    return result


def _save(storage: Storage, batch: list[dict[str, Any]], result: ChatImport) -> None:
    saved = storage.upsert_messages(batch)
    result.messages += len(batch)
    result.inserted += saved.inserted
    result.updated += saved.updated


# -- one message -------------------------------------------------------------------------------


def message_record(msg: dict[str, Any], chat: dict[str, Any], folder: Path) -> dict[str, Any]:
    """A messages row from one exported message; the whole object is kept as raw."""
    try:
        message_id = int(msg["id"])
    except (KeyError, TypeError, ValueError):
        raise BadMessage("no message id") from None
    date = _date(msg, "date")
    if date is None:
        kind = msg.get("type")
        raise BadMessage(
            "unsupported: Telegram Desktop could not export it, no date"
            if kind == "unsupported"
            else "no date"
        )
    service = msg.get("type") == "service"
    text, entities = message_text(msg)
    media_kind, media = message_media(msg)
    kind = "service" if service else "post" if chat["type"] == "channel" else "message"
    forward_id = peer_id(msg.get("forwarded_from_id"))
    return {
        "chat_id": chat["chat_id"],
        "message_id": message_id,
        "kind": kind,
        "date": date,
        "edit_date": _edit_date(msg),
        "sender_id": peer_id(msg.get("actor_id" if service else "from_id"))
        or (chat["chat_id"] if kind == "post" else None),
        "sender_name": msg.get("actor" if service else "from"),
        "post_author": msg.get("author"),
        "text": text,
        "entities": entities or None,
        "reply_to_msg_id": _int(msg.get("reply_to_message_id")),
        "fwd_from_id": forward_id,
        "fwd_from_name": msg.get("forwarded_from") or msg.get("saved_from"),
        "reactions": _reactions(msg.get("reactions")),
        "action": msg.get("action") if service else None,
        "media_kind": media_kind,
        "media": media,
        "raw": msg,
        "content_hash": content_hash(text, entities or None, media),
    }


def _date(msg: dict[str, Any], key: str) -> datetime | None:
    """`date` / `edited` of a message, None when absent or unreadable."""
    unix = msg.get(f"{key}_unixtime")
    if unix is not None:
        try:
            return datetime.fromtimestamp(int(unix), UTC)
        except (TypeError, ValueError, OverflowError, OSError):
            pass
    value = msg.get(key)
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    # Exports before 2021 have no *_unixtime and give the exporting computer's local time
    # without a zone; it is taken as UTC (see docs/import.md).
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_WIDEST_UTC_OFFSET = timedelta(hours=14)  # UTC-12 … UTC+14


def _edit_date(msg: dict[str, Any]) -> datetime | None:
    """The edit date; None for "never edited". Old exports (2020) write the Unix epoch in the
    exporting computer's local time (`1970-01-01T05:00:00` at UTC+5) for that."""
    edited = _date(msg, "edited")
    if edited is None or abs(edited - _EPOCH) <= _WIDEST_UTC_OFFSET:
        return None
    return edited


def message_text(msg: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    """Plain text and entities (offsets in UTF-16 code units, as Telegram counts them)."""
    parts = msg.get("text_entities")
    if parts is None:
        text = msg.get("text", "")
        parts = [text] if isinstance(text, str) else text or []
    plain: list[str] = []
    entities: list[dict[str, Any]] = []
    offset = 0
    for part in parts:
        if isinstance(part, str):
            piece, kind = part, "plain"
        else:
            piece, kind = str(part.get("text", "")), str(part.get("type", "plain"))
        length = len(piece.encode("utf-16-le")) // 2
        if kind != "plain" and length:
            entity = {"type": ENTITY_TYPES.get(kind, kind), "offset": offset, "length": length}
            if part.get("href"):
                entity["url"] = part["href"]
            for key in ("user_id", "language", "document_id"):
                if part.get(key) is not None:
                    entity[key] = part[key]
            entities.append(entity)
        plain.append(piece)
        offset += length
    return "".join(plain), entities


def message_media(msg: dict[str, Any]) -> tuple[str | None, dict[str, Any] | None]:
    """Media kind and metadata, file paths relative to the export folder as written."""
    kind: str | None = None
    if "photo" in msg:
        kind = "photo"
    elif msg.get("media_type"):
        kind = MEDIA_TYPES.get(msg["media_type"], msg["media_type"])
    elif "file" in msg:
        kind = "document"
    elif "poll" in msg:
        kind = "poll"
    elif "contact_information" in msg:
        kind = "contact"
    elif "location_information" in msg:
        kind = "venue" if msg.get("place_name") else "geo"
    elif "game_title" in msg:
        kind = "game"
    elif "invoice_information" in msg:
        kind = "invoice"
    if kind is None:
        return None, None
    media: dict[str, Any] = {"kind": kind}
    mapping = {
        "file": "file",
        "photo": "file",
        "mime_type": "mime_type",
        "file_name": "file_name",
        "file_size": "size",
        "photo_file_size": "size",
        "duration_seconds": "duration",
        "width": "width",
        "height": "height",
        "sticker_emoji": "emoji",
        "title": "title",
        "performer": "performer",
        "thumbnail": "thumbnail",
        "poll": "poll",
        "contact_information": "contact",
        "location_information": "location",
        "place_name": "place_name",
        "address": "address",
        "game_title": "game_title",
        "invoice_information": "invoice",
    }
    for source_key, target_key in mapping.items():
        value = msg.get(source_key)
        if value is not None and target_key not in media:
            media[target_key] = value
    return kind, media


def _reactions(value: Any) -> list[dict[str, Any]] | None:
    if not value:
        return None
    out = []
    for item in value:
        if item.get("type") == "custom_emoji":
            reaction: Any = {"custom_emoji_id": item.get("document_id")}
        elif item.get("type") == "paid":
            reaction = "paid"
        else:
            reaction = item.get("emoji")
        out.append({"reaction": reaction, "count": item.get("count")})
    return out


# -- streaming the file ------------------------------------------------------------------------


class _Counting(io.RawIOBase):
    """A read-only file that reports how far the parser got (for the progress bar)."""

    def __init__(
        self, raw: BinaryIO, total: int, progress: Callable[[int, int], None] | None
    ) -> None:
        self.raw, self.total, self.progress, self.done = raw, total, progress, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.raw.read(len(buffer))
        buffer[: len(data)] = data
        self.done += len(data)
        if self.progress:
            self.progress(self.done, self.total)
        return len(data)


def _chats(stream: io.RawIOBase) -> Iterator[tuple[dict[str, Any], Iterator[dict[str, Any]]]]:
    """(chat metadata, its messages) for each chat, as the parser meets them."""
    import ijson

    events = _json_events(ijson.parse(io.BufferedReader(stream, 1 << 20), use_float=True))
    yield from _walk(events)


def _json_events(events: Iterator[tuple[str, str, Any]]) -> Iterator[tuple[str, str, Any]]:
    """The parser's events, its errors turned into one-line BadExport errors."""
    import ijson

    try:
        yield from events
    except ijson.IncompleteJSONError as exc:
        raise BadExport(
            f"the export is not valid JSON or is truncated ({_first_line(exc)})"
        ) from None
    except ijson.JSONError as exc:
        raise BadExport(f"the export is not valid JSON ({_first_line(exc)})") from None


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


_CHAT_BASES = ("", "chats.list.item", "left_chats.list.item")


def _walk(
    events: Iterator[tuple[str, str, Any]],
) -> Iterator[tuple[dict[str, Any], Iterator[dict[str, Any]]]]:
    import ijson

    chat: dict[str, Any] = {}
    seen_any = False
    for prefix, event, value in events:
        base, _, key = prefix.rpartition(".") if "." in prefix else ("", "", prefix)
        if (
            base in _CHAT_BASES
            and key in ("name", "type", "id")
            and event in ("string", "number", "null")
        ):
            chat[key] = value
            continue
        if key == "messages" and event == "start_array" and base in _CHAT_BASES:
            if "type" not in chat or "id" not in chat:
                raise BadExport("not a Telegram Desktop export: messages without a chat type/id")
            seen_any = True
            meta = {
                "name": chat.get("name"),
                "raw_id": int(chat["id"]),
                "type": CHAT_TYPES.get(str(chat["type"]), "group"),
                "desktop_type": chat["type"],
                "chat_id": marked_id(str(chat["type"]), chat["id"]),
            }
            item_prefix = f"{prefix}.item"
            messages = _messages(events, item_prefix, ijson)
            yield meta, messages
            for _ in messages:  # whatever the consumer did not read
                pass
            chat = {}
    if not seen_any:
        raise BadExport("not a Telegram Desktop export: no chats and no messages found")


def _messages(
    events: Iterator[tuple[str, str, Any]], item_prefix: str, ijson: Any
) -> Iterator[dict[str, Any]]:
    array_prefix = item_prefix.rsplit(".", 1)[0]
    builder = None
    for prefix, event, value in events:
        if builder is None:
            if prefix == array_prefix and event == "end_array":
                return
            if prefix == item_prefix and event == "start_map":
                builder = ijson.ObjectBuilder()
                builder.event(event, value)
            continue
        builder.event(event, value)
        if prefix == item_prefix and event == "end_map":
            yield builder.value
            builder = None
    raise BadExport("the export is truncated: it ends inside a message list")
