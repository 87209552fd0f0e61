"""`topics build`: documents in, topics and their ranked members out — incrementally, with ids
that never change.

One build of a *space* (one chat, or every followed source with `--all-sources`):

1. Read the current documents of the space's posts (no text yet); ads and noise never take
   part; duplicates are kept aside and attached to their original's topic at the end.
2. Posts that are in no topic yet are the *open* ones. Without `--rebuild`, and when the space
   was built before, each open post is first assigned to an existing topic when its cosine to
   the topic's centroid is ≥ `assign_min` with a margin over the runner-up; the rest (the
   leftovers) are clustered among themselves (`cluster.cluster_matrix`) into new topics.
3. A first build, or `--rebuild`, clusters every post; each new cluster takes the id of the old
   topic its members overlap most (Jaccard ≥ 0.5), so ids survive a rebuild too. Old topics
   no new cluster took are recorded as merged (into the topic most of their posts went to) or
   retired; a cluster that took part of an old topic records it as `split_from`.
4. A new topic's id is its anchor post: '<chat_id>:<message_id>' ('all:…' in the all-sources
   space); an id is never reused or renumbered.
5. Members are ranked by cosine to the centroid (the three most central are anchors);
   on-topic comments under member posts and duplicates of member posts join as supporting
   items, each with a justification a person can check. Known topics (`topics add`) take the
   posts that fit them before discovery sees them.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import re
from array import array
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tgparser.errors import TgparserError
from tgparser.storage import Storage
from tgparser.storage.base import Row, utcnow
from tgparser.storage.topics import unpack_weights
from tgparser.topics import require_numeric
from tgparser.topics.cluster import Params, texts_matrix, top_two
from tgparser.topics.text import tokens, words, words_and_terms

BUILDER_VERSION = "builtin-3"
Key = tuple[int, int]
Progress = Callable[[str, int, int], None]

ASSIGN_MARGIN = 0.05  # best topic must beat the runner-up by this much
COMMENT_MIN = 0.08  # a comment's cosine to its topic to count as on topic
KNOWN_MIN = 0.15  # a post's cosine to a known topic to be assigned to it
SINGLETON_MIN_TERMS = 12  # a lone post with at least this many terms stands as a topic
CENTROID_TERMS = 100  # terms kept of each stored centroid
ANCHORS = 3
# a daily run keeps the stored rows of a grown topic's earlier members while its centroid's
# cosine to the one they were scored against stays at or above this (docs/topics.md, Speed)
DRIFT_MIN = 0.98
RELATED_MIN = 0.15  # centroid cosine to list another topic as related
REBUILD_JACCARD = 0.5
SEEN_MARGIN = timedelta(minutes=1)  # see `_write`


class TopicsError(TgparserError):
    """A topics command cannot do what it was asked."""


@dataclass(slots=True)
class Post:
    key: Key
    kind: str
    date: str  # fixed-width ISO-8601 UTC text ('…T12:00:00.000000Z'): compares as the time
    processor: str
    parent: Key | None = None
    duplicate_of: Key | None = None
    processed_at: datetime | None = None  # of comments and duplicates


def _stamp(value: datetime | str) -> str:
    """A time as `Post.date` writes it (an ISO-8601 text of any form, or a datetime)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def _time(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp)  # 'Z': an aware UTC datetime


@dataclass
class SpaceReport:
    space: str
    posts: int = 0
    assigned: int = 0
    new_topics: int = 0
    grown_topics: int = 0
    merged: int = 0
    retired: int = 0
    known_assigned: int = 0
    topics: int = 0
    rebuilt: bool = False

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class _Topic:
    """A topic during a build. Its centroid stays as stored (`packed`, see
    `storage.topics.pack_weights`) until something needs it as a dict: a daily run puts
    thousands of untouched centroids into one matrix straight from their packed text."""

    __slots__ = ("_centroid", "changed", "full", "id", "members", "packed", "row", "stored")

    def __init__(
        self,
        id: str,
        row: Row,
        members: set[Key] | None = None,
        *,
        centroid: dict[str, float] | None = None,
        packed: str | None = None,
        changed: bool = False,
        full: bool = True,  # False: `row` holds only id, status, type, keywords, centroid
    ) -> None:
        self.id = id
        self.row = row
        self.members: set[Key] = set() if members is None else members
        self._centroid = centroid if centroid is not None or packed is not None else {}
        self.packed = packed
        self.stored = packed  # the centroid as read (packed), kept when a new one is set
        self.changed = changed
        self.full = full

    @property
    def centroid(self) -> dict[str, float]:
        if self._centroid is None:
            self._centroid = unpack_weights(self.packed or "")
        return self._centroid

    @centroid.setter
    def centroid(self, value: dict[str, float]) -> None:
        self._centroid = value
        self.packed = None

    @property
    def source(self) -> dict[str, float] | str:
        """The centroid as it is held: the dict, or the packed text not decoded yet."""
        if self._centroid is not None:
            return self._centroid
        return self.packed or ""


def _loader(storage: Storage) -> Callable[[Iterable[_Topic]], None]:
    """Reads the full rows of topics that have only their head, before a build changes them."""

    def load(topics: Iterable[_Topic]) -> None:
        heads = {t.id: t for t in topics if not t.full}
        if heads:
            for row in storage.topics_by_id(list(heads)):
                heads[row["id"]].row = row
                heads[row["id"]].full = True

    return load


def space_name(chat_ids: Sequence[int], all_sources: bool) -> str:
    return "all" if all_sources else f"chat:{chat_ids[0]}"


def build(
    storage: Storage,
    chat_ids: Sequence[int],
    *,
    all_sources: bool = False,
    since: datetime | None = None,
    rebuild: bool = False,
    params: Params | None = None,
    progress: Progress | None = None,
) -> list[SpaceReport]:
    """Build the topic spaces of these chats (one per chat, or one across all)."""
    import gc

    importing = _import_numeric()
    params = params or Params()
    groups = [list(chat_ids)] if all_sources else [[c] for c in chat_ids]
    # A build holds hundreds of thousands of long-lived objects (posts, member keys, words)
    # and makes no reference cycles worth collecting; the cyclic collector re-scanned them
    # ~2,500 times (~6 s CPU of a 100,000-post first build, ~1 s of a daily run; peak RSS
    # +5 MB without it). Reference counting still frees everything as before.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return [
            _build_space(
                storage,
                space_name(group, all_sources),
                group,
                since=since,
                rebuild=rebuild,
                params=params,
                progress=progress,
            )
            for group in groups
        ]
    finally:
        if collecting:
            gc.enable()
        if importing is not None:
            importing.join()


def _import_numeric() -> Any:
    """numpy and scipy.sparse imported in a thread (~0.4 s at the start of a daily run) while
    the build's first queries run: SQLite and PostgreSQL do their part without holding the
    GIL, so on two cores the import costs little wall time. `require_numeric` where they are
    first needed waits for it (an import in progress holds its module's lock) and raises the
    one-line error when one is missing."""
    import sys
    import threading

    if "scipy.sparse" in sys.modules:
        return None
    thread = threading.Thread(target=_import_quietly, name="tgparser-numeric", daemon=True)
    thread.start()
    return thread


def _import_quietly() -> None:
    import contextlib

    with contextlib.suppress(Exception):  # raised again where they are needed
        require_numeric()


