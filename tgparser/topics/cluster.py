"""The clustering core: texts in, one label per text out, without being told how many topics.

1. TF-IDF vectors (`vectors`), rows L2-normalised.
2. A sparse k-nearest-neighbour graph: for each document its `k` most similar documents with
   cosine ≥ `edge_min`, from a chunked sparse product X·Xᵀ (never the dense n×n matrix).
3. Average linkage over that graph: repeatedly merge the two clusters with the highest mean
   similarity over all their cross pairs (pairs outside the graph count as 0), while it is
   ≥ `link_min`. Average linkage does not chain the way single linkage does, and counting
   missing pairs as 0 makes a big cluster hard to join by one lucky neighbour.
4. Centroid refinement: each document moves to the cluster whose centroid it is closest to
   when that is ≥ `assign_min` — which repairs the order effects of greedy merging and lets a
   lone post join the story it belongs to.

`cluster_texts` is the whole pipeline over plain strings; `tests/bench/bench_topics.py`
scores it on (text, label) pairs.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from tgparser.topics.vectors import Vocabulary, tokenise, vectorise

Progress = Callable[[str, int, int], None]
CENTROID_TERMS = 50  # terms of a centroid the refinement compares with (cost, not quality)
MAX_BLOCK_PAIRS = 3_000_000  # candidate pairs per block of the neighbour search (memory)
MERGE_BLOCK = 1000  # centroid rows per block of the centroid similarities (memory)


@dataclass(frozen=True)
class Params:
    """The knobs, with the values the benchmark chose (see docs/topics.md)."""

    stem: int = 5
    entity_boost: float = 1.2
    max_df_share: float = 0.02
    max_df_floor: int = 200
    k: int = 10
    edge_min: float = 0.06
    link_min: float = 0.1
    # build.py: an open post joins an existing topic at ≥ assign_min; topics whose centroids
    # come within merge_min are merged (daily runs; conservative on purpose)
    assign_min: float = 0.25
    merge_min: float = 0.5
    # the clustering core (cluster_matrix): clusters that are each other's closest by centroid
    # cosine ≥ join_min are joined; a post moves to the closest centroid ≥ refine_min
    join_min: float = 0.2
    refine_min: float = 0.12
    join_rounds: int = 20  # rounds of mutual-closest joins (until none) per round below
    refine_passes: int = 1
    rounds: int = 2  # rounds of (centroid joins, refinement)
    chunk: int = 2000

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def cluster_texts(texts: Sequence[str], params: Params | None = None) -> list[int]:
    """Cluster plain texts; returns one label per text (labels are arbitrary ints)."""
    params = params or Params()
    return cluster_matrix(texts_matrix(tokenise(texts, params.stem), params), params)


def texts_matrix(docs: Sequence[Any], params: Params, vocab: Vocabulary | None = None) -> Any:
    """The TF-IDF rows of tokenised texts, weighted by `vocab` (a topic space's document
    frequencies), or by a vocabulary of these texts alone."""
    if vocab is None:
        vocab = Vocabulary()
        vocab.add(d.terms for d in docs)
    return vectorise(
        docs,
        vocab,
        entity_boost=params.entity_boost,
        max_df_share=params.max_df_share,
        max_df_floor=params.max_df_floor,
    )


def cluster_matrix(matrix: Any, params: Params, progress: Progress | None = None) -> list[int]:
    """Labels for the rows of an L2-normalised CSR matrix."""
    n = matrix.shape[0]
    if n == 0:
        return []
    left, right, sims = knn_edges(matrix, params.k, params.edge_min, params.chunk, progress)
    labels = average_linkage(n, left, right, sims, params.link_min)
    for _ in range(params.rounds):
        labels, merged = join_mutual(matrix, labels, params.join_min, params.join_rounds)
        moved = 0
        for _ in range(params.refine_passes):
            labels, moved = refine(matrix, labels, params.refine_min, params.chunk)
            if not moved:
                break
        if not merged and not moved:
            break
    return labels


def knn_edges(
    matrix: Any, k: int, edge_min: float, chunk: int, progress: Progress | None = None
) -> tuple[Any, Any, Any]:
    """Undirected edges (i < j) of the k-nearest-neighbour graph with cosine ≥ edge_min."""
    import numpy as np

    n = matrix.shape[0]
    transposed = matrix.T.tocsr()
    lefts: list[Any] = []
    rights: list[Any] = []
    values: list[Any] = []
    # Rows per block: at most `chunk`, and fewer where the rows' terms are common, so a block's
    # product (row i has up to Σ df(t) candidates) stays near MAX_BLOCK_PAIRS entries.
    df = np.diff(transposed.indptr).astype(np.int64)
    cost = np.zeros(n, dtype=np.int64)
    np.add.at(cost, np.repeat(np.arange(n), np.diff(matrix.indptr)), df[matrix.indices])
    bounds = [0]
    total = 0
    for row, c in enumerate(cost.tolist()):
        if row > bounds[-1] and (row - bounds[-1] >= chunk or total + c > MAX_BLOCK_PAIRS):
            bounds.append(row)
            total = 0
        total += c
    bounds.append(n)
    for start, stop in itertools.pairwise(bounds):
        block = (matrix[start:stop] @ transposed).tocsr()
        rows = np.repeat(np.arange(stop - start), np.diff(block.indptr))
        keep = (block.data >= edge_min) & (rows + start != block.indices)
        rows, cols, data = rows[keep], block.indices[keep], block.data[keep]
        del block
        if len(data):
            # top k per row: sort by (row, -sim), then take the first k of each row. One
            # stable sort of row + (1 - sim) / 2 (exact in float64: rows < 2^20, sims are
            # float32) is the same order as a lexsort, in half the time
            key = rows + (1.0 - data.astype(np.float64)) * 0.5
            order = np.argsort(key, kind="stable")
            del key
            rows, cols, data = rows[order], cols[order], data[order]
            first = np.searchsorted(rows, rows, side="left")
            rank = np.arange(len(rows)) - first
            top = rank < k
            lefts.append(rows[top] + start)
            rights.append(cols[top])
            values.append(data[top])
        if progress:
            progress("neighbours", stop, n)
    if not lefts:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0, dtype=np.float32)
    left = np.concatenate(lefts).astype(np.int64)
    right = np.concatenate(rights).astype(np.int64)
    value = np.concatenate(values)
    lo, hi = np.minimum(left, right), np.maximum(left, right)
    _, first = np.unique(lo * n + hi, return_index=True)  # an edge found from both ends: once
    return lo[first], hi[first], value[first]


def average_linkage(n: int, left: Any, right: Any, sims: Any, link_min: float) -> list[int]:
    """Average linkage over a sparse similarity graph, cut at `link_min`; missing pairs count
    as 0. Returns a cluster label (a member's index) per document.

    Average linkage is *reducible*: merging two clusters never makes the merged cluster more
    similar to a third than the closer of the two was. So merging every pair of clusters that
    are each other's nearest neighbour (≥ link_min) in one round, and repeating, gives the same
    clusters at the cut as merging the single best pair at a time (the greedy heap) — but each
    round is a handful of sparse-matrix operations instead of a Python loop per merge. A
    cluster left with no neighbour ≥ link_min can never get one (a merged cluster's average is
    a weighted mean of its parts'), so it leaves the rounds for good.
    """
    import numpy as np
    import scipy.sparse as sp

    final = np.arange(n, dtype=np.int64)  # the representative (smallest member) of a cluster
    if n == 0 or not len(sims):
        return final.tolist()
    both = sp.coo_matrix(
        (
            np.concatenate([sims, sims]).astype(np.float64),
            (np.concatenate([left, right]), np.concatenate([right, left])),
        ),
        shape=(n, n),
    ).tocsr()
    both.sum_duplicates()
    size = np.ones(n, dtype=np.float64)
    active = np.arange(n, dtype=np.int64)  # representative of each row of `both`
    doc_row = np.arange(n, dtype=np.int64)  # row of each document's cluster, -1 once final
    while both.nnz:
        m = both.shape[0]
        rows = np.repeat(np.arange(m), np.diff(both.indptr))
        cols = both.indices
        avg = both.data / (size[rows] * size[cols])
        strong = avg >= link_min
        if not strong.any():
            break
        # each row's nearest cluster (ties: the smaller column), among pairs ≥ link_min
        s_rows, s_cols, s_avg = rows[strong], cols[strong], avg[strong]
        order = np.lexsort((s_cols, -s_avg, s_rows))
        s_rows, s_cols = s_rows[order], s_cols[order]
        firsts = np.flatnonzero(np.r_[True, s_rows[1:] != s_rows[:-1]])
        best = np.full(m, -1, dtype=np.int64)
        best[s_rows[firsts]] = s_cols[firsts]
        has = best >= 0
        mutual = np.flatnonzero(has & (best[np.where(has, best, 0)] == np.arange(m)))
        low = mutual[mutual < best[mutual]]
        # merge each mutual pair into its lower row; rows with no strong pair are done unless
        # they are part of a merge now
        target = np.arange(m)
        target[best[low]] = low
        touched = np.zeros(m, dtype=bool)
        touched[s_rows] = True  # rows with some pair ≥ link_min stay in play
        keep_rows = np.flatnonzero(touched & (target == np.arange(m)))
        new_index = np.full(m, -1, dtype=np.int64)
        new_index[keep_rows] = np.arange(len(keep_rows))
        row_target = new_index[target]  # -1: the cluster is final
        merged_into = best[low]
        for_rep = active.copy()
        for_rep[merged_into] = np.minimum(active[low], active[merged_into])
        for_rep[low] = for_rep[merged_into]
        # documents: follow their row; record finals
        on = doc_row >= 0
        rows_of_docs = doc_row[on]
        final_docs = np.flatnonzero(on)
        reps = for_rep[rows_of_docs]
        final[final_docs] = reps
        doc_row[final_docs] = row_target[rows_of_docs]
        keep_m = len(keep_rows)
        if keep_m == 0:
            break
        live = row_target >= 0
        assign = sp.csr_matrix(
            (np.ones(int(live.sum())), (row_target[live], np.flatnonzero(live))),
            shape=(keep_m, m),
        )
        both = (assign @ both @ assign.T).tocsr()
        both.setdiag(0)
        both.eliminate_zeros()
        size = assign @ size
        active = np.full(keep_m, n, dtype=np.int64)
        np.minimum.at(active, row_target[live], for_rep[live])
    return final.tolist()


def centroids(matrix: Any, labels: Sequence[int]) -> tuple[Any, list[int]]:
    """(L2-normalised centroid matrix, cluster label of each centroid row)."""
    import numpy as np
    import scipy.sparse as sp

    ids = sorted(set(labels))
    position = {label: i for i, label in enumerate(ids)}
    rows = np.asarray([position[label] for label in labels])
    member = sp.csr_matrix(
        (np.ones(len(labels), dtype=np.float32), (rows, np.arange(len(labels)))),
        shape=(len(ids), len(labels)),
    )
    summed = (member @ matrix).tocsr()
    norms = np.sqrt(np.asarray(summed.multiply(summed).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    return sp.diags(1.0 / norms).astype(np.float32) @ summed, ids


def refine(matrix: Any, labels: list[int], assign_min: float, chunk: int) -> tuple[list[int], int]:
    """Move each document to its nearest cluster centroid (≥ assign_min). Returns (labels,
    number moved). Clusters of one only receive, they do not attract: a centroid of one post
    is that post, and pulling neighbours to it would re-do the linkage without its guard."""
    import numpy as np

    counts: dict[int, int] = {}
    for label in labels:
        counts[label] = counts.get(label, 0) + 1
    cents, ids = centroids(matrix, labels)
    multi = np.asarray([counts[i] > 1 for i in ids])
    if not multi.any():
        return labels, 0
    cents = _top_terms(cents[np.flatnonzero(multi)].tocsr(), CENTROID_TERMS)
    ids = [i for i, m in zip(ids, multi, strict=True) if m]
    transposed = cents.T.tocsr()
    new = list(labels)
    moved = 0
    for start in range(0, matrix.shape[0], chunk):
        stop = min(matrix.shape[0], start + chunk)
        best, best_sim, _ = top_two((matrix[start:stop] @ transposed).tocsr())
        for offset in np.flatnonzero(best_sim >= assign_min).tolist():
            target = ids[best[offset]]
            if target != new[start + offset]:
                new[start + offset] = target
                moved += 1
    return new, moved


def merge_close(matrix: Any, labels: list[int], merge_min: float) -> list[int]:
    """Join clusters whose centroids have cosine ≥ merge_min.

    Over a k-neighbour graph, average linkage stops a big story growing once it has far more
    than k members (most of its pairs are missing from the graph and count as 0); its parts
    still have nearly the same centroid, and this joins them.
    """
    import numpy as np

    cents, ids = centroids(matrix, labels)
    if len(ids) < 2:
        return labels
    rows, cols, data = _close_pairs(cents, merge_min)
    if not len(data):
        return labels
    parent = {i: i for i in ids}

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    order = np.argsort(-data)
    rows, cols = rows[order], cols[order]
    for a, b in zip(rows.tolist(), cols.tolist(), strict=True):
        ra, rb = find(ids[a]), find(ids[b])
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return [find(label) for label in labels]


def _blocked_products(
    cents: Any, transposed: Any, rows: Any = None
) -> Iterator[tuple[Any, Any, Any]]:
    """(row, col, cosine) arrays of `cents[rows] @ transposed` (all rows when None), a block
    of MERGE_BLOCK rows at a time: the whole product is never held at once."""
    count = cents.shape[0] if rows is None else len(rows)
    for start in range(0, count, MERGE_BLOCK):
        if rows is None:
            block = (cents[start : start + MERGE_BLOCK] @ transposed).tocoo()
            yield block.row + start, block.col, block.data
        else:
            chosen = rows[start : start + MERGE_BLOCK]
            block = (cents[chosen] @ transposed).tocoo()
            yield chosen[block.row], block.col, block.data


def _close_pairs(cents: Any, merge_min: float) -> tuple[Any, Any, Any]:
    """(row, col, cosine) of the centroid pairs row < col with cosine ≥ merge_min."""
    import numpy as np

    # in blocks of rows, filtered as they come: the whole product of tens of thousands of
    # centroids that share common terms is most of the build's peak memory
    transposed = cents.T.tocsr()
    found_rows, found_cols, found_data = [], [], []
    for rows, cols, data in _blocked_products(cents, transposed):
        keep = (rows < cols) & (data >= merge_min)
        found_rows.append(rows[keep])
        found_cols.append(cols[keep])
        found_data.append(data[keep])
    if not found_data:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0)
    return np.concatenate(found_rows), np.concatenate(found_cols), np.concatenate(found_data)


def merge_mutual(matrix: Any, labels: list[int], merge_min: float) -> tuple[list[int], int]:
    """Join the pairs of clusters that are each other's closest by centroid cosine (≥
    merge_min); returns (labels, number of pairs joined). Repeated, this is centroid linkage
    by rounds: unlike joining every pair ≥ merge_min at once (connected components), a cluster
    joins one partner per round and the centroids are recomputed in between, so a chain of
    look-alike stories does not collapse into one through its middle links."""
    import numpy as np
    import scipy.sparse as sp

    cents, ids = centroids(matrix, labels)
    if len(ids) < 2:
        return labels, 0
    # the centroids' top terms only, renormalised: the long tails of big clusters' centroids
    # are common words that cost most of the product and decide nothing
    cents = _top_terms(cents.tocsr(), CENTROID_TERMS)
    norms = np.sqrt(np.asarray(cents.multiply(cents).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    cents = (sp.diags((1.0 / norms).astype(np.float32)) @ cents).tocsr()
    rows, cols, data = _close_pairs(cents, merge_min)
    if not len(data):
        return labels, 0
    a = np.concatenate([rows, cols])
    b = np.concatenate([cols, rows])
    sims = np.concatenate([data, data])
    order = np.lexsort((b, -sims, a))  # per cluster: the closest first, ties to the lower
    a, b = a[order], b[order]
    firsts = np.flatnonzero(np.r_[True, a[1:] != a[:-1]])
    best = np.full(len(ids), -1, dtype=np.int64)
    best[a[firsts]] = b[firsts]
    has = best >= 0
    mutual = np.flatnonzero(has & (best[np.where(has, best, 0)] == np.arange(len(ids))))
    low = mutual[mutual < best[mutual]]
    if not len(low):
        return labels, 0
    sorted_ids = np.asarray(ids, dtype=np.int64)  # `centroids` returns them sorted
    new_ids = sorted_ids.copy()
    joined = np.minimum(sorted_ids[low], sorted_ids[best[low]])
    new_ids[low] = joined
    new_ids[best[low]] = joined
    position = np.searchsorted(sorted_ids, np.asarray(labels, dtype=np.int64))
    return new_ids[position].tolist(), len(low)


def _unit_top(sums: Any) -> Any:
    """Rows cut to their CENTROID_TERMS largest entries, L2-normalised (float32 CSR)."""
    import numpy as np
    import scipy.sparse as sp

    rows = _top_terms(sums.tocsr().astype(np.float32), CENTROID_TERMS)
    norms = np.sqrt(np.asarray(rows.multiply(rows).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    return (sp.diags((1.0 / norms).astype(np.float32)) @ rows).tocsr()


def _best_partners(cents: Any, rows: Any, join_min: float) -> tuple[Any, Any, Any, Any]:
    """For the given rows of `cents`: (row, col, cosine) of their pairs ≥ join_min with
    another row (blocked products), as flat arrays, plus nothing else."""
    import numpy as np

    transposed = cents.T.tocsr()
    out_r, out_c, out_v = [], [], []
    for r, cols, data in _blocked_products(cents, transposed, rows):
        keep = (data >= join_min) & (r != cols)
        out_r.append(r[keep])
        out_c.append(cols[keep])
        out_v.append(data[keep])
    if not out_r:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0, dtype=np.float32), transposed
    return np.concatenate(out_r), np.concatenate(out_c), np.concatenate(out_v), transposed


def join_mutual(
    matrix: Any, labels: list[int], join_min: float, max_rounds: int
) -> tuple[list[int], int]:
    """`merge_mutual` repeated until no pair is left (at most max_rounds), incrementally: after
    a round only the joined clusters' centroids change, so only their similarities — and
    those of the clusters whose closest partner was one of them — are computed again. Returns
    (labels, pairs joined)."""
    import numpy as np
    import scipy.sparse as sp

    ids = sorted(set(labels))
    m = len(ids)
    if m < 2:
        return labels, 0
    position = np.searchsorted(np.asarray(ids, dtype=np.int64), np.asarray(labels))
    member = sp.csr_matrix(
        (np.ones(len(labels), dtype=np.float32), (position, np.arange(len(labels)))),
        shape=(m, len(labels)),
    )
    sums = (member @ matrix).tocsr()  # unnormalised centroids
    cents = _unit_top(sums)
    alive = np.ones(m, dtype=bool)
    best = np.full(m, -1, dtype=np.int64)
    best_sim = np.zeros(m, dtype=np.float64)
    target = np.arange(m)  # the row each cluster went into

    def closest(r: Any, c: Any, v: Any, reset: Any) -> None:
        # rows in `reset` get their closest partner from scratch; every pair may also beat
        # the current closest of its column (the pairs are symmetric)
        best[reset] = -1
        best_sim[reset] = 0.0
        both_r, both_c = np.concatenate([r, c]), np.concatenate([c, r])
        both_v = np.concatenate([v, v]).astype(np.float64)
        if not len(both_v):
            return
        order = np.lexsort((both_c, -both_v, both_r))
        both_r, both_c, both_v = both_r[order], both_c[order], both_v[order]
        firsts = np.flatnonzero(np.r_[True, both_r[1:] != both_r[:-1]])
        rr, cc, vv = both_r[firsts], both_c[firsts], both_v[firsts]
        better = (best[rr] < 0) | (vv > best_sim[rr]) | ((vv == best_sim[rr]) & (cc < best[rr]))
        best[rr[better]] = cc[better]
        best_sim[rr[better]] = vv[better]

    r, c, v, _ = _best_partners(cents, np.arange(m), join_min)
    closest(r, c, v, np.arange(m))
    total = 0
    for _ in range(max_rounds):
        has = best >= 0
        mutual = np.flatnonzero(has & (best[np.where(has, best, 0)] == np.arange(m)))
        low = mutual[mutual < best[mutual]]
        if not len(low):
            break
        high = best[low]
        total += len(low)
        target[high] = low
        alive[high] = False
        # sums: row low += row high; row high emptied
        fold = np.arange(m)
        fold[high] = low
        sums = (
            sp.csr_matrix((np.ones(m, dtype=np.float32), (fold, np.arange(m))), shape=(m, m)) @ sums
        )
        keep = alive.copy()
        keep[low] = False
        fresh = _unit_top(sums[low])
        place = sp.csr_matrix(
            (np.ones(len(low), dtype=np.float32), (low, np.arange(len(low)))), shape=(m, len(low))
        )
        cents = (sp.diags(keep.astype(np.float32)) @ cents + place @ fresh).tocsr()
        cents.eliminate_zeros()
        # who must look again: the joined, and those whose closest was joined
        gone = np.zeros(m, dtype=bool)
        gone[low] = True
        gone[high] = True
        stale = np.flatnonzero(alive & (gone | ((best >= 0) & gone[np.maximum(best, 0)])))
        best[high] = -1
        best_sim[high] = 0.0
        r, c, v, _ = _best_partners(cents, stale, join_min)
        ok = alive[c]
        closest(r[ok], c[ok], v[ok], stale)
    if not total:
        return labels, 0
    # follow each cluster to the row it ended in
    while True:
        nxt = target[target]
        if np.array_equal(nxt, target):
            break
        target = nxt
    rep = np.asarray(ids, dtype=np.int64)[target]
    return rep[position].tolist(), total


def top_two(block: Any) -> tuple[Any, Any, Any]:
    """Per row of a sparse CSR matrix: (column of the largest value, that value, the second
    largest value); 0 where a row has fewer entries; ties go to the smaller column. O(nnz),
    never densifies the matrix."""
    import numpy as np

    n = block.shape[0]
    best = np.zeros(n, dtype=np.int64)
    first = np.zeros(n, dtype=np.float64)
    second = np.zeros(n, dtype=np.float64)
    if block.nnz == 0:
        return best, first, second
    counts = np.diff(block.indptr)
    has = counts > 0
    data = block.data.astype(np.float64)
    starts = block.indptr[:-1][has]
    first[has] = np.maximum.reduceat(data, starts)
    rows = np.repeat(np.arange(n), counts)
    at_max = np.flatnonzero(data == first[rows])
    # ties go to the smaller column; the row's entries need not be sorted for that (sorting
    # every row's indices cost more than the rest of this function)
    at_max = at_max[np.lexsort((block.indices[at_max], rows[at_max]))]
    taken_rows, position = np.unique(rows[at_max], return_index=True)
    chosen = at_max[position]
    best[taken_rows] = block.indices[chosen]
    data[chosen] = -np.inf
    two = counts > 1
    if two.any():
        runner = np.maximum.reduceat(data, starts)
        second[has] = np.where(np.isfinite(runner), runner, 0.0)
    return best, first, second


def _top_terms(rows: Any, keep: int) -> Any:
    """Each row of a CSR matrix cut to its `keep` largest entries (not renormalised: the
    refinement compares a post with every centroid the same way)."""
    import numpy as np

    counts = np.diff(rows.indptr)
    if counts.max(initial=0) <= keep:
        return rows
    mask = np.zeros(rows.nnz, dtype=bool)
    for r in np.flatnonzero(counts).tolist():
        start, stop = rows.indptr[r], rows.indptr[r + 1]
        if stop - start <= keep:
            mask[start:stop] = True
        else:
            top = np.argpartition(-rows.data[start:stop], keep)[:keep]
            mask[start + top] = True
    rows = rows.copy()
    rows.data[~mask] = 0
    rows.eliminate_zeros()
    return rows
