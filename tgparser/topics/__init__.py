"""Topics: a channel's posts grouped into stable, explained topics (`tgparser topics`).

- `text` — tokens: words, stop words (en/ru/uk), Cyrillic→Latin transliteration, prefix stems.
- `vectors` — TF-IDF vectors over those tokens (numpy + scipy.sparse).
- `cluster` — the clustering core: average linkage over a sparse k-nearest-neighbour graph,
  then centroid refinement. Pure functions over plain texts: `cluster_texts(texts)`.
- `quality` — pairwise precision/recall/F1 and NMI against labels (for the benchmark).
- `build` — the service: documents in, topics and their members out, incrementally, with ids
  that never change.

The numerical libraries are imported only here (never by `tgparser --help`); a missing one is
one clear error (`require_numeric`).
"""

from __future__ import annotations

from tgparser import extras
from tgparser.errors import TgparserError


class MissingTopicsDependency(TgparserError):
    """numpy/scipy are an optional extra: topics needs them, the archive does not."""


def require_numeric(*, load: bool = True) -> None:
    """Raise one clear line when numpy or scipy is not installed. `load=False` only looks
    for them (no import: `topics build` imports them in a thread while it reads)."""
    if not load:
        from importlib.util import find_spec

        for name in ("numpy", "scipy"):
            if find_spec(name) is None:
                raise _missing(name)
        return
    try:
        import numpy  # noqa: F401
        import scipy.sparse  # noqa: F401
    except ImportError as exc:
        raise _missing(exc.name) from None


def _missing(name: str | None) -> MissingTopicsDependency:
    return MissingTopicsDependency(
        f"topics needs numpy and scipy ({name} is missing): {extras.install_hint('topics')}"
    )
