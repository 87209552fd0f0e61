"""`tgparser source add / list / pause / resume / remove` on both backends."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from telethon import utils

from tests.tgharness import Harness, recent_world


@pytest.fixture
def tg(db_url: str) -> Iterator[Harness]:
    fake = recent_world()
    with fake.patch():
        yield Harness(fake, db_url)


def test_add_by_every_kind_of_ref(tg: Harness) -> None:
    news = tg.fake.add_channel("expertnews", "Expert News")
    plain = tg.fake.add_channel("plainchannel", "Plain", with_discussion=False)
    private = tg.fake.add_channel(None, "Private Notes", with_discussion=False)
    group = tg.fake.add_supergroup("expertchat", "Expert Chat")
    private_id = utils.get_peer_id(private)
    result = tg.run(
        "source",
        "add",
        "https://t.me/expertnews/15",  # a post link names its channel
        "@plainchannel",
        f"https://t.me/c/{private.id}/3",  # private: found through the dialog list
        str(utils.get_peer_id(group)),
    )
    assert result.stderr.count("added ") == 4
    listed = {s["chat_id"]: s for s in json.loads(tg.run("source", "list", "--json").stdout)}
    assert listed[utils.get_peer_id(news)]["type"] == "channel"
    assert listed[utils.get_peer_id(news)]["comments"] is True  # it has a discussion group
    assert listed[utils.get_peer_id(news)]["linked_chat_id"] == utils.get_peer_id(
        tg.fake.discussion_of(news)
    )
    assert listed[utils.get_peer_id(plain)]["comments"] is False  # nothing to follow
    assert listed[private_id]["title"] == "Private Notes"
    assert listed[private_id]["username"] is None
    assert listed[utils.get_peer_id(group)]["type"] == "supergroup"
    with tg.storage() as store:
        assert store.get_source(private_id)["access_hash"] == private.access_hash


def test_adding_again_updates_options_and_keeps_progress(tg: Harness) -> None:
    ch = tg.fake.add_channel("expertnews", "Expert News")
    for i in range(5):
        tg.fake.post(ch, f"post {i}")
    tg.run("source", "add", "@expertnews")
    tg.ingest()
    tg.fake.update_chat(ch, title="Expert News (renamed)")
    again = tg.run("source", "add", "@expertnews", "--no-comments")
    assert "updated @expertnews" in again.stderr
    source = tg.source(utils.get_peer_id(ch))
    assert source["title"] == "Expert News (renamed)"
    assert source["options"]["comments"] is False
    assert (source["high_water_id"], source["low_water_id"], source["backfill_done"]) == (
        5,
        1,
        True,
    )
    assert len(tg.run("source", "list", "--json").stdout.split('"chat_id"')) == 2  # one source


def test_bad_refs_are_one_line_errors_and_good_ones_still_added(tg: Harness) -> None:
    tg.fake.add_channel("goodchannel", "Good")
    secret = tg.fake.add_channel("secretchannel", "Secret")
    tg.fake.set_private(secret)
    result = tg.run(
        "source",
        "add",
        "@nosuchchannel",
        "@goodchannel",
        "https://t.me/+invite",
        "@secretchannel",
        "not a ref!",
        expect=1,
    )
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 4
    assert "@nosuchchannel: no chat has this username" in errors[0]
    assert "invite link" in errors[1]
    assert "@secretchannel: the chat is private" in errors[2]
    assert errors[3] == "Error: 'not a ref!' is not a valid Telegram username"
    assert "Traceback" not in result.stderr
    listed = json.loads(tg.run("source", "list", "--json").stdout)
    assert [s["username"] for s in listed] == ["goodchannel"]


def test_pause_resume_and_explicit_ingest_of_a_paused_source(tg: Harness) -> None:
    a = tg.fake.add_channel("channelaaa", "A")
    b = tg.fake.add_channel("channelbbb", "B")
    tg.fake.post(a, "a1")
    tg.fake.post(b, "b1")
    tg.run("source", "add", "@channelaaa", "@channelbbb")
    tg.run("source", "pause", "@channelbbb")
    assert set(tg.ingest()) == {"@channelaaa"}
    assert set(tg.ingest("@channelbbb")) == {"@channelbbb"}  # named: ingested anyway
    tg.run("source", "resume", "channelbbb")
    assert set(tg.ingest()) == {"@channelaaa", "@channelbbb"}
    bad = tg.run("source", "pause", "@channelaaa", "@unknownchan", expect=1)
    assert "@unknownchan: not a followed chat" in bad.stderr
    statuses = {
        s["username"]: s["status"] for s in json.loads(tg.run("source", "list", "--json").stdout)
    }
    assert statuses == {"channelaaa": "active", "channelbbb": "active"}  # all or nothing


def test_list_shows_counts_runs_and_errors(tg: Harness) -> None:
    ch = tg.fake.add_channel("expertnews", "Expert News")
    post = tg.fake.post(ch, "p")
    tg.fake.comment(ch, post.id, "c", from_user=tg.fake.add_user("U", username="user_uuu"))
    tg.run("source", "add", "@expertnews")
    tg.ingest()
    (row,) = json.loads(tg.run("source", "list", "--json").stdout)
    assert (row["messages"], row["comment_count"], row["last_status"]) == (1, 1, "ok")
    assert row["last_error"] is None and row["last_run_at"]
    human = tg.run("source", "list").stdout
    assert "@expertnews" in human and "(ok)" in human
    tg.fake.set_private(ch)
    tg.ingest(expect=1)
    (row,) = json.loads(tg.run("source", "list", "--json").stdout)
    assert row["last_status"] == "failed"
    assert "private" in row["last_error"].lower()


def test_remove_keeps_the_archive_unless_purged(tg: Harness) -> None:
    a = tg.fake.add_channel("channelaaa", "A")
    b = tg.fake.add_channel("channelbbb", "B")
    for ch in (a, b):
        post = tg.fake.post(ch, "text")
        tg.fake.comment(ch, post.id, "c", from_user=tg.fake.add_user("U", username=None))
    tg.run("source", "add", "@channelaaa", "@channelbbb")
    tg.ingest()
    tg.run("source", "remove", "@channelaaa")
    with tg.storage() as store:
        assert store.count_messages(chat_id=utils.get_peer_id(a)) == 1
    purged = tg.run("source", "remove", "@channelbbb", "--purge", "--yes")
    assert "2 messages deleted" in purged.stderr
    with tg.storage() as store:
        assert store.count_messages(chat_id=utils.get_peer_id(b)) == 0
        assert store.count_comments(utils.get_peer_id(b)) == 0
        assert store.count_messages() == 2  # channel A's post and comment stay
        assert store.list_sources() == []


def test_empty_list(tg: Harness) -> None:
    tg.run("db", "migrate")  # `source list` reads: it refuses a missing archive
    result = tg.run("source", "list")
    assert "no sources yet" in result.stderr
    assert json.loads(tg.run("source", "list", "--json").stdout) == []
