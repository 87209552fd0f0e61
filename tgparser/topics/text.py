"""Tokens for topic vectors: pure Python, no numerical library.

What makes short multilingual news posts comparable lexically:
- stop words of en/ru/uk dropped (a small built-in list: the processed text has no language
  tagger to lean on, and the three lists barely overlap);
- Cyrillic transliterated to Latin, so that «Малатья» meets "Malatya", «Дуров» meets "Durov",
  and Russian «газопровод» meets Ukrainian «газопровід» (both become "gazoprov…");
- words cut to a prefix (`stem`): a crude stemmer that works for the inflections of ru/uk and
  for en plurals alike;
- numbers kept ("16%" and "312" name a story as well as any word), capitalised words inside a
  sentence (names) counted as "entity-ish" so the vectoriser can weight them up;
- a name's consonant skeleton (`skeleton`) as one more term, so that a name spelled in two
  scripts meets itself: «Центральная» and "Central" both give "~sntr", «Колдплей» and
  "Coldplay" "~kldp", «Джобс» and "Jobs" "~jbs" (their stems are "tsent"/"centr", "koldp"/"coldp").
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
der die das den dem des ein eine einer einem einen eines und oder aber auch auf aus bei bis
durch für gegen mit nach ohne seit über um unter von vor zu zum zur im ins am an als wie wird
werden wurde wurden ist sind waren haben hatte sein nicht kein keine noch nur schon
sich sie er es wir ihr ich dass daß so da dann wenn weil mehr sehr heute jetzt hier dort
"""
STOP_WORDS = frozenset(_STOP_TEXT.split())

_SENTENCE_END = re.compile(r"[.!?\n]")
_GAP_WORD = re.compile(r"([\W_]*)(" + _WORD.pattern + ")", re.UNICODE)

_CYRILLIC_LATIN = {
    "а": "a", "б": "b", "в": "v", "г": "g", "ґ": "g", "д": "d", "е": "e", "ё": "e",
    "є": "e", "ж": "zh", "з": "z", "и": "i", "і": "i", "ї": "i", "й": "i", "к": "k",
    "л": "l", "м": "m", "н": "n", "о": "o", "п": "p", "р": "r", "с": "s", "т": "t",
    "у": "u", "ф": "f", "х": "h", "ц": "ts", "ч": "ch", "ш": "sh", "щ": "sch", "ъ": "",
    "ы": "y", "ь": "", "э": "e", "ю": "yu", "я": "ya", "'": "", "’": "", "-": "",
}  # fmt: skip
_TRANSLIT = str.maketrans(_CYRILLIC_LATIN)


def transliterate(word: str) -> str:
    """Cyrillic (ru/uk) to a plain Latin spelling; other scripts pass through."""
    return word.translate(_TRANSLIT)


_VOWELS = "aeiouy"


def stem_word(lower: str, stem: int) -> str:
    """A lower-cased word's term: transliterated, cut to `stem` characters, and — when at
    least 3 characters stay — without trailing vowels, so that the case endings of ru/uk
    («Тампа», «Тампы», «Тампе») and en "-e"/"-a"/"-y" meet on one stem ("tamp")."""
    term = transliterate(lower)
    if not stem:
        return term
    term = term[:stem]
    bare = term.rstrip(_VOWELS)
    return bare if len(bare) >= 3 else term


# a word's sounds, coarsely: Cyrillic letters to Latin the way English spells names, then
# letter groups of either script to one consonant class (c before e/i/y, ц, ts and z to "s";
# c, k, q and ck to "k"; v and w to "v"; ph to "f"; дж to "j"), vowels, h, y and signs dropped,
# a doubled consonant once
_SKELETON_CYRILLIC = str.maketrans(
    {**_CYRILLIC_LATIN, "ж": "z", "й": "", "ю": "u", "я": "a"}  # as names sound, not spell
)
_SKELETON_GROUPS = re.compile(r"sch|tch|ch|sh|ph|ck|ts|tz|th|[cqxwz]|[^a-z]")
_SKELETON_CLASS = {
    "sch": "s", "tch": "q", "ch": "q", "sh": "s", "ph": "f", "ck": "k", "ts": "s", "tz": "s",
    "th": "t", "c": "k", "q": "k", "x": "ks", "w": "v", "z": "s",
}  # fmt: skip
_SKELETON_DROP = str.maketrans("", "", "aeiouyh")
_SKELETON_MIN = 3  # consonants a skeleton needs: two collide with too many words
_SKELETON_LEN = 4  # consonants kept: a name's start, like the stem


