"""What makes a daily `topics build` faster must not change what it writes: the related topics
from the merges' cosines, centroid matrices built straight as CSR, centroid weights rounded as
before, and the scoring terms a speller remembers per word."""

from __future__ import annotations

import random
import sys
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp

from tests.factories import CHANNEL_ID
from tests.topics_helpers import add_posts, stories
from tgparser.storage import Storage
from tgparser.topics import MissingTopicsDependency, require_numeric
from tgparser.topics import build as topics_build
from tgparser.topics.build import (
    CENTROID_TERMS,
    _Centroids,
    _group_centroids,
    _Speller,
    _Topic,
    build,
)
from tgparser.topics.cluster import Params, texts_matrix
from tgparser.topics.text import words_and_terms
from tgparser.topics.vectors import Vocabulary, tokenise


def _capture(storage: Storage, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """What each build would write, without writing it (the next build sees the same state)."""
    calls: list[Any] = []

    def capture(space: Any, topics: Any, add: Any, drop: Any) -> None:
        calls.append(
            (
                [_timeless(t, ("created_at", "updated_at")) for t in topics],
                sorted(
                    (_timeless(m, ("added_at",)) for m in add),
                    key=lambda m: (m["topic_id"], m["chat_id"], m["message_id"]),
                ),
                sorted(drop),
            )
        )

    monkeypatch.setattr(storage, "save_topic_space", capture)
    return calls


def _timeless(row: dict[str, Any], stamps: tuple[str, ...]) -> dict[str, Any]:
    out = {k: v for k, v in row.items() if k not in stamps}
    if "lineage" in out:
        out["lineage"] = [{k: v for k, v in e.items() if k != "at"} for e in out["lineage"]]
    return out


def test_related_topics_from_the_merges_cosines_are_those_of_a_fresh_product(
    storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = stories()
    add_posts(storage, [(i + 1, t) for i, (_, _, t) in enumerate(rows) if i % 10 != 9])
    build(storage, [CHANNEL_ID])
    add_posts(storage, [(i + 1, t) for i, (_, _, t) in enumerate(rows) if i % 10 == 9])
    calls = _capture(storage, monkeypatch)
    reused: list[bool] = []
    related = topics_build._related

    def spy(needed: Any, active: Any, cents: _Centroids) -> Any:
        reused.append(cents.kept is not None and cents.kept.valid(active))
        return related(needed, active, cents)

    monkeypatch.setattr(topics_build, "_related", spy)
    [report] = build(storage, [CHANNEL_ID])
    # the same daily run, every related topic from a product of its own
    monkeypatch.setattr(topics_build._Kept, "valid", lambda self, active: False)
    build(storage, [CHANNEL_ID])
    assert reused == [True, False]
    assert report.grown_topics > 0 and not report.rebuilt
    kept, fresh = calls
    assert kept == fresh
    topics = kept[0]
    assert len(topics) >= report.grown_topics and sum(bool(t["related_topics"]) for t in topics)


def test_a_merge_makes_the_related_topics_come_from_a_fresh_product() -> None:
    vocab = Vocabulary()
    vocab.add([["gas", "pipe", "nord"], ["gas", "pipe", "strike"], ["strike", "pay", "union"]])
    cents = _Centroids(vocab)
    a = _Topic("a", {"status": "active"}, {(1, 1)}, centroid={"gas": 0.8, "pipe": 0.6})
    b = _Topic("b", {"status": "active"}, {(1, 2)}, centroid={"gas": 0.6, "nord": 0.8})
    c = _Topic("c", {"status": "active"}, {(1, 3)}, centroid={"strike": 0.6, "pipe": 0.8})
    cents.kept = topics_build._Kept(
        [a], [a, b, c], topics_build._centroid_sims([a], [a, b, c], 0.15, cents)
    )
    assert cents.kept.valid([a, b, c])
    expected = topics_build._related([a], [a, b, c], _Centroids(vocab))
    assert topics_build._related([a], [a, b, c], cents) == expected
    assert {t for _, t in expected["a"]} == {"b", "c"}
    # a merge gives `b` a new centroid: the kept cosines no longer hold
    b.centroid = {"strike": 1.0}
    assert not cents.kept.valid([a, b, c])
    assert topics_build._related([a], [a, b, c], cents) == {"a": [(-0.48, "c")]}
    # a topic that left the active ones too
    b.centroid = cents.kept.sources[2][1]  # type: ignore[assignment]
    assert not cents.kept.valid([a, c])


def _coo_matrix(cents: _Centroids, topics: list[_Topic], width: int) -> Any:
    """The matrix as the COO → CSR conversion built it before."""
    rows, cols, vals = [], [], []
    for i, topic in enumerate(topics):
        for term, weight in topic.centroid.items():
            col = cents._column(term)
            if col < width:
                rows.append(i)
                cols.append(col)
                vals.append(weight)
    return sp.csr_matrix(
        (np.asarray(vals, dtype=np.float64), (np.asarray(rows), np.asarray(cols, dtype=np.int64))),
        shape=(len(topics), max(width, 1)),
    )


def test_centroid_matrices_are_the_canonical_csr_of_a_coo_conversion() -> None:
    rng = random.Random(5)
    terms = [f"t{i}" for i in range(300)]
    vocab = Vocabulary()
    vocab.add([terms[:200]])
    topics = []
    for n in range(40):
        chosen = rng.sample(terms, rng.randint(0, 60))  # some beyond the vocabulary
        centroid = {t: round(rng.random(), 5) for t in chosen}
        packed = " ".join(centroid) + "\n" + " ".join(repr(w) for w in centroid.values())
        # packed as stored (decoded in one go), or a dict (a centroid computed in this run)
        topic = _Topic(f"x{n}", {}, packed=packed if n % 2 and centroid else None)
        if not n % 2 or not centroid:
            topic.centroid = centroid
        topics.append(topic)
    cents = _Centroids(vocab)
    full = cents.matrix(topics)
    for width in (full.shape[1], 150, 1):
        got = cents.matrix(topics, width) if width != full.shape[1] else full
        want = _coo_matrix(cents, topics, width)
        assert got.shape == want.shape and got.has_sorted_indices
        assert np.array_equal(got.indptr, want.indptr)
        assert np.array_equal(got.indices, want.indices)
        assert np.array_equal(got.data, want.data)
    assert full.nnz > 500 and cents.extra  # terms outside the vocabulary took columns too


def test_group_centroids_round_each_weight_as_python_does() -> None:
    texts = [t for _, _, t in stories()][:200]
    docs = tokenise(texts, Params().stem)
    vocab = Vocabulary()
    vocab.add(d.terms for d in docs)
    matrix = texts_matrix(docs, Params(), vocab)
    keys = [(1, i) for i in range(len(texts))]
    row_of = {k: i for i, k in enumerate(keys)}
    groups = [keys[i : i + 7] for i in range(0, len(keys), 7)] + [keys[:150]]
    got, _ = _group_centroids([(g, {}, 0) for g in groups], matrix, row_of, vocab)
    # the former formula, one weight at a time
    terms = list(vocab.index)
    member = sp.csr_matrix(
        (
            np.ones(sum(len(g) for g in groups), dtype=np.float32),
            (
                np.repeat(np.arange(len(groups)), [len(g) for g in groups]),
                [row_of[k] for g in groups for k in g],
            ),
        ),
        shape=(len(groups), matrix.shape[0]),
    )
    sums = (member @ matrix).tocsr()
    for g, centroid in enumerate(got):
        data = sums.data[sums.indptr[g] : sums.indptr[g + 1]]
        cols = sums.indices[sums.indptr[g] : sums.indptr[g + 1]]
        if len(data) > CENTROID_TERMS:
            top = np.argpartition(-data, CENTROID_TERMS)[:CENTROID_TERMS]
            data, cols = data[top], cols[top]
        order = np.lexsort((cols, -data))
        data, cols = data[order], cols[order]
        norm = float(np.sqrt((data.astype(np.float64) ** 2).sum())) or 1.0
        want = {
            terms[c]: round(float(v) / norm, 5)
            for c, v in zip(cols.tolist(), data.tolist(), strict=True)
            if v > 0
        }
        assert list(centroid.items()) == list(want.items())
    assert len(got[-1]) == CENTROID_TERMS


def test_the_speller_gives_the_scoring_terms_tokens_counts() -> None:
    text = (
        "Boeing machinists: 33,000 walk off, 100 000 workers in Київ and Kyiv. "
        "The 737 MAX output halted; «Газопровод» 5.25 000 0.0 и the"
    )
    speller = _Speller(Params().stem)
    for _ in range(2):  # remembered words give the same as new ones
        pairs, terms = speller.with_terms(text)
        assert pairs == speller(text) == words_and_terms(text, Params().stem)
        assert terms == [
            t for w, t in words_and_terms(text, Params().stem)
            if not (w[0].isdigit() and t.strip("0.") == "")
        ]  # fmt: skip
    assert "000" not in terms and "33.000" in terms and "0.0" not in terms


def test_a_build_without_scipy_is_one_line_and_writes_nothing(
    storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_posts(storage, [(i + 1, t) for i, (_, _, t) in enumerate(stories()[:30])])
    monkeypatch.setitem(sys.modules, "scipy.sparse", None)
    with pytest.raises(MissingTopicsDependency) as caught:
        build(storage, [CHANNEL_ID])
    assert "\n" not in str(caught.value) and "scipy.sparse is missing" in str(caught.value)
    assert storage.list_topic_spaces() == [] and storage.list_topics() == []
    # the command looks for them without importing them (a thread does, while it reads)
    monkeypatch.setitem(sys.modules, "numpy", None)
    with pytest.raises(MissingTopicsDependency, match="numpy is missing"):
        require_numeric(load=False)
