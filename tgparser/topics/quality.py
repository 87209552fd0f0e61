"""How well labels match a reference: pairwise precision/recall/F1 and NMI (pure Python)."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Sequence


def _pairs(counts: Counter[Hashable]) -> int:
    return sum(c * (c - 1) // 2 for c in counts.values())


def pairwise(predicted: Sequence[Hashable], truth: Sequence[Hashable]) -> dict[str, float]:
    """Precision/recall/F1 over pairs of items put in the same cluster."""
    both = _pairs(Counter(zip(predicted, truth, strict=True)))
    pred = _pairs(Counter(predicted))
    true = _pairs(Counter(truth))
    precision = both / pred if pred else 1.0
    recall = both / true if true else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def nmi(predicted: Sequence[Hashable], truth: Sequence[Hashable]) -> float:
    """Normalised mutual information (arithmetic mean of the entropies)."""
    n = len(truth)
    if n == 0:
        return 1.0
    joint = Counter(zip(predicted, truth, strict=True))
    pc, tc = Counter(predicted), Counter(truth)
    mi = sum(c / n * math.log(c * n / (pc[p] * tc[t])) for (p, t), c in joint.items())
    hp = -sum(c / n * math.log(c / n) for c in pc.values())
    ht = -sum(c / n * math.log(c / n) for c in tc.values())
    if hp + ht == 0:
        return 1.0
    return 2 * mi / (hp + ht)


def score(predicted: Sequence[Hashable], truth: Sequence[Hashable]) -> dict[str, float]:
    out = pairwise(predicted, truth)
    out["nmi"] = nmi(predicted, truth)
    counts = Counter(predicted)
    out["clusters"] = len(counts)
    out["singleton_share"] = sum(1 for c in counts.values() if c == 1) / max(len(predicted), 1)
    return out