def _skeleton_group(match: re.Match[str]) -> str:
    group = match.group()
    if group == "c" and match.string[match.end() : match.end() + 1] in ("e", "i", "y"):
        return "s"  # a soft c, as in "central"
    return _SKELETON_CLASS.get(group, "")


def skeleton(lower: str) -> str:
    """A lower-cased word's consonant skeleton: "~" and its first 4 consonant classes, or ""
    when it has fewer than 3. The Cyrillic and Latin spellings of a name mostly meet on it
    («ватсап» and "whatsapp" on "~vsp", «оукфилдом» and "oakfield" on "~kfld")."""
    latin = lower.replace("дж", "j").translate(_SKELETON_CYRILLIC)
    bare = _SKELETON_GROUPS.sub(_skeleton_group, latin).translate(_SKELETON_DROP)
    out: list[str] = []
    for ch in bare:
        if not out or out[-1] != ch:
            out.append(ch)
            if len(out) == _SKELETON_LEN:
                break
    return "~" + "".join(out) if len(out) >= _SKELETON_MIN else ""


# word -> term, per stem length: the same words come back in every post
_term_cache: dict[int, dict[str, str]] = {}
_CACHE_MAX = 500_000


# word as written -> (term or "" to skip it, entity flag), per stem length: the flag is
# _ALWAYS (a number, an all-caps word), _INSIDE (capitalised: an entity unless it starts a
# sentence) or _NEVER; the context (sentence start) is all that is looked at per occurrence
_NEVER, _INSIDE, _ALWAYS = 0, 1, 2
_word_cache: dict[int, dict[str, tuple[str, int, str]]] = {}


def _classify(word: str, stem: int) -> tuple[str, int, str]:
    lower = word.lower()
    if lower in STOP_WORDS or (len(lower) < 2 and not lower[0].isdigit()):
        return "", _NEVER, ""
    if lower[0].isdigit():
        term = lower.replace(",", ".")
        if term.strip("0.") == "":
            return "", _NEVER, ""  # "000" of "100 000": a thousands group, not a number
        # "16" or "5" name nothing; "2024", "3.3", "312" do
        return term, _ALWAYS if len(term) > 2 else _NEVER, ""
    cache = _term_cache.setdefault(stem, {})
    term = cache.get(lower)
    if term is None:
        term = stem_word(lower, stem)
        if len(cache) < _CACHE_MAX:
            cache[lower] = term
    if not term:
        return "", _NEVER, ""
    # a skeleton where a word may be a name spelled in another script: a word with a capital
    # (lower-case words would collide on their skeletons and cost memory; adding lower-case
    # Cyrillic words too, for slang like «ватсап», scored lower on the fixtures)
    skel = skeleton(lower) if len(lower) >= 4 and lower != word else ""
    if word.isupper() and len(word) > 1:
        return term, _ALWAYS, skel
    return term, _INSIDE if word[0].isupper() else _NEVER, skel


def tokens(text: str, stem: int = 6) -> tuple[list[str], set[str]]:
    """(terms, entity-ish terms) of a text.

    Terms are lower-cased, transliterated, cut to `stem` characters (numbers are kept whole);
    stop words and one-letter words are dropped. A word with a capital, of 4 letters or more,
    is followed by its `skeleton` ("~…") when it has one. A
    term is "entity-ish" when the word is capitalised and not the first word of a sentence (its
    skeleton too), or is a number.
    """
    out: list[str] = []
    entities: set[str] = set()
    cache = _word_cache.setdefault(stem, {})
    first = True
    # one C-level pass: each word with the gap before it (what lies between two words is
    # never part of one), which tells whether the word starts a sentence
    for gap, word in _GAP_WORD.findall(text):
        hit = cache.get(word)
        if hit is None:
            hit = _classify(word, stem)
            if len(cache) < _CACHE_MAX:
                cache[word] = hit
        term, flag, skel = hit
        if term:
            out.append(term)
            if skel:
                out.append(skel)
            if flag == _ALWAYS or (flag == _INSIDE and not first and not _SENTENCE_END.search(gap)):
                entities.add(term)
                if skel:
                    entities.add(skel)
        first = False
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
            term = stem_word(lower, stem)
        if term:
            out.append((word, term))
    return out


def words(text: str) -> list[str]:
    """The words of a text as `tokens` and `words_and_terms` split it (stop words included):
    `words_and_terms(text)` is the concatenation of `words_and_terms(w)` over these."""
    return _WORD.findall(text)
