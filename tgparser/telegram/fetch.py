"""Reading from Telegram: resolve a chat, page its history, threads, edits and counters.

Thin async wrappers over Telethon's own methods (so its paging, entity cache and FloodWait
handling run), returning Telethon objects; `mapping` turns them into rows. Telethon's errors
stop here: callers see tgparser's own (`Deferred`, `ChatUnavailable`, `TelegramError`…).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any

from telethon import errors, functions, types, utils

from tgparser.errors import TgparserError
from tgparser.telegram.refs import BadReference, ChatRef

PAGE = 100  # Telegram's maximum page size for history, replies and ids


class TelegramError(TgparserError):
    """Telegram refused a request."""


class ChatUnavailable(TelegramError):
    """Telegram will not show this chat to this account."""


class ThreadGone(TelegramError):
    """A post has no comment thread (any more): comments were switched off or it was deleted."""


class CommentsUnavailable(TelegramError):
    """The discussion group's threads cannot be read by this account."""


class Deferred(TelegramError):
    """Telegram asks to wait longer than we are willing to sleep (a FloodWait over the cap)."""

    def __init__(self, message: str, seconds: int) -> None:
        super().__init__(message)
        self.seconds = seconds


@contextmanager
def telegram_errors(what: str = "") -> Iterator[None]:
    """Turn Telethon's exceptions into tgparser's, each with a one-line explanation."""
    prefix = f"{what}: " if what else ""
    try:
        yield
    except errors.TakeoutInitDelayError as exc:
        raise Deferred(
            f"{prefix}Telegram wants the data export (takeout) confirmed in another app first; "
            f"confirm it there, or run without --takeout (retry in {exc.seconds} s)",
            exc.seconds,
        ) from None
    except errors.FloodError as exc:
        seconds = int(getattr(exc, "seconds", 0) or 60)
        raise Deferred(f"{prefix}Telegram asks to wait {seconds} s", seconds) from None
    except (
        errors.ChannelPrivateError,
        errors.ChannelInvalidError,
        errors.ChatIdInvalidError,
        errors.ChatForbiddenError,
        errors.ChannelBannedError,
    ):
        raise ChatUnavailable(
            f"{prefix}the chat is private or gone, and this account cannot see it"
        ) from None
    except errors.AuthKeyError:
        raise TelegramError(
            f"{prefix}the Telegram session is no longer valid: run `tgparser login`"
        ) from None
    except errors.RPCError as exc:
        request = type(exc.request).__name__ if exc.request is not None else "a request"
        raise TelegramError(f"{prefix}Telegram refused {request}: {exc.message}") from None


@dataclass(frozen=True)
class ResolvedChat:
    chat_id: int  # marked
    access_hash: int | None
    username: str | None
    title: str | None
    type: str  # channel | supergroup | forum | group | user
    linked_chat_id: int | None = None
    linked_access_hash: int | None = None


async def fetch_chat(client: Any, ref: ChatRef) -> ResolvedChat:
    """Resolve a REF to the chat it names, with its linked discussion group."""
    try:
        with telegram_errors(ref.text):
            entity = await _entity(client, ref)
    except (errors.UsernameNotOccupiedError, errors.UsernameInvalidError):
        raise BadReference(f"{ref.text}: no chat has this username") from None
    if isinstance(entity, (types.ChannelForbidden, types.ChatForbidden)):
        raise ChatUnavailable(f"{ref.text}: the chat is private or this account was banned from it")
    chat_id = utils.get_peer_id(entity)
    if isinstance(entity, types.User):
        name = " ".join(p for p in (entity.first_name, entity.last_name) if p)
        return ResolvedChat(chat_id, entity.access_hash, entity.username, name, "user")
    if isinstance(entity, types.Chat):
        return ResolvedChat(chat_id, None, None, entity.title, "group")
    if not isinstance(entity, types.Channel):
        raise ChatUnavailable(f"{ref.text}: not a chat tgparser can archive")
    kind = "channel" if entity.broadcast else "forum" if entity.forum else "supergroup"
    linked_id = linked_hash = None
    if entity.broadcast:
        with telegram_errors(ref.text):
            full = await client(functions.channels.GetFullChannelRequest(entity))
        if full.full_chat.linked_chat_id:
            for chat in full.chats:
                if chat.id == full.full_chat.linked_chat_id:
                    linked_id = utils.get_peer_id(chat)
                    linked_hash = getattr(chat, "access_hash", None)
    return ResolvedChat(
        chat_id, entity.access_hash, entity.username, entity.title, kind, linked_id, linked_hash
    )


