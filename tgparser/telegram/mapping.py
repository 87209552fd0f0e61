"""Pure mapping from Telethon messages to rows of the ``messages`` table.

Nothing here talks to Telegram or to the database: the functions only read TL objects, so they
work on messages fetched by the client and on hand-built ``telethon.tl.types`` objects alike
(``types.Message``/``types.MessageService`` are Telethon's custom Message once ``telethon`` is
imported, but only the TL fields are relied on, plus ``.sender`` when it was resolved).

Stored naming conventions (queries depend on them, so treat them as a stable format):

* ``entities[].type``: the TL class name without the ``MessageEntity`` prefix, in snake_case:
  ``bold``, ``italic``, ``underline``, ``strike``, ``spoiler``, ``code``, ``pre``,
  ``blockquote``, ``url``, ``text_url``, ``mention``, ``mention_name``, ``hashtag``,
  ``cashtag``, ``bot_command``, ``email``, ``phone``, ``bank_card``, ``custom_emoji``,
  ``formatted_date``, ``unknown``. Every other non-null field of the entity is kept under its TL
  name (``url``, ``user_id``, ``language``, ``document_id``, ``collapsed``, ...).
* ``media_kind``: photo, video, video_note, animation (gif), sticker, audio, voice, document,
  poll, webpage, geo (incl. live locations), venue, contact, dice, game, invoice, story,
  giveaway (incl. giveaway results), paid_media, todo, unsupported; any other media falls back
  to its TL class name (e.g. ``MessageMediaVideoStream``) so it stays visible.
* ``media``: a metadata dict whose first key is ``kind`` (same as ``media_kind``) followed by
  the non-null fields that apply (``id``, ``mime_type``, ``size``, ``file_name``, ...).
"""

from __future__ import annotations

import base64
import functools
import inspect
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from telethon import utils
from telethon.tl import types
from telethon.tl.tlobject import TLObject

from tgparser.records import content_hash

_ENTITY_PREFIXES = ("InputMessageEntity", "MessageEntity")
_CAMEL_BOUNDARY = re.compile(r"(?<!^)(?=[A-Z])")


def marked_chat_id(peer_or_entity: Any) -> int:
    """Marked id (users as-is, basic chats ``-id``, channels ``-100…id``) of a peer or entity."""
    return utils.get_peer_id(peer_or_entity)


def to_jsonable(obj: Any) -> Any:
    """Turn Telethon ``to_dict()`` output into plain JSON values without losing information.

    datetimes become ISO-8601 UTC strings, bytes become ``{"_bytes": <base64>}``, TL objects
    are expanded via ``to_dict()``; ints stay ints whatever their size; keys whose value is
    None are omitted (an absent TL field reads back as None). Anything else raises TypeError
    rather than being stored as a lossy ``repr``.
    """
    kind = type(obj)
    # Exact-type fast paths first: this runs over every field of every ingested message.
    if kind in _JSON_SCALARS or obj is None:
        return obj
    if kind is dict:
        return _jsonable_dict(obj)
    if kind is list or kind is tuple:
        return [v if type(v) in _JSON_SCALARS else to_jsonable(v) for v in obj]
    if isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, datetime):
        return _utc(obj).isoformat()
    if isinstance(obj, (bytes, bytearray, memoryview)):
        return {"_bytes": base64.b64encode(bytes(obj)).decode("ascii")}
    if isinstance(obj, dict):
        return _jsonable_dict(obj)
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(value) for value in obj]
    if isinstance(obj, TLObject):
        return _tl_jsonable(obj)
    raise TypeError(f"cannot convert {type(obj).__name__} to JSON losslessly")


_JSON_SCALARS = frozenset({bool, int, float, str})


def _tl_jsonable(obj: TLObject) -> dict[str, Any]:
    """A TL object as JSON, straight from its fields: what `to_jsonable(obj.to_dict())` gives,
    about twice as fast (no intermediate dict per object), and more exact: `to_dict()` turns
    an absent vector into [], here it stays absent, as on the wire."""
    out: dict[str, Any] = {"_": type(obj).__name__}
    for key in _tl_fields(type(obj)):
        value = getattr(obj, key)
        if value is None:
            continue
        out[key] = value if type(value) in _JSON_SCALARS else to_jsonable(value)
    return out