def _build_space(
    storage: Storage,
    space: str,
    chat_ids: list[int],
    *,
    since: datetime | None,
    rebuild: bool,
    params: Params,
    progress: Progress | None,
) -> SpaceReport:
    from tgparser.topics.vectors import Vocabulary

    now = utcnow()
    report = SpaceReport(space)
    # the space row without its document frequencies (read below, only when needed)
    state = storage.topic_space_head(space)
    # before the candidates are read: a document processed while this build runs makes the
    # next build see a different fingerprint, never the same one
    fingerprint = storage.topic_fingerprint(chat_ids, since)
    known = [
        k
        for k in storage.list_known_topics(active_only=True)
        if not k["chat_ids"] or set(k["chat_ids"]) & set(chat_ids)
    ]
    # a known topic added since the last build must see every post: rebuild the space
    if state is not None and any(k["updated_at"] > state["updated_at"] for k in known):
        rebuild = True
    # a space clustered by another builder version is re-clustered once; the rebuild maps the
    # new clusters onto the old ids, so an upgrade keeps the topics people refer to
    if state is not None and state["builder_version"] != BUILDER_VERSION:
        rebuild = True
    rebuild = rebuild or state is None
    report.rebuilt = rebuild
    # a known topic retired since the last build frees its posts: that is a change too
    touched = state is not None and any(
        k["updated_at"] > state["updated_at"]
        for k in storage.list_known_topics()
        if not k["chat_ids"] or set(k["chat_ids"]) & set(chat_ids)
    )
    if not rebuild and not touched and _unchanged(state, fingerprint, params):
        # no candidate came, left or changed since the last build, with the same parameters:
        # it would place nothing and rewrite nothing (no centroid or member is read)
        report.posts = fingerprint[1]
        report.topics = storage.count_topics(space, "active")
        return report
    posts, comments, duplicates = _candidates(storage, chat_ids, since)
    report.posts = len(posts)

    # a daily run reads the members' keys and the topics' heads (id, status, centroid, …);
    # full rows only of the topics it rewrites. A rebuild may rewrite them all.
    members = storage.space_member_keys(space)
    old_topics = {
        t["id"]: t
        for t in (storage.list_topics(spaces=[space]) if rebuild else storage.topic_heads(space))
    }
    known_topics = {t["id"]: t for t in storage.list_topics(ids=[k["id"] for k in known])}
    by_key = {p.key: p for p in posts}
    placed: dict[Key, str] = {}  # post -> discovered topic id (posts only)
    placed_known: dict[Key, str] = {}
    old_keys: dict[str, set[Key]] = defaultdict(set)  # topic -> its stored items
    for tid, chat_id, message_id, kind in members:
        key = (chat_id, message_id)
        old_keys[tid].add(key)
        if kind == "post":
            # posts that left (deleted, now ads/noise) leave their topics
            if key not in by_key:
                continue
            if tid in known_topics:
                placed_known[key] = tid
            elif tid in old_topics:
                placed[key] = tid

    if rebuild:
        vocab = Vocabulary()
        open_keys = list(by_key)
    else:
        vocab = Vocabulary(storage.topic_space_doc_freq(space), state["n_docs"])
        vocab.index = dict(zip(vocab.doc_freq, range(len(vocab.doc_freq)), strict=True))
        open_keys = [k for k in by_key if k not in placed and k not in placed_known]
    # the processor of every candidate's document: posts' from `by_key`, the others' here
    processors = {p.key: p.processor for p in (*comments, *duplicates)}
    texts = storage.document_texts((k, by_key[k].processor) for k in open_keys)
    docs = _tokenise({k: texts.get(k, "") for k in open_keys}, params.stem)
    # document frequencies count each post once: on a rebuild all of them, later only posts
    # newer than the last counted one (open posts from earlier runs were counted then)
    counted_until = None if rebuild else (state["params"] or {}).get("counted_until")
    counted = None if counted_until is None else _stamp(counted_until)
    vocab.add(docs[k].terms for k in open_keys if counted is None or by_key[k].date > counted)
    newest = max((p.date for p in posts), default=None)
    if newest is not None and (counted is None or newest > counted):
        counted_until = _time(newest).isoformat()
    require_numeric()  # imported meanwhile (`_import_numeric`)
    matrix = texts_matrix([docs[k] for k in open_keys], params, vocab)
    # the tokenised posts are not kept: at 100,000 posts they held ~90 MB through the
    # clustering and the bundles. The bundles need only the column of each term a post has
    # in the vocabulary: kept as one int array (`vectorised`)
    n_terms = array("i", [len(docs[k].terms) for k in open_keys])  # by row
    vectorised = _Columns(vocab.index, [docs[k].terms for k in open_keys])
    del docs
    cents = _Centroids(vocab)
    if progress:
        progress("vectors", len(open_keys), len(open_keys))

    topics: dict[str, _Topic] = {}
    for tid, row in old_topics.items():
        stored = row["centroid"]
        if isinstance(stored, str):  # a head: packed, decoded only when needed
            topics[tid] = _Topic(tid, row, packed=stored, full=rebuild)
        else:
            topics[tid] = _Topic(tid, row, centroid=dict(stored), full=rebuild)
    for key, tid in placed.items():
        topics[tid].members.add(key)
    kts: dict[str, _Topic] = {
        k["id"]: _known_topic(k, known_topics.get(k["id"]), now, params) for k in known
    }
    if not rebuild:
        for key, tid in placed_known.items():
            if tid in kts:
                kts[tid].members.add(key)

    # 1. known topics take the open posts that fit them
    row_of = {k: i for i, k in enumerate(open_keys)}
    vectorised.row = row_of
    scores: dict[tuple[str, Key], tuple[float, str]] = {}
    taken: set[Key] = set()
    if kts:
        assigned = _assign(matrix, open_keys, list(kts.values()), cents, KNOWN_MIN, 0.0)
        for key, (tid, score) in assigned.items():
            kts[tid].members.add(key)
            kts[tid].changed = True
            taken.add(key)
            scores[(tid, key)] = (score, "")
            report.known_assigned += 1
    if rebuild:
        # forget known-topic posts that no longer fit (the pass above re-placed the rest)
        for kt in kts.values():
            kt.members &= taken
            kt.changed = True

    # 2. incremental: open posts join existing topics when clearly similar
    active = [t for t in topics.values() if t.row["status"] == "active"]
    if not rebuild and active:
        rest = [k for k in open_keys if k not in taken]
        assigned = _assign(
            matrix[[row_of[k] for k in rest]] if rest else matrix[:0],
            rest,
            active,
            cents,
            params.assign_min,
            ASSIGN_MARGIN,
        )
        for key, (tid, _score) in assigned.items():
            topics[tid].members.add(key)
            topics[tid].changed = True
            taken.add(key)
            report.assigned += 1
    leftovers = [k for k in open_keys if k not in taken]

    # 3. cluster the leftovers (everything, on a rebuild)
    from tgparser.topics.cluster import cluster_matrix

    if len(leftovers) == len(open_keys):  # a first build: all of them (no copy)
        sub = matrix
    else:
        sub = matrix[[row_of[k] for k in leftovers]] if leftovers else matrix[:0]
    labels = cluster_matrix(sub, params, progress) if leftovers else []
    clusters: dict[int, list[Key]] = defaultdict(list)
    for key, label in zip(leftovers, labels, strict=True):
        clusters[label].append(key)
    groups: list[list[Key]] = []
    for group in clusters.values():
        if len(group) >= 2 or n_terms[row_of[group[0]]] >= SINGLETON_MIN_TERMS:
            groups.append(sorted(group))

    prefix = "all:" if space == "all" else ""
    first, central = _group_centroids([(g, {}, 0) for g in groups], matrix, row_of, vocab)
    # a topic that is exactly one of these clusters has this centroid (every new topic, and
    # every topic of a first build): not computed twice
    of_group = {tuple(g): c for g, c in zip(groups, first, strict=True)}
    if rebuild:
        _map_rebuild(groups, central, topics, space, prefix, now, report)
    else:
        for group, anchor in zip(groups, central, strict=True):
            tid = _new_id(prefix, anchor or group[0], topics)
            topics[tid] = _Topic(tid, _new_row(tid, space, now), set(group), changed=True)
            topics[tid].row["lineage"] = [{"event": "created", "at": now.isoformat()}]
            report.new_topics += 1
    # 4. centroids, merges of topics that grew together, members, cards
    changed = [t for t in topics.values() if t.changed and t.members]
    known_centroid = [
        of_group.get(tuple(sorted(t.members))) if all(k in row_of for k in t.members) else None
        for t in changed
    ]
    todo = [t for t, c in zip(changed, known_centroid, strict=True) if c is None]
    grown, _ = _group_centroids(
        [(t.members, t.centroid, sum(1 for k in t.members if k not in row_of)) for t in todo],
        matrix,
        row_of,
        vocab,
    )
    computed = iter(grown)
    for topic, centroid in zip(changed, known_centroid, strict=True):
        topic.centroid = centroid if centroid is not None else next(computed)
    del of_group
    if not rebuild:
        report.grown_topics = sum(1 for t in topics.values() if t.changed and t.id in old_topics)
    load = _loader(storage)
    _merge_close(topics, params.merge_min, now, report, load, cents)
    del matrix, sub  # the bundles score members from their words, not from these rows
    return _write(
        storage,
        space,
        chat_ids,
        now,
        by_key,
        comments,
        duplicates,
        topics,
        kts,
        old_keys,
        vocab,
        params,
        report,
        counted_until,
        fingerprint,
        vectorised,
        texts_for=lambda keys: _texts(storage, keys, by_key, processors, texts),
        cents=cents,
        state=state,
    )


