"""A daily build does not rescore the earlier members of a topic whose centroid barely moved:
their stored rows (score, justification, role) stay as they are until the centroid drifts
below `DRIFT_MIN` from the one they were scored against (`topics.scored_centroid`,
migration 0010). docs/topics.md, Speed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tests.factories import CHANNEL_ID
from tests.topics_helpers import add_posts, fixture_archive
from tgparser.cli import main
from tgparser.storage import Storage, open_storage
from tgparser.topics import build as build_module
from tgparser.topics.build import DRIFT_MIN, _cosine, build

TWIN = -1007777  # the same posts in a second channel: a space rescored in full, to compare
STORY = ["Boeing", "machinists", "strike", "Seattle", "Renton", "Everett", "union", "pension"]
STORY += ["wages", "picket", "737", "factory", "vote", "contract"]
FILL = ["on", "Monday", "workers", "said", "again", "today", "local", "news", "report", "this"]
NORD = [  # made-up names: no fixture story shares them
    (500, "Zorvath dam collapse floods the Quillmere valley; Brannock engineers blamed."),
    (501, "Quillmere valley flooded after the Zorvath dam collapse, Brannock engineers say."),
]
NORD_MORE = [  # the same story told with other words: the topic's centroid moves
    (600, "Zorvath rescue: Ostrelle divers found Quillmere villagers trapped, Vantrel reports."),
    (601, "Ostrelle divers and Vantrel medics reach Quillmere villagers after the Zorvath flood."),
    (602, "Vantrel medics and Ostrelle divers: Quillmere villagers rescued near Zorvath."),
]


def _big_story(n: int = 40) -> list[tuple[int, str]]:
    """n posts of one story, each with 8 of its 14 words and two common ones."""
    posts = []
    for i in range(n):
        words = [STORY[(i * 3 + j) % len(STORY)] for j in range(8)]
        words += [FILL[i % len(FILL)], FILL[(i * 7 + 3) % len(FILL)]]
        posts.append((1000 + i, " ".join(words) + "."))
    return posts


def _archive(storage: Storage) -> None:
    """The story fixture, a big story and a small one, in two channels alike; both built."""
    for chat in (CHANNEL_ID, TWIN):
        fixture_archive(storage, chat)
        add_posts(storage, [*_big_story(), *NORD], chat, username=f"c{-chat}")
        build(storage, [chat])


def _topic_of(storage: Storage, chat: int, message_id: int) -> dict[str, Any]:
    [tid] = storage.topics_of_messages([(chat, message_id)])[(chat, message_id)]
    topic = storage.get_topic(tid)
    assert topic is not None
    return topic


def _rows(storage: Storage, topic_id: str) -> dict[int, tuple[Any, ...]]:
    """message id -> (kind, role, score, justification) of a topic's items."""
    return {
        m["message_id"]: (m["kind"], m["role"], m["score"], m["justification"])
        for m in storage.topic_members(topic_id)
    }


def _daily(storage: Storage, posts: list[tuple[int, str]], monkeypatch: pytest.MonkeyPatch) -> None:
    """The same new posts in both channels; the twin's topics rescored in full."""
    for chat in (CHANNEL_ID, TWIN):
        add_posts(storage, posts, chat, username=f"c{-chat}")
    build(storage, [CHANNEL_ID])
    with monkeypatch.context() as patch:
        patch.setattr(build_module, "DRIFT_MIN", 1.01)  # no centroid is that close
        build(storage, [TWIN])