@functools.cache
def _tl_fields(cls: type) -> tuple[str, ...]:
    # Telethon generates one __init__ parameter per TL field, in schema order; custom classes
    # (e.g. Message) add attributes of their own that are not part of the object.
    fields = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return tuple(
        name
        for name, param in inspect.signature(cls.__init__).parameters.items()
        if name != "self" and param.kind in fields
    )


def _jsonable_dict(obj: dict) -> dict[str, Any]:
    # Null fields are left out: in TL a missing field *is* None, so nothing is lost, and a
    # message's raw JSON shrinks by about half (most optional fields are unset).
    out: dict[str, Any] = {}
    for key, value in obj.items():
        if value is None:
            continue
        if type(key) is not str:
            raise TypeError(f"non-string key {key!r} cannot be stored as JSON losslessly")
        out[key] = value if type(value) in _JSON_SCALARS else to_jsonable(value)
    return out


def records_for(
    messages: Sequence[Any],
    *,
    chat_id: int,
    is_broadcast: bool,
    threads: Sequence[int] | None = None,
) -> list[dict[str, Any]]:
    """Rows for a batch read from one chat (MessageEmpty placeholders left out).

    With `threads`, the messages are comments read through the channel `chat_id`: each lives in
    the discussion group named by its own peer, under the post `threads[i]`.
    """
    records = []
    for index, message in enumerate(messages):
        if isinstance(message, types.MessageEmpty):
            continue
        if threads is None:
            records.append(message_to_record(message, chat_id=chat_id, is_broadcast=is_broadcast))
        else:
            records.append(
                message_to_record(
                    message,
                    chat_id=utils.get_peer_id(message.peer_id),
                    is_broadcast=False,
                    parent=(chat_id, threads[index]),
                )
            )
    return records


def message_to_record(
    message: Any,
    *,
    chat_id: int,
    is_broadcast: bool,
    parent: tuple[int, int] | None = None,
) -> dict[str, Any]:
    """Map one Telethon message to a ``messages`` row (all columns but the storage timestamps).

    ``chat_id`` is the marked id of the chat the message was read from; ``is_broadcast`` says
    that chat is a broadcast channel; ``parent`` is ``(channel marked id, post id)`` when the
    message is a comment in that post's discussion thread.
    """
    date = getattr(message, "date", None)
    if isinstance(message, types.MessageEmpty) or date is None:
        # MessageEmpty (deleted/inaccessible ids) carries no content and no date to store.
        raise ValueError(f"message {getattr(message, 'id', None)!r} has no date/content")

    action = getattr(message, "action", None)
    is_service = isinstance(message, types.MessageService) or action is not None
    if is_service:
        kind = "service"
    elif is_broadcast:
        kind = "post"
    elif parent is not None:
        kind = "comment"
    else:
        kind = "message"

    text = getattr(message, "message", None) or ""
    entities = _entities(getattr(message, "entities", None))
    media_kind, media = _media(getattr(message, "media", None))

    reply_to_msg_id = reply_to_top_id = forum_topic_id = None
    reply_to = getattr(message, "reply_to", None)
    # MessageReplyStoryHeader (a reply to a story) has no message ids to record.
    if isinstance(reply_to, types.MessageReplyHeader):
        reply_to_msg_id = reply_to.reply_to_msg_id
        reply_to_top_id = reply_to.reply_to_top_id
        if reply_to.forum_topic:
            # A direct reply to the topic root only carries reply_to_msg_id (= the root).
            forum_topic_id = reply_to.reply_to_top_id or reply_to.reply_to_msg_id
    if isinstance(action, types.MessageActionTopicCreate):
        # The topic-creation service message is the topic's root: its id is the topic id.
        forum_topic_id = message.id

    replies = getattr(message, "replies", None)
    fwd = getattr(message, "fwd_from", None)

    return {
        "chat_id": chat_id,
        "message_id": message.id,
        "kind": kind,
        "date": _utc(date),
        "edit_date": _utc(getattr(message, "edit_date", None)),
        "sender_id": _sender_id(message, chat_id, is_broadcast),
        "sender_name": _display_name(getattr(message, "sender", None)),
        "post_author": getattr(message, "post_author", None),
        "text": text,
        "entities": entities,
        "reply_to_msg_id": reply_to_msg_id,
        "reply_to_top_id": reply_to_top_id,
        "forum_topic_id": forum_topic_id,
        "parent_chat_id": parent[0] if parent is not None else None,
        "parent_message_id": parent[1] if parent is not None else None,
        "views": getattr(message, "views", None),
        "forwards": getattr(message, "forwards", None),
        "replies": replies.replies if replies is not None else None,
        "replies_max_id": replies.max_id if replies is not None else None,
        "reactions": _reactions(getattr(message, "reactions", None)),
        "fwd_from_id": marked_chat_id(fwd.from_id) if fwd and fwd.from_id else None,
        "fwd_from_name": fwd.from_name if fwd else None,
        "fwd_from_message_id": fwd.channel_post if fwd else None,
        "fwd_post_author": fwd.post_author if fwd else None,
        "fwd_date": _utc(fwd.date) if fwd else None,
        "grouped_id": getattr(message, "grouped_id", None),
        "action": type(action).__name__ if action is not None else None,
        "media_kind": media_kind,
        "media": media,
        "is_pinned": bool(getattr(message, "pinned", False)),
        "raw": _tl_jsonable(message),
        "content_hash": content_hash(text, entities, media),
    }


