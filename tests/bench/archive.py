"""A realistic generated archive in tgparser's schema, for benchmarks.

N messages over a few channels: mixed Russian/English texts of 0-4000 characters (most
short, some long), the raw Telethon-style JSON of each, one comment in ten (linked to its
post), reactions and media on some, and an edit history for one message in fifty.
Deterministic for a given seed, so runs compare.
"""

from __future__ import annotations

import hashlib
import itertools
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from tgparser.storage import Storage

RU_COMMON = [
    "база",
    "данных",
    "запрос",
    "индекс",
    "таблица",
    "сервер",
    "кластер",
    "репликация",
    "транзакция",
    "память",
    "диск",
    "производительность",
    "оптимизация",
    "архив",
    "канал",
    "сообщение",
    "комментарий",
    "поиск",
    "экспорт",
    "аналитика",
    "модель",
    "обучение",
]
EN_COMMON = [
    "database",
    "query",
    "index",
    "table",
    "server",
    "cluster",
    "replication",
    "transaction",
    "memory",
    "disk",
    "performance",
    "archive",
    "channel",
    "message",
    "comment",
    "search",
    "export",
    "analytics",
    "model",
    "training",
    "postgres",
    "sqlite",
    "latency",
    "cache",
]
RU_SYLLABLES = [
    "ка",
    "ро",
    "ми",
    "на",
    "то",
    "ле",
    "ва",
    "ст",
    "пр",
    "ни",
    "ко",
    "ра",
    "ти",
    "де",
    "по",
    "за",
    "ли",
    "ве",
    "бо",
    "гу",
    "мо",
    "се",
    "жа",
    "чи",
]
EN_SYLLABLES = [
    "da",
    "ta",
    "ba",
    "se",
    "in",
    "de",
    "qu",
    "er",
    "ry",
    "op",
    "ti",
    "mi",
    "za",
    "ing",
    "re",
    "con",
    "pro",
    "ver",
    "lo",
    "ex",
    "ab",
    "un",
    "st",
]
VOCABULARY_SIZE = 20_000  # per language; word frequencies follow Zipf's law as in real text
CHANNELS = 5
BASE_DATE = datetime(2023, 1, 1, tzinfo=UTC)


def _vocabulary(common: list[str], syllables: list[str], seed: int) -> list[str]:
    rng = random.Random(seed)
    words = list(common)
    seen = set(words)
    while len(words) < VOCABULARY_SIZE:
        word = "".join(rng.choice(syllables) for _ in range(rng.randint(2, 4)))
        if word not in seen:
            seen.add(word)
            words.append(word)
    return words


VOCABULARIES = [
    _vocabulary(RU_COMMON, RU_SYLLABLES, 1),
    _vocabulary(EN_COMMON, EN_SYLLABLES, 2),
]
_ZIPF = list(itertools.accumulate(1 / (rank + 1) ** 1.07 for rank in range(VOCABULARY_SIZE)))


def search_queries(count: int = 20, seed: int = 7) -> list[str]:
    """Two-word queries of moderately common words (ranks 50-2000), half Russian."""
    rng = random.Random(seed)
    return [
        " ".join(rng.choice(VOCABULARIES[i % 2][50:2000]) for _ in range(2)) for i in range(count)
    ]


def _text(rng: random.Random, long: bool = False) -> str:
    roll = rng.random()
    if long:  # "~3 KB rows": 500-2500 characters, half of them two-byte Cyrillic
        length = rng.randint(500, 2500)
    else:
        length = (
            0 if roll < 0.05 else rng.randint(20, 300) if roll < 0.7 else rng.randint(300, 4000)
        )
    if not length:
        return ""
    vocabulary = VOCABULARIES[rng.random() < 0.5]
    words = rng.choices(vocabulary, cum_weights=_ZIPF, k=length // 6 + 1)
    return " ".join(words)[:length]


def generate(n: int, seed: int = 42, *, long: bool = False) -> Iterator[dict[str, Any]]:
    """Message records (posts and comments) for `upsert_messages`; `long` texts make rows of
    about 3 KB (text plus raw JSON)."""
    rng = random.Random(seed)
    next_id = [1] * (CHANNELS * 2)
    posts: list[tuple[int, int]] = []
    for i in range(n):
        channel = i % CHANNELS
        chat_id = -(1_000_000_000_000 + 2_000_000 + channel)
        is_comment = posts and rng.random() < 0.1
        if is_comment:
            parent_chat, parent_id = rng.choice(posts[-200:])
            group = -(1_000_000_000_000 + 3_000_000 + channel)
            slot = CHANNELS + channel
            chat, kind, parent = group, "comment", (parent_chat, parent_id)
        else:
            slot, chat, kind, parent = channel, chat_id, "post", (None, None)
        message_id = next_id[slot]
        next_id[slot] += 1
        if kind == "post":
            posts.append((chat, message_id))
        text = _text(rng, long)
        date = BASE_DATE + timedelta(minutes=3 * i)
        media = {"kind": "photo", "id": rng.getrandbits(62)} if rng.random() < 0.2 else None
        reactions = (
            [{"reaction": "👍", "count": rng.randint(1, 500)}] if rng.random() < 0.3 else None
        )
        raw = {
            "_": "Message",
            "id": message_id,
            "peer_id": {"_": "PeerChannel", "channel_id": -chat - 1_000_000_000_000},
            "date": date.isoformat(),
            "message": text,
            "out": False,
            "post": kind == "post",
            "views": rng.randint(0, 100_000),
            "forwards": rng.randint(0, 50),
            "entities": [],
            "restriction_reason": [],
        }
        yield {
            "chat_id": chat,
            "message_id": message_id,
            "kind": kind,
            "date": date,
            "sender_id": chat if kind == "post" else rng.randint(10_000, 99_999),
            "sender_name": None if kind == "post" else f"user{rng.randint(1, 5000)}",
            "text": text,
            "views": raw["views"],
            "forwards": raw["forwards"],
            "replies": rng.randint(0, 30) if kind == "post" else None,
            "reactions": reactions,
            "media_kind": "photo" if media else None,
            "media": media,
            "parent_chat_id": parent[0],
            "parent_message_id": parent[1],
            "raw": raw,
            "content_hash": hashlib.sha256(text.encode()).hexdigest(),
        }


def fill(storage: Storage, n: int, *, batch: int = 5000, seed: int = 42, long: bool = False) -> int:
    """Write a generated archive of `n` messages (plus edit versions) into `storage`."""
    storage.ensure_schema()
    for index in range(CHANNELS):
        storage.upsert_source(
            {
                "chat_id": -(1_000_000_000_000 + 2_000_000 + index),
                "username": f"benchchannel{index}",
                "title": f"Bench channel {index}",
                "type": "channel",
                "linked_chat_id": -(1_000_000_000_000 + 3_000_000 + index),
                "options": {"comments": True},
            }
        )
    pending: list[dict[str, Any]] = []
    edited: list[dict[str, Any]] = []
    for record in generate(n, seed, long=long):
        pending.append(record)
        if record["message_id"] % 50 == 0:
            edited.append(
                {
                    **record,
                    "text": record["text"] + " (edited)",
                    "content_hash": record["content_hash"][:-1] + "x",
                }
            )
        if len(pending) >= batch:
            storage.upsert_messages(pending)
            pending = []
    storage.upsert_messages(pending)
    for start in range(0, len(edited), batch):  # edits: versions for message_versions
        storage.upsert_messages(edited[start : start + batch])
    return storage.count_messages()
