"""Followed chats: add (resolving REFs through Telegram), list, pause, resume, remove.

Everything but `add_sources` works on the database alone: `find_source` is THE way a REF
(an id as `source list` shows it, @username, t.me link or title) names a chat of the archive,
for every command that takes one.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tgparser.config import Settings
from tgparser.errors import TgparserError
from tgparser.storage import Storage
from tgparser.storage.base import Row
from tgparser.telegram.refs import BadReference, ChatRef, channel_marked_id, parse_ref


class UnknownSource(TgparserError):
    """A REF that names no followed chat."""


class AmbiguousSource(TgparserError):
    """A title that several chats of the archive share."""


@dataclass
class AddOutcome:
    ref: str
    source: Row | None = None
    created: bool = False
    error: str | None = None


def chat_label(source: Row) -> str:
    """How a chat is shown everywhere: @username for public chats, else its title and id.

    Whatever this prints works as a REF (`find_source`)."""
    if source.get("username"):
        return f"@{source['username']}"
    if source.get("title"):
        return f"{source['title']} ({source['chat_id']})"
    return str(source["chat_id"])


_LABELLED = re.compile(r"^(?P<title>.*\S)\s+\((?P<id>-?\d+)\)$")  # "Title (-1001234)"
_NUMBER = re.compile(r"^[+-]?\d+$")


def find_source(storage: Storage, text: str) -> Row:
    """The chat of the archive (followed or imported) a REF names; raise `UnknownSource`
    when none, `AmbiguousSource` when a title names several.

    The one REF resolver of the archive: `export`/`search --source`, `source pause/resume/
    remove`, `ingest REF` use it. Accepted, in this order:

    - an id as `source list` shows it: -100… channels, supergroups and forums, -N basic
      groups, N users (personal chats); a bare positive number that is no stored id is taken
      as a channel id, as in t.me/c/<id>/… links, then as a basic group's id (as Telegram
      Desktop exports write them);
    - `@username`, a t.me link (t.me/c/… too), tg://resolve?domain=…;
    - a label as `source list` prints it, `Title (id)`;
    - the chat's title, case-insensitively, when only one chat has it.
    """
    raw = text.strip()
    if not raw:
        raise BadReference("empty chat reference")
    sources = storage.list_sources()
    by_id = {s["chat_id"]: s for s in sources}
    if _NUMBER.match(raw):
        value = int(raw)
        candidates = [value] if value <= 0 else [value, channel_marked_id(value), -value]
        for chat_id in candidates:
            if chat_id in by_id:
                return by_id[chat_id]
    else:
        labelled = _LABELLED.match(raw)
        if labelled and int(labelled["id"]) in by_id:
            return by_id[int(labelled["id"])]
        try:
            ref: ChatRef | None = parse_ref(raw)
        except BadReference:
            ref = None  # not a username or link: maybe a title
        if ref is not None and ref.username:
            for source in sources:
                if (source.get("username") or "").lower() == ref.username:
                    return source
        elif ref is not None and ref.chat_id in by_id:
            return by_id[ref.chat_id]
    titled = [s for s in sources if (s.get("title") or "").casefold() == raw.casefold()]
    if len(titled) == 1:
        return titled[0]
    if titled:
        names = ", ".join(chat_label(s) for s in titled)
        raise AmbiguousSource(f"{raw!r} is the title of {len(titled)} chats: {names}; use the id")
    raise UnknownSource(f"{raw}: not a followed chat (see `tgparser source list`)")


def add_sources(
    storage: Storage,
    settings: Settings,
    refs: Sequence[str],
    *,
    comments: bool | None = None,
    since: datetime | None = None,
) -> list[AddOutcome]:
    """Resolve each REF through Telegram and store it; one bad REF does not stop the others.

    Adding a known source again updates its name, options and access hashes, and never resets
    its progress; an earlier `since` reopens its backfill.
    """
    parsed = [_ref_to_add(storage, text) for text in refs]
    if all(ref is None for _, ref, _ in parsed):
        return [AddOutcome(text, error=error) for text, _, error in parsed]
    import asyncio  # here, not at the top: `search` and `export` use this module too

    return asyncio.run(_add(storage, settings, parsed, comments, since))


def _ref_to_add(storage: Storage, text: str) -> tuple[str, ChatRef | None, str | None]:
    """A REF for Telegram to resolve. A username or link goes to Telegram as typed; an id or a
    title that names a chat of the archive (an imported one, say) is looked up by its id."""
    try:
        ref: ChatRef | None = parse_ref(text)
        error = None
    except TgparserError as exc:
        ref, error = None, str(exc)
    if ref is None or ref.username is None:
        try:
            stored = find_source(storage, text)
        except UnknownSource:
            pass
        except TgparserError as exc:  # an ambiguous title
            return text, None, str(exc)
        else:
            chat_id, access_hash = stored["chat_id"], stored.get("access_hash")
            return text, ChatRef(text, chat_id=chat_id, access_hash=access_hash), None
    return text, ref, error


async def _add(
    storage: Storage,
    settings: Settings,
    parsed: list[tuple[str, ChatRef | None, str | None]],
    comments: bool | None,
    since: datetime | None,
) -> list[AddOutcome]:
    from tgparser.telegram.client import open_client
    from tgparser.telegram.fetch import fetch_chat

    client = await open_client(settings)
    outcomes: list[AddOutcome] = []
    try:
        for text, ref, error in parsed:
            if ref is None:
                outcomes.append(AddOutcome(text, error=error))
                continue
            try:
                chat = await fetch_chat(client, ref)
            except TgparserError as exc:
                outcomes.append(AddOutcome(text, error=str(exc)))
                continue
            except (ValueError, TypeError) as exc:  # Telethon's lookups fail with these
                outcomes.append(AddOutcome(text, error=f"{text}: {exc}"))
                continue
            outcomes.append(_store(storage, text, chat, comments, since))
    finally:
        await client.disconnect()
    return outcomes


def _store(
    storage: Storage, text: str, chat: Any, comments: bool | None, since: datetime | None
) -> AddOutcome:
    existing = storage.get_source(chat.chat_id)
    options: dict[str, Any] = dict(existing["options"]) if existing else {}
    if comments is not None:
        options["comments"] = comments
    elif "comments" not in options:
        # Default: comments on when the channel has a discussion group.
        options["comments"] = chat.linked_chat_id is not None
    changes: dict[str, Any] = {
        "chat_id": chat.chat_id,
        "username": chat.username,
        "title": chat.title,
        "type": chat.type,
        "linked_chat_id": chat.linked_chat_id,
        "access_hash": chat.access_hash,
        "linked_access_hash": chat.linked_access_hash,
    }
    if since is not None:
        previous = options.get("since")
        options["since"] = since.isoformat()
        # A lower floor reopens the backfill; a higher one only stops it earlier.
        if existing and previous and since < datetime.fromisoformat(previous):
            changes["backfill_done"] = False
    changes["options"] = options
    if existing and existing["status"] == "imported":
        changes["status"] = "active"  # known from a Desktop export; now followed for real
    stored = storage.upsert_source(changes)
    return AddOutcome(text, stored, created=existing is None)


def source_overview(storage: Storage) -> list[dict[str, Any]]:
    """Every source with its last run, last error and stored message / comment counts."""
    overview = []
    for source in storage.list_sources():
        runs = storage.list_runs(chat_id=source["chat_id"], limit=1)
        last = runs[0] if runs else None
        overview.append(
            {
                "chat_id": source["chat_id"],
                "username": source["username"],
                "title": source["title"],
                "type": source["type"],
                "status": source["status"],
                "comments": bool((source["options"] or {}).get("comments")),
                "since": (source["options"] or {}).get("since"),
                "linked_chat_id": source["linked_chat_id"],
                "messages": storage.count_messages(chat_id=source["chat_id"]),
                "comment_count": storage.count_comments(source["chat_id"]),
                "last_run_at": last["started_at"] if last else None,
                "last_status": last["status"] if last else None,
                "last_error": last["error"] if last else None,
                "not_before": source["not_before"],
            }
        )
    return overview


def find_sources(storage: Storage, refs: Sequence[str]) -> list[Row]:
    """`find_source` for each REF, all or nothing; a chat named twice comes once."""
    found: dict[int, Row] = {}
    for ref in refs:
        source = find_source(storage, ref)
        found.setdefault(source["chat_id"], source)
    return list(found.values())


def set_status(storage: Storage, refs: Sequence[str], status: str) -> list[Row]:
    sources = find_sources(storage, refs)  # all or nothing
    for source in sources:
        storage.update_source(source["chat_id"], status=status)
    return sources


def purge_preview(storage: Storage, sources: Sequence[Row]) -> list[tuple[Row, int]]:
    """What `remove --purge` would delete: each source with its messages and the comments
    on its posts (the count `purge_source_data` returns)."""
    return [
        (s, storage.count_messages(chat_id=s["chat_id"]) + storage.count_comments(s["chat_id"]))
        for s in sources
    ]


def remove_sources(
    storage: Storage, sources: Sequence[Row], *, purge: bool
) -> list[tuple[Row, int]]:
    """Forget sources (and with `purge`, delete their posts, comments and history)."""
    removed = []
    with storage.transaction():
        for source in sources:
            deleted = storage.purge_source_data(source["chat_id"]) if purge else 0
            storage.delete_source(source["chat_id"])
            removed.append((source, deleted))
    return removed


def select_for_ingest(
    storage: Storage, refs: Sequence[str]
) -> tuple[list[Row], list[tuple[str, str]]]:
    """Sources to ingest: the named ones (even paused), or every active one; and the REFs
    that name no followed chat, each with its error."""
    if not refs:
        return [s for s in storage.list_sources() if s["status"] == "active"], []
    chosen: list[Row] = []
    unknown: list[tuple[str, str]] = []
    for ref in refs:
        try:
            source = find_source(storage, ref)
        except TgparserError as exc:
            unknown.append((ref, str(exc)))
            continue
        if all(s["chat_id"] != source["chat_id"] for s in chosen):
            chosen.append(source)
    return chosen, unknown
