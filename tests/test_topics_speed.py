"""What makes `topics build` fast must not change what it writes (both backends): member
scores from one sparse product, full rows read only for the topics a run rewrites, and no
rewrite for a comment an earlier build already weighed."""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import pytest

from tests.factories import CHANNEL_ID
from tests.topics_helpers import BASE, add_posts, fixture_archive
from tgparser.storage import Storage
from tgparser.topics.build import build
from tgparser.topics.cluster import Params
from tgparser.topics.text import tokens
from tgparser.topics.vectors import Vocabulary

SPACE = f"chat:{CHANNEL_ID}"
GROUP = -1009999
BOEING = [
    (1, "Boeing machinists in Seattle voted to strike after rejecting a 25% pay offer."),
    (2, "Boeing machinists strike in Seattle: 33,000 walk off, 737 MAX output halted."),
    (3, "Seattle Boeing strike enters second week as machinists hold out for pensions."),
]


def _scalar_cosine(terms: list[str], centroid: dict[str, float], vocab: Vocabulary) -> float:
    """The member score as the first version computed it, one text at a time."""
    counts = Counter(terms)
    weights = {
        t: (1.0 + math.log(c)) * vocab.idf(t) for t, c in counts.items() if t in vocab.doc_freq
    }
    norm = math.sqrt(sum(w * w for w in weights.values())) or 1.0
    return sum(weights[t] / norm * centroid[t] for t in weights if t in centroid)


def test_member_scores_are_the_scalar_cosines(storage: Storage) -> None:
    fixture_archive(storage)
    build(storage, [CHANNEL_ID])
    state = storage.get_topic_space(SPACE)
    assert state is not None
    vocab = Vocabulary(dict(state["doc_freq"]), state["n_docs"])
    members = [m for m in storage.space_members(SPACE) if m["kind"] == "post"]
    texts = storage.document_texts(((m["chat_id"], m["message_id"]), "builtin") for m in members)
    centroids = {t["id"]: t["centroid"] for t in storage.list_topics(spaces=[SPACE])}
    assert len(members) > 100
    for m in members:
        terms, _ = tokens(texts[(m["chat_id"], m["message_id"])], Params().stem)
        expected = _scalar_cosine(terms, centroids[m["topic_id"]], vocab)
        assert m["score"] == pytest.approx(round(expected, 4), abs=1e-9), m
        assert f"cosine {expected:.2f} to the centroid" in m["justification"]


def _comment(message_id: int, text: str, parent: int, **doc: Any) -> dict[str, Any]:
    return {
        "posts": [(message_id, text)],
        "chat_id": GROUP,
        "username": "",
        "msg_fields": {
            message_id: {
                "kind": "comment",
                "parent_chat_id": CHANNEL_ID,
                "parent_message_id": parent,
            }
        },
        "doc_fields": {message_id: doc},
    }


def _add_comment(storage: Storage, message_id: int, text: str, parent: int, **doc: Any) -> None:
    spec = _comment(message_id, text, parent, **doc)
    add_posts(storage, spec.pop("posts"), **spec)


def _saves(storage: Storage, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []
    save = storage.save_topic_space

    def spy(space: Any, topics: Any, add: Any, drop: Any) -> None:
        calls.append({"topics": [t["id"] for t in topics], "add": list(add), "drop": list(drop)})
        save(space, topics, add, drop)

    monkeypatch.setattr(storage, "save_topic_space", spy)
    return calls


def test_an_off_topic_comment_weighed_before_does_not_rewrite_its_topic(
    storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_posts(storage, BOEING)
    # processed long before the build: the build weighs it and leaves it out (off topic)
    _add_comment(
        storage, 10, "Does anyone know a good pizza place in Lisbon?", 1, processed_at=BASE
    )
    build(storage, [CHANNEL_ID])
    [topic] = storage.list_topics(spaces=[SPACE])
    assert {m["message_id"] for m in storage.topic_members(topic["id"])} == {1, 2, 3}
    saves = _saves(storage, monkeypatch)
    # nothing changed: the build would stop before weighing anything (see
    # tests/test_topics_storage_speed.py); this checks the weighing itself, so it runs in full
    monkeypatch.setattr("tgparser.topics.build._unchanged", lambda *_: False)
    build(storage, [CHANNEL_ID])
    assert saves == [{"topics": [], "add": [], "drop": []}]
    assert storage.get_topic(topic["id"]) == topic


def test_a_new_comment_under_an_unchanged_topic_still_joins_it(storage: Storage) -> None:
    add_posts(storage, BOEING)
    _add_comment(
        storage, 10, "Does anyone know a good pizza place in Lisbon?", 1, processed_at=BASE
    )
    build(storage, [CHANNEL_ID])
    # processed after the build (now): weighed by the next one
    _add_comment(storage, 11, "The Boeing machinists in Seattle are right to strike.", 2)
    build(storage, [CHANNEL_ID])
    [topic] = storage.list_topics(spaces=[SPACE])
    items = {m["message_id"]: m for m in storage.topic_members(topic["id"])}
    assert set(items) == {1, 2, 3, 11}
    assert items[11]["kind"] == "comment" and "comment on" in items[11]["justification"]


def test_a_daily_run_reads_full_rows_only_of_the_topics_it_rewrites(
    storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    fixture_archive(storage)
    build(storage, [CHANNEL_ID])
    every = {t["id"] for t in storage.list_topics(spaces=[SPACE])}
    read: list[str] = []
    by_id = storage.topics_by_id

    def spy(ids: Any) -> list[dict[str, Any]]:
        read.extend(ids)
        return by_id(ids)

    monkeypatch.setattr(storage, "topics_by_id", spy)
    saves = _saves(storage, monkeypatch)
    add_posts(storage, [(900, BOEING[0][1] + " Talks resume on Monday.")])
    [report] = build(storage, [CHANNEL_ID])
    [save] = saves
    assert report.assigned + report.new_topics == 1
    assert read and set(read) <= set(save["topics"]) and len(read) < len(every) / 5
    assert any((m["chat_id"], m["message_id"]) == (CHANNEL_ID, 900) for m in save["add"])
