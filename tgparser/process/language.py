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
    lower = sample.lower()
    return language_of_words(Counter(words_of(lower)), lower)


def language_of_words(words: Counter[str], lower: str) -> str:
    """The language of a text from its lower-case words (letters and digits, counted) and
    its lower-case text (URLs, mentions and hashtags left out)."""
    cyrillic = latin = 0
    others: list[str] = []
    for word, count in words.items():  # by the script of the first letter: fast paths first
        first = word[0]
        if "\u0400" <= first <= "\u04ff":
            cyrillic += len(word) * count
        elif first < "\u0250":
            if first.isalpha():
                latin += len(word) * count
        else:
            others.append(word)
    letters = {"cyrillic": cyrillic, "latin": latin}
    for word in others:
        script = _script(word[0])
        if script is not None:
            letters[script] = letters.get(script, 0) + len(word) * words[word]
    total = sum(letters.values())
    if total < MIN_LETTERS:
        return UNDETERMINED
    # Russian and Ukrainian tech posts are full of Latin product names: Cyrillic wins at 25%.
    if letters["cyrillic"] >= 0.25 * total:
        return _cyrillic(words, lower, letters["cyrillic"])
    script = max(letters, key=lambda name: letters[name])
    if script == "latin":
        return _latin(words, lower, letters["latin"])
    if script == "arabic":
        return _arabic(words, lower)
    return script


def _script(char: str) -> str | None:
    code = ord(char)
    if code < 0x250:
        return "latin" if char.isalpha() else None
    if 0x400 <= code <= 0x4FF:
        return "cyrillic"
    for low, high, name in _RANGES:
        if low <= code <= high:
            return name
    return None


_RANGES = (
    (0x600, 0x6FF, "arabic"),
    (0x750, 0x77F, "arabic"),
    (0xFB50, 0xFDFF, "arabic"),
    (0xFE70, 0xFEFF, "arabic"),
    (0x370, 0x3FF, "el"),
    (0x590, 0x5FF, "he"),
    (0x3040, 0x30FF, "ja"),
    (0x4E00, 0x9FFF, "zh"),
    (0xAC00, 0xD7AF, "ko"),
    (0x900, 0x97F, "hi"),
    (0xE00, 0xE7F, "th"),
    (0x10A0, 0x10FF, "ka"),
    (0x530, 0x58F, "hy"),
)
_TOKEN = re.compile(r"[^\W_]+")  # a word: letters and digits (what str.isalnum() calls so)
_WORD_CHARS = re.compile(r"\w+")  # the same once "_" is a space, and faster


def _separators(encoding: str) -> bytes:
    """A bytes.translate table of a single-byte encoding: every byte that decodes to a letter
    or digit stays, every other becomes a space."""
    table = bytearray(range(256))
    for byte in range(256):
        try:
            char = bytes([byte]).decode(encoding)
        except UnicodeDecodeError:
            char = " "
        if not char.isalnum() or char == "_":
            table[byte] = 32
    return bytes(table)


_ASCII_SEPARATORS = _separators("ascii")
_CP1251_SEPARATORS = _separators("cp1251")  # Cyrillic with ASCII: most posts fit


def words_of(text: str) -> list[str]:
    """The words of a text in order: maximal runs of letters and digits, as
    `_TOKEN.findall(text)` finds them. Texts that fit a single-byte encoding (ASCII, or
    Cyrillic in cp1251) are split in C through bytes.translate, without the regex."""
    if text.isascii():
        return text.encode().translate(_ASCII_SEPARATORS).decode().split()
    try:
        encoded = text.encode("cp1251")
    except UnicodeEncodeError:
        return _WORD_CHARS.findall(text.replace("_", " ") if "_" in text else text)
    return encoded.translate(_CP1251_SEPARATORS).decode("cp1251").split()


def _hits(words: Counter[str], vocabulary: frozenset[str]) -> int:
    return sum(words[w] for w in words.keys() & vocabulary)


# Each Latin-script function word that only one language has, with that language.
_LATIN_WORDS = {w: lang for lang in _LATIN_LANGUAGES for w in _LATIN_ONLY[lang]}


def _letters(text: str, alphabet: str) -> int:
    return sum(map(text.count, alphabet))


def _cyrillic(words: Counter[str], text: str, letters: int) -> str:
    # Endings as telling as the letters: -ння (uk) and -ние / -ния (ru).
    uk = 2 * _letters(text, _UK_LETTERS) + 3 * _hits(words, _UK_ONLY) + 2 * text.count("ння")
    ru = 2 * _letters(text, _RU_LETTERS) + 3 * _hits(words, _RU_ONLY)
    ru += 2 * (text.count("ние") + text.count("ния"))
    if uk > ru:
        return "uk"
    if ru > uk or letters >= MIN_LETTERS_WITHOUT_EVIDENCE:
        return "ru"  # the Cyrillic language most channels write in, when nothing tells
    return UNDETERMINED


def _arabic(words: Counter[str], text: str) -> str:
    fa = _letters(text, _FA_LETTERS) + 3 * _hits(words, _FA_ONLY)
    ar = _letters(text, _AR_LETTERS) + 3 * _hits(words, _AR_ONLY)
    return "fa" if fa > ar else "ar"


def _latin(words: Counter[str], text: str, letters: int) -> str:
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
