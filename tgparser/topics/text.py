"""Tokens for topic vectors: pure Python, no numerical library.

What makes short multilingual news posts comparable lexically:
- stop words of en/ru/uk dropped (a small built-in list: the processed text has no language
  tagger to lean on, and the three lists barely overlap);
- Cyrillic transliterated to Latin, so that «Малатья» meets "Malatya", «Дуров» meets "Durov",
  and Russian «газопровод» meets Ukrainian «газопровід» (both become "gazoprov…");
- words cut to a prefix (`stem`): a crude stemmer that works for the inflections of ru/uk and
  for en plurals alike;
- numbers kept ("16%" and "312" name a story as well as any word), capitalised words inside a
  sentence (names) counted as "entity-ish" so the vectoriser can weight them up.
"""

from __future__ import annotations

import re

# a number with its decimal part ("5,25", "3.3"), or a word with inner hyphens/apostrophes
_WORD = re.compile(r"\d+(?:[.,]\d+)*|[^\W\d_]+(?:[-'’][^\W_]+)*|[^\W_]+", re.UNICODE)

_STOP_TEXT = """
a about above after again against all also am an and any are as at be because been before
being below between both but by can could did do does doing down during each few for from
further had has have having he her here hers him his how i if in into is it its itself just
me more most my no nor not now of off on once only or other our out over own same she should
so some such than that the their them then there these they this those through to too under
until up very was we were what when where which while who whom why will with would you your
says said say new one two after amid over per via vs its it's will also who
и в во не что он на я с со как а то все она так его но да ты к у же вы за бы по только ее мне
было вот от меня еще нет о из ему теперь когда даже ну вдруг ли если уже или ни быть был него
до вас нибудь опять уж вам ведь там потом себя ничего ей может они тут где есть надо ней для мы
тебя их чем была сам чтоб без будто чего раз тоже себе под будет ж тогда кто этот того потому
этого какой совсем ним здесь этом один почти мой тем чтобы нее сейчас были куда зачем всех
никогда можно при наконец два об другой хоть после над больше тот через эти нас про всего них
какая много разве три эту моя впрочем хорошо свою этой перед иногда лучше чуть том нельзя
такой им более всегда конечно всю между это также который которые которая которое заявил
сообщил сообщает заявила году года лет
і в у на з із зі та й не що це як а але до за по від для про він вона вони ми ви ти я його її
їх нас вас є був була було були буде може також вже ще чи або якщо коли де там тут цей ця ці
той та те який яка яке які свій своя своє свої після через між над під при без лише тільки
так ні так само теж усі всі весь вся все року році років заявив повідомив повідомляє
"""
STOP_WORDS = frozenset(_STOP_TEXT.split())

_SENTENCE_END = re.compile(r"[.!?\n]")

_TRANSLIT = str.maketrans(
    {
        "а": "a", "б": "b", "в": "v", "г": "g", "ґ": "g", "д": "d", "е": "e", "ё": "e",
        "є": "e", "ж": "zh", "з": "z", "и": "i", "і": "i", "ї": "i", "й": "i", "к": "k",
        "л": "l", "м": "m", "н": "n", "о": "o", "п": "p", "р": "r", "с": "s", "т": "t",
        "у": "u", "ф": "f", "х": "h", "ц": "ts", "ч": "ch", "ш": "sh", "щ": "sch", "ъ": "",
        "ы": "y", "ь": "", "э": "e", "ю": "yu", "я": "ya", "'": "", "’": "", "-": "",
    }
)  # fmt: skip


def transliterate(word: str) -> str:
    """Cyrillic (ru/uk) to a plain Latin spelling; other scripts pass through."""
    return word.translate(_TRANSLIT)


# word -> term, per stem length: the same words come back in every post
_term_cache: dict[int, dict[str, str]] = {}
_CACHE_MAX = 500_000


def tokens(text: str, stem: int = 6) -> tuple[list[str], set[str]]:
    """(terms, entity-ish terms) of a text.

    Terms are lower-cased, transliterated, cut to `stem` characters (numbers are kept whole);
    stop words and one-letter words are dropped. A term is "entity-ish" when the word is
    capitalised and not the first word of a sentence, or is a number.
    """
    out: list[str] = []
    entities: set[str] = set()
    cache = _term_cache.setdefault(stem, {})
    last_end = 0
    for match in _WORD.finditer(text):
        word = match.group()
        sentence_start = last_end == 0 or _SENTENCE_END.search(text, last_end, match.start())
        last_end = match.end()
        lower = word.lower()
        if lower in STOP_WORDS or (len(lower) < 2 and not lower[0].isdigit()):
            continue
        if lower[0].isdigit():
            term = lower.replace(",", ".")
            if term.strip("0.") == "":
                continue  # "000" of "100 000": a thousands group, not a number
            if len(term) > 2:  # "16" or "5" name nothing; "2024", "3.3", "312" do
                entities.add(term)
            out.append(term)
            continue
        term = cache.get(lower)
        if term is None:
            term = transliterate(lower)[:stem] if stem else transliterate(lower)
            if len(cache) < _CACHE_MAX:
                cache[lower] = term
        if not term:
            continue
        if (word[0].isupper() and not sentence_start) or (word.isupper() and len(word) > 1):
            entities.add(term)
        out.append(term)
    return out, entities


def words_and_terms(text: str, stem: int = 6) -> list[tuple[str, str]]:
    """(word as written, its term) for each counted word of a text — to show people the words
    behind a topic's terms."""
    cache = _term_cache.setdefault(stem, {})
    out = []
    for match in _WORD.finditer(text):
        word = match.group()
        lower = word.lower()
        if lower in STOP_WORDS or (len(lower) < 2 and not lower[0].isdigit()):
            continue
        if lower[0].isdigit():
            out.append((word, lower.replace(",", ".")))
            continue
        term = cache.get(lower)
        if term is None:
            term = transliterate(lower)[:stem] if stem else transliterate(lower)
        if term:
            out.append((word, term))
    return out


def words(text: str) -> list[str]:
    """The words of a text as `tokens` and `words_and_terms` split it (stop words included):
    `words_and_terms(text)` is the concatenation of `words_and_terms(w)` over these."""
    return _WORD.findall(text)
