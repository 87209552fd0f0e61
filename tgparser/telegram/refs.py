"""What a user may type to name a chat: `@name`, a t.me link, or a numeric id.

Parsing is pure (no Telethon), so bad input is refused before any connection is made.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from tgparser.errors import TgparserError
from tgparser.links import CHANNEL_ID_OFFSET

_USERNAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{3,31}$")
_LINK_HOSTS = ("t.me", "telegram.me", "telegram.dog")


class BadReference(TgparserError):
    """A REF that names no chat."""


@dataclass(frozen=True)
class ChatRef:
    """A parsed REF: either a public username or a marked chat id."""

    text: str
    username: str | None = None
    chat_id: int | None = None  # marked: -100… channels/supergroups, -N basic groups
    post_id: int | None = None  # when the REF was a link to a post
    access_hash: int | None = None  # known from the archive: no lookup needed

    @property
    def label(self) -> str:
        return f"@{self.username}" if self.username else str(self.chat_id)


def channel_marked_id(channel_id: int) -> int:
    return -(CHANNEL_ID_OFFSET + channel_id)


def parse_ref(text: str) -> ChatRef:
    """Parse one REF; raise `BadReference` with a one-line reason when it names nothing."""
    raw = text.strip()
    if not raw:
        raise BadReference("empty chat reference")
    if re.fullmatch(r"-?\d+", raw):
        return ChatRef(raw, chat_id=_numeric_id(int(raw), raw))
    if raw.startswith("@"):
        return ChatRef(raw, username=_username(raw[1:], raw))
    if raw.startswith("tg://"):
        query = parse_qs(urlsplit(raw).query)
        if "domain" in query:
            post = query.get("post", [None])[0]
            return ChatRef(
                raw,
                username=_username(query["domain"][0], raw),
                post_id=int(post) if post and post.isdigit() else None,
            )
        raise BadReference(f"{raw!r}: only tg://resolve?domain=… links name a chat")
    link = raw if "://" in raw else "https://" + raw
    parts = urlsplit(link)
    host = (parts.hostname or "").lower().removeprefix("www.")
    if host in _LINK_HOSTS:
        return _parse_link(raw, [p for p in parts.path.split("/") if p])
    if "/" not in raw and "." not in raw:
        return ChatRef(raw, username=_username(raw, raw))
    raise BadReference(f"{raw!r} is not a chat reference: use @username, a t.me link or an id")


def _parse_link(raw: str, path: list[str]) -> ChatRef:
    if not path:
        raise BadReference(f"{raw!r} is a link to no chat")
    head = path[0]
    if head.startswith("+") or head == "joinchat":
        raise BadReference(
            f"{raw!r} is an invite link: join the chat in Telegram first, then add it by its "
            "t.me/c/… link or id"
        )
    if head == "c":  # t.me/c/<channel id>/<post>: a private channel or supergroup
        if len(path) < 2 or not path[1].isdigit():
            raise BadReference(f"{raw!r}: expected t.me/c/<channel id>/<post id>")
        return ChatRef(raw, chat_id=channel_marked_id(int(path[1])), post_id=_post(path[2:]))
    if head == "s":  # t.me/s/<name>: the web preview of a public channel
        path = path[1:]
        if not path:
            raise BadReference(f"{raw!r} is a link to no chat")
    return ChatRef(raw, username=_username(path[0], raw), post_id=_post(path[1:]))


def _post(rest: list[str]) -> int | None:
    # t.me/name/123 or, for forum topics, t.me/name/<topic>/<post>: the last number is the post.
    numbers = [p for p in rest if p.isdigit()]
    return int(numbers[-1]) if numbers else None


def _username(name: str, raw: str) -> str:
    if not _USERNAME.match(name):
        where = "" if name in (raw, raw.lstrip("@")) else f"{raw!r}: "
        raise BadReference(f"{where}{name!r} is not a valid Telegram username")
    return name.lower()


def _numeric_id(value: int, raw: str) -> int:
    if value == 0:
        raise BadReference(f"{raw!r} is not a chat id")
    # A bare positive number is taken as a channel id, as shown in t.me/c/<id>/… links:
    # tgparser archives channels and groups, and that is the id users copy.
    return channel_marked_id(value) if value > 0 else value