# --- helpers -----------------------------------------------------------------------------


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    # Telethon decodes dates as aware UTC; hand-built naive ones are taken to be UTC too.
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _sender_id(message: Any, chat_id: int, is_broadcast: bool) -> int | None:
    from_id = getattr(message, "from_id", None)
    if from_id is not None:
        return marked_chat_id(from_id)
    # Same rule as Telethon: unsigned channel posts are sent by the channel itself, and
    # incoming private messages (no from_id since layer 119) by the peer we talk to.
    if is_broadcast or getattr(message, "post", False):
        return chat_id
    if isinstance(getattr(message, "peer_id", None), types.PeerUser) and not getattr(
        message, "out", False
    ):
        return chat_id
    return None


def _display_name(entity: Any) -> str | None:
    if entity is None:
        return None
    title = getattr(entity, "title", None)  # Channel, Chat and their *Forbidden variants
    if title:
        return title
    parts = [getattr(entity, "first_name", None), getattr(entity, "last_name", None)]
    name = " ".join(p for p in parts if p)
    return name or getattr(entity, "username", None) or None


def _snake(name: str) -> str:
    return _CAMEL_BOUNDARY.sub("_", name).lower()


def _entity_type(entity: Any) -> str:
    name = type(entity).__name__
    for prefix in _ENTITY_PREFIXES:
        if name.startswith(prefix) and len(name) > len(prefix):
            return _snake(name[len(prefix) :])
    return _snake(name)


def _entities(entities: list | None) -> list[dict[str, Any]] | None:
    if not entities:
        return None
    out = []
    for entity in entities:
        item: dict[str, Any] = {
            "type": _entity_type(entity),
            "offset": entity.offset,
            "length": entity.length,
        }
        # Keep whatever extra data this entity type has (url, user_id, language, ...).
        for key, value in entity.to_dict().items():
            if key not in ("_", "offset", "length") and value is not None:
                item[key] = to_jsonable(value)
        out.append(item)
    return out


def _reactions(reactions: Any) -> list[dict[str, Any]] | None:
    results = getattr(reactions, "results", None)
    if not results:
        return None
    out = []
    for count in results:
        reaction = count.reaction
        if isinstance(reaction, types.ReactionEmoji):
            key: Any = reaction.emoticon
        elif isinstance(reaction, types.ReactionCustomEmoji):
            key = {"custom_emoji_id": reaction.document_id}
        elif isinstance(reaction, types.ReactionPaid):
            key = "paid"
        else:
            key = type(reaction).__name__  # ReactionEmpty or a future type: keep it visible
        out.append({"reaction": key, "count": count.count})
    return out


def _compact(kind: str, **fields: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"kind": kind}
    out.update((k, v) for k, v in fields.items() if v is not None)
    return out


def _tl_text(value: Any) -> str | None:
    # Poll questions/answers are TextWithEntities in current layers, plain str in old ones.
    return getattr(value, "text", value)


def _b64(value: bytes | None) -> str | None:
    return base64.b64encode(value).decode("ascii") if value is not None else None


