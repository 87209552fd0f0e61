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

from tgparser.errors import TgparserError

INSTALL_HINT = "pipx inject tgparser numpy scipy, or pip install 'tgparser[topics]'"


class MissingTopicsDependency(TgparserError):
    """numpy/scipy are an optional extra: topics needs them, the archive does not."""


def require_numeric() -> None:
    """Raise one clear line when numpy or scipy is not installed."""
    try:
        import numpy  # noqa: F401
        import scipy.sparse  # noqa: F401
    except ImportError as exc:
        raise MissingTopicsDependency(
            f"topics needs numpy and scipy ({exc.name} is missing): {INSTALL_HINT}"
        ) from None
