"""Tests for tgparser.telegram.mapping, on hand-built Telethon TL objects."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from telethon.tl import types

from tgparser.storage.columns import TABLE_COLUMNS
from tgparser.telegram.mapping import (
    content_hash,
    marked_chat_id,
    message_to_record,
    to_jsonable,
)

DATE = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
EDIT = datetime(2024, 5, 1, 13, 30, 0, tzinfo=UTC)

CHANNEL = 1234567890
CHANNEL_MARKED = -1001234567890
GROUP = 2222222222  # the channel's discussion supergroup
GROUP_MARKED = -1002222222222
USER = 555000111
BIG_ID = 5_984_123_456_789_012_345  # 64-bit TL ids must survive as ints
BIG_ID_2 = -8_888_777_666_555_444_333
FILE_REF = b"\x00\x01\xffref"


def channel_entity(cid: int = CHANNEL, title: str = "News") -> types.Channel:
    return types.Channel(
        id=cid, title=title, photo=types.ChatPhotoEmpty(), date=DATE, broadcast=True
    )


def post(**kwargs) -> types.Message:
    """A channel post: PeerChannel, post flag, no from_id (sent by the channel)."""
    fields = dict(id=10, peer_id=types.PeerChannel(CHANNEL), date=DATE, message="", post=True)
    fields.update(kwargs)
    return types.Message(**fields)


def post_record(message, **kwargs):
    return message_to_record(message, chat_id=CHANNEL_MARKED, is_broadcast=True, **kwargs)


def document(attributes, mime="video/mp4", size=1000, doc_id=BIG_ID) -> types.Document:
    return types.Document(
        id=doc_id,
        access_hash=BIG_ID_2,
        file_reference=FILE_REF,
        date=DATE,
        mime_type=mime,
        size=size,
        dc_id=2,
        attributes=attributes,
    )


def photo(photo_id=BIG_ID) -> types.Photo:
    return types.Photo(
        id=photo_id,
        access_hash=BIG_ID_2,
        file_reference=FILE_REF,
        date=DATE,
        sizes=[
            types.PhotoStrippedSize(type="i", bytes=b"\x01\x28\x1e"),
            types.PhotoSize(type="m", w=320, h=240, size=15_000),
            types.PhotoSize(type="y", w=1280, h=960, size=120_000),
            types.PhotoSize(type="x", w=800, h=600, size=60_000),
        ],
        dc_id=2,
    )


def dumps_roundtrip(value):
    text = json.dumps(value)
    assert json.loads(text) == value
    return text


def assert_plain_json(value):
    """No bytes/datetime/TL objects left anywhere, only JSON types."""
    if isinstance(value, dict):
        for key, item in value.items():
            assert isinstance(key, str)
            assert_plain_json(item)
    elif isinstance(value, list):
        for item in value:
            assert_plain_json(item)
    else:
        assert value is None or isinstance(value, (bool, int, float, str)), repr(value)


# --- columns and kinds ------------------------------------------------------------------


def test_record_has_exactly_the_message_columns_storage_does_not_set():
    record = post_record(post(message="hi"))
    expected = set(TABLE_COLUMNS["messages"]) - {"first_seen_at", "updated_at"}
    assert set(record) == expected


def test_kind_rules():
    plain = types.Message(
        id=1, peer_id=types.PeerChannel(GROUP), date=DATE, message="x", from_id=types.PeerUser(USER)
    )
    assert message_to_record(plain, chat_id=GROUP_MARKED, is_broadcast=False)["kind"] == "message"
    comment = message_to_record(
        plain, chat_id=GROUP_MARKED, is_broadcast=False, parent=(CHANNEL_MARKED, 10)
    )
    assert comment["kind"] == "comment"
    assert (comment["parent_chat_id"], comment["parent_message_id"]) == (CHANNEL_MARKED, 10)
    assert post_record(post())["kind"] == "post"
    service = types.MessageService(
        id=2,
        peer_id=types.PeerChannel(CHANNEL),
        date=DATE,
        post=True,
        action=types.MessageActionPinMessage(),
    )
    assert post_record(service)["kind"] == "service"
    # Non-comment rows have no parent.
    rec = post_record(post())
    assert rec["parent_chat_id"] is None and rec["parent_message_id"] is None


def test_message_empty_is_rejected():
    with pytest.raises(ValueError):
        message_to_record(
            types.MessageEmpty(id=5, peer_id=types.PeerChannel(CHANNEL)),
            chat_id=CHANNEL_MARKED,
            is_broadcast=True,
        )


# --- a full channel post ----------------------------------------------------------------


def test_channel_post_all_fields():
    msg = post(
        id=42,
        message="Bold link @someone",
        entities=[
            types.MessageEntityBold(offset=0, length=4),
            types.MessageEntityTextUrl(offset=5, length=4, url="https://example.com/a"),
            types.MessageEntityMention(offset=10, length=8),
        ],
        views=1500,
        forwards=12,
        replies=types.MessageReplies(
            replies=7, replies_pts=100, comments=True, channel_id=GROUP, max_id=900
        ),
        edit_date=EDIT,
        post_author="Alice Editor",
        grouped_id=BIG_ID,
        pinned=True,
    )
    msg._sender = channel_entity()
    record = post_record(msg)
    assert {k: v for k, v in record.items() if k not in ("raw", "content_hash")} == {
        "chat_id": CHANNEL_MARKED,
        "message_id": 42,
        "kind": "post",
        "date": DATE,
        "edit_date": EDIT,
        "sender_id": CHANNEL_MARKED,
        "sender_name": "News",
        "post_author": "Alice Editor",
        "text": "Bold link @someone",
        "entities": [
            {"type": "bold", "offset": 0, "length": 4},
            {"type": "text_url", "offset": 5, "length": 4, "url": "https://example.com/a"},
            {"type": "mention", "offset": 10, "length": 8},
        ],
        "reply_to_msg_id": None,
        "reply_to_top_id": None,
        "forum_topic_id": None,
        "parent_chat_id": None,
        "parent_message_id": None,
        "views": 1500,
        "forwards": 12,
        "replies": 7,
        "replies_max_id": 900,
        "reactions": None,
        "fwd_from_id": None,
        "fwd_from_name": None,
        "fwd_from_message_id": None,
        "fwd_post_author": None,
        "fwd_date": None,
        "grouped_id": BIG_ID,
        "action": None,
        "media_kind": None,
        "media": None,
        "is_pinned": True,
    }
    assert len(record["content_hash"]) == 64
    assert record["date"].tzinfo is not None and record["date"].utcoffset() == timedelta(0)


def test_post_without_sender_resolved_and_without_text():
    record = post_record(post(message=""))
    assert record["text"] == ""
    assert record["entities"] is None
    assert record["sender_id"] == CHANNEL_MARKED
    assert record["sender_name"] is None
    assert record["is_pinned"] is False


def test_dates_are_aware_utc():
    msk = timezone(timedelta(hours=3))
    naive = datetime(2024, 1, 2, 3, 4, 5)
    record = post_record(post(date=datetime(2024, 1, 2, 6, 4, 5, tzinfo=msk), edit_date=naive))
    assert record["date"] == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert record["date"].tzinfo == UTC
    assert record["edit_date"] == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_more_entity_types_keep_their_extra_fields():
    msg = post(
        message="code and emoji and name",
        entities=[
            types.MessageEntityPre(offset=0, length=4, language="python"),
            types.MessageEntityCustomEmoji(offset=9, length=5, document_id=BIG_ID),
            types.MessageEntityMentionName(offset=19, length=4, user_id=USER),
            types.MessageEntityBlockquote(offset=0, length=4, collapsed=True),
            types.MessageEntityBotCommand(offset=0, length=4),
        ],
    )
    assert post_record(msg)["entities"] == [
        {"type": "pre", "offset": 0, "length": 4, "language": "python"},
        {"type": "custom_emoji", "offset": 9, "length": 5, "document_id": BIG_ID},
        {"type": "mention_name", "offset": 19, "length": 4, "user_id": USER},
        {"type": "blockquote", "offset": 0, "length": 4, "collapsed": True},
        {"type": "bot_command", "offset": 0, "length": 4},
    ]


# --- comments in a discussion group -----------------------------------------------------


def test_comment_sent_by_user():
    msg = types.Message(
        id=901,
        peer_id=types.PeerChannel(GROUP),
        date=DATE,
        message="Nice post",
        from_id=types.PeerUser(USER),
        reply_to=types.MessageReplyHeader(reply_to_msg_id=850),
    )
    msg._sender = types.User(id=USER, first_name="Ivan", last_name="Petrov", username="ivanp")
    record = message_to_record(
        msg, chat_id=GROUP_MARKED, is_broadcast=False, parent=(CHANNEL_MARKED, 42)
    )
    assert record["kind"] == "comment"
    assert record["chat_id"] == GROUP_MARKED
    assert record["sender_id"] == USER
    assert record["sender_name"] == "Ivan Petrov"
    assert record["parent_chat_id"] == CHANNEL_MARKED
    assert record["parent_message_id"] == 42
    assert record["reply_to_msg_id"] == 850
    assert record["reply_to_top_id"] is None
    assert record["forum_topic_id"] is None
    assert record["post_author"] is None


def test_comment_sent_by_channel():
    other = 3333333333
    msg = types.Message(
        id=902,
        peer_id=types.PeerChannel(GROUP),
        date=DATE,
        message="Reply as a channel",
        from_id=types.PeerChannel(other),
        reply_to=types.MessageReplyHeader(reply_to_msg_id=901, reply_to_top_id=850),
    )
    msg._sender = channel_entity(other, "Other Channel")
    record = message_to_record(
        msg, chat_id=GROUP_MARKED, is_broadcast=False, parent=(CHANNEL_MARKED, 42)
    )
    assert record["kind"] == "comment"
    assert record["sender_id"] == -1003333333333
    assert record["sender_name"] == "Other Channel"
    assert record["reply_to_msg_id"] == 901
    assert record["reply_to_top_id"] == 850


def test_sender_name_variants():
    def name_of(sender):
        msg = types.Message(
            id=1,
            peer_id=types.PeerChannel(GROUP),
            date=DATE,
            message="",
            from_id=types.PeerUser(USER),
        )
        msg._sender = sender
        return message_to_record(msg, chat_id=GROUP_MARKED, is_broadcast=False)["sender_name"]

    assert name_of(types.User(id=USER, first_name="Solo")) == "Solo"
    assert name_of(types.User(id=USER, username="only_username")) == "only_username"
    assert name_of(types.User(id=USER)) is None
    chat = types.Chat(
        id=77,
        title="Basic group",
        photo=types.ChatPhotoEmpty(),
        participants_count=3,
        date=DATE,
        version=1,
    )
    assert name_of(chat) == "Basic group"


def test_private_chat_incoming_message_sender_is_the_peer():
    msg = types.Message(id=3, peer_id=types.PeerUser(USER), date=DATE, message="hey")
    record = message_to_record(msg, chat_id=USER, is_broadcast=False)
    assert record["sender_id"] == USER
    assert record["kind"] == "message"


def test_group_message_without_from_id_has_no_sender():
    msg = types.Message(id=3, peer_id=types.PeerChannel(GROUP), date=DATE, message="hey")
    assert message_to_record(msg, chat_id=GROUP_MARKED, is_broadcast=False)["sender_id"] is None


# --- reply headers and forum topics -----------------------------------------------------


def _group_msg(reply_to):
    msg = types.Message(
        id=500,
        peer_id=types.PeerChannel(GROUP),
        date=DATE,
        message="t",
        from_id=types.PeerUser(USER),
        reply_to=reply_to,
    )
    return message_to_record(msg, chat_id=GROUP_MARKED, is_broadcast=False)


def test_forum_topic_direct_message_in_topic():
    rec = _group_msg(types.MessageReplyHeader(forum_topic=True, reply_to_msg_id=77))
    assert (rec["reply_to_msg_id"], rec["reply_to_top_id"], rec["forum_topic_id"]) == (77, None, 77)


def test_forum_topic_reply_inside_topic():
    rec = _group_msg(
        types.MessageReplyHeader(forum_topic=True, reply_to_msg_id=120, reply_to_top_id=77)
    )
    assert (rec["reply_to_msg_id"], rec["reply_to_top_id"], rec["forum_topic_id"]) == (120, 77, 77)


def test_general_topic_and_plain_reply_have_no_topic():
    assert _group_msg(None)["forum_topic_id"] is None
    rec = _group_msg(types.MessageReplyHeader(reply_to_msg_id=120))
    assert (rec["reply_to_msg_id"], rec["forum_topic_id"]) == (120, None)


def test_topic_creation_service_message_is_its_topic_root():
    msg = types.MessageService(
        id=77,
        peer_id=types.PeerChannel(GROUP),
        date=DATE,
        from_id=types.PeerUser(USER),
        action=types.MessageActionTopicCreate(title="Off-topic", icon_color=0x6FB9F0),
    )
    rec = message_to_record(msg, chat_id=GROUP_MARKED, is_broadcast=False)
    assert rec["forum_topic_id"] == 77
    assert rec["action"] == "MessageActionTopicCreate"


def test_story_reply_header_has_no_message_ids():
    rec = _group_msg(types.MessageReplyStoryHeader(peer=types.PeerUser(USER), story_id=5))
    assert rec["reply_to_msg_id"] is None and rec["reply_to_top_id"] is None


# --- forwards, reactions, service -------------------------------------------------------


def test_forward_header():
    fwd = types.MessageFwdHeader(
        date=datetime(2023, 12, 31, 23, 59, tzinfo=UTC),
        from_id=types.PeerChannel(3333333333),
        channel_post=321,
        post_author="Bob",
    )
    rec = post_record(post(message="fwd", fwd_from=fwd))
    assert rec["fwd_from_id"] == -1003333333333
    assert rec["fwd_from_name"] is None
    assert rec["fwd_from_message_id"] == 321
    assert rec["fwd_post_author"] == "Bob"
    assert rec["fwd_date"] == datetime(2023, 12, 31, 23, 59, tzinfo=UTC)


def test_forward_from_hidden_user():
    fwd = types.MessageFwdHeader(date=DATE, from_name="Hidden Person")
    rec = post_record(post(message="fwd", fwd_from=fwd))
    assert rec["fwd_from_id"] is None
    assert rec["fwd_from_name"] == "Hidden Person"
    assert rec["fwd_from_message_id"] is None
    assert rec["fwd_post_author"] is None
    assert rec["fwd_date"] == DATE


def test_reactions():
    reactions = types.MessageReactions(
        results=[
            types.ReactionCount(reaction=types.ReactionEmoji(emoticon="👍"), count=10),
            types.ReactionCount(
                reaction=types.ReactionCustomEmoji(document_id=BIG_ID), count=3, chosen_order=1
            ),
            types.ReactionCount(reaction=types.ReactionPaid(), count=50),
        ],
        can_see_list=True,
    )
    rec = post_record(post(message="x", reactions=reactions))
    assert rec["reactions"] == [
        {"reaction": "👍", "count": 10},
        {"reaction": {"custom_emoji_id": BIG_ID}, "count": 3},
        {"reaction": "paid", "count": 50},
    ]
    assert post_record(post(reactions=types.MessageReactions(results=[])))["reactions"] is None


def test_service_chat_add_user():
    msg = types.MessageService(
        id=60,
        peer_id=types.PeerChannel(GROUP),
        date=DATE,
        from_id=types.PeerUser(USER),
        action=types.MessageActionChatAddUser(users=[USER, 777]),
    )
    rec = message_to_record(msg, chat_id=GROUP_MARKED, is_broadcast=False)
    assert rec["kind"] == "service"
    assert rec["action"] == "MessageActionChatAddUser"
    assert rec["text"] == ""
    assert rec["sender_id"] == USER
    assert rec["media_kind"] is None and rec["media"] is None
    assert rec["is_pinned"] is False
    assert rec["raw"]["action"] == {"_": "MessageActionChatAddUser", "users": [USER, 777]}


def test_service_pin_message_in_channel():
    msg = types.MessageService(
        id=61,
        peer_id=types.PeerChannel(CHANNEL),
        date=DATE,
        post=True,
        reply_to=types.MessageReplyHeader(reply_to_msg_id=42),
        action=types.MessageActionPinMessage(),
    )
    rec = post_record(msg)
    assert rec["kind"] == "service"
    assert rec["action"] == "MessageActionPinMessage"
    assert rec["sender_id"] == CHANNEL_MARKED
    assert rec["reply_to_msg_id"] == 42
    json.dumps(rec["raw"])


# --- media ------------------------------------------------------------------------------


def test_photo():
    rec = post_record(post(message="caption", media=types.MessageMediaPhoto(photo=photo())))
    assert rec["media_kind"] == "photo"
    assert rec["media"] == {
        "kind": "photo",
        "id": BIG_ID,
        "mime_type": "image/jpeg",
        "size": 120_000,
        "width": 1280,
        "height": 960,
    }


def test_expired_photo_and_spoiler():
    rec = post_record(post(media=types.MessageMediaPhoto(ttl_seconds=10)))
    assert rec["media"] == {"kind": "photo", "ttl_seconds": 10}
    rec = post_record(post(media=types.MessageMediaPhoto(photo=photo(), spoiler=True)))
    assert rec["media"]["spoiler"] is True


VIDEO = types.DocumentAttributeVideo(duration=12.5, w=1920, h=1080, supports_streaming=True)
STICKER_SET = types.InputStickerSetID(id=BIG_ID_2, access_hash=1)


@pytest.mark.parametrize(
    ("attributes", "mime", "flags", "kind", "extra"),
    [
        (
            [VIDEO, types.DocumentAttributeFilename(file_name="clip.mp4")],
            "video/mp4",
            {"video": True},
            "video",
            {"file_name": "clip.mp4", "duration": 12.5, "width": 1920, "height": 1080},
        ),
        (
            [types.DocumentAttributeAudio(duration=7, voice=True, waveform=b"\x00\x10")],
            "audio/ogg",
            {"voice": True},
            "voice",
            {"duration": 7},
        ),
        (
            [
                types.DocumentAttributeAudio(duration=200, title="Song", performer="Band"),
                types.DocumentAttributeFilename(file_name="song.mp3"),
            ],
            "audio/mpeg",
            {},
            "audio",
            {"duration": 200, "title": "Song", "performer": "Band", "file_name": "song.mp3"},
        ),
        (
            [types.DocumentAttributeVideo(duration=9.0, w=384, h=384, round_message=True)],
            "video/mp4",
            {"round": True},
            "video_note",
            {"duration": 9.0, "width": 384, "height": 384},
        ),
        (
            [
                types.DocumentAttributeImageSize(w=512, h=512),
                types.DocumentAttributeSticker(alt="😀", stickerset=STICKER_SET),
                types.DocumentAttributeFilename(file_name="sticker.webp"),
            ],
            "image/webp",
            {},
            "sticker",
            {
                "width": 512,
                "height": 512,
                "emoji": "😀",
                "sticker_set_id": BIG_ID_2,
                "file_name": "sticker.webp",
            },
        ),
        (
            [
                types.DocumentAttributeVideo(duration=3.0, w=480, h=270, nosound=True),
                types.DocumentAttributeAnimated(),
                types.DocumentAttributeFilename(file_name="funny.gif.mp4"),
            ],
            "video/mp4",
            {},
            "animation",
            {"duration": 3.0, "width": 480, "height": 270, "file_name": "funny.gif.mp4"},
        ),
        (
            [types.DocumentAttributeFilename(file_name="report.pdf")],
            "application/pdf",
            {},
            "document",
            {"file_name": "report.pdf"},
        ),
    ],
)
def test_documents(attributes, mime, flags, kind, extra):
    media = types.MessageMediaDocument(document=document(attributes, mime=mime), **flags)
    rec = post_record(post(message="", media=media))
    assert rec["media_kind"] == kind
    assert rec["media"] == {"kind": kind, "id": BIG_ID, "mime_type": mime, "size": 1000, **extra}
    assert_plain_json(rec["media"])
    dumps_roundtrip(rec["raw"])


def test_voice_detected_from_attribute_alone():
    attrs = [types.DocumentAttributeAudio(duration=3, voice=True)]
    media = types.MessageMediaDocument(document=document(attrs, mime="audio/ogg"))
    assert post_record(post(media=media))["media_kind"] == "voice"


def test_expired_document():
    media = types.MessageMediaDocument(document=types.DocumentEmpty(id=99), ttl_seconds=30)
    rec = post_record(post(media=media))
    assert rec["media_kind"] == "document"
    assert rec["media"] == {"kind": "document", "id": 99, "ttl_seconds": 30}


def _poll_media(yes_votes=3, no_votes=1):
    poll = types.Poll(
        id=BIG_ID,
        question=types.TextWithEntities(text="Tea or coffee?", entities=[]),
        answers=[
            types.PollAnswer(text=types.TextWithEntities(text="Tea", entities=[]), option=b"0"),
            types.PollAnswer(text=types.TextWithEntities(text="Coffee", entities=[]), option=b"1"),
        ],
        hash=0,
    )
    results = types.PollResults(
        results=[
            types.PollAnswerVoters(option=b"0", voters=yes_votes, chosen=True),
            types.PollAnswerVoters(option=b"1", voters=no_votes),
        ],
        total_voters=yes_votes + no_votes,
    )
    return types.MessageMediaPoll(poll=poll, results=results)


def test_poll():
    rec = post_record(post(media=_poll_media()))
    assert rec["media_kind"] == "poll"
    assert rec["media"] == {
        "kind": "poll",
        "id": BIG_ID,
        "question": "Tea or coffee?",
        "answers": [
            {"option": "MA==", "text": "Tea", "voters": 3},
            {"option": "MQ==", "text": "Coffee", "voters": 1},
        ],
        "total_voters": 4,
        "closed": False,
        "quiz": False,
        "multiple_choice": False,
        "public_voters": False,
    }
    dumps_roundtrip(rec["raw"])


def test_poll_votes_do_not_change_the_hash():
    a = post_record(post(media=_poll_media(3, 1)))
    b = post_record(post(media=_poll_media(30, 10)))
    assert a["media"] != b["media"]
    assert a["content_hash"] == b["content_hash"]


def test_webpage():
    page = types.WebPage(
        id=BIG_ID,
        url="https://example.com/article",
        display_url="example.com/article",
        hash=0,
        type="article",
        site_name="Example",
        title="An article",
        description="About things",
        photo=photo(photo_id=111),
    )
    rec = post_record(
        post(message="https://example.com/article", media=types.MessageMediaWebPage(webpage=page))
    )
    assert rec["media_kind"] == "webpage"
    assert rec["media"] == {
        "kind": "webpage",
        "id": BIG_ID,
        "url": "https://example.com/article",
        "display_url": "example.com/article",
        "type": "article",
        "site_name": "Example",
        "title": "An article",
        "description": "About things",
        "photo_id": 111,
    }
    pending = types.MessageMediaWebPage(
        webpage=types.WebPagePending(id=BIG_ID, date=DATE, url="https://example.com/article")
    )
    assert post_record(post(media=pending))["media"] == {
        "kind": "webpage",
        "id": BIG_ID,
        "url": "https://example.com/article",
        "pending": True,
    }


def test_geo_venue_contact_dice_and_others():
    geo = types.GeoPoint(long=37.6173, lat=55.7558, access_hash=BIG_ID_2)
    cases = [
        (types.MessageMediaGeo(geo=geo), "geo", {"lat": 55.7558, "long": 37.6173}),
        (
            types.MessageMediaGeoLive(geo=geo, period=900),
            "geo",
            {"lat": 55.7558, "long": 37.6173, "live": True, "period": 900},
        ),
        (
            types.MessageMediaVenue(
                geo=geo,
                title="Red Square",
                address="Moscow",
                provider="foursquare",
                venue_id="abc",
                venue_type="",
            ),
            "venue",
            {
                "lat": 55.7558,
                "long": 37.6173,
                "title": "Red Square",
                "address": "Moscow",
                "provider": "foursquare",
                "venue_id": "abc",
                "venue_type": "",
            },
        ),
        (
            types.MessageMediaContact(
                phone_number="+100200", first_name="Ann", last_name="Lee", vcard="", user_id=USER
            ),
            "contact",
            {
                "phone": "+100200",
                "name": "Ann Lee",
                "first_name": "Ann",
                "last_name": "Lee",
                "user_id": USER,
            },
        ),
        (types.MessageMediaDice(value=6, emoticon="🎲"), "dice", {"emoticon": "🎲", "value": 6}),
        (
            types.MessageMediaStory(peer=types.PeerChannel(CHANNEL), id=15),
            "story",
            {"id": 15, "peer_id": CHANNEL_MARKED},
        ),
        (types.MessageMediaUnsupported(), "unsupported", {}),
        (
            types.MessageMediaVideoStream(call=types.InputGroupCall(id=1, access_hash=2)),
            "MessageMediaVideoStream",
            {},
        ),
    ]
    for media, kind, fields in cases:
        rec = post_record(post(media=media))
        assert rec["media_kind"] == kind
        assert rec["media"] == {"kind": kind, **fields}
        dumps_roundtrip(rec["raw"])


def test_live_location_update_changes_the_hash():
    def live(lat):
        geo = types.GeoPoint(long=37.0, lat=lat, access_hash=1)
        return post_record(post(media=types.MessageMediaGeoLive(geo=geo, period=900)))

    assert live(55.0)["content_hash"] != live(55.1)["content_hash"]


# --- raw JSON ---------------------------------------------------------------------------


def _rich_message():
    msg = post(
        id=42,
        message="caption",
        entities=[types.MessageEntityBold(offset=0, length=3)],
        media=types.MessageMediaPhoto(photo=photo()),
        fwd_from=types.MessageFwdHeader(date=DATE, from_id=types.PeerUser(USER)),
        reply_to=types.MessageReplyHeader(reply_to_msg_id=1, poll_option=b"\x01"),
        edit_date=EDIT,
        grouped_id=BIG_ID,
        reactions=types.MessageReactions(
            results=[types.ReactionCount(reaction=types.ReactionEmoji(emoticon="🔥"), count=2)]
        ),
    )
    msg._sender = channel_entity()
    return msg


def test_raw_is_lossless_json():
    rec = post_record(_rich_message())
    raw = rec["raw"]
    assert_plain_json(raw)
    assert json.loads(json.dumps(raw)) == raw
    assert raw["_"] == "Message"
    assert raw["id"] == 42
    assert raw["date"] == "2024-05-01T12:00:00+00:00"
    assert raw["edit_date"] == "2024-05-01T13:30:00+00:00"
    assert raw["grouped_id"] == BIG_ID and isinstance(raw["grouped_id"], int)
    photo_raw = raw["media"]["photo"]
    assert photo_raw["id"] == BIG_ID
    assert photo_raw["access_hash"] == BIG_ID_2
    assert photo_raw["file_reference"] == {"_bytes": "AAH/cmVm"}
    assert raw["reply_to"]["poll_option"] == {"_bytes": "AQ=="}
    # The resolved sender is not part of the TL message and must not leak into raw.
    assert "sender" not in raw and "_sender" not in raw


def _without_empty_lists(value):
    if isinstance(value, dict):
        return {k: _without_empty_lists(v) for k, v in value.items() if v != []}
    if isinstance(value, list):
        return [_without_empty_lists(v) for v in value]
    return value


def test_raw_matches_telethon_to_dict():
    """raw is built from the TL fields directly (for speed); it must say what to_dict() says,
    except that an absent vector stays absent where to_dict() writes []."""
    from telethon.extensions import BinaryReader

    built = _rich_message()
    wire = BinaryReader(bytes(built)).tgread_object()  # as decoded from Telegram's bytes
    for message in (built, wire):
        raw = post_record(message)["raw"]
        assert _without_empty_lists(raw) == _without_empty_lists(to_jsonable(message.to_dict()))


def test_to_jsonable():
    naive = datetime(2020, 1, 1, 0, 0)
    plus3 = datetime(2020, 1, 1, 3, 0, tzinfo=timezone(timedelta(hours=3)))
    value = {
        "a": [b"\x00", naive, plus3, (1, 2)],
        "b": {"c": None, "d": True, "e": 2**63 - 1, "f": 1.5, "g": "s"},
        "peer": types.PeerChannel(CHANNEL),
    }
    assert to_jsonable(value) == {
        "a": [
            {"_bytes": "AA=="},
            "2020-01-01T00:00:00+00:00",
            "2020-01-01T00:00:00+00:00",
            [1, 2],
        ],
        "b": {"d": True, "e": 2**63 - 1, "f": 1.5, "g": "s"},  # None fields are left out
        "peer": {"_": "PeerChannel", "channel_id": CHANNEL},
    }
    with pytest.raises(TypeError):
        to_jsonable({1, 2})
    with pytest.raises(TypeError):
        to_jsonable({1: "non-string key"})


# --- content hash -----------------------------------------------------------------------


def test_hash_ignores_counters():
    base = post_record(_rich_message())
    counted = _rich_message()
    counted.views = 99999
    counted.forwards = 500
    counted.replies = types.MessageReplies(replies=40, replies_pts=9, max_id=1000)
    counted.reactions = types.MessageReactions(
        results=[types.ReactionCount(reaction=types.ReactionEmoji(emoticon="👍"), count=999)]
    )
    counted.pinned = True
    counted.edit_date = EDIT + timedelta(days=1)
    other = post_record(counted)
    assert other["views"] == 99999 and other["raw"] != base["raw"]
    assert other["content_hash"] == base["content_hash"]


def test_hash_changes_on_edits():
    base = post_record(_rich_message())["content_hash"]

    edited_text = _rich_message()
    edited_text.message = "caption!"
    assert post_record(edited_text)["content_hash"] != base

    edited_format = _rich_message()
    edited_format.entities = [types.MessageEntityItalic(offset=0, length=3)]
    assert post_record(edited_format)["content_hash"] != base

    shifted_format = _rich_message()
    shifted_format.entities = [types.MessageEntityBold(offset=0, length=4)]
    assert post_record(shifted_format)["content_hash"] != base

    no_format = _rich_message()
    no_format.entities = None
    assert post_record(no_format)["content_hash"] != base

    new_media = _rich_message()
    new_media.media = types.MessageMediaPhoto(photo=photo(photo_id=BIG_ID - 1))
    assert post_record(new_media)["content_hash"] != base

    media_removed = _rich_message()
    media_removed.media = None
    assert post_record(media_removed)["content_hash"] != base


def test_content_hash_function():
    h = content_hash("hi", None, None)
    assert h == content_hash("hi", [], None)
    assert h == content_hash("hi", None, {})
    assert len(h) == 64 and int(h, 16) >= 0
    assert h != content_hash("hi ", None, None)
    photo_a = {"kind": "photo", "id": 1, "size": 10}
    photo_b = {"kind": "photo", "id": 1, "size": 20, "width": 5}
    doc = {"kind": "document", "id": 1}
    # Only kind + id identify id-bearing media.
    assert content_hash("", None, photo_a) == content_hash("", None, photo_b)
    assert content_hash("", None, photo_a) != content_hash("", None, doc)
    # Key order of entity dicts does not matter (canonical JSON).
    e1 = [{"type": "text_url", "offset": 0, "length": 1, "url": "u"}]
    e2 = [{"url": "u", "length": 1, "offset": 0, "type": "text_url"}]
    assert content_hash("x", e1, None) == content_hash("x", e2, None)
    # Pinned values: hashes are stored, so the canonical form must not drift silently.
    assert content_hash("", None, None) == (
        "11ac9ba295ce673a6f381e41a82bd27ce4cf2035dbbbbb69f8f91daeb9449c6e"
    )
    bold = [{"type": "bold", "offset": 0, "length": 2}]
    assert content_hash("hi", bold, {"kind": "photo", "id": 5}) == (
        "cd6ebb3566bdba7efaca17016af17ae53258fe841bfa9107b6fcc9a6297539f5"
    )


# --- marked ids -------------------------------------------------------------------------


def test_marked_chat_id():
    assert marked_chat_id(types.PeerUser(USER)) == USER
    assert marked_chat_id(types.PeerChat(77)) == -77
    assert marked_chat_id(types.PeerChannel(CHANNEL)) == CHANNEL_MARKED
    assert marked_chat_id(channel_entity()) == CHANNEL_MARKED
    assert marked_chat_id(types.User(id=USER)) == USER
    assert marked_chat_id(CHANNEL_MARKED) == CHANNEL_MARKED


def test_message_decoded_from_the_wire_maps_like_a_built_one():
    # Fetched messages come out of Telethon's TL reader; the mapping must not depend on how
    # the object was built (dates decode as aware UTC, bytes stay bytes until to_jsonable).
    from telethon.extensions import BinaryReader

    built = _rich_message()
    decoded = BinaryReader(bytes(built)).tgread_object()
    assert isinstance(decoded, types.Message)
    decoded._sender = channel_entity()
    a, b = post_record(built), post_record(decoded)
    # Only raw differs: the reader turns absent flags into False where the constructor left None.
    assert {k: v for k, v in a.items() if k != "raw"} == {k: v for k, v in b.items() if k != "raw"}
    assert_plain_json(b["raw"])
    dumps_roundtrip(b["raw"])
    assert b["date"].tzinfo is not None
    assert b["media_kind"] == "photo" and b["media"]["id"] == BIG_ID
