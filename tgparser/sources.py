"""Followed chats: add (resolving REFs through Telegram), list, pause, resume, remove.

Everything but `add_sources` works on the database alone: a stored source is found by its
@username, t.me link or id without asking Telegram.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tgparser.config import Settings
from tgparser.errors import TgparserError
from tgparser.storage import Storage
from tgparser.storage.base import Row
from tgparser.telegram.refs import ChatRef, parse_ref


class UnknownSource(TgparserError):
    """A REF that names no followed chat."""


@dataclass
class AddOutcome:
    ref: str
    source: Row | None = None
    created: bool = False
    error: str | None = None


def find_source(storage: Storage, text: str) -> Row:
    """The stored source a REF names; `UnknownSource` when none."""
    ref = parse_ref(text)
    for source in storage.list_sources():
        if (ref.chat_id is not None and source["chat_id"] == ref.chat_id) or (
            ref.username and (source.get("username") or "").lower() == ref.username
        ):
            return source
    raise UnknownSource(f"{text}: not a followed chat (see `tgparser source list`)")


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
    parsed: list[tuple[str, ChatRef | None, str | None]] = []
    for text in refs:
        try:
            parsed.append((text, parse_ref(text), None))
        except TgparserError as exc:
            parsed.append((text, None, str(exc)))
    if all(ref is None for _, ref, _ in parsed):
        return [AddOutcome(text, error=error) for text, _, error in parsed]
    import asyncio  # here, not at the top: `search` and `export` use this module too

    return asyncio.run(_add(storage, settings, parsed, comments, since))


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


def set_status(storage: Storage, refs: Sequence[str], status: str) -> list[Row]:
    sources = [find_source(storage, ref) for ref in refs]  # all or nothing
    for source in sources:
        storage.update_source(source["chat_id"], status=status)
    return sources


def remove_sources(storage: Storage, refs: Sequence[str], *, purge: bool) -> list[tuple[Row, int]]:
    """Forget sources (and with `purge`, delete their posts, comments and history)."""
    sources = [find_source(storage, ref) for ref in refs]
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
