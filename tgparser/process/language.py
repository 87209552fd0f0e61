"""Offline language identification: the script of the letters, then the letters and function
words particular to each language of that script. No model, nothing downloaded, microseconds
per message.

Ukrainian is told from Russian by the letters only one of them has (і ї є ґ / ы э ъ ё), the
endings -ння / -ние, -ния, and their own function words (і, та, що, це, який / и, что, это,
который); a text a quarter of whose letters are Cyrillic is Cyrillic (tech posts are full of
Latin product names). Persian is told from Arabic by
پ چ ژ گ and the Persian ک ی; the Latin-script languages by their function words and accented
letters. `und` when a text has fewer than MIN_LETTERS letters, or no evidence either way.
"""

from __future__ import annotations

import re
from collections import Counter

from tgparser.process.stopwords import STOPWORDS

UNDETERMINED = "und"
MIN_LETTERS = 3  # fewer letters than this: `und`, whatever they are
MIN_LETTERS_WITHOUT_EVIDENCE = 20  # no telling letter or word: a default only for longer texts
SAMPLE_CHARS = 1000  # the first characters are plenty to tell

_NOT_TEXT = re.compile(r"(?i)\b(?:https?://|www\.)\S+|[@#]\w+")
# Runs of letters of one script: counted by run, not by letter (far fewer objects).
_CYRILLIC = re.compile(r"[\u0400-\u04ff]+")
_LATIN = re.compile(r"[A-Za-z\u00c0-\u024f]+")
_OTHER_SCRIPTS: list[tuple[str, re.Pattern[str]]] = [
    ("arabic", re.compile(r"[\u0600-\u06ff\u0750-\u077f\ufb50-\ufdff\ufe70-\ufeff]+")),
    ("el", re.compile(r"[\u0370-\u03ff]+")),
    ("he", re.compile(r"[\u0590-\u05ff]+")),
    ("ja", re.compile(r"[\u3040-\u30ff]+")),
    ("zh", re.compile(r"[\u4e00-\u9fff]+")),
    ("ko", re.compile(r"[\uac00-\ud7af]+")),
    ("hi", re.compile(r"[\u0900-\u097f]+")),
    ("th", re.compile(r"[\u0e00-\u0e7f]+")),
    ("ka", re.compile(r"[\u10a0-\u10ff]+")),
    ("hy", re.compile(r"[\u0530-\u058f]+")),
]
_UK_LETTERS = "іїєґ"
_RU_LETTERS = "ыэъё"
_FA_LETTERS = "\u067e\u0686\u0698\u06af\u06a9\u06cc"  # پ چ ژ گ ک ی
_AR_LETTERS = "\u0629\u0643\u064a\u0649"  # ة ك ي ى
_LATIN_LETTERS = {
    "de": "äß",
    "es": "ñ¿¡áíóú",
    "it": "àèìòù",
    "tr": "ğşı",
    "fr": "çêâîôûœë",
    "pt": "ãõ",
}
_LATIN_LANGUAGES = ("en", "de", "es", "it", "tr", "fr", "pt")
# Words only one of the two languages has: shared ones (в, не, на, а) tell nothing.
_UK_ONLY = STOPWORDS["uk"] - STOPWORDS["ru"]
_RU_ONLY = STOPWORDS["ru"] - STOPWORDS["uk"]
_FA_ONLY = STOPWORDS["fa"] - STOPWORDS["ar"]
_AR_ONLY = STOPWORDS["ar"] - STOPWORDS["fa"]
_LATIN_ONLY = {
    lang: STOPWORDS[lang]
    - frozenset().union(*(STOPWORDS[o] for o in _LATIN_LANGUAGES if o != lang))
    for lang in _LATIN_LANGUAGES
}


def detect_language(text: str) -> str:
    """ISO 639-1 code of the text's language, or `und`."""
    sample = text[:SAMPLE_CHARS]
    if "://" in sample or "www." in sample or "@" in sample or "#" in sample:
        sample = _NOT_TEXT.sub(" ", sample)
    cyrillic = _CYRILLIC.findall(sample)
    latin = _LATIN.findall(sample)
    counts = {"cyrillic": sum(map(len, cyrillic)), "latin": sum(map(len, latin))}
    known = counts["cyrillic"] + counts["latin"]
    if known * 2 < len(sample.strip()):  # much else: look for the other scripts
        for name, pattern in _OTHER_SCRIPTS:
            counts[name] = sum(map(len, pattern.findall(sample)))
    letters = sum(counts.values())
    if letters < MIN_LETTERS:
        return UNDETERMINED
    # Russian and Ukrainian tech posts are full of Latin product names: Cyrillic wins at 25%.
    if counts["cyrillic"] >= 0.25 * letters:
        return _cyrillic(" ".join(cyrillic).lower(), counts["cyrillic"])
    script = max(counts, key=lambda name: counts[name])
    if script == "latin":
        return _latin(" ".join(latin).lower(), counts["latin"])
    if script == "arabic":
        return _arabic(sample)
    return script


def _hits(words: Counter[str], vocabulary: frozenset[str]) -> int:
    return sum(words[w] for w in words.keys() & vocabulary)


# Each Latin-script function word that only one language has, with that language.
_LATIN_WORDS = {w: lang for lang in _LATIN_LANGUAGES for w in _LATIN_ONLY[lang]}


def _letters(text: str, alphabet: str) -> int:
    return sum(text.count(c) for c in alphabet)


def _cyrillic(text: str, letters: int) -> str:
    words = Counter(text.split())
    # Endings as telling as the letters: -ння (uk) and -ние / -ния (ru).
    uk = 2 * _letters(text, _UK_LETTERS) + 3 * _hits(words, _UK_ONLY) + 2 * text.count("ння")
    ru = 2 * _letters(text, _RU_LETTERS) + 3 * _hits(words, _RU_ONLY)
    ru += 2 * (text.count("ние") + text.count("ния"))
    if uk > ru:
        return "uk"
    if ru > uk or letters >= MIN_LETTERS_WITHOUT_EVIDENCE:
        return "ru"  # the Cyrillic language most channels write in, when nothing tells
    return UNDETERMINED


def _arabic(sample: str) -> str:
    words = Counter(re.findall(r"[^\W\d_]+", sample))
    fa = _letters(sample, _FA_LETTERS) + 3 * _hits(words, _FA_ONLY)
    ar = _letters(sample, _AR_LETTERS) + 3 * _hits(words, _AR_ONLY)
    return "fa" if fa > ar else "ar"


def _latin(text: str, letters: int) -> str:
    words = Counter(text.split())
    scores = dict.fromkeys(_LATIN_LANGUAGES, 0)
    for word in words.keys() & _LATIN_WORDS.keys():
        scores[_LATIN_WORDS[word]] += 3 * words[word]
    if not text.isascii():
        for lang, marks in _LATIN_LETTERS.items():
            scores[lang] += 2 * _letters(text, marks)
    best = max(scores, key=lambda lang: scores[lang])
    if scores[best] > 0:
        return best
    return "en" if letters >= MIN_LETTERS_WITHOUT_EVIDENCE else UNDETERMINED
