"""What the topics commands call besides `build`: choosing chats, cards, known topics."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tgparser.errors import EXIT_USAGE, TgparserError
from tgparser.storage import Storage
from tgparser.storage.base import Row, utcnow

STATUSES = ("active", "merged", "retired", "all")


class UnknownTopic(TgparserError):
    """An id that names no topic."""


def select_chats(storage: Storage, refs: Sequence[str]) -> list[Row]:
    """The sources REFs name; without REFs every source that is not paused."""
    from tgparser.sources import find_source

    if refs:
        return [find_source(storage, ref) for ref in refs]
    chosen = [s for s in storage.list_sources() if s["status"] != "paused"]
    if not chosen:
        raise TgparserError(
            "no sources to build topics for: follow or import a chat first "
            "(`tgparser source add`, `tgparser import`)"
        )
    return chosen


def require_documents(storage: Storage) -> None:
    if storage.count_documents() == 0:
        raise TgparserError("no documents yet: run `tgparser process` first")


def spaces_for(storage: Storage, refs: Sequence[str]) -> list[str] | None:
    """Topic spaces of these REFs ('chat:<id>'), or None for every space."""
    if not refs:
        return None
    return [f"chat:{s['chat_id']}" for s in select_chats(storage, refs)]


def list_topics(
    storage: Storage, refs: Sequence[str] = (), status: str = "active"
) -> list[dict[str, Any]]:
    spaces = spaces_for(storage, refs)
    if spaces is not None:
        spaces = [*spaces, "all", "known"]
    statuses = None if status == "all" else [status]
    return [
        card_json(storage, t, urls=False)
        for t in storage.list_topics(spaces=spaces, statuses=statuses)
    ]


def get_topic(storage: Storage, topic_id: str) -> Row:
    topic = storage.get_topic(topic_id)
    if topic is None:
        raise UnknownTopic(f"{topic_id}: no such topic (see `tgparser topics list`)")
    return topic


def show_topic(storage: Storage, topic_id: str, limit: int | None = None) -> dict[str, Any]:
    """A topic's card and its ranked bundle."""
    topic = get_topic(storage, topic_id)
    card = card_json(storage, topic, urls=True)
    links = _links(storage)
    card["items"] = [
        {
            "chat_id": m["chat_id"],
            "message_id": m["message_id"],
            "role": m["role"],
            "kind": m["kind"],
            "score": m["score"],
            "justification": m["justification"],
            "url": links(m["chat_id"], m["message_id"]),
        }
        for m in storage.topic_members(topic_id, limit=limit)
    ]
    return card


def card_json(storage: Storage, topic: Row, *, urls: bool) -> dict[str, Any]:
    """The TopicCard of a stored topic (the JSON `topics list/show` print)."""
    card = {
        k: topic[k]
        for k in (
            "id", "title", "summary", "scope_in", "scope_out", "type", "keywords", "tags",
            "related_topics", "status", "merged_into", "size", "first_date", "last_date",
            "created_at", "updated_at", "space", "lineage",
        )
    }  # fmt: skip
    anchors = [(a["chat_id"], a["message_id"]) for a in topic["anchors"]]
    card["anchors"] = [f"{c}:{m}" for c, m in anchors]
    if urls:
        links = _links(storage)
        card["sources"] = [{"chat_id": c, "message_id": m, "url": links(c, m)} for c, m in anchors]
    card["provenance"] = {
        "builder": topic["builder_version"],
        "model": topic["model"] or None,
        "prompt_id": topic["prompt_id"] or None,
    }
    return card


def _links(storage: Storage) -> Any:
    from tgparser.export import message_url

    usernames = {s["chat_id"]: s.get("username") for s in storage.list_sources()}

    def link(chat_id: int, message_id: int) -> str | None:
        message = storage.get_message(chat_id, message_id)
        if message is None:
            return None
        parent = message.get("parent_chat_id")
        username = usernames.get(parent if message["kind"] == "comment" else chat_id)
        return message_url({**message, "source_username": username})

    return link


def add_known(
    storage: Storage,
    title: str,
    description: str = "",
    keywords: Sequence[str] = (),
    refs: Sequence[str] = (),
) -> Row:
    if not title.strip():
        raise TgparserError("a known topic needs a title", exit_code=EXIT_USAGE)
    chats = [s["chat_id"] for s in select_chats(storage, refs)] if refs else []
    now = utcnow()
    return storage.add_known_topic(
        {
            "title": title.strip(),
            "description": description.strip(),
            "keywords": [k.strip() for k in keywords if k.strip()],
            "chat_ids": chats,
            "status": "active",
            "created_at": now,
            "updated_at": now,
        }
    )


def retire(storage: Storage, topic_id: str) -> None:
    if not storage.set_topic_status(topic_id, "retired", utcnow()):
        raise UnknownTopic(f"{topic_id}: no such topic (see `tgparser topics list`)")