# -- reading -------------------------------------------------------------------------------------


def _unchanged(state: Row, fingerprint: list[Any], params: Params) -> bool:
    """The last build of this space saw the same candidates with the same parameters."""
    import json

    stored = dict(state["params"] or {})
    if stored.pop("fingerprint", None) != fingerprint:
        return False
    stored.pop("counted_until", None)
    return stored == json.loads(json.dumps(params.as_dict()))


def _candidates(
    storage: Storage, chat_ids: Sequence[int], since: datetime | None
) -> tuple[list[Post], list[Post], list[Post]]:
    posts: list[Post] = []
    comments: list[Post] = []
    duplicates: list[Post] = []
    for (
        chat_id,
        message_id,
        kind,
        date,
        parent_chat,
        parent_message,
        dup_chat,
        dup_message,
        processor,
        processed_at,
    ) in storage.topic_candidates(chat_ids, since):
        post = Post((chat_id, message_id), kind, date, processor)
        if parent_message is not None:
            post.parent = (parent_chat, parent_message)
        if dup_message is not None:
            post.duplicate_of = (dup_chat, dup_message)
        post.processed_at = processed_at
        if kind == "comment":
            comments.append(post)
        elif dup_message is not None:
            duplicates.append(post)
        else:
            posts.append(post)
    return posts, comments, duplicates


def _texts(
    storage: Storage,
    keys: Iterable[Key],
    posts: dict[Key, Post],
    processors: dict[Key, str],
    cache: dict[Key, str],
) -> dict[Key, str]:
    missing = [k for k in keys if k not in cache and (k in posts or k in processors)]
    if missing:
        cache.update(
            storage.document_texts(
                (k, posts[k].processor if k in posts else processors[k]) for k in missing
            )
        )
    return cache


def _tokenise(texts: dict[Key, str], stem: int) -> dict[Key, Any]:
    from tgparser.topics.vectors import Tokenised

    return {k: Tokenised(*tokens(t, stem)) for k, t in texts.items()}


# -- assignment ----------------------------------------------------------------------------------


class _Centroids:
    """Sparse rows of topic centroids over one set of columns (the vocabulary's terms, then
    any other term a centroid has, e.g. a known topic's), flattened once per run and kept
    per topic while its centroid stays the same dict: assignment, merges and related topics
    all use the same thousands of centroids (mapping their terms was most of their cost)."""

    def __init__(self, vocab: Any) -> None:
        self.vocab = vocab
        self.extra: dict[str, int] = {}
        self.rows: dict[str, tuple[dict[str, float], Any, Any]] = {}
        self.kept: _Kept | None = None  # the merges' cosines, for the related topics

    @property
    def width(self) -> int:
        return max(len(self.vocab.index), 1) + len(self.extra)

    def _column(self, term: str) -> int:
        col = self.vocab.index.get(term)
        if col is None:
            col = self.extra.setdefault(term, max(len(self.vocab.index), 1) + len(self.extra))
        return col

    def _flatten(self, topics: Sequence[_Topic]) -> None:
        import numpy as np

        stale = [t for t in topics if self.rows.get(t.id, (None,))[0] is not t.source]
        if not stale:
            return
        stale = list({t.id: t for t in stale}.values())
        packed = [t for t in stale if isinstance(t.source, str)]
        decoded = [t for t in stale if not isinstance(t.source, str)]
        for group, flat in ((packed, _flat_packed), (decoded, _flat_centroids)):
            if not group:
                continue
            rows, cols, vals, terms = flat(group, self.vocab.index.get)
            for i in np.flatnonzero(cols < 0).tolist():
                cols[i] = self._column(terms[i])
            bounds = np.searchsorted(rows, np.arange(len(group) + 1))
            for i, topic in enumerate(group):
                a, b = bounds[i], bounds[i + 1]
                self.rows[topic.id] = (topic.source, cols[a:b], vals[a:b])

    def matrix(self, topics: Sequence[_Topic], width: int | None = None) -> Any:
        """CSR (len(topics) × width) of their centroids; columns ≥ width are left out."""
        import numpy as np
        import scipy.sparse as sp

        self._flatten(topics)
        width = self.width if width is None else width
        parts = [self.rows[t.id] for t in topics]
        lengths = np.fromiter((len(p[1]) for p in parts), dtype=np.int64, count=len(parts))
        cols = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0, np.int64)
        vals = np.concatenate([p[2] for p in parts]) if parts else np.zeros(0)
        keep = cols < width
        if not keep.all():
            rows = np.repeat(np.arange(len(parts)), lengths)
            lengths = np.bincount(rows[keep], minlength=len(parts))
            cols, vals = cols[keep], vals[keep]
        indptr = np.zeros(len(parts) + 1, dtype=np.int64)
        np.cumsum(lengths, out=indptr[1:])
        # straight to CSR (a topic's terms are distinct columns), in canonical order: the
        # matrix a COO → CSR conversion gives, without its sort of every entry
        out = sp.csr_matrix((vals, cols, indptr), shape=(len(topics), max(width, 1)))
        out.sort_indices()
        return out


def _flat_centroids(topics: Sequence[_Topic], column: Callable[[str, int], int]) -> Any:
    """(rows, cols, values) arrays of the topics' centroids, in the order of their dicts,
    and the terms; `column(term, -1)` gives a term's column (-1: none). Built with C-level
    maps, not a Python loop per term: thousands of topics × 100 terms."""

    import numpy as np

    lengths = np.fromiter((len(t.centroid) for t in topics), dtype=np.int64, count=len(topics))
    terms = list(itertools.chain.from_iterable(t.centroid for t in topics))
    values = np.fromiter(
        itertools.chain.from_iterable(t.centroid.values() for t in topics),
        dtype=np.float64,
        count=len(terms),
    )
    cols = np.fromiter(map(column, terms, itertools.repeat(-1)), dtype=np.int64, count=len(terms))
    return np.repeat(np.arange(len(topics)), lengths), cols, values, terms


