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

import heapq
import itertools
from collections.abc import Callable, Sequence
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
    entity_boost: float = 1.0
    max_df_share: float = 0.02
    max_df_floor: int = 200
    k: int = 6
    edge_min: float = 0.06
    link_min: float = 0.1
    assign_min: float = 0.25
    merge_min: float = 0.5
    refine_passes: int = 2
    chunk: int = 2000

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def cluster_texts(texts: Sequence[str], params: Params | None = None) -> list[int]:
    """Cluster plain texts; returns one label per text (labels are arbitrary ints)."""
    params = params or Params()
    docs = tokenise(texts, params.stem)
    vocab = Vocabulary()
    vocab.add(d.terms for d in docs)
    matrix = vectorise(
        docs,
        vocab,
        entity_boost=params.entity_boost,
        max_df_share=params.max_df_share,
        max_df_floor=params.max_df_floor,
    )
    return cluster_matrix(matrix, params)


def cluster_matrix(matrix: Any, params: Params, progress: Progress | None = None) -> list[int]:
    """Labels for the rows of an L2-normalised CSR matrix."""
    n = matrix.shape[0]
    if n == 0:
        return []
    left, right, sims = knn_edges(matrix, params.k, params.edge_min, params.chunk, progress)
    labels = average_linkage(n, left, right, sims, params.link_min)
    labels = merge_close(matrix, labels, params.merge_min)
    for _ in range(params.refine_passes):
        labels, moved = refine(matrix, labels, params.assign_min, params.chunk)
        if not moved:
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
            # top k per row: sort by (row, -sim), then take the first k of each row
            order = np.lexsort((-data, rows))
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
    """Greedy average linkage over a sparse similarity graph; missing pairs count as 0."""
    size = [1] * n
    adj: list[dict[int, float] | None] = [{} for _ in range(n)]
    for a, b, s in zip(left.tolist(), right.tolist(), sims.tolist(), strict=True):
        adj[a][b] = s  # type: ignore[index]
        adj[b][a] = s  # type: ignore[index]
    heap = [
        (-s, a, b) for a, b, s in zip(left.tolist(), right.tolist(), sims.tolist(), strict=True)
    ]
    heap = [h for h in heap if -h[0] >= link_min]
    heapq.heapify(heap)
    parent = list(range(n))
    live = len(heap)  # pairs ≥ link_min between live clusters, give or take (a bound)
    while heap:
        if len(heap) > 2 * live + 100_000:
            # compact: every push leaves the pair's older entries stale; rebuilt from the
            # current values the heap holds exactly the live entries, in the same order
            heap = _live_pairs(adj, size, link_min)
            heapq.heapify(heap)
            live = len(heap)
            if not heap:
                break
        neg, a, b = heapq.heappop(heap)
        adj_a, adj_b = adj[a], adj[b]
        if adj_a is None or adj_b is None or b not in adj_a:
            continue
        current = adj_a[b] / (size[a] * size[b])
        if abs(current + neg) > 1e-9:
            continue  # stale: the pair's clusters changed since this entry was pushed
        if len(adj_a) < len(adj_b):
            a, b, adj_a, adj_b = b, a, adj_b, adj_a
        # merge b into a
        del adj_a[b]
        for c, s in adj_b.items():
            if c == a:
                continue
            adj_a[c] = adj_a.get(c, 0.0) + s
            adj_c = adj[c]
            del adj_c[b]  # type: ignore[union-attr]
            adj_c[a] = adj_a[c]  # type: ignore[index]
        adj[b] = None
        parent[b] = a
        size[a] += size[b]
        for c, s in adj_a.items():
            avg = s / (size[a] * size[c])
            if avg >= link_min:
                heapq.heappush(heap, (-avg, min(a, c), max(a, c)))
    del heap, adj
    labels = []
    for i in range(n):
        root = i
        while parent[root] != root:
            root = parent[root]
        parent[i] = root
        labels.append(root)
    return labels


def _live_pairs(
    adj: list[dict[int, float] | None], size: list[int], link_min: float
) -> list[tuple[float, int, int]]:
    """Heap entries (-average, a, b), a < b, of every live cluster pair ≥ link_min."""
    out = []
    for a, adj_a in enumerate(adj):
        if adj_a is None:
            continue
        size_a = size[a]
        for c, s in adj_a.items():
            if c > a:
                avg = s / (size_a * size[c])
                if avg >= link_min:
                    out.append((-avg, a, c))
    return out


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
    # in blocks of rows, filtered as they come: the whole product of tens of thousands of
    # centroids that share common terms is most of the build's peak memory
    transposed = cents.T.tocsr()
    found_rows, found_cols, found_data = [], [], []
    for start in range(0, len(ids), MERGE_BLOCK):
        block = (cents[start : start + MERGE_BLOCK] @ transposed).tocoo()
        rows = block.row + start
        keep = (rows < block.col) & (block.data >= merge_min)
        found_rows.append(rows[keep])
        found_cols.append(block.col[keep])
        found_data.append(block.data[keep])
        del block
    data = np.concatenate(found_data)
    if not len(data):
        return labels
    parent = {i: i for i in ids}

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    order = np.argsort(-data)
    rows, cols = np.concatenate(found_rows)[order], np.concatenate(found_cols)[order]
    for a, b in zip(rows.tolist(), cols.tolist(), strict=True):
        ra, rb = find(ids[a]), find(ids[b])
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return [find(label) for label in labels]


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
    block.sort_indices()
    counts = np.diff(block.indptr)
    has = counts > 0
    data = block.data.astype(np.float64)
    starts = block.indptr[:-1][has]
    first[has] = np.maximum.reduceat(data, starts)
    rows = np.repeat(np.arange(n), counts)
    at_max = np.flatnonzero(data == first[rows])
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