def test_one_new_post_leaves_a_big_topics_earlier_rows_untouched(
    storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    _archive(storage)
    topic = _topic_of(storage, CHANNEL_ID, 1000)
    twin = _topic_of(storage, TWIN, 1000)
    before, twin_before = _rows(storage, topic["id"]), _rows(storage, twin["id"])
    assert before == twin_before and len(before) >= 30
    stored = {m["message_id"]: m for m in storage.topic_members(topic["id"])}

    # a post like the big story's (not its most central one): the centroid moves a little
    _daily(
        storage,
        [(2000, "Seattle workers said the union vote on the contract was today.")],
        monkeypatch,
    )

    after = storage.get_topic(topic["id"])
    assert after is not None and after["size"] == topic["size"] + 1
    assert after["centroid"] != topic["centroid"]  # it moved …
    assert _cosine(topic["centroid"], after["centroid"]) >= DRIFT_MIN  # … barely
    # the reference of its stored scores is the centroid they were computed against
    assert after["scored_centroid"] == topic["centroid"]
    rows = _rows(storage, topic["id"])
    new = rows.pop(2000)
    assert rows == before  # byte for byte: score, justification, role
    for m in storage.topic_members(topic["id"]):
        if m["message_id"] != 2000:
            assert m == stored[m["message_id"]]  # added_at too: not even rewritten
    # the twin, rescored in full, changed its earlier members: the check above means something
    twin_rows = _rows(storage, twin["id"])
    assert any(twin_rows[k][2] != twin_before[k][2] for k in twin_before)
    assert storage.get_topic(twin["id"])["scored_centroid"] is None  # type: ignore[index]
    # the new member is scored against the new centroid, as a full rescoring scores it
    assert new == twin_rows[2000]
    assert new[0] == "post" and new[3].startswith(f"cosine {new[2]:.2f} to the centroid")
    # the card is still its own: anchors are the top-scored posts, keywords its top terms
    anchors = [(a["chat_id"], a["message_id"]) for a in after["anchors"]]
    ranked = sorted(
        ((r[2], k) for k, r in _rows(storage, topic["id"]).items() if r[1] == "anchor"),
        reverse=True,
    )
    assert sorted(k for _, (_, k) in zip(ranked, anchors, strict=False)) == sorted(
        k for _, k in anchors
    )
    assert after["keywords"] and after["title"]
    # nothing new: nothing changes
    build(storage, [CHANNEL_ID])
    assert _rows(storage, topic["id"]) == {**before, 2000: new}
    assert storage.get_topic(topic["id"]) == after


def test_a_topic_that_drifted_past_the_threshold_is_rescored_in_full(
    storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    _archive(storage)
    topic = _topic_of(storage, CHANNEL_ID, 500)
    twin = _topic_of(storage, TWIN, 500)
    before = _rows(storage, topic["id"])
    assert set(before) == {500, 501}

    _daily(storage, NORD_MORE, monkeypatch)

    after = storage.get_topic(topic["id"])
    assert after is not None
    assert {500, 501, 600, 601, 602} <= set(_rows(storage, topic["id"]))
    assert _cosine(topic["centroid"], after["centroid"]) < DRIFT_MIN  # it drifted
    assert after["scored_centroid"] is None  # every member scored against `centroid`
    rows = _rows(storage, topic["id"])
    # the same rows as the twin rescored in full, and the earlier members' scores moved
    assert rows == _rows(storage, twin["id"])
    assert any(rows[k][2] != before[k][2] for k in before)


def test_a_new_post_that_scores_higher_becomes_an_anchor(
    storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    _archive(storage)
    topic = _topic_of(storage, CHANNEL_ID, 1000)
    before = _rows(storage, topic["id"])
    old_anchors = {k for k, r in before.items() if r[1] == "anchor"}
    # the story's words, every one of them: closer to the centroid than any earlier post
    _daily(storage, [(2001, " ".join(STORY) + ".")], monkeypatch)

    after = storage.get_topic(topic["id"])
    assert after is not None and after["scored_centroid"] == topic["centroid"]  # kept
    rows = _rows(storage, topic["id"])
    assert rows[2001][1] == "anchor"
    assert rows[2001][2] > max(before[k][2] for k in before if k not in old_anchors)
    assert (CHANNEL_ID, 2001) in {(a["chat_id"], a["message_id"]) for a in after["anchors"]}
    anchors = {k for k, r in rows.items() if r[1] == "anchor"}
    assert len(anchors) == len(old_anchors)
    [demoted] = old_anchors - anchors  # the lowest of the earlier anchors
    assert demoted == min(old_anchors, key=lambda k: (before[k][2], -k))
    # its score and justification stay; its role follows the ranking
    assert rows[demoted] == ("post", "supporting", *before[demoted][2:])
    for k in before:
        if k != demoted:
            assert rows[k] == before[k]
    # the card's title is the lead of its most central post, the new one
    assert after["title"].startswith("Boeing machinists")


def test_comments_of_a_kept_topic_keep_their_rows_and_new_ones_join(
    storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    group = -1009999
    on_topic = "The Boeing machinists at Renton are right: the pension and wages offer is poor."

    def comment(mid: int, parent: int, text: str) -> None:
        add_posts(
            storage,
            [(mid, text)],
            chat_id=group,
            username="",
            msg_fields={
                mid: {"kind": "comment", "parent_chat_id": CHANNEL_ID, "parent_message_id": parent}
            },
        )

    _archive(storage)
    topic = _topic_of(storage, CHANNEL_ID, 1000)
    supporting = max(k for k, r in _rows(storage, topic["id"]).items() if r[1] == "supporting")
    comment(10, supporting, on_topic)
    build(storage, [CHANNEL_ID])  # only the comment is new: the topic keeps its rows
    before = _rows(storage, topic["id"])
    assert before[10][0] == "comment" and f"on member post {supporting};" in before[10][3]

    comment(11, supporting, "Everett picket lines: the union says the 737 contract vote is next.")
    comment(12, supporting, "Does anyone know a good pizza place in Lisbon?")
    _daily(
        storage,
        [(2002, "Seattle workers said the union vote on the contract was today.")],
        monkeypatch,
    )

    after = storage.get_topic(topic["id"])
    assert after is not None and after["scored_centroid"] is not None  # kept
    rows = _rows(storage, topic["id"])
    assert rows[10] == before[10]  # the stored comment: untouched
    assert rows[11][0] == "comment" and f"on member post {supporting};" in rows[11][3]
    assert rows[11][2] >= build_module.COMMENT_MIN
    assert 12 not in rows  # off topic: left out, as before
    assert 2002 in rows


def test_scored_centroid_survives_db_copy(sqlite_url: str, pg_url: str, tmp_path: Path) -> None:
    with open_storage(sqlite_url) as storage:
        storage.migrate()
        fixture_archive(storage)
        add_posts(storage, _big_story())
        build(storage, [CHANNEL_ID])
        add_posts(
            storage, [(2000, "Seattle workers said the union vote on the contract was today.")]
        )
        build(storage, [CHANNEL_ID])
        topics = storage.list_topics()
    assert any(t["scored_centroid"] for t in topics)
    runner = CliRunner()
    there = runner.invoke(
        main, ["--db", sqlite_url, "db", "copy", "--to", pg_url, "--verify", "--json"]
    )
    assert there.exit_code == 0, there.output
    assert json.loads(there.stdout)["ok"] is True
    with open_storage(pg_url) as copy:
        assert copy.list_topics() == topics
    back_url = f"sqlite:///{tmp_path / 'back.db'}"
    back = runner.invoke(main, ["--db", pg_url, "db", "copy", "--to", back_url, "--json"])
    assert back.exit_code == 0, back.output
    with open_storage(back_url) as copy:
        assert copy.list_topics() == topics


def test_migration_0010_leaves_existing_topics_as_fully_scored(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An archive built before 0010: every topic's reference is its centroid (NULL), and a
    daily build on it keeps the rows of a topic that barely moved."""
    with open_storage(db_url) as storage:
        storage.migrate()
        fixture_archive(storage)
        add_posts(storage, _big_story())
        build(storage, [CHANNEL_ID])
        topic = _topic_of(storage, CHANNEL_ID, 1000)
        before = _rows(storage, topic["id"])
        # as 0009 left the table: no column (the migration adds it, NULL everywhere)
        storage._execute("ALTER TABLE topics DROP COLUMN scored_centroid")
        storage._execute("DELETE FROM schema_migrations WHERE version = 10")
        [applied] = storage.migrate()
        assert applied.version == 10
        assert storage.get_topic(topic["id"]) == {**topic, "scored_centroid": None}
        add_posts(
            storage, [(2000, "Seattle workers said the union vote on the contract was today.")]
        )
        build(storage, [CHANNEL_ID])
        after = storage.get_topic(topic["id"])
        assert after is not None and after["scored_centroid"] == topic["centroid"]
        rows = _rows(storage, topic["id"])
        assert {k: v for k, v in rows.items() if k != 2000} == before


def test_drift_is_measured_from_the_last_full_scoring_not_the_last_run() -> None:
    """Small steps add up: a topic kept twice is compared with the centroid its earlier
    members were scored against, not with the one the run before left."""
    from tgparser.topics.build import _kept_topics, _Topic

    first = {"a": 1.0, "b": 0.0001}
    last = {"a": 0.985, "b": 0.17}  # the centroid the previous (kept) run stored
    now = {"a": 0.97, "b": 0.245}
    assert _cosine(last, now) >= DRIFT_MIN > _cosine(first, now)
    stored = {(1, 1): {"kind": "post", "score": 0.9}}

    def topic(scored: dict[str, float] | None) -> _Topic:
        row = {"status": "active", "centroid": last, "scored_centroid": scored}
        return _Topic("1:1", row, {(1, 1), (1, 2)}, centroid=now, changed=True)

    assert _kept_topics([topic(first)], {"1:1": stored}, False) == {}
    assert _kept_topics([topic(None)], {"1:1": stored}, False) == {"1:1": stored}
    assert _kept_topics([topic(None)], {"1:1": stored}, True) == {}  # a rebuild rescores all
