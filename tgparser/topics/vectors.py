"""TF-IDF vectors of texts (numpy + scipy.sparse; imported only by `topics`).

Sublinear term frequency (1 + log tf), smoothed idf, entity-ish terms (names, numbers)
weighted up, rows L2-normalised so that a dot product is a cosine. The document frequencies
are plain `{term: count}` so that a topic space can store them and a daily run can vectorise
new documents the same way without re-reading the old ones.
"""

from __future__ import annotations

import math
from array import array
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tgparser.topics.text import tokens

# a skeleton term ("~sntr", see `text.skeleton`) counts this much of a word: it is what lets a
# name meet its spelling in another script, but it is coarser than the word
SKELETON_WEIGHT = 0.75


@dataclass
class Vocabulary:
    """Document frequencies and the term index; `n_docs` documents were counted."""

    doc_freq: dict[str, int] = field(default_factory=dict)
    n_docs: int = 0
    index: dict[str, int] = field(default_factory=dict)

    def add(self, docs: Iterable[Sequence[str]]) -> None:
        # counted at C level (Counter.update); a document's distinct terms in the order they
        # first appear (not a set's, which hashing reorders from one process to the next), so
        # the term index — the matrix columns — is the same in every run
        counts: Counter[str] = Counter()
        for terms in docs:
            self.n_docs += 1
            counts.update(list(dict.fromkeys(terms)))
        doc_freq, index = self.doc_freq, self.index
        for term, count in counts.items():
            doc_freq[term] = doc_freq.get(term, 0) + count
            if term not in index:
                index[term] = len(index)

    def idf(self, term: str) -> float:
        idf = math.log((self.n_docs + 1) / (self.doc_freq.get(term, 0) + 1)) + 1.0
        return idf * SKELETON_WEIGHT if term[:1] == "~" else idf


@dataclass(frozen=True)
class Tokenised:
    terms: list[str]
    entities: set[str]


def tokenise(texts: Iterable[str], stem: int = 6) -> list[Tokenised]:
    return [Tokenised(*tokens(t, stem)) for t in texts]


def vectorise(
    docs: Sequence[Tokenised],
    vocab: Vocabulary,
    *,
    entity_boost: float = 1.5,
    min_df: int = 1,
    max_df_share: float = 0.02,
    max_df_floor: int = 200,
    max_df_cap: int = 500,
) -> Any:
    """CSR matrix (len(docs) × len(vocab.index)), rows L2-normalised (empty rows stay 0).

    Terms seen in fewer than `min_df` documents, or in more than max(`max_df_floor`,
    `max_df_share` of them) capped at `max_df_cap` — too common to tell stories apart, and
    the long posting lists that would make the neighbour search quadratic — are left out;
    unknown terms are ignored.
    """
    import numpy as np
    import scipy.sparse as sp

    n = max(vocab.n_docs, 1)
    # a share of the posts, but never more than the cap: the neighbour search costs Σ df²
    max_df = min(max(max_df_floor, int(max_df_share * n)), max_df_cap)
    index = vocab.index
    # machine-int arrays, not lists: 100k posts make millions of entries, and a list of
    # Python ints costs ~36 bytes an entry where these cost 8
    rows = array("q")
    cols = array("q")
    ent_rows = array("q")
    ent_cols = array("q")
    for row, doc in enumerate(docs):
        ids = [index[t] for t in doc.terms if t in index]
        cols.extend(ids)
        rows.extend([row] * len(ids))
        if doc.entities and entity_boost != 1.0:
            eids = [index[t] for t in doc.entities if t in index]
            ent_cols.extend(eids)
            ent_rows.extend([row] * len(eids))
    shape = (len(docs), max(len(index), 1))
    counts = sp.csr_matrix(
        (
            np.ones(len(cols), dtype=np.float32),
            (np.frombuffer(rows, dtype=np.int64), np.frombuffer(cols, dtype=np.int64)),
        ),
        shape=shape,
    )
    del rows, cols
    counts.sum_duplicates()
    # per-term weights: idf, or 0 for a term too rare or too common to count
    df = np.zeros(shape[1], dtype=np.float64)
    scale = np.ones(shape[1], dtype=np.float64)
    for term, col in index.items():
        df[col] = vocab.doc_freq.get(term, 0)
        if term[:1] == "~":
            scale[col] = SKELETON_WEIGHT
    idf = (np.log((vocab.n_docs + 1) / (df + 1)) + 1.0) * scale
    idf[(df < min_df) | (df > max_df)] = 0.0
    counts.data = (1.0 + np.log(counts.data)) * idf[counts.indices].astype(np.float32)
    if ent_cols:
        boost = sp.csr_matrix(
            (
                np.full(len(ent_cols), entity_boost - 1.0, dtype=np.float32),
                (np.frombuffer(ent_rows, dtype=np.int64), np.frombuffer(ent_cols, dtype=np.int64)),
            ),
            shape=shape,
        )
        counts = counts + counts.multiply(boost)
    counts.eliminate_zeros()
    norms = np.sqrt(np.asarray(counts.multiply(counts).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    matrix = (sp.diags((1.0 / norms).astype(np.float32)) @ counts).tocsr()
    return matrix.astype(np.float32)