def _media(media: Any) -> tuple[str | None, dict[str, Any] | None]:
    if media is None or isinstance(media, types.MessageMediaEmpty):
        return None, None
    if isinstance(media, types.MessageMediaPhoto):
        return "photo", _photo_meta(media)
    if isinstance(media, types.MessageMediaDocument):
        kind = _document_kind(media)
        return kind, _document_meta(kind, media)
    if isinstance(media, types.MessageMediaPoll):
        return "poll", _poll_meta(media)
    if isinstance(media, types.MessageMediaWebPage):
        return "webpage", _webpage_meta(media.webpage)
    if isinstance(media, types.MessageMediaVenue):
        return "venue", _compact(
            "venue",
            **_geo_fields(media.geo),
            title=media.title,
            address=media.address,
            provider=media.provider,
            venue_id=media.venue_id,
            venue_type=media.venue_type,
        )
    if isinstance(media, types.MessageMediaGeo):
        return "geo", _compact("geo", **_geo_fields(media.geo))
    if isinstance(media, types.MessageMediaGeoLive):
        return "geo", _compact(
            "geo", **_geo_fields(media.geo), live=True, period=media.period, heading=media.heading
        )
    if isinstance(media, types.MessageMediaContact):
        name = " ".join(p for p in (media.first_name, media.last_name) if p)
        return "contact", _compact(
            "contact",
            phone=media.phone_number or None,
            name=name or None,
            first_name=media.first_name or None,
            last_name=media.last_name or None,
            user_id=media.user_id or None,  # 0 when the contact is not a Telegram user
        )
    if isinstance(media, types.MessageMediaDice):
        return "dice", _compact("dice", emoticon=media.emoticon, value=media.value)
    if isinstance(media, types.MessageMediaGame):
        game = media.game
        return "game", _compact("game", id=game.id, short_name=game.short_name, title=game.title)
    if isinstance(media, types.MessageMediaInvoice):
        return "invoice", _compact(
            "invoice",
            title=media.title,
            description=media.description,
            currency=media.currency,
            total_amount=media.total_amount,
        )
    if isinstance(media, types.MessageMediaStory):
        return "story", _compact("story", id=media.id, peer_id=marked_chat_id(media.peer))
    if isinstance(media, types.MessageMediaGiveaway):
        return "giveaway", _compact(
            "giveaway",
            channels=[marked_chat_id(types.PeerChannel(c)) for c in media.channels or []],
            quantity=media.quantity,
            months=media.months,
            stars=media.stars,
            prize_description=media.prize_description,
            until_date=to_jsonable(media.until_date),
        )
    if isinstance(media, types.MessageMediaGiveawayResults):
        return "giveaway", _compact(
            "giveaway",
            results=True,
            channel_id=marked_chat_id(types.PeerChannel(media.channel_id)),
            launch_msg_id=media.launch_msg_id,
            winners_count=media.winners_count,
            unclaimed_count=media.unclaimed_count,
            months=media.months,
            stars=media.stars,
            prize_description=media.prize_description,
            until_date=to_jsonable(media.until_date),
        )
    if isinstance(media, types.MessageMediaPaidMedia):
        return "paid_media", _compact(
            "paid_media", stars_amount=media.stars_amount, count=len(media.extended_media or [])
        )
    if isinstance(media, types.MessageMediaToDo):
        todo = media.todo
        items = [{"id": i.id, "title": _tl_text(i.title)} for i in todo.list or []]
        return "todo", _compact("todo", title=_tl_text(todo.title), items=items)
    if isinstance(media, types.MessageMediaUnsupported):
        return "unsupported", _compact("unsupported")
    # Unknown/new media: keep the TL name so such rows are easy to find; raw has the rest.
    name = type(media).__name__
    return name, _compact(name)


def _document_kind(media: Any) -> str:
    doc = media.document
    attrs = getattr(doc, "attributes", None) or []
    by_type = {type(a): a for a in attrs}
    # Order matters: video stickers also carry a Video attribute, gifs carry Video too.
    if types.DocumentAttributeSticker in by_type:
        return "sticker"
    if types.DocumentAttributeAnimated in by_type:
        return "animation"
    video = by_type.get(types.DocumentAttributeVideo)
    if video is not None or media.round or media.video:
        if media.round or (video is not None and video.round_message):
            return "video_note"
        return "video"
    audio = by_type.get(types.DocumentAttributeAudio)
    if audio is not None or media.voice:
        if media.voice or (audio is not None and audio.voice):
            return "voice"
        return "audio"
    return "document"