def _flat_packed(topics: Sequence[_Topic], column: Callable[[str, int], int]) -> Any:
    """`_flat_centroids` of centroids still packed as stored: every topic's terms split in
    one call and every weight parsed in one (`numpy.fromstring`), no dict per topic."""

    import numpy as np

    term_lines: list[str] = []
    weight_lines: list[str] = []
    lengths: list[int] = []
    for topic in topics:
        if topic.packed:
            terms, weights = topic.packed.split("\n")
            term_lines.append(terms)
            weight_lines.append(weights)
            lengths.append(terms.count(" ") + 1)
        else:
            lengths.append(0)
    terms = " ".join(term_lines).split(" ") if term_lines else []
    values = (
        np.fromstring(" ".join(weight_lines), dtype=np.float64, sep=" ")
        if weight_lines
        else np.zeros(0)
    )
    if len(values) != len(terms):
        raise ValueError("a stored centroid has not as many weights as terms")
    cols = np.fromiter(map(column, terms, itertools.repeat(-1)), dtype=np.int64, count=len(terms))
    return np.repeat(np.arange(len(topics)), lengths), cols, values, terms


def _assign(
    matrix: Any,
    keys: Sequence[Key],
    topics: Sequence[_Topic],
    cents: _Centroids,
    minimum: float,
    margin: float,
) -> dict[Key, tuple[str, float]]:
    """key -> (topic id, cosine) for rows whose best topic is ≥ minimum and beats the
    runner-up by `margin`."""
    import numpy as np

    if not keys or not topics:
        return {}
    # terms the vocabulary no longer has are left out
    cents = cents.matrix(topics, matrix.shape[1]).astype(np.float32).T.tocsr()
    out: dict[Key, tuple[str, float]] = {}
    for start in range(0, len(keys), 2000):
        best, first, second = top_two((matrix[start : start + 2000] @ cents).tocsr())
        ok = (first >= minimum) & (first - second >= margin)
        for i in np.flatnonzero(ok).tolist():
            out[keys[start + i]] = (topics[best[i]].id, float(first[i]))
    return out


def _group_centroids(
    groups: Sequence[tuple[Sequence[Key], dict[str, float], int]],
    matrix: Any,
    row_of: dict[Key, int],
    vocab: Any,
) -> tuple[list[dict[str, float]], list[Key | None]]:
    """For each (members, previous centroid, members not vectorised now) group: its centroid
    (normalised mean, top terms only; members placed by an earlier run are represented by
    the previous centroid, weighted by their number) and its most central vectorised member
    (ties: the smallest key). All groups in one sparse product."""
    import numpy as np
    import scipy.sparse as sp

    n_groups, width = len(groups), matrix.shape[1]
    g_idx, r_idx, keys = [], [], []
    p_rows, p_cols, p_vals = [], [], []
    for g, (members, previous, old) in enumerate(groups):
        for key in sorted(members):
            row = row_of.get(key)
            if row is not None:
                g_idx.append(g)
                r_idx.append(row)
                keys.append(key)
        if old and previous:
            for term, weight in previous.items():
                col = vocab.index.get(term)
                if col is not None and col < width:
                    p_rows.append(g)
                    p_cols.append(col)
                    p_vals.append(weight * old)
    member = sp.csr_matrix(
        (np.ones(len(g_idx), dtype=np.float32), (np.asarray(g_idx), np.asarray(r_idx))),
        shape=(n_groups, matrix.shape[0]),
    )
    sums = (member @ matrix).tocsr()
    if p_vals:
        sums = (sums + sp.csr_matrix(
            (np.asarray(p_vals, dtype=np.float32), (np.asarray(p_rows), np.asarray(p_cols))),
            shape=(n_groups, width),
        )).tocsr()  # fmt: skip
    central: list[Key | None] = [None] * n_groups
    if g_idx:
        dots = np.asarray(
            matrix[np.asarray(r_idx)].multiply(sums[np.asarray(g_idx)]).sum(axis=1)
        ).ravel()
        best: dict[int, tuple[float, Key]] = {}
        for g, key, dot in zip(g_idx, keys, np.round(dots, 6).tolist(), strict=True):
            if g not in best or dot > best[g][0] or (dot == best[g][0] and key < best[g][1]):
                best[g] = (dot, key)
        for g, (_, key) in best.items():
            central[g] = key
    terms = list(vocab.index)
    out: list[dict[str, float]] = []
    for g in range(n_groups):
        start, stop = sums.indptr[g], sums.indptr[g + 1]
        data, cols = sums.data[start:stop], sums.indices[start:stop]
        if len(data) > CENTROID_TERMS:
            top = np.argpartition(-data, CENTROID_TERMS)[:CENTROID_TERMS]
            data, cols = data[top], cols[top]
        order = np.lexsort((cols, -data))
        data, cols = data[order].astype(np.float64), cols[order]
        norm = float(np.sqrt((data**2).sum())) or 1.0
        positive = data > 0
        # each weight as float(v) / norm, rounded by Python (numpy rounds differently)
        out.append(
            dict(
                zip(
                    map(terms.__getitem__, cols[positive].tolist()),
                    map(round, (data[positive] / norm).tolist(), itertools.repeat(5)),
                    strict=True,
                )
            )
        )
    return out, central


# -- ids, rebuilds, merges -----------------------------------------------------------------------


def _new_id(prefix: str, anchor: Key, topics: dict[str, _Topic]) -> str:
    base = f"{prefix}{anchor[0]}:{anchor[1]}"
    tid, n = base, 1
    while tid in topics:  # the anchor founded a topic before, since merged or retired
        n += 1
        tid = f"{base}~{n}"
    return tid


def _new_row(tid: str, space: str, now: datetime) -> Row:
    return {
        "id": tid,
        "space": space,
        "type": "cluster",
        "status": "active",
        "merged_into": None,
        "title": "",
        "summary": "",
        "scope_in": [],
        "scope_out": [],
        "keywords": [],
        "tags": [],
        "related_topics": [],
        "anchors": [],
        "size": 0,
        "first_date": None,
        "last_date": None,
        "centroid": {},
        "member_hash": "",
        "known_topic_id": None,
        "lineage": [],
        "builder_version": BUILDER_VERSION,
        "model": "",
        "prompt_id": "",
        "created_at": now,
        "updated_at": now,
    }


