"""Offline key terms and summary.

Keywords: words of three letters or more that are not stop words of the message's language
(or of Russian, Ukrainian and English, which tech posts mix), grouped by a crude stem (so
«базы», «базе», «база» count as one), scored by frequency, with a bonus for words in the first
sentence and for Latin-script terms in other scripts (product names: PostgreSQL, Kafka); the
most frequent surface form is shown. Best first, at most MAX_KEYWORDS.

Summary: the lead — whole sentences from the start of the text while they fit in
SUMMARY_CHARS characters; a first sentence that is longer is cut at a word and ends with «…».
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from itertools import filterfalse

from tgparser.process.language import words_of
from tgparser.process.stopwords import STOPWORDS

MAX_KEYWORDS = 10
SUMMARY_CHARS = 280

_NOT_WORDS = re.compile(r"(?:https?://|www\.)\S+|[@#]\w+")
_SENTENCE_END = re.compile(r"(?<=[.!?…])[\"»”)]*\s+|\n+")
_ENDS = ".!?…\n"
_ALWAYS_STOP = STOPWORDS["ru"] | STOPWORDS["uk"] | STOPWORDS["en"]
_LATIN_TEXT = frozenset({"en", "de", "es", "it", "tr", "fr", "pt", "und"})


def keywords(text: str, language: str, limit: int = MAX_KEYWORDS) -> list[str]:
    if "://" in text or "www." in text or "@" in text or "#" in text:
        text = _NOT_WORDS.sub(" ", text)
    lower = text.lower()
    tokens = words_of(lower)
    return keywords_of_words(tokens, Counter(tokens), text, lower, language, limit)


def keywords_of_words(
    tokens: list[str],
    counts: Counter[str],
    text: str,
    lower: str,
    language: str,
    limit: int = MAX_KEYWORDS,
) -> list[str]:
    """Keywords from a text's lower-case words in order (`tokens`, counted in `counts`), the
    text and its lower-case form (for the spelling of product names)."""
    if not tokens:
        return []
    stop = _stop_words(language)
    # Distinct words in order of first use (a Counter keeps the order words were first seen);
    # the most frequent first, earlier ones on ties (sorted is stable), so the lead wins among
    # words said once. The sort runs in C over every word; only the best few are then
    # checked, grouped by stem and scored in Python.
    want = limit * 3
    top: list[tuple[str, int]] = []
    for w in filterfalse(stop.__contains__, sorted(counts, key=counts.__getitem__, reverse=True)):
        if len(w) > 2 and not w[0].isdigit():
            top.append((w, counts[w]))
            if len(top) == want:
                break
    latin_bonus = language not in _LATIN_TEXT
    # By stem, in order of first appearance among `top` (most frequent first): its score,
    # and its first word, the stem's most frequent form.
    scores: dict[str, float] = {}
    forms: dict[str, str] = {}
    for word, count in top:
        if word.isascii():
            key = word[:-1] if len(word) > 4 and word[-1] == "s" and word[-2] != "s" else word
            score = count * 1.5 if latin_bonus else count
        else:
            key = word[: max(4, len(word) - 2)] if len(word) > 5 else word
            score = count
        if key in scores:
            scores[key] += score
        else:
            scores[key] = score
            forms[key] = word
    # Best score first; ties in order of first appearance (a stable sort, even reversed).
    ranked = sorted(scores, key=scores.__getitem__, reverse=True)[:limit]
    shown = [forms[k] for k in ranked]
    # Product names keep their spelling: PostgreSQL, VACUUM, iPhone (a text without capitals
    # has none to keep).
    if len(lower) == len(text) and lower != text:
        for n, word in enumerate(shown):
            at = lower.find(word)
            written = text[at : at + len(word)] if at >= 0 else word
            if written[1:] != word[1:]:
                shown[n] = written
    return shown


@functools.cache
def _stop_words(language: str) -> frozenset[str]:
    return _ALWAYS_STOP | STOPWORDS.get(language, frozenset())


def _lead_end(text: str) -> int:
    """Where the first sentence ends (the first . ! ? … before a space, or a line end)."""
    end = len(text)
    for mark in (". ", "! ", "? ", "… ", "\n"):
        at = text.find(mark, 0, end)
        if at >= 0:
            end = at
    return end


def _stem(word: str) -> str:
    if word.isascii():
        return (
            word[:-1] if len(word) > 4 and word.endswith("s") and not word.endswith("ss") else word
        )
    return word[: max(4, len(word) - 2)] if len(word) > 5 else word


def summary(text: str, limit: int = SUMMARY_CHARS) -> str:
    """The lead of the text, cut at a sentence boundary, at most `limit` characters."""
    if len(text) <= limit and "\n" not in text:
        return text
    window = text[: limit + 2]  # sentence ends past this cannot matter
    out = ""
    position = 0
    # Without any of the characters a sentence end needs, the pattern cannot match.
    ends = _SENTENCE_END.finditer(window) if any(map(window.__contains__, _ENDS)) else ()
    for end in ends:
        sentence = window[position : end.start()].strip()
        position = end.end()
        if not sentence:
            continue
        candidate = f"{out} {sentence}" if out else sentence
        if len(candidate) > limit:
            break
        out = candidate
    else:
        rest = window[position:].strip()
        candidate = f"{out} {rest}".strip() if out else rest
        if len(text) <= len(window) and len(candidate) <= limit:
            out = candidate
    if out:
        return out
    cut = window[: limit - 1].rsplit(" ", 1)[0].rstrip(" ,;:—-")
    return f"{cut}…"
