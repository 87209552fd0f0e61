"""A synthetic story corpus for the topics speed benchmark: n short posts in ~n/10 stories.

Each story has its own handful of rare words (names, places) and each post mixes some of them
with common words drawn from a Zipf-like vocabulary, in post-sized lengths (8-30 words), so
the sparse products behave like real news posts: a few long posting lists, many short ones.
"""

from __future__ import annotations

import itertools
import random


def _word(rng: random.Random, alphabet: str) -> str:
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(4, 10)))


def synthetic_posts(n: int, seed: int = 7, story_size: int = 10) -> tuple[list[str], list[int]]:
    rng = random.Random(seed)
    latin, cyrillic = "abcdefghijklmnoprstuvz", "абвгдежзиклмнопрстуфхцчшы"
    common = [_word(rng, latin if i % 2 else cyrillic) for i in range(20000)]
    cumulative = list(itertools.accumulate(1.0 / (rank + 1) for rank in range(len(common))))
    texts: list[str] = []
    labels: list[int] = []
    n_stories = max(1, n // story_size)
    stories = [
        [_word(rng, latin if s % 2 else cyrillic).capitalize() for _ in range(rng.randint(4, 8))]
        for s in range(n_stories)
    ]
    for i in range(n):
        story = rng.randrange(n_stories) if i >= n_stories else i
        own = rng.sample(stories[story], k=min(len(stories[story]), rng.randint(2, 4)))
        filler = rng.choices(common, cum_weights=cumulative, k=rng.randint(6, 26))
        words = own + filler
        rng.shuffle(words)
        texts.append(" ".join(words) + ".")
        labels.append(story)
    return texts, labels