def _map_rebuild(
    groups: list[list[Key]],
    central: list[Key | None],
    topics: dict[str, _Topic],
    space: str,
    prefix: str,
    now: datetime,
    report: SpaceReport,
) -> None:
    """Give each new cluster the id of the old topic it overlaps with Jaccard ≥ 0.5."""
    old = {tid: set(t.members) for tid, t in topics.items() if t.row["status"] == "active"}
    owner: dict[Key, str] = {k: tid for tid, ms in old.items() for k in ms}
    pairs: list[tuple[float, int, str]] = []
    for i, group in enumerate(groups):
        overlap = Counter(owner[k] for k in group if k in owner)
        for tid, shared in overlap.items():
            jaccard = shared / len(old[tid] | set(group))
            if jaccard >= REBUILD_JACCARD:
                pairs.append((jaccard, i, tid))
    pairs.sort(key=lambda p: (-p[0], p[1], p[2]))
    matched: dict[int, str] = {}
    used: set[str] = set()
    for _, i, tid in pairs:
        if i not in matched and tid not in used:
            matched[i] = tid
            used.add(tid)
    stamp = now.isoformat()
    new_owner: dict[Key, str] = {}
    for i, group in enumerate(groups):
        tid = matched.get(i)
        if tid is None:
            tid = _new_id(prefix, central[i] or group[0], topics)
            topics[tid] = _Topic(tid, _new_row(tid, space, now))
            lineage: list[dict[str, Any]] = [{"event": "created", "at": stamp}]
            overlap = Counter(owner[k] for k in group if k in owner)
            if overlap:
                source, _ = overlap.most_common(1)[0]
                lineage.append({"event": "split_from", "topic": source, "at": stamp})
            topics[tid].row["lineage"] = lineage
            report.new_topics += 1
        elif set(group) != old[tid]:
            report.grown_topics += 1
        topic = topics[tid]
        if set(group) != topic.members:
            topic.changed = True
        topic.members = set(group)
        for k in group:
            new_owner[k] = tid
    for tid in old:
        if tid in used:
            continue
        topic = topics[tid]
        went = Counter(new_owner[k] for k in old[tid] if k in new_owner)
        topic.members = set()
        topic.changed = True
        if went:
            target, _ = went.most_common(1)[0]
            _mark_merged(topic, target, now)
            report.merged += 1
        else:
            topic.row["status"] = "retired"
            topic.row["lineage"] = [*topic.row["lineage"], {"event": "retired", "at": stamp}]
            report.retired += 1


def _mark_merged(topic: _Topic, target: str, now: datetime) -> None:
    topic.row["status"] = "merged"
    topic.row["merged_into"] = target
    topic.row["lineage"] = [
        *topic.row["lineage"],
        {"event": "merged_into", "topic": target, "at": now.isoformat()},
    ]


def _centroid_sims(
    left: Sequence[_Topic], right: Sequence[_Topic], minimum: float, cents: _Centroids
) -> Any:
    """Cosines ≥ minimum between the centroids of two lists of topics (a COO matrix)."""
    import numpy as np
    import scipy.sparse as sp

    cents._flatten([*left, *right])  # new terms first: both sides get the same width
    ma, mb = cents.matrix(left), cents.matrix(right)
    # in blocks of rows, filtered as they come: the full product of thousands of centroids
    # that share common terms would not fit in memory
    mbt = mb.T.tocsr()
    rows_out, cols_out, data_out = [], [], []
    for start in range(0, len(left), 500):
        block = (ma[start : start + 500] @ mbt).tocoo()
        keep = block.data >= minimum
        rows_out.append(block.row[keep] + start)
        cols_out.append(block.col[keep])
        data_out.append(block.data[keep])
    if not data_out:
        return sp.coo_matrix((len(left), len(right)))
    return sp.coo_matrix(
        (np.concatenate(data_out), (np.concatenate(rows_out), np.concatenate(cols_out))),
        shape=(len(left), len(right)),
    )


class _Kept:
    """Centroid cosines of a run's changed topics to every active topic (a `_centroid_sims`
    result as (row, column, cosine) triples), with the centroids they were computed from."""

    def __init__(self, left: Sequence[_Topic], right: Sequence[_Topic], sims: Any) -> None:
        self.left, self.right = list(left), list(right)
        self.triples = list(
            zip(sims.row.tolist(), sims.col.tolist(), sims.data.tolist(), strict=True)
        )
        self.sources = [(t, t.source) for t in (*left, *right)]

    def valid(self, active: Sequence[_Topic]) -> bool:
        """No centroid changed since, and every topic compared with is still active."""
        ids = {id(t) for t in active}
        return all(t.source is source for t, source in self.sources) and all(
            id(t) in ids for t in self.right
        )


def _related(
    needed: Sequence[_Topic], active: Sequence[_Topic], cents: _Centroids
) -> dict[str, list[tuple[float, str]]]:
    """For each needed topic: (-cosine rounded, id) of every other active topic whose
    centroid is within RELATED_MIN of its own. The cosines the merges computed are reused
    when they still hold (the same floats: a cosine is one row of a product)."""
    related: dict[str, list[tuple[float, str]]] = defaultdict(list)

    def add(left: Sequence[_Topic], right: Sequence[_Topic], triples: Iterable[Any]) -> None:
        for i, j, v in triples:
            if v >= RELATED_MIN and left[i] is not right[j]:
                related[left[i].id].append((-round(v, 6), right[j].id))

    def sims(left: Sequence[_Topic], right: Sequence[_Topic]) -> Iterable[Any]:
        coo = _centroid_sims(left, right, RELATED_MIN, cents)
        return zip(coo.row.tolist(), coo.col.tolist(), coo.data.tolist(), strict=True)

    kept = cents.kept
    if kept is None or not needed or not active or not kept.valid(active):
        if needed and active:
            add(needed, active, sims(needed, active))
        return related
    row_of = {id(t): i for i, t in enumerate(kept.left)}
    done = [t for t in needed if id(t) in row_of]
    rest = [t for t in needed if id(t) not in row_of]
    wanted = {row_of[id(t)] for t in done}
    add(kept.left, kept.right, (x for x in kept.triples if x[0] in wanted))
    compared = {id(t) for t in kept.right}
    others = [t for t in active if id(t) not in compared]  # known topics, say
    if done and others:
        add(done, others, sims(done, others))
    if rest:
        add(rest, active, sims(rest, active))
    return related


def _merge_close(
    topics: dict[str, _Topic],
    merge_min: float,
    now: datetime,
    report: SpaceReport,
    load: Callable[[Iterable[_Topic]], None],
    cents: _Centroids,
) -> None:
    """Two active topics whose centroids came within `merge_min` are one story: the smaller
    is merged into the larger (status, merged_into and lineage on both)."""
    changed = sorted(
        (t for t in topics.values() if t.changed and t.row["status"] == "active" and t.members),
        key=lambda t: t.id,
    )
    active = sorted(
        (t for t in topics.values() if t.row["status"] == "active" and t.members),
        key=lambda t: t.id,
    )
    if not changed or len(active) < 2:
        return
    # down to the related topics' threshold: the cards of these topics list their related
    # topics from the same cosines (`_related`), unless a merge moves a centroid
    kept = _Kept(
        changed, active, _centroid_sims(changed, active, min(merge_min, RELATED_MIN), cents)
    )
    cents.kept = kept
    pairs = sorted(
        (-v, changed[i].id, active[j].id)
        for i, j, v in kept.triples
        if v >= merge_min and changed[i] is not active[j]
    )
    for _, first, second in pairs:
        one, two = topics[first], topics[second]
        if one.row["status"] != "active" or two.row["status"] != "active":
            continue
        small, big = sorted((one, two), key=lambda t: (len(t.members), t.id))
        load((small, big))
        # the union's centroid, weighted by size
        total: Counter[str] = Counter()
        for t in (big, small):
            for term, w in t.centroid.items():
                total[term] += w * len(t.members)
        norm = sum(v * v for v in total.values()) ** 0.5 or 1.0
        big.centroid = {k: v / norm for k, v in total.most_common(CENTROID_TERMS)}
        big.members |= small.members
        big.changed = True
        big.row["lineage"] = [
            *big.row["lineage"],
            {"event": "merged_from", "topic": small.id, "at": now.isoformat()},
        ]
        small.members = set()
        small.changed = True
        _mark_merged(small, big.id, now)
        report.merged += 1


