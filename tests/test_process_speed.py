"""The fast paths of the builtin processor give exactly what the plain code gives: the
tokenizer's single-byte fast paths against the regex they replace."""

from __future__ import annotations

import random

from tgparser.process.language import _TOKEN, words_of


def _samples() -> list[str]:
    cp1251 = bytes(b for b in range(256) if b != 0x98).decode("cp1251")
    rng = random.Random(7)
    tricky = "²³¹¼½¾ªºµ_ßñÀÿ ёЁїЇґҐєЄўЎ№«»—…\u00ad\u200b\t\n🙂👍🏽 𝐀𝐁 中文 ١٢٣ ﬁ Ⅻ"
    out = [
        "",
        "_",
        "a_b snake_case __init__ x2 2x 3d",
        "Hello, World! PostgreSQL 16.2 — fast_path; e-mail: a@b.c",
        "Привет, мир! База_данных «кластер» №5 — 100500 ёжиков",
        "Привіт, світ! Їжак ґанок є",
        "emoji 🙂 between words, дом🏠дом",
        "naïve café über straße",
        cp1251,
        cp1251.lower(),
        tricky,
    ]
    alphabets = [cp1251, tricky, "abc_ 12", "abcабв _-.,"]
    for alphabet in alphabets:
        for _ in range(200):
            out.append("".join(rng.choice(alphabet) for _ in range(rng.randint(1, 40))))
    return out


def test_words_of_splits_every_text_as_the_regex_does() -> None:
    samples = _samples()
    assert any(s.isascii() for s in samples) and any(not s.isascii() for s in samples)
    for text in samples:
        assert words_of(text) == _TOKEN.findall(text), text
