"""`tgparser ingest` end to end: the real CLI and Telethon against the fake Telegram, on SQLite
and PostgreSQL. Telethon's own paging, entity cache and FloodWait handling run unmodified."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from telethon import types, utils
from telethon.tl import functions

from tests.tgharness import Harness, recent_world

GetHistory = functions.messages.GetHistoryRequest
GetReplies = functions.messages.GetRepliesRequest
GetViews = functions.messages.GetMessagesViewsRequest


@pytest.fixture
def tg(db_url: str) -> Iterator[Harness]:
    fake = recent_world()
    with fake.patch():
        yield Harness(fake, db_url)


def _channel(tg: Harness, name: str = "expertnews", posts: int = 0, **kwargs) -> types.Channel:
    channel = tg.fake.add_channel(name, name.title(), **kwargs)
    for i in range(1, posts + 1):
        tg.fake.post(channel, f"{name} post {i}")
    return channel


def _id(entity: object) -> int:
    return utils.get_peer_id(entity)


def _history_pages(tg: Harness) -> list[functions.messages.GetHistoryRequest]:
    """GetHistory requests that page (the one-message probe of the top left out)."""
    return [r for r in tg.fake.sent(GetHistory) if r.limit > 1]


# -- first run, incremental runs ---------------------------------------------------------------


def test_first_run_archives_posts_comments_and_records_a_run(tg: Harness) -> None:
    ch = _channel(tg, posts=250)
    group = tg.fake.discussion_of(ch)
    ann = tg.fake.add_user("Ann", "Lee", username="ann_reader")
    first = tg.fake.comment(ch, 1, "first comment", from_user=ann)
    tg.fake.comment(ch, 1, "a nested reply", from_user=ann, reply_to=first.id)
    tg.fake.comment(ch, 11, "the channel answers", from_channel=ch)

    added = tg.run("source", "add", "@expertnews")
    assert "added @expertnews (channel, with comments)" in added.stderr
    result = tg.ingest()["@expertnews"]

    assert result["status"] == "ok"
    assert (result["inserted"], result["comments"]) == (253, 3)
    assert tg.ids(_id(ch)) == list(range(1, 251))
    with tg.storage() as store:
        comments = list(store.iter_messages(kind="comment"))
        source = store.get_source(_id(ch))
        (run,) = store.list_runs(chat_id=_id(ch))
    assert {c["chat_id"] for c in comments} == {_id(group)}
    assert sorted((c["parent_message_id"], c["text"]) for c in comments) == [
        (1, "a nested reply"),
        (1, "first comment"),
        (11, "the channel answers"),
    ]
    assert all(c["parent_chat_id"] == _id(ch) for c in comments)
    by_text = {c["text"]: c for c in comments}
    assert by_text["first comment"]["sender_name"] == "Ann Lee"
    assert by_text["the channel answers"]["sender_id"] == _id(ch)
    assert (source["high_water_id"], source["low_water_id"]) == (250, 1)
    assert source["backfill_done"] is True
    assert source["telegram_count"] == 250
    assert source["linked_chat_id"] == _id(group)
    assert (run["status"], run["inserted"], run["error"]) == ("ok", 253, None)
    assert run["finished_at"] >= run["started_at"]


def test_incremental_run_fetches_only_what_is_new(tg: Harness) -> None:
    ch = _channel(tg, posts=250)
    tg.run("source", "add", "@expertnews")
    tg.ingest()
    for i in range(30):
        tg.fake.post(ch, f"fresh {i}")
    tg.fake.clear_log()

    result = tg.ingest()["@expertnews"]

    assert result["phases"]["new"] == 30
    assert result["phases"]["backfill"] == 0
    assert result["inserted"] == 30
    assert tg.ids(_id(ch)) == list(range(1, 281))
    pages = _history_pages(tg)
    assert pages, "the new messages were paged"
    assert all(p.offset_id > 250 for p in pages), "old history was fetched again"
    assert tg.source(_id(ch))["high_water_id"] == 280

    tg.fake.clear_log()
    again = tg.ingest()["@expertnews"]
    assert (again["inserted"], again["updated"]) == (0, 0)
    assert _history_pages(tg) == []  # nothing new: only the probe of the top


def test_backfill_resumes_where_an_interrupted_run_stopped(tg: Harness) -> None:
    ch = _channel(tg, posts=450)
    tg.run("source", "add", "@expertnews")
    # The probe and two pages succeed, then the connection "drops".
    tg.fake.fail_next(GetHistory, ConnectionError("connection reset by peer"), after=3)

    failed = tg.ingest(expect=1)["@expertnews"]

    assert failed["status"] == "failed"
    assert "connection reset by peer" in failed["error"]
    source = tg.source(_id(ch))
    assert (source["low_water_id"], source["backfill_done"]) == (251, False)
    assert tg.ids(_id(ch)) == list(range(251, 451))  # the committed pages, no gap

    tg.fake.clear_faults()
    tg.fake.clear_log()
    resumed = tg.ingest()["@expertnews"]

    assert resumed["status"] == "ok"
    assert resumed["inserted"] == 250
    assert tg.ids(_id(ch)) == list(range(1, 451))
    assert _history_pages(tg)[0].offset_id == 251  # carried on below the low-water mark
    assert tg.source(_id(ch))["backfill_done"] is True


def test_telegram_failing_mid_batch_keeps_what_arrived_and_a_rerun_completes(
    tg: Harness,
) -> None:
    ch = _channel(tg, posts=100)
    tg.run("source", "add", "@expertnews")
    tg.ingest()
    for i in range(260):
        tg.fake.post(ch, f"burst {i}")
    # Batches of 150 span two pages of 100: the third page fails with the second batch half
    # full. The 50 messages already received are complete up to there, so they are kept.
    tg.fake.fail_next(GetHistory, RuntimeError("injected network failure"), after=3)

    failed = tg.ingest("--batch-size", "150", expect=1)["@expertnews"]

    assert failed["status"] == "failed"
    assert failed["inserted"] == 200
    assert tg.ids(_id(ch)) == list(range(1, 301))
    assert tg.source(_id(ch))["high_water_id"] == 300

    tg.fake.clear_faults()
    tg.ingest("--batch-size", "150")
    assert tg.ids(_id(ch)) == list(range(1, 361))


def test_crash_inside_a_batch_commit_then_rerun_leaves_no_gap_and_no_duplicate(
    tg: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tgparser.storage.base import Storage

    ch = _channel(tg, posts=100)
    tg.run("source", "add", "@expertnews")
    tg.ingest()
    for i in range(260):
        tg.fake.post(ch, f"burst {i}")
    moves = 0
    update_source = Storage.update_source

    def crash_on_second_cursor_move(self: Storage, chat_id: int, **changes: object) -> bool:
        nonlocal moves
        if "high_water_id" in changes:
            moves += 1
            if moves == 2:  # the messages of this batch are written, the cursor not yet
                raise RuntimeError("process killed mid-commit")
        return update_source(self, chat_id, **changes)

    monkeypatch.setattr(Storage, "update_source", crash_on_second_cursor_move)
    failed = tg.ingest(expect=1)["@expertnews"]

    assert failed["status"] == "failed"
    assert failed["inserted"] == 100  # the second batch went with its transaction
    assert tg.ids(_id(ch)) == list(range(1, 201))
    assert tg.source(_id(ch))["high_water_id"] == 200

    monkeypatch.setattr(Storage, "update_source", update_source)
    tg.ingest()
    assert tg.ids(_id(ch)) == list(range(1, 361))
    with tg.storage() as store:
        assert store.count_messages(chat_id=_id(ch)) == 360


def test_since_floor_limits_the_backfill_and_an_earlier_floor_reopens_it(tg: Harness) -> None:
    ch = tg.fake.add_channel("expertnews", "Expert News")
    start = datetime(2025, 1, 1, tzinfo=UTC)
    for day in range(10):
        tg.fake.post(ch, f"day {day}", date=start + timedelta(days=day))
    tg.run("source", "add", "@expertnews", "--since", "2025-01-06")
    tg.ingest()
    assert tg.ids(_id(ch)) == [6, 7, 8, 9, 10]
    assert tg.source(_id(ch))["backfill_done"] is True

    tg.run("source", "add", "@expertnews", "--since", "2025-01-03")
    assert tg.source(_id(ch))["backfill_done"] is False
    assert tg.source(_id(ch))["high_water_id"] == 10  # progress kept
    tg.ingest()
    assert tg.ids(_id(ch)) == [3, 4, 5, 6, 7, 8, 9, 10]


def test_takeout_backfill(tg: Harness) -> None:
    ch = _channel(tg, posts=120)
    tg.run("source", "add", "@expertnews")
    tg.ingest("--takeout")
    assert tg.ids(_id(ch)) == list(range(1, 121))
    assert len(tg.fake.finished_takeouts) == 1
    assert tg.fake.finished_takeouts[0][1] is True
    wrapped = [c for c in tg.fake.calls if isinstance(c.request, GetHistory) and c.takeout_id]
    assert wrapped, "the backfill went through the takeout session"


# -- edits, views, comments --------------------------------------------------------------------


def test_edit_is_kept_as_a_new_version(tg: Harness) -> None:
    ch = tg.fake.add_channel("expertnews", "Expert News")
    post = tg.fake.post(ch, "original text", date=datetime.now(UTC) - timedelta(hours=5))
    tg.run("source", "add", "@expertnews")
    tg.ingest()
    tg.fake.edit(ch, post.id, "corrected text")

    result = tg.ingest()["@expertnews"]

    assert (result["updated"], result["edited"]) == (1, 1)
    with tg.storage() as store:
        current = store.get_message(_id(ch), post.id)
        versions = store.list_versions(_id(ch), post.id)
    assert current["text"] == "corrected text"
    assert current["edit_date"] is not None
    assert [v["text"] for v in versions] == ["original text"]
    again = tg.ingest()["@expertnews"]
    assert again["edited"] == 0


def test_refresh_updates_views_and_reactions_without_adding_views(tg: Harness) -> None:
    ch = tg.fake.add_channel("expertnews", "Expert News")
    recent = tg.fake.post(ch, "recent", views=10, date=datetime.now(UTC) - timedelta(days=1))
    tg.run("source", "add", "@expertnews")
    tg.ingest()
    tg.fake.set_views(ch, recent.id, 5000, forwards=7)
    tg.fake.set_reactions(ch, recent.id, {"👍": 12})
    tg.fake.clear_log()

    tg.ingest()

    with tg.storage() as store:
        row = store.get_message(_id(ch), recent.id)
    assert (row["views"], row["forwards"]) == (5000, 7)
    assert row["reactions"] == [{"reaction": "👍", "count": 12}]
    assert tg.fake.message(ch, recent.id).views == 5000  # our reads added no view
    assert all(not r.increment for r in tg.fake.sent(GetViews))


def test_counters_of_older_posts_are_refreshed_without_adding_views(tg: Harness) -> None:
    ch = _channel(tg, posts=5)  # five days old: outside the refresh window
    tg.run("source", "add", "@expertnews")
    tg.ingest()
    tg.fake.set_views(ch, 2, 777)
    tg.fake.clear_log()

    tg.ingest()

    with tg.storage() as store:
        assert store.get_message(_id(ch), 2)["views"] == 777
    requests = tg.fake.sent(GetViews)
    assert len(requests) == 1 and requests[0].increment is False
    assert tg.fake.message(ch, 2).views == 777


def test_new_comment_on_an_old_post_is_found_without_rescanning_every_thread(
    tg: Harness,
) -> None:
    ch = _channel(tg, posts=40)
    reader = tg.fake.add_user("Reader", username="reader_one")
    for post_id in range(1, 41):
        tg.fake.comment(ch, post_id, f"comment on {post_id}", from_user=reader)
    tg.run("source", "add", "@expertnews")
    tg.ingest()
    assert tg.fake.count(GetReplies) == 40  # first run: every thread, one request each

    tg.fake.clear_log()
    tg.ingest()
    assert tg.fake.count(GetReplies) == 0  # nothing moved: no thread is fetched

    late = tg.fake.comment(ch, 6, "a late comment on an old post", from_user=reader)
    tg.fake.clear_log()
    result = tg.ingest()["@expertnews"]

    assert result["comments"] == 1
    assert [r.msg_id for r in tg.fake.sent(GetReplies)] == [6]
    group = _id(tg.fake.discussion_of(ch))
    with tg.storage() as store:
        stored = store.get_message(group, late.id)
    assert (stored["parent_chat_id"], stored["parent_message_id"]) == (_id(ch), 6)
    assert stored["kind"] == "comment"


def test_no_comments_option_skips_threads(tg: Harness) -> None:
    ch = _channel(tg, posts=3)
    tg.fake.comment(ch, 1, "hidden", from_user=tg.fake.add_user("X", username="x_user_1"))
    tg.run("source", "add", "@expertnews", "--no-comments")
    tg.ingest()
    assert tg.fake.count(GetReplies) == 0
    with tg.storage() as store:
        assert store.count_comments(_id(ch)) == 0


# -- nothing is dropped ------------------------------------------------------------------------


def test_every_kind_of_message_is_stored(tg: Harness) -> None:
    fake = tg.fake
    ch = fake.add_channel("expertnews", "Expert News", signatures=True)
    other = fake.add_channel("othersource", "Other Source", with_discussion=False)
    fake.post(other, "original elsewhere")
    bold = [types.MessageEntityBold(offset=0, length=4)]
    fake.post(ch, "Bold text", entities=bold, post_author="Jane Editor")
    fake.post(ch, "", media=fake.photo())  # media only, no text
    fake.post(ch, "album 1", media=fake.photo(), grouped_id=777)
    fake.post(ch, "", media=fake.video(12, 640, 360), grouped_id=777)
    fake.post(ch, "", media=fake.poll("Best DB?", ["SQLite", "PostgreSQL"]))
    fake.post(ch, "forwarded", fwd_from=fake.forward_header(other, 1))
    fake.post(ch, "liked", reactions={"🔥": 3})
    fake.post(ch, "", media=fake.document("report.pdf", "application/pdf", size=12345))
    fake.pin(ch, 1)

    tg.run("source", "add", "@expertnews")
    tg.ingest()

    with tg.storage() as store:
        rows = {m["message_id"]: m for m in store.iter_messages(chat_id=_id(ch))}
    assert len(rows) == 9
    assert rows[1]["entities"] == [{"type": "bold", "offset": 0, "length": 4}]
    assert rows[1]["post_author"] == "Jane Editor"
    assert (rows[2]["text"], rows[2]["media_kind"]) == ("", "photo")
    assert rows[3]["grouped_id"] == rows[4]["grouped_id"] == 777
    assert rows[4]["media_kind"] == "video"
    assert rows[4]["media"]["duration"] == 12
    assert rows[5]["media_kind"] == "poll"
    assert (rows[6]["fwd_from_id"], rows[6]["fwd_from_message_id"]) == (_id(other), 1)
    assert rows[7]["reactions"] == [{"reaction": "🔥", "count": 3}]
    assert rows[8]["media"]["file_name"] == "report.pdf"
    assert rows[8]["media"]["mime_type"] == "application/pdf"
    assert rows[9]["kind"] == "service"
    assert rows[9]["action"] == "MessageActionPinMessage"
    assert rows[1]["is_pinned"] is True
    assert all(row["raw"]["id"] == mid for mid, row in rows.items())


def test_forum_supergroup_keeps_topic_ids(tg: Harness) -> None:
    forum = tg.fake.add_supergroup("expertforum", "Expert Forum", forum=True)
    member = tg.fake.add_user("Member", username="forum_member")
    tg.fake.post(forum, "welcome", from_user=member)  # id 1 is the General topic's own
    topic = tg.fake.add_topic(forum, "Databases")
    msg = tg.fake.post(forum, "in a topic", topic_id=topic, from_user=member)
    general = tg.fake.post(forum, "in general", from_user=member)
    tg.run("source", "add", "@expertforum")
    tg.ingest()
    with tg.storage() as store:
        in_topic = store.get_message(_id(forum), msg.id)
        in_general = store.get_message(_id(forum), general.id)
        source = store.get_source(_id(forum))
    assert source["type"] == "forum"
    assert (in_topic["kind"], in_topic["forum_topic_id"]) == ("message", topic)
    assert in_topic["sender_name"] == "Member"
    assert in_general["forum_topic_id"] is None


# -- rate limits, locks, failures --------------------------------------------------------------


def test_long_flood_wait_defers_the_source_until_the_stored_time(tg: Harness) -> None:
    ch = _channel(tg, posts=150)
    tg.run("source", "add", "@expertnews")
    tg.fake.flood_wait(3600, GetHistory, after=2)  # probe and one page, then FLOOD_WAIT_3600

    deferred = tg.ingest("--max-flood-wait", "60", expect=75)["@expertnews"]

    assert deferred["status"] == "deferred"
    assert "3600 s" in deferred["error"]
    not_before = tg.source(_id(ch))["not_before"]
    assert timedelta(minutes=59) < not_before - datetime.now(UTC) <= timedelta(hours=1)
    assert tg.ids(_id(ch)) == list(range(51, 151))  # the page before the wait is kept

    tg.fake.clear_log()
    connections = tg.fake.connections
    still = tg.ingest(expect=75)["@expertnews"]
    assert still["status"] == "deferred"
    assert tg.fake.requests == [] and tg.fake.connections == connections  # Telegram untouched

    with tg.storage() as store:
        store.update_source(_id(ch), not_before=datetime.now(UTC) - timedelta(seconds=1))
    resumed = tg.ingest()["@expertnews"]
    assert resumed["status"] == "ok"
    assert tg.ids(_id(ch)) == list(range(1, 151))
    assert tg.source(_id(ch))["not_before"] is None


def test_short_flood_wait_is_slept_through(tg: Harness) -> None:
    ch = _channel(tg, posts=20)
    tg.run("source", "add", "@expertnews")
    tg.fake.flood_wait(1, GetHistory, after=1)
    assert tg.ingest("--max-flood-wait", "5")["@expertnews"]["status"] == "ok"
    assert tg.ids(_id(ch)) == list(range(1, 21))


def test_a_source_locked_by_another_run_is_skipped(tg: Harness) -> None:
    busy = _channel(tg, "busychannel", posts=3)
    free = _channel(tg, "freechannel", posts=3)
    tg.run("source", "add", "@busychannel", "@freechannel")
    with tg.storage() as store:
        assert store.acquire_lock(_id(busy), "another-run", timedelta(minutes=5))

    results = tg.ingest()

    assert results["@busychannel"]["status"] == "locked"
    assert "another ingest is working on it" in results["@busychannel"]["error"]
    assert results["@freechannel"]["status"] == "ok"
    assert tg.ids(_id(busy)) == []
    assert tg.ids(_id(free)) == [1, 2, 3]
    with tg.storage() as store:
        assert store.get_lock(_id(busy))["owner"] == "another-run"  # not stolen
        assert store.get_lock(_id(free)) is None  # ours was released


def test_a_lock_left_by_a_crashed_run_is_recovered(tg: Harness) -> None:
    ch = _channel(tg, posts=3)
    tg.run("source", "add", "@expertnews")
    with tg.storage() as store:
        store.acquire_lock(_id(ch), "crashed-run", timedelta(seconds=-5))  # long expired
    assert tg.ingest()["@expertnews"]["status"] == "ok"
    assert tg.ids(_id(ch)) == [1, 2, 3]


def test_private_channel_fails_alone_and_others_are_ingested(tg: Harness) -> None:
    good = _channel(tg, "goodchannel", posts=4)
    secret = _channel(tg, "secretchannel", posts=4)
    tg.run("source", "add", "@goodchannel", "@secretchannel")
    tg.fake.set_private(secret)

    results = tg.ingest(expect=1)

    assert results["@secretchannel"]["status"] == "failed"
    assert "private" in results["@secretchannel"]["error"].lower()
    assert "\n" not in results["@secretchannel"]["error"]
    assert results["@goodchannel"]["status"] == "ok"
    assert tg.ids(_id(good)) == [1, 2, 3, 4]
    with tg.storage() as store:
        (run,) = store.list_runs(chat_id=_id(secret))
    assert run["status"] == "failed"
    assert run["error"] == results["@secretchannel"]["error"]


def test_unknown_ref_fails_alone(tg: Harness) -> None:
    good = _channel(tg, "goodchannel", posts=2)
    tg.run("source", "add", "@goodchannel")
    result = tg.run("ingest", "@notfollowed", "@goodchannel", expect=1)
    assert "@notfollowed: failed: @notfollowed: not a followed chat" in result.stderr
    assert tg.ids(_id(good)) == [1, 2]


def test_quiet_prints_nothing_on_success(tg: Harness) -> None:
    _channel(tg, posts=2)
    tg.run("source", "add", "@expertnews")
    result = tg.run("-q", "ingest")
    assert (result.stdout, result.stderr) == ("", "")


def test_not_logged_in_is_a_one_line_error(db_url: str) -> None:
    fake = recent_world()
    with fake.patch():
        tg = Harness(fake, db_url, logged_in=False)
        result = tg.run("source", "add", "@expertnews", expect=1)
    assert result.stderr.strip() == "Error: not logged in to Telegram: run `tgparser login` first"


def test_two_ingest_processes_at_once_one_works_one_skips(
    db_url: str, tmp_path: Path, isolated_home: Path
) -> None:
    from tests import ingest_worker

    fake = ingest_worker.build_world()
    with fake.patch():
        tg = Harness(fake, db_url)
        tg.run("source", "add", "@racechannel")
    env = {**os.environ, **tg.env}
    root = Path(__file__).resolve().parent.parent
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.ingest_worker", db_url, str(tmp_path), name],
            cwd=root,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("first", "second")
    ]
    outputs = [w.communicate(timeout=120) for w in workers]
    assert [w.returncode for w in workers] == [0, 0], outputs
    statuses = sorted(json.loads(out)["sources"][0]["status"] for out, _ in outputs)
    assert statuses == ["locked", "ok"]
    skipped = next(err for out, err in outputs if '"locked"' in out)
    assert "@racechannel: locked: another ingest is working on it; skipped" in skipped
    assert tg.ids(_id(fake.entity("racechannel"))) == list(range(1, ingest_worker.POSTS + 1))
    with tg.storage() as store:
        (run,) = store.list_runs()  # only the working process recorded a run
        assert store.get_lock(run["chat_id"]) is None


def test_a_run_that_lost_its_lock_stops_without_writing_more(tg: Harness) -> None:
    ch = _channel(tg, posts=300)
    tg.run("source", "add", "@expertnews")
    pages = 0

    def take_over_after_first_page(request: object) -> None:
        nonlocal pages
        if isinstance(request, GetHistory) and request.limit > 1:
            pages += 1
            if pages == 2:  # our lock "expired" and another run took the source over
                with tg.storage() as store:
                    store._execute(
                        f"UPDATE source_locks SET owner = 'other-run' WHERE chat_id = {_id(ch)}"
                    )

    tg.fake.add_hook(take_over_after_first_page)
    result = tg.ingest(expect=1)["@expertnews"]
    assert result["status"] == "failed"
    assert result["error"] == "lost the source lock to another run (it had expired)"
    assert tg.ids(_id(ch)) == list(range(201, 301))  # only the batch committed before
    with tg.storage() as store:
        assert store.get_lock(_id(ch))["owner"] == "other-run"  # theirs, left alone


# -- review follow-ups: progress kept on errors, comments of followed groups -----------------


def test_flood_wait_in_the_comments_phase_keeps_the_finished_threads(tg: Harness) -> None:
    ch = _channel(tg, posts=50)
    reader = tg.fake.add_user("Reader", username="reader_one")
    for post_id in range(1, 51):
        tg.fake.comment(ch, post_id, f"comment on {post_id}", from_user=reader)
    tg.run("source", "add", "@expertnews")
    tg.fake.flood_wait(3600, GetReplies, after=40)

    deferred = tg.ingest(expect=75)["@expertnews"]

    assert deferred["status"] == "deferred"
    assert deferred["comments"] == 40
    with tg.storage() as store:
        assert store.count_comments(_id(ch)) == 40
        assert len(store.threads_to_fetch(_id(ch))) == 10  # the others are done
        store.update_source(_id(ch), not_before=datetime.now(UTC) - timedelta(seconds=1))
    tg.fake.clear_log()
    assert tg.ingest()["@expertnews"]["comments"] == 10
    assert tg.fake.count(GetReplies) == 10
    with tg.storage() as store:
        assert store.count_comments(_id(ch)) == 50


def test_unreadable_discussion_group_skips_comments_with_a_warning(tg: Harness) -> None:
    ch = _channel(tg, posts=3)
    tg.fake.comment(ch, 1, "hidden", from_user=tg.fake.add_user("U", username="user_uuu"))
    tg.run("source", "add", "@expertnews")
    tg.fake.fail_next(GetReplies, "CHANNEL_PRIVATE", times=None)

    result = tg.run("ingest", "--json")  # exit 0: the posts are archived

    (summary,) = json.loads(result.stdout)["sources"]
    assert summary["status"] == "ok"
    assert summary["warnings"] == [
        "comments skipped: the discussion group cannot be read by this account "
        "(join it to archive comments)"
    ]
    assert "@expertnews: warning: comments skipped" in result.stderr
    assert tg.ids(_id(ch)) == [1, 2, 3]


def test_channel_and_its_discussion_group_both_followed(tg: Harness) -> None:
    ch = _channel(tg, posts=3)
    group = tg.fake.discussion_of(ch)
    reader = tg.fake.add_user("Reader", username="reader_one")
    tg.fake.comment(ch, 1, "on post 1", from_user=reader)
    tg.fake.comment(ch, 2, "on post 2", from_user=reader)
    tg.fake.join(group)
    tg.run("source", "add", "@expertnews", str(_id(group)))
    tg.ingest()
    tg.ingest()  # the group's refresh re-reads the comments as plain group messages
    with tg.storage() as store:
        comments = list(store.iter_messages(kind="comment"))
        assert sorted(c["parent_message_id"] for c in comments) == [1, 2]
        assert store.count_comments(_id(ch)) == 2
        assert store.count_messages(chat_id=_id(group)) > 2  # the group's own messages too
    tg.run("source", "remove", "@expertnews", "--purge", "--yes")
    with tg.storage() as store:
        assert store.count_comments(_id(ch)) == 0
        assert store.count_messages(chat_id=_id(group)) > 0  # the followed group keeps its own


def test_unconfirmed_takeout_defers_with_an_explanation(tg: Harness) -> None:
    ch = _channel(tg, posts=3)
    tg.run("source", "add", "@expertnews")
    tg.fake.fail_next(functions.account.InitTakeoutSessionRequest, "TAKEOUT_INIT_DELAY_3600")
    result = tg.ingest("--takeout", expect=75)["@expertnews"]
    assert result["status"] == "deferred"
    assert "confirmed in another app" in result["error"]
    assert tg.ids(_id(ch)) == []


def test_a_run_left_running_by_a_crash_is_closed_by_the_next(tg: Harness) -> None:
    ch = _channel(tg, posts=2)
    tg.run("source", "add", "@expertnews")
    with tg.storage() as store:
        crashed = store.start_run(_id(ch))
    tg.ingest()
    with tg.storage() as store:
        runs = {r["id"]: r for r in store.list_runs(chat_id=_id(ch))}
    assert runs[crashed]["status"] == "failed"
    assert runs[crashed]["error"].startswith("interrupted")


def test_quiet_run_is_silent_about_busy_and_deferred_sources_but_not_failures(
    tg: Harness,
) -> None:
    busy = _channel(tg, "busychannel", posts=1)
    _channel(tg, "slowchannel", posts=1)
    secret = _channel(tg, "secretchannel", posts=1)
    tg.run("source", "add", "@busychannel", "@slowchannel", "@secretchannel")
    tg.fake.set_private(secret)
    with tg.storage() as store:
        store.acquire_lock(_id(busy), "another-run", timedelta(minutes=5))
    tg.fake.flood_wait(3600, GetHistory)
    result = tg.run("-q", "ingest", expect=1)
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "@secretchannel: failed: the chat is private or gone, and this account cannot see it"
    ]
    assert "busychannel" not in result.stderr and "slowchannel" not in result.stderr


@pytest.mark.parametrize(
    "args", [("ingest", "--takeuot"), ("source", "add", "--no-coments", "@expertnews")]
)
def test_mistyped_options_are_usage_errors_not_refs(tg: Harness, args: tuple[str, ...]) -> None:
    result = tg.run(*args, expect=2)
    assert "No such option" in result.stderr


@pytest.mark.parametrize("command", [("ingest",), ("source", "add", "@other_channel"), ("whoami",)])
def test_telegram_unreachable_is_a_one_line_error(
    tg: Harness, monkeypatch: pytest.MonkeyPatch, command: tuple[str, ...]
) -> None:
    import asyncio

    from tests.faketg import FakeSender

    _channel(tg, posts=1)
    tg.run("source", "add", "@expertnews")

    async def refused(self: FakeSender, connection: object) -> bool:
        raise asyncio.IncompleteReadError(b"", 1024)  # what a middlebox hanging up looks like

    monkeypatch.setattr(FakeSender, "connect", refused)
    result = tg.run(*command, expect=1)
    assert result.stderr.startswith("Error: cannot reach Telegram")
    assert len(result.stderr.strip().splitlines()) == 1