def _known_topic(known: Row, row: Row | None, now: datetime, params: Params) -> _Topic:
    """A known topic as a topic: its centroid is the vector of its title, description and
    keywords (keywords count twice)."""
    text = " ".join([known["title"], known["description"], *(known["keywords"] or []) * 2]).strip()
    terms, _ = tokens(text, params.stem)
    counts = Counter(terms)
    norm = sum(v * v for v in counts.values()) ** 0.5 or 1.0
    centroid = {t: c / norm for t, c in counts.items()}
    if row is None:
        row = _new_row(known["id"], "known", now)
    row = {
        **row,
        "type": "known",
        "space": "known",
        "known_topic_id": known["id"],
        "title": known["title"],
        "summary": known["description"],
        "keywords": list(known["keywords"] or []),
        "status": known["status"],
    }
    return _Topic(known["id"], row, centroid=centroid)


# -- writing -------------------------------------------------------------------------------------

_SENTENCE = re.compile(r"(?<=[.!?])\s+")


def _lead(text: str, limit: int) -> str:
    first = _SENTENCE.split(" ".join(text.split()), maxsplit=1)[0] if text else ""
    return first if len(first) <= limit else first[: limit - 1].rsplit(" ", 1)[0] + "…"


def _write(
    storage: Storage,
    space: str,
    chat_ids: list[int],
    now: datetime,
    by_key: dict[Key, Post],
    comments: list[Post],
    duplicates: list[Post],
    topics: dict[str, _Topic],
    kts: dict[str, _Topic],
    old_keys: dict[str, set[Key]],
    vocab: Any,
    params: Params,
    report: SpaceReport,
    counted_until: str | None,
    fingerprint: list[Any],
    vectorised: _Columns,
    texts_for: Callable[[Iterable[Key]], dict[Key, str]],
    cents: _Centroids,
    state: Row | None = None,
) -> SpaceReport:
    comments_of: dict[Key, list[Post]] = defaultdict(list)
    for c in comments:
        if c.parent is not None:
            comments_of[c.parent].append(c)
    dups_of: dict[Key, list[Post]] = defaultdict(list)
    for d in duplicates:
        dups_of[d.duplicate_of].append(d)  # type: ignore[index]

    everything = {**topics, **kts}
    # the members of every topic whose bundle may have changed: changed topics, and topics
    # that gained comments or duplicates since (cheap to check by key)
    # a comment the last build weighed and left out (off topic) is not stored: a topic needs
    # a new bundle only for comments or duplicates processed since (with a margin for a
    # `process` run that overlapped it). A rebuild checks them all.
    seen_until = (
        state["updated_at"] - SEEN_MARGIN if state is not None and not report.rebuilt else None
    )
    extras = {p.key: p for p in (*comments, *duplicates)}

    def unseen(keys: set[Key]) -> bool:
        return any(
            seen_until is None
            or extras[k].processed_at is None
            or extras[k].processed_at > seen_until
            for k in keys
        )

    add: list[Row] = []
    drop: list[tuple[str, str, int, int]] = []
    changed_rows: list[Row] = []
    needed: list[_Topic] = []
    parents = comments_of.keys() | dups_of.keys()  # posts with comments or duplicates
    nothing: set[Key] = set()
    for tid, topic in everything.items():
        have = old_keys.get(tid, nothing)
        if topic.changed:
            needed.append(topic)
            continue
        # its items: its posts, and the comments and duplicates of those that have them
        wanted_extra = {
            c.key
            for k in (topic.members & parents if parents else ())
            for c in (*comments_of.get(k, ()), *dups_of.get(k, ()))
        }
        if (have - wanted_extra) != topic.members or unseen(wanted_extra - have):
            needed.append(topic)
    _loader(storage)(needed)
    old_by_topic: dict[str, dict[Key, Row]] = defaultdict(dict)
    for m in storage.members_of_topics(space, [t.id for t in needed if t.id in old_keys]):
        old_by_topic[m["topic_id"]][(m["chat_id"], m["message_id"])] = m
    # a topic whose centroid barely moved since its members were last all scored keeps its
    # earlier members' rows: only its new items are scored (a stored score is the cosine to
    # the centroid of the topic's last full scoring, `scored_centroid`; None: `centroid`)
    kept = _kept_topics(needed, old_by_topic, report.rebuilt)
    for topic in needed:
        if topic.id in kept:  # as read: the packed text of the stored centroid is not redone
            topic.row["scored_centroid"] = (
                topic.row.get("scored_centroid") or topic.stored or topic.row["centroid"]
            )
        else:
            topic.row["scored_centroid"] = None
    # every text the bundles need, in one batch (of a kept topic: its new items; its anchors
    # are read once they are known)
    wanted: list[Key] = []
    for t in needed:
        stored = kept.get(t.id, {})
        for m in t.members:
            old = _kept_post(stored, m)
            if old is None:
                wanted.append(m)
            wanted.extend(
                c.key for c in comments_of.get(m, ()) if old is None or c.key not in stored
            )
    texts = texts_for(wanted)
    active = sorted(
        (t for t in everything.values() if t.row["status"] == "active" and t.members),
        key=lambda t: t.id,
    )
    related = _related(needed, active, cents)
    scorer = _Scorer(vocab, cents)
    speller = _Speller(params.stem)
    for batch in _batches(needed, lambda t: len(t.members)):
        for topic, (rows, surface) in zip(
            batch,
            _bundles(
                batch,
                comments_of,
                dups_of,
                texts,
                vectorised,
                scorer,
                speller,
                params,
                kept,
                texts_for,
            ),
            strict=True,
        ):
            tid = topic.id
            new_keys = {(r["chat_id"], r["message_id"]): r for r in rows}
            for key in old_by_topic.get(tid, {}):
                if key not in new_keys:
                    drop.append((space, tid, key[0], key[1]))
            for key, row in new_keys.items():
                old = old_by_topic.get(tid, {}).get(key)
                if (
                    old is None
                    or any(old[c] != row[c] for c in ("role", "kind", "justification"))
                    or abs(old["score"] - row["score"]) > 1e-6
                ):
                    add.append({**row, "space": space, "added_at": old["added_at"] if old else now})
            near = [other for _, other in sorted(related.get(tid, []))[:5]]
            _card(topic, rows, by_key, texts, surface, near, now)
            changed_rows.append(topic.row)
            # a post or comment belongs to one topic's bundle: its text is done with
            for key in topic.members:
                texts.pop(key, None)
                for comment in comments_of.get(key, ()):
                    texts.pop(comment.key, None)
    # what a topic is not: the keywords of its related topics, once every card has its
    # keywords (in one pass, a card before its neighbours' saw them empty)
    for row in changed_rows:
        if not row["model"]:
            mine = set(row["keywords"])
            row["scope_out"] = [
                w
                for tid in row["related_topics"]
                for w in everything[tid].row.get("keywords", [])[:3]
                if w not in mine
            ][:5]
    report.topics = sum(1 for t in topics.values() if t.row["status"] == "active")
    space_row = {
        "space": space,
        "chat_ids": sorted(chat_ids),
        "builder_version": BUILDER_VERSION,
        "params": {**params.as_dict(), "counted_until": counted_until, "fingerprint": fingerprint},
        "doc_freq": vocab.doc_freq,
        "n_docs": vocab.n_docs,
        "built_at": now if report.rebuilt or state is None else state.get("built_at", now),
        "updated_at": now,
    }
    if not report.rebuilt and state is not None and state["n_docs"] == vocab.n_docs:
        del space_row["doc_freq"]  # nothing was counted: the stored frequencies stand
    storage.save_topic_space(space_row, changed_rows, add, drop)
    return report


def _cosine(one: dict[str, float], two: dict[str, float]) -> float:
    if len(one) > len(two):
        one, two = two, one
    dot = sum(w * two.get(t, 0.0) for t, w in one.items())
    norms = math.sqrt(sum(w * w for w in one.values()) * sum(w * w for w in two.values()))
    return dot / norms if norms else 0.0


