"""The fake Telegram behaves like Telegram for everything the ingest code relies on.

Every test drives a real ``TelegramClient`` through ``asyncio.run`` (as the synchronous
CLI does), so Telethon's own paging, entity cache and flood handling are exercised.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from telethon import TelegramClient, errors, utils
from telethon import password as pwd_mod
from telethon.sessions import StringSession
from telethon.tl import functions, types

from tests.faketg import SRP_PRIME, FakeTelegram, FakeTelegramClient, reactions, rpc_error

GetHistory = functions.messages.GetHistoryRequest
GetReplies = functions.messages.GetRepliesRequest


def run(fake: FakeTelegram, body: Callable[[FakeTelegramClient], Awaitable[Any]], **kw: Any) -> Any:
    """Run ``body(client)`` on a connected client in a fresh event loop, like the CLI."""

    async def main() -> Any:
        client = fake.client(**kw)
        await client.connect()
        try:
            return await body(client)
        finally:
            await client.disconnect()

    return asyncio.run(main())


async def collect(iterator: Any) -> list[Any]:
    return [m async for m in iterator]


@pytest.fixture
def fake() -> FakeTelegram:
    return FakeTelegram()


@pytest.fixture
def news(fake: FakeTelegram) -> types.Channel:
    """A channel with 250 posts (ids 1..250) and a linked discussion group."""
    channel = fake.add_channel("somenews", "Some News", about="all the news")
    for i in range(1, 251):
        fake.post(channel, f"post {i}", views=i * 10)
    return channel


# --------------------------------------------------------------------------- connection


def test_connect_get_me_and_disconnect(fake: FakeTelegram) -> None:
    async def body(client: FakeTelegramClient) -> None:
        assert client.is_connected()
        assert await client.is_user_authorized()
        me = await client.get_me()
        assert me.id == fake.me.id and me.is_self and me.username == "archiver_bot_test"
        assert await client.get_peer_id("me") == fake.me.id

    run(fake, body)
    # connect() performs the usual handshake: InitConnection(GetConfig), get_me, GetState
    assert fake.count(functions.help.GetConfigRequest) == 1
    assert fake.count(functions.updates.GetStateRequest) >= 1
    assert fake.calls[0].wrappers[:2] == ("InvokeWithLayerRequest", "InitConnectionRequest")


def test_async_context_manager_and_disconnect_state(fake: FakeTelegram) -> None:
    async def main() -> bool:
        client = fake.client()
        async with client:
            assert client.is_connected()
        return client.is_connected()

    assert asyncio.run(main()) is False


def test_unauthorized_session(fake: FakeTelegram) -> None:
    fake.authorized = False

    async def body(client: FakeTelegramClient) -> None:
        assert await client.get_me() is None
        assert await client.is_user_authorized() is False

    run(fake, body)


def test_patch_makes_any_client_use_the_fake(fake: FakeTelegram, news: types.Channel) -> None:
    async def main() -> list[int]:
        client = TelegramClient(StringSession(), 1, "hash")
        async with client:
            return [m.id async for m in client.iter_messages("somenews", limit=3)]

    with fake.patch():
        assert asyncio.run(main()) == [250, 249, 248]


def test_two_runs_with_fresh_clients_share_the_world(
    fake: FakeTelegram, news: types.Channel
) -> None:
    first = run(fake, lambda c: collect(c.iter_messages("somenews", limit=1)))
    fake.post(news, "breaking")
    second = run(fake, lambda c: collect(c.iter_messages("somenews", limit=1)))
    assert (first[0].id, second[0].id, second[0].text) == (250, 251, "breaking")


# --------------------------------------------------------------------------- history paging


def test_iter_messages_pages_in_batches_of_100_newest_first(
    fake: FakeTelegram, news: types.Channel
) -> None:
    msgs = run(fake, lambda c: collect(c.iter_messages(news, wait_time=0)))
    assert [m.id for m in msgs] == list(range(250, 0, -1))
    assert msgs[0].text == "post 250" and msgs[0].views == 2500 and msgs[0].post
    assert msgs[0].chat_id == utils.get_peer_id(news)
    history = fake.sent(GetHistory)
    # the log keeps a snapshot per request although Telethon mutates one request object
    assert [(r.offset_id, r.limit) for r in history] == [(0, 100), (151, 100), (51, 100)]
    assert all(r.min_id == 0 and r.max_id == 0 for r in history)


@pytest.mark.parametrize(
    ("kwargs", "expected", "requests"),
    [
        ({"min_id": 200}, list(range(250, 200, -1)), 1),
        ({"max_id": 51}, list(range(50, 0, -1)), 1),
        ({"min_id": 10, "max_id": 15}, [14, 13, 12, 11], 1),
        ({"offset_id": 100, "limit": 10}, list(range(99, 89, -1)), 1),
        ({"limit": 5}, [250, 249, 248, 247, 246], 1),
        ({"limit": 150}, list(range(250, 100, -1)), 2),
        ({"reverse": True}, list(range(1, 251)), 4),
        ({"reverse": True, "limit": 5}, [1, 2, 3, 4, 5], 1),
        ({"reverse": True, "min_id": 240}, list(range(241, 251)), 2),
        ({"reverse": True, "offset_id": 100, "limit": 3}, [101, 102, 103], 1),
        ({"reverse": True, "max_id": 4}, [1, 2, 3], 1),
    ],
)
def test_iter_messages_filters_behave_like_telegram(
    fake: FakeTelegram, news: types.Channel, kwargs: dict, expected: list[int], requests: int
) -> None:
    msgs = run(fake, lambda c: collect(c.iter_messages(news, wait_time=0, **kwargs)))
    assert [m.id for m in msgs] == expected
    assert fake.count(GetHistory) == requests


def test_get_history_server_side_offsets(fake: FakeTelegram) -> None:
    chan = fake.add_channel("offsets", "Offsets", with_discussion=False)
    for i in range(1, 31):
        fake.post(chan, str(i))

    def req(**kw: Any) -> GetHistory:
        base = dict(
            peer=chan,
            offset_id=0,
            offset_date=None,
            add_offset=0,
            limit=100,
            max_id=0,
            min_id=0,
            hash=0,
        )
        return GetHistory(**{**base, **kw})

    async def body(client: FakeTelegramClient) -> dict[str, Any]:
        out = {}
        for name, kw in {
            "older": {"offset_id": 20, "limit": 5},
            "newer": {"offset_id": 20, "add_offset": -5, "limit": 5},
            "around": {"offset_id": 20, "add_offset": -3, "limit": 6},
            "min_id": {"min_id": 25, "limit": 10},
            "max_id_after_slice": {"max_id": 5, "limit": 10},
            "default_limit": {"limit": 0},
            "capped_limit": {"limit": 500},
            "past_the_start": {"offset_id": 3, "limit": 10},
            "by_date": {"offset_date": fake.message(chan, 11).date, "limit": 3},
        }.items():
            r = await client(req(**kw))
            out[name] = [m.id for m in r.messages]
            assert isinstance(r, types.messages.ChannelMessages)
            assert r.count == 30 and r.pts == fake.state(chan).pts
        return out

    got = run(fake, body)
    assert got["older"] == [19, 18, 17, 16, 15]
    assert got["newer"] == [24, 23, 22, 21, 20]  # offset_id itself is included here
    assert got["around"] == [22, 21, 20, 19, 18, 17]
    assert got["min_id"] == [30, 29, 28, 27, 26]
    # min_id/max_id filter the already sliced page (Telegram docs, Telethon comments)
    assert got["max_id_after_slice"] == []
    assert len(got["default_limit"]) == 20
    assert len(got["capped_limit"]) == 30
    assert got["past_the_start"] == [2, 1]
    assert got["by_date"] == [10, 9, 8]


def test_deleted_messages_leave_gaps(fake: FakeTelegram) -> None:
    chan = fake.add_channel("gappy_chan", "Gappy", with_discussion=False)
    for i in range(1, 11):
        fake.post(chan, str(i))
    fake.delete(chan, 4, 5)

    async def body(client: FakeTelegramClient) -> tuple[list[int], list[Any]]:
        ids = [m.id for m in await client.get_messages(chan, limit=None, wait_time=0)]
        return ids, await client.get_messages(chan, ids=[3, 4, 6])

    ids, by_id = run(fake, body)
    assert ids == [10, 9, 8, 7, 6, 3, 2, 1]
    assert [m.id if m else None for m in by_id] == [3, None, 6]


def test_basic_group_history_uses_messages_slice(fake: FakeTelegram) -> None:
    group = fake.add_group("Old school")
    other = fake.add_group("Other")
    for i in range(150):
        fake.post(group if i % 2 == 0 else other, f"m{i}", from_user=fake.me)

    async def body(client: FakeTelegramClient) -> tuple[list[Any], Any]:
        msgs = await client.get_messages(group, limit=None, wait_time=0)
        by_id = await client.get_messages(group, ids=[msgs[0].id, msgs[0].id - 1])
        return msgs, by_id

    msgs, by_id = run(fake, body)
    assert len(msgs) == 75 and msgs.total == 75
    assert [m.text for m in msgs[:2]] == ["m148", "m146"]
    # basic groups share the account-wide id counter, so ids have gaps
    assert msgs[0].id - msgs[1].id == 2
    assert by_id[0].id == msgs[0].id and by_id[1] is None  # id belongs to another chat


# --------------------------------------------------------------------------- entities


def test_get_entity_by_username_and_marked_id(fake: FakeTelegram, news: types.Channel) -> None:
    marked = utils.get_peer_id(news)
    assert marked == int(f"-100{news.id}")

    async def body(client: FakeTelegramClient) -> tuple[Any, Any, Any]:
        by_name = await client.get_entity("somenews")
        by_link = await client.get_entity("https://t.me/SomeNews")
        by_id = await client.get_entity(marked)  # cached by the username resolution
        return by_name, by_link, by_id

    by_name, by_link, by_id = run(fake, body)
    assert isinstance(by_name, types.Channel) and by_name.broadcast
    assert by_name.title == "Some News" and by_name.username == "somenews"
    assert by_name.access_hash == fake.state(news).access_hash
    assert by_link.id == by_id.id == news.id
    assert fake.count(functions.contacts.ResolveUsernameRequest) == 2
    assert fake.count(functions.channels.GetChannelsRequest) == 1


def test_marked_id_needs_a_known_access_hash(fake: FakeTelegram, news: types.Channel) -> None:
    marked = utils.get_peer_id(news)
    with pytest.raises(ValueError, match="Could not find the input entity"):
        run(fake, lambda c: c.get_entity(marked))
    assert fake.sent(functions.channels.GetChannelsRequest)[-1].id[0].access_hash == 0
    primed = run(fake, lambda c: c.get_entity(marked), prime_entities=True)
    assert primed.id == news.id


def test_users_resolve_and_full_user(fake: FakeTelegram) -> None:
    ann = fake.add_user("Ann", "Lee", username="ann_lee", about="hi")

    async def body(client: FakeTelegramClient) -> tuple[Any, Any]:
        user = await client.get_entity("ann_lee")
        return user, await client(functions.users.GetFullUserRequest(user))

    user, full = run(fake, body)
    assert (user.id, user.first_name, user.last_name) == (ann.id, "Ann", "Lee")
    assert full.full_user.about == "hi"


def test_unknown_and_invalid_usernames(fake: FakeTelegram) -> None:
    with pytest.raises(ValueError, match="No user has"):
        run(fake, lambda c: c.get_entity("nobody_here"))

    async def raw(client: FakeTelegramClient) -> None:
        await client(functions.contacts.ResolveUsernameRequest("nobody_here"))

    with pytest.raises(errors.UsernameNotOccupiedError):
        run(fake, raw)

    async def invalid(client: FakeTelegramClient) -> None:
        await client(functions.contacts.ResolveUsernameRequest("a!"))

    with pytest.raises(errors.UsernameInvalidError):
        run(fake, invalid)


def test_private_channel(fake: FakeTelegram, news: types.Channel) -> None:
    fake.set_private(news)

    async def body(client: FakeTelegramClient) -> Any:
        entity = await client.get_entity("somenews")
        assert isinstance(entity, types.ChannelForbidden)
        await collect(client.iter_messages(entity))

    with pytest.raises(errors.ChannelPrivateError):
        run(fake, body)


def test_full_channel_reports_linked_chat_and_counts(
    fake: FakeTelegram, news: types.Channel
) -> None:
    group = fake.discussion_of(news)
    fake.pin(news, 7)

    async def body(client: FakeTelegramClient) -> tuple[Any, Any]:
        full = await client(functions.channels.GetFullChannelRequest("somenews"))
        linked = await client(
            functions.channels.GetFullChannelRequest(
                types.InputChannel(group.id, group.access_hash)
            )
        )
        return full, linked

    full, linked = run(fake, body)
    chan_full = full.full_chat
    assert chan_full.id == news.id and chan_full.about == "all the news"
    assert chan_full.linked_chat_id == group.id
    assert chan_full.participants_count == 1000
    assert chan_full.pts == fake.state(news).pts
    assert chan_full.read_inbox_max_id == 251 and chan_full.pinned_msg_id == 7
    assert {c.id for c in full.chats} == {news.id, group.id}
    assert next(c for c in full.chats if c.id == group.id).megagroup
    assert linked.full_chat.linked_chat_id == news.id


# --------------------------------------------------------------------------- comments


@pytest.fixture
def thread(fake: FakeTelegram) -> dict[str, Any]:
    chan = fake.add_channel("talky_chan", "Talky", signatures=True)
    ann = fake.add_user("Ann", username="ann_user")
    bob = fake.add_user("Bob")
    p1 = fake.post(chan, "first post")
    p2 = fake.post(chan, "second post", post_author="Editor")
    p3 = fake.post(chan, "no comments here", comments=False)
    c1 = fake.comment(chan, p2.id, "hello", from_user=ann)
    c2 = fake.comment(chan, p2.id, "hi ann", from_user=bob, reply_to=c1.id)
    c3 = fake.comment(chan, p2.id, "admin speaking", from_channel=chan)
    c_other = fake.comment(chan, p1.id, "on the first post", from_user=bob)
    return dict(
        chan=chan,
        ann=ann,
        bob=bob,
        p1=p1,
        p2=p2,
        p3=p3,
        c1=c1,
        c2=c2,
        c3=c3,
        c_other=c_other,
        group=fake.discussion_of(chan),
    )


def test_comments_of_a_post(fake: FakeTelegram, thread: dict[str, Any]) -> None:
    chan, group = thread["chan"], thread["group"]
    copy_id = fake.thread_copy_id(chan, thread["p2"].id)

    comments = run(fake, lambda c: collect(c.iter_messages(chan, reply_to=thread["p2"].id)))
    assert [m.text for m in comments] == ["admin speaking", "hi ann", "hello"]
    assert all(m.peer_id == types.PeerChannel(group.id) for m in comments)
    admin, reply, first = comments
    assert first.sender_id == thread["ann"].id
    assert (first.reply_to.reply_to_msg_id, first.reply_to.reply_to_top_id) == (copy_id, None)
    assert (reply.reply_to.reply_to_msg_id, reply.reply_to.reply_to_top_id) == (
        thread["c1"].id,
        copy_id,
    )
    assert admin.from_id == types.PeerChannel(chan.id)
    # Telethon stamps the *channel* as input_chat although peer_id is the discussion group
    assert first.chat_id == utils.get_peer_id(group)
    assert first.input_chat.channel_id == chan.id
    assert first.sender.first_name == "Ann"  # users come with the response

    calls = fake.sent(GetReplies)
    assert calls[0].msg_id == thread["p2"].id and calls[0].peer.channel_id == chan.id


def test_post_replies_and_discussion_copy(fake: FakeTelegram, thread: dict[str, Any]) -> None:
    chan, group = thread["chan"], thread["group"]

    async def body(client: FakeTelegramClient) -> tuple[list[Any], list[Any]]:
        posts = await client.get_messages(chan, ids=[1, 2, 3])
        copies = await client.get_messages(group, limit=None, wait_time=0)
        return posts, copies

    posts, group_history = run(fake, body)
    p1, p2, p3 = posts
    assert p2.replies.comments and p2.replies.replies == 3
    assert p2.replies.channel_id == group.id
    assert p2.replies.max_id == thread["c3"].id
    assert p2.replies.replies_pts > 0
    assert {utils.get_peer_id(p) for p in p2.replies.recent_repliers} == {
        utils.get_peer_id(types.PeerChannel(chan.id)),
        thread["bob"].id,
        thread["ann"].id,
    }
    assert p2.post_author == "Editor"
    assert p1.replies.replies == 1 and p3.replies is None

    copies = [m for m in group_history if m.fwd_from]
    assert [m.fwd_from.saved_from_msg_id for m in copies] == [2, 1]  # newest first
    copy2 = copies[0]
    assert copy2.id == fake.thread_copy_id(chan, 2)
    assert copy2.fwd_from.saved_from_peer == types.PeerChannel(chan.id)
    assert copy2.fwd_from.channel_post == 2 and copy2.from_id == types.PeerChannel(chan.id)
    assert copy2.text == "second post" and copy2.replies.replies == 3
    assert not copy2.replies.comments
    # the discussion group history holds copies and comments together
    assert len(group_history) == 2 + 4


def test_get_replies_errors_and_paging(fake: FakeTelegram, thread: dict[str, Any]) -> None:
    chan = thread["chan"]
    for i in range(150):
        fake.comment(chan, 1, f"c{i}")

    async def body(client: FakeTelegramClient) -> list[Any]:
        return await collect(client.iter_messages(chan, reply_to=1, wait_time=0))

    comments = run(fake, body)
    assert len(comments) == 151 and comments[0].text == "c149"
    assert [r.limit for r in fake.sent(GetReplies)] == [100, 100]

    async def no_thread(client: FakeTelegramClient) -> None:
        await collect(client.iter_messages(chan, reply_to=thread["p3"].id))

    with pytest.raises(errors.MsgIdInvalidError):
        run(fake, no_thread)

    async def raw(client: FakeTelegramClient) -> Any:
        return await client(
            GetReplies(
                peer=chan,
                msg_id=2,
                offset_id=0,
                offset_date=None,
                add_offset=0,
                limit=2,
                max_id=0,
                min_id=0,
                hash=0,
            )
        )

    page = run(fake, raw)
    assert isinstance(page, types.messages.ChannelMessages)
    assert page.count == 3
    assert [m.message for m in page.messages] == ["admin speaking", "hi ann"]
    assert {c.id for c in page.chats} >= {chan.id, thread["group"].id}
    assert {u.id for u in page.users} == {thread["bob"].id}


def test_discussion_message_and_deleted_comment(fake: FakeTelegram, thread: dict[str, Any]) -> None:
    chan = thread["chan"]
    fake.delete(thread["group"], thread["c3"].id)

    async def body(client: FakeTelegramClient) -> tuple[Any, Any]:
        disc = await client(functions.messages.GetDiscussionMessageRequest(chan, 2))
        post = await client.get_messages(chan, ids=2)
        return disc, post

    disc, post = run(fake, body)
    assert disc.messages[0].id == fake.thread_copy_id(chan, 2)
    assert disc.max_id == thread["c2"].id
    assert post.replies.replies == 2 and post.replies.max_id == thread["c2"].id


def test_views_refresh_does_not_increment(fake: FakeTelegram, news: types.Channel) -> None:
    fake.comment(news, 3, "a comment")
    fake.edit(news, 3, "**edited** text", parse_mode="md")
    fake.set_views(news, 3, 777, forwards=5)
    fake.set_reactions(news, 3, {"👍": 4, "❤": 1})

    async def body(client: FakeTelegramClient) -> tuple[Any, Any, Any, Any]:
        msgs = await client.get_messages(news, ids=[3, 9999])
        views = await client(functions.messages.GetMessagesViewsRequest(news, [3, 4], False))
        again = await client(functions.messages.GetMessagesViewsRequest(news, [3], False))
        inc = await client(functions.messages.GetMessagesViewsRequest(news, [3], True))
        await client(functions.messages.GetMessagesViewsRequest(news, [3], True))
        return msgs, views, again, inc

    (post, missing), views, again, inc = run(fake, body)
    assert missing is None
    assert post.raw_text == "edited text" and post.entities[0].length == 6
    assert post.text == "**edited** text"  # .text re-renders entities as markdown
    assert post.edit_date is not None and post.edit_date > post.date
    assert (post.views, post.forwards) == (777, 5)
    assert [(r.reaction.emoticon, r.count) for r in post.reactions.results] == [("👍", 4), ("❤", 1)]
    assert views.views[0].views == 777 and views.views[0].forwards == 5
    assert views.views[0].replies.replies == 1 and views.views[1].views == 40
    assert again.views[0].views == 777
    assert inc.views[0].views == 778
    assert fake.message(news, 3).views == 778  # counted once per account
    # editing a post edits its discussion copy too
    copy = fake.message(fake.discussion_of(news), fake.thread_copy_id(news, 3))
    assert copy.message == "edited text"


# --------------------------------------------------------------------------- takeout


def test_takeout_wraps_requests(fake: FakeTelegram, news: types.Channel) -> None:
    async def body(client: FakeTelegramClient) -> list[int]:
        async with client.takeout(channels=True, megagroups=True) as takeout:
            ids = [m.id async for m in takeout.iter_messages(news, limit=150, wait_time=0)]
            await takeout.get_messages(news, ids=[1])
        assert client.session.takeout_id is None
        return ids

    ids = run(fake, body)
    assert ids == list(range(250, 100, -1))
    init = fake.sent(functions.account.InitTakeoutSessionRequest)[0]
    assert init.message_channels and init.message_megagroups
    wrapped = [c for c in fake.calls if c.takeout_id is not None]
    assert [c.name for c in wrapped] == [
        "GetHistoryRequest",
        "GetHistoryRequest",
        "GetMessagesRequest",
        "FinishTakeoutSessionRequest",
    ]
    assert all(c.wrappers[0] == "InvokeWithTakeoutRequest" for c in wrapped)
    assert fake.finished_takeouts == [(wrapped[0].takeout_id, True)]
    assert not fake.takeouts


def test_takeout_failure_and_init_delay(fake: FakeTelegram, news: types.Channel) -> None:
    async def failing(client: FakeTelegramClient) -> None:
        async with client.takeout() as takeout:
            await takeout.get_messages(news, limit=1)
            raise KeyError("boom")

    with pytest.raises(KeyError):
        run(fake, failing)
    assert fake.finished_takeouts[-1][1] is False

    fake.fail_next(functions.account.InitTakeoutSessionRequest, "TAKEOUT_INIT_DELAY_3600")

    async def delayed(client: FakeTelegramClient) -> None:
        async with client.takeout():
            pass

    with pytest.raises(errors.TakeoutInitDelayError) as info:
        run(fake, delayed)
    assert info.value.seconds == 3600


# --------------------------------------------------------------------------- faults


def test_flood_wait_over_threshold_raises(fake: FakeTelegram, news: types.Channel) -> None:
    fake.flood_wait(30, GetHistory)

    async def body(client: FakeTelegramClient) -> None:
        with pytest.raises(errors.FloodWaitError) as info:
            await client.get_messages(news, limit=5)
        assert info.value.seconds == 30
        seen = fake.count(GetHistory)
        # Telethon remembers the wait and refuses the same request type client-side
        with pytest.raises(errors.FloodWaitError):
            await client.get_messages(news, limit=5)
        assert fake.count(GetHistory) == seen
        # other request types are unaffected
        assert (await client.get_messages(news, ids=1)).id == 1

    run(fake, body, flood_sleep_threshold=0)
    failed = [c for c in fake.calls if c.error is not None]
    assert [type(c.error).__name__ for c in failed] == ["FloodWaitError"]


def test_flood_wait_below_threshold_is_slept_by_telethon(
    fake: FakeTelegram, news: types.Channel, monkeypatch: pytest.MonkeyPatch
) -> None:
    slept: list[float] = []
    real_sleep = asyncio.sleep

    async def fast_sleep(delay: float, *args: Any, **kwargs: Any) -> Any:
        slept.append(delay)
        return await real_sleep(0)

    monkeypatch.setattr(asyncio, "sleep", fast_sleep)
    fake.flood_wait(5, GetHistory, times=2)
    msgs = run(fake, lambda c: c.get_messages(news, limit=3))
    assert [m.id for m in msgs] == [250, 249, 248]
    assert slept.count(5) == 2
    assert fake.count(GetHistory) == 3


def test_crash_mid_batch(fake: FakeTelegram, news: types.Channel) -> None:
    fake.crash_after(2, RuntimeError("disk on fire"), GetHistory)
    got: list[int] = []

    async def body(client: FakeTelegramClient) -> None:
        async for m in client.iter_messages(news, wait_time=0):
            got.append(m.id)

    with pytest.raises(RuntimeError, match="disk on fire"):
        run(fake, body)
    assert got == list(range(250, 50, -1))


def test_fault_specs(fake: FakeTelegram, news: types.Channel) -> None:
    fake.fail_next(functions.channels.GetFullChannelRequest, errors.ChannelPrivateError)
    fake.fail_next(None, "CHANNEL_INVALID", when=lambda r: isinstance(r, GetReplies))
    fake.fail_next(GetHistory, lambda r: ConnectionResetError(f"{type(r).__name__} reset"))

    async def body(client: FakeTelegramClient) -> None:
        with pytest.raises(errors.ChannelPrivateError):
            await client(functions.channels.GetFullChannelRequest(news))
        with pytest.raises(errors.ChannelInvalidError):
            await client.get_messages(news, reply_to=1)
        with pytest.raises(ConnectionResetError, match="GetHistoryRequest reset"):
            await client.get_messages(news, limit=1)
        # every fault fired once; everything works again
        assert (await client.get_messages(news, limit=1))[0].id == 250

    run(fake, body)
    assert not fake.faults
    assert isinstance(rpc_error("FLOOD_WAIT_7"), errors.FloodWaitError)


def test_hook_can_answer_or_inspect(fake: FakeTelegram, news: types.Channel) -> None:
    seen: list[str] = []

    def hook(request: Any) -> Any:
        seen.append(type(request).__name__)
        if isinstance(request, functions.help.GetNearestDcRequest):
            return types.NearestDc(country="NL", this_dc=2, nearest_dc=2)
        return None

    fake.add_hook(hook)
    nearest = run(fake, lambda c: c(functions.help.GetNearestDcRequest()))
    assert nearest.country == "NL" and "GetNearestDcRequest" in seen


def test_unknown_request_names_itself(fake: FakeTelegram) -> None:
    with pytest.raises(NotImplementedError, match="GetDialogFiltersRequest"):
        run(fake, lambda c: c(functions.messages.GetDialogFiltersRequest()))


# --------------------------------------------------------------------------- content


def test_media_service_and_albums(fake: FakeTelegram) -> None:
    chan = fake.add_channel("media_chan", "Media", with_discussion=False)
    fake.service(chan, types.MessageActionChannelCreate(title="Media"))
    photo = fake.photo(1280, 720)
    fake.post(chan, "album 1", media=photo, grouped_id=42)
    fake.post(chan, "", media=fake.video(12.5, file_name="clip.mp4"), grouped_id=42)
    fake.post(chan, "doc", media=fake.document("report.pdf", "application/pdf", size=1234))
    fake.post(chan, "", media=fake.audio(200, title="Song", performer="Band"))
    fake.post(chan, "", media=fake.voice(3))
    fake.post(chan, "", media=fake.poll("Best?", ["a", "b"], votes=[3, 1], closed=True))
    fake.post(
        chan, "see https://example.org", media=fake.webpage("https://example.org", title="Example")
    )
    fake.post(
        chan,
        "fwd",
        fwd_from=fake.forward_header(fake.add_user("Zed"), date=None),
        reactions={"🔥": 2, 5368324170671202286: 1, "paid": 3},
    )

    async def body(client: FakeTelegramClient) -> tuple[list[Any], bytes]:
        msgs = await client.get_messages(chan, limit=None, wait_time=0, reverse=True)
        return msgs, await client.download_media(msgs[1], file=bytes)

    msgs, data = run(fake, body)
    create, m_photo, m_video, m_doc, m_audio, m_voice, m_poll, m_web, m_fwd = msgs
    assert isinstance(create, types.MessageService)
    assert isinstance(create.action, types.MessageActionChannelCreate)
    assert m_photo.photo.id == photo.photo.id and m_photo.grouped_id == m_video.grouped_id == 42
    assert data == fake.file_bytes(photo) and len(data) == 20_000
    assert m_video.video and m_video.file.name == "clip.mp4" and m_video.file.duration == 12.5
    assert m_doc.file.name == "report.pdf" and m_doc.file.size == 1234
    assert m_doc.file.mime_type == "application/pdf"
    assert m_audio.audio and m_audio.file.title == "Song" and m_audio.file.performer == "Band"
    assert m_voice.voice
    poll = m_poll.media
    assert poll.poll.closed and [a.text.text for a in poll.poll.answers] == ["a", "b"]
    assert [r.voters for r in poll.results.results] == [3, 1]
    assert m_web.web_preview.title == "Example"
    assert m_fwd.fwd_from.from_id == types.PeerUser(m_fwd.forward.sender_id)
    kinds = [type(r.reaction).__name__ for r in m_fwd.reactions.results]
    assert kinds == ["ReactionEmoji", "ReactionCustomEmoji", "ReactionPaid"]
    assert reactions(None) is None


def test_supergroup_forum_topics(fake: FakeTelegram) -> None:
    forum = fake.add_supergroup("forum_group", "Forum", forum=True)
    ann = fake.add_user("Ann")
    general = fake.post(forum, "general chatter", from_user=ann)
    topic = fake.add_topic(forum, "Releases")
    t1 = fake.post(forum, "v1.0", from_user=ann, topic_id=topic)
    t2 = fake.post(forum, "congrats", reply_to=t1.id, topic_id=topic)
    t3 = fake.post(forum, "thanks", reply_to=t2.id)  # replies stay in the target's topic

    async def body(client: FakeTelegramClient) -> tuple[list[Any], Any, list[Any]]:
        in_topic = await collect(client.iter_messages(forum, reply_to=topic))
        topics = await client(
            functions.messages.GetForumTopicsRequest(
                forum, offset_date=None, offset_id=0, offset_topic=0, limit=10
            )
        )
        everything = await client.get_messages(forum, limit=None, wait_time=0)
        return in_topic, topics, everything

    in_topic, topics, everything = run(fake, body)
    assert [m.id for m in in_topic] == [t3.id, t2.id, t1.id]
    assert in_topic[0].reply_to.forum_topic and in_topic[0].reply_to.reply_to_top_id == topic
    assert in_topic[2].reply_to.forum_topic and in_topic[2].reply_to.reply_to_msg_id == topic
    assert (
        in_topic[1].reply_to.reply_to_top_id == topic
        and in_topic[2].reply_to.reply_to_top_id is None
    )
    assert [t.title for t in topics.topics] == ["Releases"]
    assert topics.topics[0].top_message == t3.id
    assert [m.id for m in everything] == [t3.id, t2.id, t1.id, topic, general.id]
    assert everything[-1].reply_to is None and everything[-1].sender_id == ann.id
    assert everything[1].sender_id == fake.me.id and everything[1].out


def test_many_messages_are_cheap(fake: FakeTelegram) -> None:
    chan = fake.add_channel("big_channel", "Big", with_discussion=False)
    start = dt.datetime(2023, 1, 1, tzinfo=dt.UTC)
    for i in range(5000):
        fake.post(chan, f"p{i}", date=start + dt.timedelta(seconds=i))
    msgs = run(fake, lambda c: c.get_messages(chan, limit=None, wait_time=0))
    assert len(msgs) == 5000 and msgs.total == 5000 and msgs[-1].id == 1
    assert fake.count(GetHistory) == 50


# --------------------------------------------------------------------------- telethon quirks


def test_receive_updates_false_wraps_every_request(fake: FakeTelegram, news: types.Channel) -> None:
    msgs = run(fake, lambda c: c.get_messages(news, limit=2), receive_updates=False)
    assert [m.id for m in msgs] == [250, 249]
    history = next(c for c in fake.calls if c.name == "GetHistoryRequest")
    assert history.wrappers == ("InvokeWithoutUpdatesRequest",)


def test_client_is_bound_to_its_first_event_loop(fake: FakeTelegram, news: types.Channel) -> None:
    client = fake.client()

    async def once() -> int:
        await client.connect()
        try:
            return (await client.get_messages(news, limit=1))[0].id
        finally:
            await client.disconnect()

    assert asyncio.run(once()) == 250
    with pytest.raises(RuntimeError, match="event loop must not change"):
        asyncio.run(once())


def test_sqlite_session_persists_entities(
    fake: FakeTelegram, news: types.Channel, tmp_path: Any
) -> None:
    path = str(tmp_path / "account.session")
    run(fake, lambda c: c.get_entity("somenews"), session=path)
    # a later run with the same session file knows the access hash: no username lookup
    fake.clear_log()
    entity = run(fake, lambda c: c.get_entity(utils.get_peer_id(news)), session=path)
    assert entity.id == news.id
    assert fake.count(functions.contacts.ResolveUsernameRequest) == 0


def test_flood_wait_inside_takeout_blocks_all_takeout_requests(
    fake: FakeTelegram, news: types.Channel
) -> None:
    fake.flood_wait(60, GetHistory)

    async def body(client: FakeTelegramClient) -> None:
        async with client.takeout() as takeout:
            with pytest.raises(errors.FloodWaitError):
                await takeout.get_messages(news, limit=1)
            before = len(fake.calls)
            # Telethon keys its flood memory on the InvokeWithTakeout wrapper, so a
            # different request type is refused client-side as well
            with pytest.raises(errors.FloodWaitError):
                await takeout.get_messages(news, ids=[1])
            assert len(fake.calls) == before
            # `takeout.success = False` is silently stored on the client (Telethon's proxy
            # __setattr__), so it does not change how the takeout finishes
            takeout.success = False
            client._flood_waited_requests.clear()  # let FinishTakeoutSession through

    run(fake, body, flood_sleep_threshold=0)
    assert fake.finished_takeouts[-1][1] is True


def test_incremental_fetch_with_raw_min_id(fake: FakeTelegram, news: types.Channel) -> None:
    """iter_messages(min_id=...) never sends min_id (it filters locally); a raw
    GetHistory with min_id does, and the log shows it."""

    async def body(client: FakeTelegramClient) -> tuple[list[int], list[int]]:
        local = [m.id async for m in client.iter_messages(news, min_id=245)]
        raw = await client(GetHistory(news, 0, None, 0, 100, max_id=0, min_id=245, hash=0))
        return local, [m.id for m in raw.messages]

    local, raw = run(fake, body)
    assert local == raw == [250, 249, 248, 247, 246]
    assert [r.min_id for r in fake.sent(GetHistory)] == [0, 245]


# --------------------------------------------------------------------------- login

PHONE = "+1 555 123 4567"
PHONE_DIGITS = "15551234567"


def test_unauthorized_session_gets_auth_key_unregistered(
    fake: FakeTelegram, news: types.Channel
) -> None:
    fake.authorized = False

    async def body(client: FakeTelegramClient) -> None:
        assert await client.is_user_authorized() is False
        with pytest.raises(errors.AuthKeyUnregisteredError):
            await client.get_messages(news, limit=1)
        with pytest.raises(errors.AuthKeyUnregisteredError):
            await client(functions.contacts.ResolveUsernameRequest("somenews"))
        with pytest.raises(errors.AuthKeyUnregisteredError):
            await client(functions.users.GetUsersRequest([types.InputUserSelf()]))
        with pytest.raises(errors.AuthKeyUnregisteredError):  # no password step pending
            await client(functions.account.GetPasswordRequest())

    run(fake, body)  # the connect handshake itself still works
    assert fake.calls[0].name == "GetConfigRequest" and fake.calls[0].error is None


def test_code_login(fake: FakeTelegram) -> None:
    me = fake.register_account(PHONE, first_name="Ann", username="ann_archive")
    assert fake.authorized is False and me.phone == PHONE_DIGITS

    async def body(client: FakeTelegramClient) -> tuple[Any, Any]:
        assert await client.is_user_authorized() is False
        assert await client.get_me() is None
        sent = await client.send_code_request(PHONE)
        assert isinstance(sent.type, types.auth.SentCodeTypeApp) and sent.type.length == 5
        assert sent.phone_code_hash == fake.last_phone_code_hash
        user = await client.sign_in(PHONE, fake.last_code, phone_code_hash=sent.phone_code_hash)
        assert await client.is_user_authorized() is True
        # a code is good for one login only
        with pytest.raises(errors.PhoneCodeExpiredError):
            await client(functions.auth.SignInRequest(PHONE_DIGITS, sent.phone_code_hash, "12345"))
        return user, await client.get_me()

    user, again = run(fake, body)
    assert fake.last_code == "12345"  # fake.login_code; None would pick random codes
    assert (user.id, user.first_name, user.username, user.phone) == (
        me.id,
        "Ann",
        "ann_archive",
        PHONE_DIGITS,
    )
    assert again.id == me.id and user.is_self
    assert fake.authorized is True
    sign_in = fake.sent(functions.auth.SignInRequest)[0]
    assert (sign_in.phone_number, sign_in.phone_code) == (PHONE_DIGITS, "12345")


def test_start_logs_in_with_callbacks(fake: FakeTelegram) -> None:
    fake.register_account(PHONE, password="hunter2")
    fake.login_code = None  # random codes: the callback must read the delivered one

    async def main() -> Any:
        client = fake.client()
        await client.start(phone=PHONE, code_callback=lambda: fake.last_code, password="hunter2")
        try:
            return await client.get_me()
        finally:
            await client.disconnect()

    me = asyncio.run(main())
    assert me.id == fake.me.id and fake.authorized
    assert fake.last_code is not None and fake.last_code.isdigit() and len(fake.last_code) == 5


def test_two_factor_login(fake: FakeTelegram) -> None:
    fake.register_account(PHONE, password="correct horse", hint="horse")

    async def body(client: FakeTelegramClient) -> Any:
        sent = await client.send_code_request(PHONE)
        with pytest.raises(errors.SessionPasswordNeededError):
            await client.sign_in(PHONE, fake.last_code, phone_code_hash=sent.phone_code_hash)
        # halfway: the session is not usable yet, and says why
        assert await client.get_me() is None
        with pytest.raises(errors.SessionPasswordNeededError):
            await client(functions.updates.GetStateRequest())
        pwd = await client(functions.account.GetPasswordRequest())
        algo = pwd.current_algo
        assert pwd.has_password and pwd.hint == "horse" and pwd.srp_id and len(pwd.srp_B) == 256
        assert isinstance(
            algo, types.PasswordKdfAlgoSHA256SHA256PBKDF2HMACSHA512iter100000SHA256ModPow
        )
        assert algo.g == 3 and algo.p == SRP_PRIME and len(algo.p) == 256
        assert pwd.new_algo.salt1 == algo.salt1[:8]
        user = await client.sign_in(password="correct horse")
        assert await client.is_user_authorized()
        return user

    user = run(fake, body)
    assert user.id == fake.me.id and fake.authorized
    check = fake.sent(functions.auth.CheckPasswordRequest)[-1].password
    assert isinstance(check, types.InputCheckPasswordSRP) and len(check.M1) == 32


def test_wrong_code_and_bad_hashes(fake: FakeTelegram) -> None:
    fake.register_account(PHONE)

    async def body(client: FakeTelegramClient) -> Any:
        sent = await client.send_code_request(PHONE)
        h = sent.phone_code_hash
        with pytest.raises(errors.PhoneCodeInvalidError):
            await client.sign_in(PHONE, "00000", phone_code_hash=h)
        with pytest.raises(errors.PhoneCodeExpiredError):
            await client.sign_in(PHONE, fake.last_code, phone_code_hash="0123abcd")
        with pytest.raises(errors.PhoneCodeHashEmptyError):
            await client(functions.auth.SignInRequest(PHONE_DIGITS, "", "12345"))
        with pytest.raises(errors.PhoneCodeEmptyError):
            await client(functions.auth.SignInRequest(PHONE_DIGITS, h, ""))
        with pytest.raises(errors.PhoneNumberInvalidError):
            await client.send_code_request("12")
        assert not await client.is_user_authorized()
        # the code stays valid after a wrong guess
        return await client.sign_in(PHONE, fake.last_code, phone_code_hash=h)

    assert run(fake, body).id == fake.me.id


def test_expired_replaced_and_unregistered_codes(fake: FakeTelegram) -> None:
    fake.register_account(PHONE)

    async def body(client: FakeTelegramClient) -> None:
        first = await client(
            functions.auth.SendCodeRequest(
                PHONE_DIGITS, client.api_id, client.api_hash, types.CodeSettings()
            )
        )
        fake.expire_login_codes()
        with pytest.raises(errors.PhoneCodeExpiredError):
            await client.sign_in(PHONE, "12345", phone_code_hash=first.phone_code_hash)
        second = await client.send_code_request(PHONE)  # Telethon forgot the expired hash
        third = await client(
            functions.auth.SendCodeRequest(
                PHONE_DIGITS, client.api_id, client.api_hash, types.CodeSettings()
            )
        )
        with pytest.raises(errors.PhoneCodeExpiredError):  # a new code replaces the old
            await client.sign_in(PHONE, "12345", phone_code_hash=second.phone_code_hash)
        resent = await client(functions.auth.ResendCodeRequest(PHONE_DIGITS, third.phone_code_hash))
        assert isinstance(resent.type, types.auth.SentCodeTypeSms)
        assert resent.phone_code_hash == third.phone_code_hash
        # a number without an account: code by SMS, then "sign up required"
        other = await client.send_code_request("+44 7700 900123")
        assert isinstance(other.type, types.auth.SentCodeTypeSms)
        with pytest.raises(errors.PhoneNumberUnoccupiedError):
            await client.sign_in("+447700900123", "12345", phone_code_hash=other.phone_code_hash)

    run(fake, body)
    assert not fake.authorized


def test_bad_api_credentials_are_refused_at_send_code(fake: FakeTelegram) -> None:
    fake.register_account(PHONE)
    with pytest.raises(errors.ApiIdInvalidError):
        run(fake, lambda c: c.send_code_request(PHONE), api_hash="not-a-real-hash")


def test_wrong_password(fake: FakeTelegram) -> None:
    fake.register_account(PHONE, password="hunter2")

    async def body(client: FakeTelegramClient) -> Any:
        sent = await client.send_code_request(PHONE)
        with pytest.raises(errors.SessionPasswordNeededError):
            await client.sign_in(PHONE, fake.last_code, phone_code_hash=sent.phone_code_hash)
        with pytest.raises(errors.PasswordHashInvalidError):
            await client.sign_in(password="hunter3")
        with pytest.raises(errors.PasswordHashInvalidError):
            await client(functions.auth.CheckPasswordRequest(types.InputCheckPasswordEmpty()))
        assert not await client.is_user_authorized()
        # a proof computed for an older srp_id is refused once a new one was handed out
        stale = pwd_mod.compute_check(
            await client(functions.account.GetPasswordRequest()), "hunter2"
        )
        await client(functions.account.GetPasswordRequest())
        with pytest.raises(errors.SrpIdInvalidError):
            await client(functions.auth.CheckPasswordRequest(stale))
        return await client.sign_in(password="hunter2")

    assert run(fake, body).id == fake.me.id
    assert fake.authorized


def test_two_step_login_across_two_clients(fake: FakeTelegram) -> None:
    """The CLI's non-interactive login: `login --phone` and `login --code` are two
    processes sharing only the saved session string and the phone_code_hash."""
    fake.register_account(PHONE)

    async def step1(client: FakeTelegramClient) -> tuple[str, str]:
        sent = await client.send_code_request(PHONE)
        return client.session.save(), sent.phone_code_hash

    session, phone_code_hash = run(fake, step1)

    async def from_fresh_session(client: FakeTelegramClient) -> None:
        await client.sign_in(PHONE, fake.last_code, phone_code_hash=phone_code_hash)

    # Telegram ties the code to the auth key that requested it
    with pytest.raises(errors.PhoneCodeExpiredError):
        run(fake, from_fresh_session)

    async def step2(client: FakeTelegramClient) -> tuple[Any, str]:
        assert not await client.is_user_authorized()
        user = await client.sign_in(PHONE, fake.last_code, phone_code_hash=phone_code_hash)
        return user, client.session.save()

    user, session2 = run(fake, step2, session=StringSession(session))
    assert user.id == fake.me.id and fake.authorized
    keys = {c.auth_key_id for c in fake.calls if c.name in ("SendCodeRequest", "SignInRequest")}
    assert len(keys) == 2  # the fresh session's attempt and the shared one
    me = run(fake, lambda c: c.get_me(), session=StringSession(session2))
    assert me.id == fake.me.id


def test_three_step_login_with_password_across_clients(fake: FakeTelegram) -> None:
    fake.register_account(PHONE, password="hunter2")

    async def step1(client: FakeTelegramClient) -> tuple[str, str]:
        sent = await client.send_code_request(PHONE)
        return client.session.save(), sent.phone_code_hash

    session, phone_code_hash = run(fake, step1)

    async def step2(client: FakeTelegramClient) -> str:
        with pytest.raises(errors.SessionPasswordNeededError):
            await client.sign_in(PHONE, fake.last_code, phone_code_hash=phone_code_hash)
        return client.session.save()

    session = run(fake, step2, session=StringSession(session))
    # the password step is remembered by the server for that session, not by the client
    with pytest.raises(errors.AuthKeyUnregisteredError):
        run(fake, lambda c: c.sign_in(password="hunter2"))
    user = run(fake, lambda c: c.sign_in(password="hunter2"), session=StringSession(session))
    assert user.id == fake.me.id and fake.authorized


def test_log_out(fake: FakeTelegram, news: types.Channel) -> None:
    fake.register_account(PHONE)

    async def login(client: FakeTelegramClient) -> str:
        sent = await client.send_code_request(PHONE)
        await client.sign_in(PHONE, fake.last_code, phone_code_hash=sent.phone_code_hash)
        return client.session.save()

    session = run(fake, login)

    async def logout(client: FakeTelegramClient) -> bool:
        assert await client.is_user_authorized()
        assert await client.log_out() is True
        return await client.is_user_authorized()

    assert run(fake, logout, session=StringSession(session)) is False
    assert fake.authorized is False
    assert fake.count(functions.auth.LogOutRequest) == 1

    async def later(client: FakeTelegramClient) -> None:
        assert await client.is_user_authorized() is False
        assert await client.get_me() is None
        with pytest.raises(errors.AuthKeyUnregisteredError):
            await client.get_messages(news, limit=1)
        assert await client.log_out() is False  # nothing to log out from

    run(fake, later, session=StringSession(session))


def test_strict_sessions_authorize_only_the_logged_in_session() -> None:
    fake = FakeTelegram(strict_sessions=True)
    fake.add_channel("strictnews", "Strict")
    fake.register_account(PHONE)

    async def login(client: FakeTelegramClient) -> str:
        sent = await client.send_code_request(PHONE)
        await client.sign_in(PHONE, fake.last_code, phone_code_hash=sent.phone_code_hash)
        return client.session.save()

    session = run(fake, login)
    assert run(fake, lambda c: c.is_user_authorized(), session=StringSession(session)) is True
    assert run(fake, lambda c: c.is_user_authorized()) is False  # another, fresh session

    async def authorize_directly(client: FakeTelegramClient) -> bool:
        fake.authorize(client)
        return await client.is_user_authorized()

    assert run(fake, authorize_directly) is True
    assert run(fake, lambda c: c.log_out(), session=StringSession(session)) is True
    assert run(fake, lambda c: c.is_user_authorized(), session=StringSession(session)) is False
    assert fake.authorized  # the directly authorized session is still logged in


# --------------------------------------------------------------------------- dialogs


def test_dialogs_fill_the_entity_cache_of_a_fresh_session(
    fake: FakeTelegram, news: types.Channel
) -> None:
    group = fake.add_group("Family")
    fake.send(group, "hi")
    other = fake.add_channel("othernews", "Other News", with_discussion=False)
    fake.post(other, "latest")
    fake.add_channel("leftnews", "Left News", joined=False)
    marked = utils.get_peer_id(news)

    async def body(client: FakeTelegramClient) -> tuple[list[Any], Any, str]:
        with pytest.raises(ValueError, match="Could not find the input entity"):
            await client.get_entity(marked)
        dialogs = await client.get_dialogs()
        entity = await client.get_entity(marked)
        return list(dialogs), entity, client.session.save()

    dialogs, entity, session = run(fake, body)
    # newest message first; the discussion group (not joined) and the left channel are out
    assert [d.name for d in dialogs] == ["Other News", "Family", "Some News"]
    assert [d.id for d in dialogs] == [
        utils.get_peer_id(other),
        utils.get_peer_id(group),
        marked,
    ]
    assert [d.message.text for d in dialogs] == ["latest", "hi", "post 250"]
    news_dialog = dialogs[2]
    assert news_dialog.is_channel and not news_dialog.is_group and not news_dialog.archived
    assert news_dialog.dialog.top_message == 250 and news_dialog.dialog.pts
    assert dialogs[1].is_group and not dialogs[1].is_channel
    assert entity.id == news.id and entity.access_hash == fake.state(news).access_hash
    assert fake.count(functions.messages.GetDialogsRequest) == 1
    assert fake.count(functions.contacts.ResolveUsernameRequest) == 0

    # A StringSession string holds only the auth key, not the entity cache: a later run
    # from that string must list the dialogs (or resolve a username) again.
    with pytest.raises(ValueError, match="Could not find the input entity"):
        run(fake, lambda c: c.get_entity(marked), session=StringSession(session))


def test_dialogs_persist_entities_in_a_session_file(
    fake: FakeTelegram, news: types.Channel, tmp_path: Any
) -> None:
    path = str(tmp_path / "account.session")
    run(fake, lambda c: c.get_dialogs(), session=path)
    fake.clear_log()
    entity = run(fake, lambda c: c.get_entity(utils.get_peer_id(news)), session=path)
    assert entity.id == news.id
    assert fake.count(functions.messages.GetDialogsRequest) == 0


def test_dialogs_pinned_archived_and_leaving(fake: FakeTelegram) -> None:
    a = fake.add_channel("chan_a", "A", with_discussion=False)
    b = fake.add_channel("chan_b", "B", with_discussion=False)
    c = fake.add_channel("chan_c", "C", with_discussion=False)
    d = fake.add_channel("chan_d", "D")
    for chat in (a, b, c, d):
        fake.post(chat, "x")
    fake.join(a, pinned=True)
    fake.join(b, archived=True)
    fake.join(fake.discussion_of(d))
    fake.leave(c)

    async def body(client: FakeTelegramClient) -> dict[str, list[str]]:
        return {
            "all": [x.name for x in await client.get_dialogs()],
            "main": [x.name for x in await client.get_dialogs(folder=0)],
            "archived": [x.name for x in await client.get_dialogs(archived=True)],
            "unpinned": [x.name for x in await client.get_dialogs(ignore_pinned=True)],
        }

    got = run(fake, body)
    assert got == {
        "all": ["A", "D", "D Chat", "B"],  # D's post and its discussion copy tie on date
        "main": ["A", "D", "D Chat"],
        "archived": ["B"],
        "unpinned": ["D", "D Chat", "B"],
    }
    assert [st.title for st in fake.dialogs()] == got["all"]
    assert fake.entity(c).left and not fake.entity(a).left

    async def pinned(client: FakeTelegramClient) -> Any:
        return await client(functions.messages.GetPinnedDialogsRequest(folder_id=0))

    result = run(fake, pinned)
    assert [dlg.peer.channel_id for dlg in result.dialogs] == [a.id]
    assert result.dialogs[0].pinned


def test_dialogs_page_by_offset_like_telegram(fake: FakeTelegram) -> None:
    chans = [fake.add_channel(None, f"Chan {i:03}", with_discussion=False) for i in range(150)]
    for chan in chans:
        fake.post(chan, "x")

    async def body(client: FakeTelegramClient) -> tuple[list[Any], int]:
        total = (await client.get_dialogs(limit=0)).total
        return await client.get_dialogs(limit=None), total

    dialogs, total = run(fake, body)
    assert total == 150
    assert [dlg.name for dlg in dialogs] == [f"Chan {i:03}" for i in reversed(range(150))]
    requests = fake.sent(functions.messages.GetDialogsRequest)
    assert [r.limit for r in requests] == [1, 100, 100]
    assert requests[2].offset_id == 1 and requests[2].exclude_pinned
    assert requests[2].offset_peer.channel_id == chans[50].id

    async def peer_dialogs(client: FakeTelegramClient) -> Any:
        await client.get_dialogs(limit=1)
        peer = await client.get_input_entity(utils.get_peer_id(chans[-1]))
        return await client(functions.messages.GetPeerDialogsRequest([types.InputDialogPeer(peer)]))

    result = run(fake, peer_dialogs)
    assert result.dialogs[0].top_message == 1 and result.chats[0].id == chans[-1].id