def _document_meta(kind: str, media: Any) -> dict[str, Any]:
    doc = media.document
    extra = {"spoiler": True if media.spoiler else None, "ttl_seconds": media.ttl_seconds}
    if not isinstance(doc, types.Document):
        # DocumentEmpty (e.g. expired self-destructing media) or missing: only the id survives.
        return _compact(kind, id=getattr(doc, "id", None), **extra)
    fields: dict[str, Any] = {}
    for attr in doc.attributes:
        if isinstance(attr, types.DocumentAttributeFilename):
            fields["file_name"] = attr.file_name
        elif isinstance(attr, types.DocumentAttributeVideo):
            # Video wins over ImageSize for dimensions and over Audio for duration.
            fields.update(duration=attr.duration, width=attr.w, height=attr.h)
        elif isinstance(attr, types.DocumentAttributeImageSize):
            fields.setdefault("width", attr.w)
            fields.setdefault("height", attr.h)
        elif isinstance(attr, types.DocumentAttributeAudio):
            fields.setdefault("duration", attr.duration)
            fields.update(title=attr.title, performer=attr.performer)
        elif isinstance(attr, types.DocumentAttributeSticker):
            fields["emoji"] = attr.alt
            if isinstance(attr.stickerset, types.InputStickerSetID):
                fields["sticker_set_id"] = attr.stickerset.id
    return _compact(
        kind,
        id=doc.id,
        mime_type=doc.mime_type,
        size=doc.size,
        file_name=fields.get("file_name"),
        duration=fields.get("duration"),
        width=fields.get("width"),
        height=fields.get("height"),
        title=fields.get("title"),
        performer=fields.get("performer"),
        emoji=fields.get("emoji"),
        sticker_set_id=fields.get("sticker_set_id"),
        **extra,
    )


def _photo_size_bytes(size: Any) -> int | None:
    if isinstance(size, types.PhotoSize):
        return size.size
    if isinstance(size, types.PhotoSizeProgressive):
        return max(size.sizes) if size.sizes else None
    if isinstance(size, types.PhotoCachedSize):
        return len(size.bytes)
    return None


def _photo_meta(media: Any) -> dict[str, Any]:
    photo = media.photo
    extra = {"spoiler": True if media.spoiler else None, "ttl_seconds": media.ttl_seconds}
    if not isinstance(photo, types.Photo):
        return _compact("photo", id=getattr(photo, "id", None), **extra)
    # The biggest real size (stripped/path thumbnails have no dimensions) describes the photo.
    sized = [
        s
        for s in photo.sizes
        if isinstance(s, (types.PhotoSize, types.PhotoSizeProgressive, types.PhotoCachedSize))
    ]
    best = max(sized, key=lambda s: (s.w * s.h, _photo_size_bytes(s) or 0), default=None)
    return _compact(
        "photo",
        id=photo.id,
        mime_type="image/jpeg",  # Telegram re-encodes every photo as JPEG
        size=_photo_size_bytes(best) if best is not None else None,
        width=best.w if best is not None else None,
        height=best.h if best is not None else None,
        **extra,
    )


def _poll_meta(media: Any) -> dict[str, Any]:
    poll = media.poll
    results = media.results
    voters = {v.option: v for v in (getattr(results, "results", None) or [])}
    answers = []
    for answer in poll.answers:
        item: dict[str, Any] = {"option": _b64(answer.option), "text": _tl_text(answer.text)}
        counted = voters.get(answer.option)
        if counted is not None:
            item["voters"] = counted.voters
            if counted.correct:
                item["correct"] = True
        answers.append(item)
    return _compact(
        "poll",
        id=poll.id,
        question=_tl_text(poll.question),
        answers=answers,
        total_voters=getattr(results, "total_voters", None),
        closed=bool(poll.closed),
        quiz=bool(poll.quiz),
        multiple_choice=bool(poll.multiple_choice),
        public_voters=bool(poll.public_voters),
        solution=getattr(results, "solution", None),
    )


def _webpage_meta(page: Any) -> dict[str, Any]:
    if isinstance(page, types.WebPage):
        return _compact(
            "webpage",
            id=page.id,
            url=page.url,
            display_url=page.display_url,
            type=page.type,
            site_name=page.site_name,
            title=page.title,
            description=page.description,
            photo_id=page.photo.id if isinstance(page.photo, types.Photo) else None,
            document_id=page.document.id if isinstance(page.document, types.Document) else None,
        )
    if isinstance(page, types.WebPagePending):
        return _compact("webpage", id=page.id, url=page.url, pending=True)
    # WebPageEmpty has id/url; WebPageNotModified has neither.
    return _compact("webpage", id=getattr(page, "id", None), url=getattr(page, "url", None))


def _geo_fields(geo: Any) -> dict[str, Any]:
    if not isinstance(geo, types.GeoPoint):
        return {}  # GeoPointEmpty
    return {"lat": geo.lat, "long": geo.long, "accuracy_radius": geo.accuracy_radius}