def _kept_topics(
    needed: Sequence[_Topic], old_by_topic: dict[str, dict[Key, Row]], rebuilt: bool
) -> dict[str, dict[Key, Row]]:
    """The stored rows of each topic a daily run does not rescore: an active topic with stored
    members whose centroid's cosine to the one they were scored against is ≥ DRIFT_MIN."""
    if rebuilt:
        return {}
    kept = {}
    for topic in needed:
        stored = old_by_topic.get(topic.id)
        if not stored or not topic.members or topic.row["status"] != "active":
            continue
        reference = topic.row.get("scored_centroid") or topic.row.get("centroid")
        if reference and _cosine(reference, topic.centroid) >= DRIFT_MIN:
            kept[topic.id] = stored
    return kept


def _batches(items: Sequence[_Topic], size: Callable[[_Topic], int], limit: int = 20_000) -> Any:
    """The topics in batches of about `limit` members: scored together, read once, forgotten."""
    batch: list[_Topic] = []
    total = 0
    for item in items:
        batch.append(item)
        total += size(item)
        if total >= limit:
            yield batch
            batch, total = [], 0
    if batch:
        yield batch


def _bundles(
    topics: Sequence[_Topic],
    comments_of: dict[Key, list[Post]],
    dups_of: dict[Key, list[Post]],
    texts: dict[Key, str],
    vectorised: _Columns,
    scorer: _Scorer,
    speller: _Speller,
    params: Params,
    kept: dict[str, dict[Key, Row]] | None = None,
    texts_for: Callable[[Iterable[Key]], dict[Key, str]] | None = None,
) -> list[tuple[list[Row], dict[str, str]]]:
    """The ranked items of each topic: posts by cosine to the centroid (the top ones anchors),
    then duplicates of its posts, then on-topic comments under them. Also the words the top
    posts use for the topic's terms (for people to read). The cosines of all the topics'
    posts and comments are computed in one sparse product. A topic in `kept` keeps the
    stored rows it has there (only their role may change): its other items are scored."""
    kept = kept or {}
    nothing: dict[Key, Row] = {}
    # each member's text is read once: its (word, term) pairs give the justification words
    # and, for a member not vectorised in this run, its terms
    spelled: dict[Key, list[tuple[str, str]]] = {}
    term_lists: list[Any] = []  # a member's terms, or the columns of a vectorised one
    owners: list[int] = []
    for i, topic in enumerate(topics):
        stored = kept.get(topic.id, nothing)
        for key in sorted(topic.members):
            if _kept_post(stored, key):
                for comment in comments_of.get(key, ()):
                    if comment.key not in stored:
                        term_lists.append(tokens(texts.get(comment.key, ""), params.stem)[0])
                        owners.append(i)
                continue
            columns = vectorised.get(key)
            if columns is not None:
                spelled[key] = speller(texts.get(key, ""))
                term_lists.append(columns)
            else:
                spelled[key], terms = speller.with_terms(texts.get(key, ""))
                term_lists.append(terms)
            owners.append(i)
            for comment in comments_of.get(key, ()):
                term_lists.append(tokens(texts.get(comment.key, ""), params.stem)[0])
                owners.append(i)
    cosines = iter(scorer.cosines(term_lists, owners, topics))
    out: list[Any] = []
    for topic in topics:
        stored = kept.get(topic.id, nothing)
        members = sorted(topic.members)
        plain: list[tuple[float, Key]] = []
        comment_scores: dict[Key, float] = {}
        for key in members:
            old = _kept_post(stored, key)
            if not old:
                plain.append((next(cosines), key))
            for comment in comments_of.get(key, ()):
                if not old or comment.key not in stored:
                    comment_scores[comment.key] = next(cosines)
        out.append(_bundle(topic, plain, comment_scores, comments_of, dups_of, spelled, stored))
    if kept and texts_for is not None:
        # the anchors of the kept topics give their cards' words (title, summary, keywords)
        anchors = [
            (r["chat_id"], r["message_id"])
            for topic, (rows, _) in zip(topics, out, strict=True)
            if topic.id in kept
            for r in rows
            if r["kind"] == "post" and r["role"] == "anchor"
        ]
        texts_for(anchors)
        for topic, (rows, surface) in zip(topics, out, strict=True):
            if topic.id not in kept:
                continue
            for r in rows:
                if r["kind"] == "post" and r["role"] == "anchor":
                    key = (r["chat_id"], r["message_id"])
                    for word, term in spelled.get(key) or speller(texts.get(key, "")):
                        surface.setdefault(term, word)
            # then the words of the stored keywords (what the card said before)
            for keyword in topic.row.get("keywords") or []:
                for word, term in speller(keyword):
                    surface.setdefault(term, word)
    return out


def _kept_post(stored: dict[Key, Row], key: Key) -> Row | None:
    """The stored row of a post a kept topic does not rescore (None: it is scored)."""
    row = stored.get(key)
    return row if row is not None and row["kind"] == "post" else None


def _bundle(
    topic: _Topic,
    plain: list[tuple[float, Key]],
    comment_scores: dict[Key, float],
    comments_of: dict[Key, list[Post]],
    dups_of: dict[Key, list[Post]],
    spelled: dict[Key, list[tuple[str, str]]],
    stored: dict[Key, Row] | None = None,
) -> tuple[list[Row], dict[str, str]]:
    """One topic's ranked items, from the cosines of its posts and comments.

    A kept topic (`stored`: the rows a daily run keeps, see `_kept_topics`) ranks its earlier
    posts and comments with their stored score and justification (the role of a post, and
    the one a comment quotes, follow the ranking) among the new ones scored here; its
    surface words are filled later, from its anchors (`_bundles`)."""
    stored = stored or {}
    earlier = [(row["score"], key) for key in topic.members if (row := _kept_post(stored, key))]
    scored_plain = sorted([*plain, *earlier], key=lambda s: (-s[0], s[1]))
    surface: dict[str, str] = {}  # term -> its word in the most central post that has it
    if not stored:
        for _, key in scored_plain[:10]:
            for word, term in spelled[key]:
                surface.setdefault(term, word)
    centroid = topic.centroid
    # by weight, highest first; equal weights keep their order (a stable sort)
    keywords = sorted(centroid, key=centroid.__getitem__, reverse=True)[:12]
    anchors = {key for _, key in scored_plain[:ANCHORS]}
    rows: list[Row] = []
    for score, key in scored_plain:
        old = _kept_post(stored, key)
        if old is not None:
            why = old["justification"]
        else:
            own = {t: w for w, t in reversed(spelled[key])}
            shared = [own[t] for t in keywords if t in own][:4]
            why = f"cosine {score:.2f} to the centroid"
            if shared:
                why += f"; shares: {', '.join(shared)}"
        role = "anchor" if key in anchors else "supporting"
        rows.append(_member(topic.id, key, role, "post", score, why))
    for _, key in scored_plain:
        for dup in dups_of.get(key, ()):
            why = f"duplicate of post {key[1]} (chat {key[0]})"
            rows.append(_member(topic.id, dup.key, "supporting", "duplicate", 1.0, why))
    for _, key in scored_plain:
        role = "anchor" if key in anchors else "member"
        for comment in comments_of.get(key, ()):
            old = stored.get(comment.key)
            if old is not None and _kept_post(stored, key):
                score = old["score"]
                rest = old["justification"].split(" post ", 1)[-1]
                why = f"comment on {role} post {rest}"
            else:
                score = comment_scores[comment.key]
                if score < COMMENT_MIN:
                    continue
                why = f"comment on {role} post {key[1]}; cosine {score:.2f} to the topic"
            rows.append(_member(topic.id, comment.key, "supporting", "comment", score, why))
    return rows, surface