async def _entity(client: Any, ref: ChatRef) -> Any:
    if ref.username:
        try:
            return await client.get_entity(ref.username)
        except ValueError:  # Telethon's word for "username not occupied"
            raise BadReference(f"{ref.text}: no chat has this username") from None
    if ref.access_hash is not None:  # stored in the archive: ask for this very peer
        try:
            return await client.get_entity(input_peer(ref.chat_id, ref.access_hash))
        except ValueError:
            pass
    try:
        return await client.get_entity(ref.chat_id)
    except ValueError:
        # A fresh (string) session has no access hashes cached; the dialog list brings every
        # chat this account has joined, which is what an id or t.me/c/ link can name.
        await client.get_dialogs()
        try:
            return await client.get_entity(ref.chat_id)
        except ValueError:
            raise ChatUnavailable(
                f"{ref.text}: this account has not joined a chat with that id"
            ) from None


def input_peer(chat_id: int, access_hash: int | None) -> Any:
    """The InputPeer of a stored source: no lookup, no request."""
    real_id, peer_type = utils.resolve_id(chat_id)
    if peer_type is types.PeerChannel:
        return types.InputPeerChannel(real_id, access_hash or 0)
    if peer_type is types.PeerChat:
        return types.InputPeerChat(real_id)
    return types.InputPeerUser(real_id, access_hash or 0)


async def fetch_top(client: Any, peer: Any) -> tuple[int, int]:
    """(newest message id, Telegram's message count) of a chat, in one request."""
    with telegram_errors():
        newest = await client.get_messages(peer, limit=1)
    return (newest[0].id if newest else 0), int(getattr(newest, "total", 0) or 0)


async def iter_history(
    client: Any, peer: Any, *, above: int | None = None, below: int | None = None
) -> AsyncIterator[Any]:
    """Messages above `above` oldest first, or below `below` newest first (ids exclusive)."""
    if above is not None:
        messages = client.iter_messages(peer, min_id=above, reverse=True, wait_time=0)
    else:
        messages = client.iter_messages(peer, offset_id=below or 0, wait_time=0)
    with telegram_errors():
        async for message in messages:
            yield message


async def iter_thread(
    client: Any, channel_peer: Any, post_id: int, *, above: int
) -> AsyncIterator[Any]:
    """Comments of one channel post above comment id `above`, newest first (one request
    covers a typical thread; reverse paging would cost an extra empty request per thread)."""
    messages = client.iter_messages(channel_peer, reply_to=post_id, min_id=above, wait_time=0)
    try:
        with telegram_errors():
            try:
                async for message in messages:
                    yield message
            except errors.MsgIdInvalidError:
                raise ThreadGone(f"post {post_id} has no comment thread") from None
    except ChatUnavailable:
        raise CommentsUnavailable(
            "comments skipped: the discussion group cannot be read by this account "
            "(join it to archive comments)"
        ) from None


async def fetch_by_ids(client: Any, peer: Any, ids: Sequence[int]) -> list[Any]:
    """Current state of the given messages (edits, counters); deleted ones are left out.

    channels.getMessages does not count as a view, unlike opening the channel would.
    """
    with telegram_errors():
        found = await client.get_messages(peer, ids=list(ids))
    return [m for m in found if m is not None and not isinstance(m, types.MessageEmpty)]


async def fetch_counters(client: Any, peer: Any, ids: Sequence[int]) -> list[dict[str, Any]]:
    """Views, forwards and comment counters of up to 100 messages, without adding a view."""
    with telegram_errors():
        result = await client(
            functions.messages.GetMessagesViewsRequest(peer=peer, id=list(ids), increment=False)
        )
    counters = []
    for message_id, views in zip(ids, result.views, strict=True):
        replies = views.replies
        counters.append(
            {
                "message_id": message_id,
                "views": views.views,
                "forwards": views.forwards,
                "replies": replies.replies if replies else None,
                "replies_max_id": replies.max_id if replies else None,
            }
        )
    return counters


@asynccontextmanager
async def open_takeout(client: Any) -> AsyncIterator[Any]:
    """A takeout session covering every kind of chat tgparser follows (`async with`)."""
    with telegram_errors():
        async with client.takeout(
            finalize=True, users=True, chats=True, megagroups=True, channels=True
        ) as takeout:
            yield takeout