class _Speller:
    """`words_and_terms` of many texts, each distinct word mapped once: the same words come
    back in every post (a word's pairs do not depend on its neighbours)."""

    LIMIT = 300_000  # distinct words remembered

    def __init__(self, stem: int) -> None:
        self.stem = stem
        # word -> its (word, term) pairs, and the terms of those that `tokens` counts too
        self.memo: dict[str, tuple[tuple[tuple[str, str], ...], tuple[str, ...]]] = {}

    def _word(self, word: str) -> tuple[tuple[tuple[str, str], ...], tuple[str, ...]]:
        pairs = tuple(words_and_terms(word, self.stem))
        # the terms `tokens` gives: it also drops thousands groups ("000")
        hit = pairs, tuple(t for w, t in pairs if not (w[0].isdigit() and t.strip("0.") == ""))
        if len(self.memo) < self.LIMIT:
            self.memo[word] = hit
        return hit

    def __call__(self, text: str) -> list[tuple[str, str]]:
        memo, out = self.memo, []
        for word in words(text):
            hit = memo.get(word) or self._word(word)
            out.extend(hit[0])
        return out

    def with_terms(self, text: str) -> tuple[list[tuple[str, str]], list[str]]:
        """The pairs of `__call__`, and the terms a scorer counts (skeletons are not
        spelled: a member placed by an earlier run is scored without them)."""
        memo, out, terms = self.memo, [], []
        for word in words(text):
            hit = memo.get(word) or self._word(word)
            out.extend(hit[0])
            terms.extend(hit[1])
        return out, terms


def _member(tid: str, key: Key, role: str, kind: str, score: float, why: str) -> Row:
    return {
        "topic_id": tid,
        "chat_id": key[0],
        "message_id": key[1],
        "role": role,
        "kind": kind,
        "score": round(score, 4),
        "justification": why,
    }


class _Columns:
    """The vocabulary columns of each vectorised post's terms (those in the vocabulary, in
    order, repeats kept) in one int array: what scoring needs of a tokenised post, at a
    fraction of the memory of its term list and entity set. `row`: post -> its row."""

    def __init__(self, index: dict[str, int], term_lists: Sequence[list[str]]) -> None:

        self.flat = array("i")  # int32: a vocabulary has far fewer than 2**31 terms
        self.bounds = array("q", [0])
        for terms in term_lists:
            self.flat.extend([index[t] for t in terms if t in index])
            self.bounds.append(len(self.flat))
        self.row: dict[Key, int] = {}

    def get(self, key: Key) -> Any:
        i = self.row.get(key)
        return None if i is None else self.flat[self.bounds[i] : self.bounds[i + 1]]


class _Scorer:
    """Cosines of texts' TF-IDF vectors to topic centroids: sublinear term frequency times the
    vocabulary's idf, no entity boost and no document-frequency cut (the member scores of the
    first version, which scored one text at a time in Python; the same floats up to the
    order of a sum)."""

    def __init__(self, vocab: Any, cents: _Centroids) -> None:
        self.vocab = vocab
        self.cents = cents
        self.idf: dict[int, float] = {}  # column -> idf, as `Vocabulary.idf` computes it
        self.log1 = [0.0, 1.0]  # count -> 1 + log(count)

    def cosines(
        self, term_lists: Sequence[list[str]], owners: Sequence[int], topics: Sequence[_Topic]
    ) -> list[float]:
        """The cosine of each term list to the centroid of topics[owners[i]]."""
        import math

        import numpy as np
        import scipy.sparse as sp

        n = len(term_lists)
        if not n:
            return []
        index = self.vocab.index
        rows, cols = array("q"), array("i")
        for row, terms in enumerate(term_lists):
            # an int array: the columns already (a post vectorised in this run)
            ids = terms if isinstance(terms, array) else [index[t] for t in terms if t in index]
            cols.extend(ids)
            rows.extend([row] * len(ids))
        width = max(len(index), 1)
        counts = sp.csr_matrix(
            (
                np.ones(len(cols), dtype=np.float64),
                (np.frombuffer(rows, dtype=np.int64), np.frombuffer(cols, dtype=np.int32)),
            ),
            shape=(n, width),
        )
        counts.sum_duplicates()
        # idf and 1 + log(tf) with math.log, as the scalar formula: the same floats
        used = np.unique(counts.indices).tolist()
        missing = [c for c in used if c not in self.idf]
        if missing:
            terms = list(index)
            for c in missing:
                self.idf[c] = self.vocab.idf(terms[c])
        idf = np.zeros(width, dtype=np.float64)
        idf[used] = [self.idf[c] for c in used]
        top = int(counts.data.max()) if counts.nnz else 1
        while len(self.log1) <= top:
            self.log1.append(1.0 + math.log(len(self.log1)))
        log1 = np.asarray(self.log1, dtype=np.float64)
        weights = counts.copy()
        weights.data = log1[counts.data.astype(np.int64)] * idf[counts.indices]
        norms = np.sqrt(np.asarray(weights.multiply(weights).sum(axis=1)).ravel())
        norms[norms == 0] = 1.0
        weights.data /= np.repeat(norms, np.diff(weights.indptr))
        # each row against its topic's centroid
        cents = self.cents.matrix(topics, width)
        own = cents[np.asarray(owners, dtype=np.int64)]
        return np.asarray(weights.multiply(own).sum(axis=1)).ravel().tolist()


def _card(
    topic: _Topic,
    rows: list[Row],
    by_key: dict[Key, Post],
    texts: dict[Key, str],
    surface: dict[str, str],
    related: list[str],
    now: datetime,
) -> None:
    row = topic.row
    posts = [r for r in rows if r["kind"] == "post"]
    anchors = [(r["chat_id"], r["message_id"]) for r in posts if r["role"] == "anchor"]
    member_keys = sorted(topic.members)
    member_hash = hashlib.blake2b(
        ",".join(f"{c}:{m}" for c, m in member_keys).encode(), digest_size=12
    ).hexdigest()
    if row["status"] == "active" and not topic.members and row["type"] != "known":
        row["status"] = "retired"
    dates = [by_key[k].date for k in member_keys if k in by_key]
    if member_hash != row["member_hash"]:
        row["model"] = row["prompt_id"] = ""  # an LLM card is for the member set it saw
    if row["type"] != "known" and not row["model"]:
        centroid = topic.centroid
        words = [  # the topic's top terms, as its posts spell them
            surface[t]
            for t in sorted(centroid, key=centroid.__getitem__, reverse=True)
            if t in surface
        ]
        keywords = list(dict.fromkeys(w.lower() for w in words if w))[:8]
        lead = _lead(texts.get(anchors[0], ""), 100) if anchors else ""
        row["title"] = lead or ", ".join(keywords[:3])
        leads = list(dict.fromkeys(_lead(texts.get(k, ""), 200) for k in anchors))
        row["summary"] = " ".join(x for x in leads if x)[:600]
        row["keywords"] = keywords
        row["tags"] = keywords[:3]
        row["scope_in"] = keywords[:5]
    if row["type"] != "known":
        row["type"] = "cluster" if len(member_keys) >= 2 else "singleton"
    row["related_topics"] = related
    row["anchors"] = [{"chat_id": c, "message_id": m} for c, m in anchors]
    row["size"] = len(member_keys)
    row["first_date"] = _time(min(dates)) if dates else None
    row["last_date"] = _time(max(dates)) if dates else None
    row["centroid"] = topic.centroid
    if member_hash != row["member_hash"]:
        row["updated_at"] = now
    row["member_hash"] = member_hash
    row["builder_version"] = BUILDER_VERSION
