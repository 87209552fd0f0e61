"""How full-text search cuts a text into words and folds them: one definition for both backends.

SQLite's FTS5 `unicode61` tokenizer (with `remove_diacritics 2`) is the reference: a word is a
run of letters and digits (Unicode categories L*, N*, Co; emoji, punctuation, symbols, spaces
and the zero-width non-joiner separate words), compared without case and without Latin
diacritics (`é` = `e`). PostgreSQL's own parser cuts URLs, e-mails and numbers differently, so
the PostgreSQL index is built from `search_text(text)` (migration 0004), which replaces every
separator run with a space and folds with the tables below; the `simple` configuration then
only lower-cases. Query words go through `words()` here, the same rules again.

On top of unicode61, letters that one word is written with interchangeably are folded in the
index and the query alike (SQLite: in the triggers that feed the index):
- Arabic `ي` `ى` and `ك`, which Persian text often carries, to Persian `ی` and `ک`, so `مشکل`
  finds `مشكل` and back;
- Russian `ё` to `е`, so `елка` finds `ёлка` and back.

The tables were derived from SQLite's unicode61 over every code point
(`tests/test_search_backends.py` checks them against the SQLite in use); the diacritic table
covers Latin and Greek, the scripts where unicode61 removes diacritics.
"""

from __future__ import annotations

import bisect
import functools
import operator
import re
from collections import Counter
from collections.abc import Iterator

# Letters written interchangeably (see above): folded on both backends.
EXPLICIT_FROM = "يكىёЁ"
EXPLICIT_TO = "یکیее"

# unicode61 `remove_diacritics 2` folds beyond lower-casing, then the letters above.
FOLD_FROM = (
    "µÀÁÂÃÄÅÇÈÉÊËÌÍÎÏÑÒÓÔÕÖÙÚÛÜÝàáâãäåçèéêëìíîïñòóôõöùúûüýÿĀāĂăĄąĆćĈĉĊċČčĎďĒēĔĕĖėĘęĚěĜĝĞğ"
    "ĠġĢģĤĥĨĩĪīĬĭĮįİĴĵĶķĹĺĻļĽľŃńŅņŇňŌōŎŏŐőŔŕŖŗŘřŚśŜŝŞşŠšŢţŤťŨũŪūŬŭŮůŰűŲųŴŵŶŷŸŹźŻżŽžſƠơƯưǍ"
    "ǎǏǐǑǒǓǔǕǖǗǘǙǚǛǜǞǟǦǧǨǩǪǫǬǭǰǴǵǸǹǺǻȀȁȂȃȄȅȆȇȈȉȊȋȌȍȎȏȐȑȒȓȔȕȖȗȘșȚțȞȟȦȧȨȩȪȫȬȭȮȯȰȱȲȳςϐϑϕϖϰϱϵ"
    "ḀḁḂḃḄḅḆḇḈḉḊḋḌḍḎḏḐḑḒḓḔḕḖḗḘḙḚḛḜḝḞḟḠḡḢḣḤḥḦḧḨḩḪḫḬḭḮḯḰḱḲḳḴḵḶḷḸḹḺḻḼḽḾḿṀṁṂṃṄṅṆṇṈṉṊṋṌṍṎṏṐṑṒṓ"
    "ṔṕṖṗṘṙṚṛṜṝṞṟṠṡṢṣṤṥṦṧṨṩṪṫṬṭṮṯṰṱṲṳṴṵṶṷṸṹṺṻṼṽṾṿẀẁẂẃẄẅẆẇẈẉẊẋẌẍẎẏẐẑẒẓẔẕẖẗẘẙẛẠạẢảẤấẦầẨẩẪẫẬ"
    "ậẮắẰằẲẳẴẵẶặẸẹẺẻẼẽẾếỀềỂểỄễỆệỈỉỊịỌọỎỏỐốỒồỔổỖỗỘộỚớỜờỞởỠỡỢợỤụỦủỨứỪừỬửỮữỰựỲỳỴỵỶỷỸỹ" + EXPLICIT_FROM
)
FOLD_TO = (
    "μaaaaaaceeeeiiiinooooouuuuyaaaaaaceeeeiiiinooooouuuuyyaaaaaaccccccccddeeeeeeeeeegggg"
    "gggghhiiiiiiiiijjkkllllllnnnnnnoooooorrrrrrssssssssttttuuuuuuuuuuuuwwyyyzzzzzzsoouua"
    "aiioouuuuuuuuuuaaggkkoooojggnnaaaaaaeeeeiiiioooorrrruuuusstthhaaeeooooooooyyσβθφπκρε"
    "aabbbbbbccddddddddddeeeeeeeeeeffgghhhhhhhhhhiiiikkkkkkllllllllmmmmmmnnnnnnnnoooooooo"
    "pppprrrrrrrrssssssssssttttttttuuuuuuuuuuvvvvwwwwwwwwwwxxxxyyzzzzzzhtwysaaaaaaaaaaaaa"
    "aaaaaaaaaaaeeeeeeeeeeeeeeeeiiiioooooooooooooooooooooooouuuuuuuuuuuuuuyyyyyyyy" + EXPLICIT_TO
)
# Combining diacritics unicode61 drops inside a word (`a\u0301b` is the word `ab`).
DROP = (
    "\u0300\u0301\u0302\u0303\u0304\u0306\u0307\u0308\u0309\u030a\u030b\u030c"
    "\u030f\u0311\u031b\u0323\u0324\u0325\u0326\u0327\u0328\u032d\u032e\u0330\u0331"
)

# Every code point that separates words, as the inside of a regex character class that both
# Python's `re` and PostgreSQL's regular expressions read (\uXXXX and \UXXXXXXXX escapes).
SEPARATORS = (
    r"\u0001-\u002f\u003a-\u0040\u005b-\u0060\u007b-\u00a9\u00ab-\u00b1\u00b4\u00b6-\u00b8"
    r"\u00bb\u00bf\u00d7\u00f7\u02c2-\u02c5\u02d2-\u02df\u02e5-\u02eb\u02ed\u02ef-\u02ff"
    r"\u0305\u030d-\u030e\u0310\u0312-\u031a\u031c-\u0322\u0329-\u032c\u032f\u0332-\u036f"
    r"\u0375\u037e\u0384-\u0385\u0387\u03f6\u0482-\u0489\u055a-\u055f\u0589-\u058a\u058f"
    r"\u0591-\u05c7\u05f3-\u05f4\u0600-\u0604\u0606-\u061b\u061e-\u061f\u064b-\u065f\u066a"
    r"-\u066d\u0670\u06d4\u06d6-\u06e4\u06e7-\u06ed\u06fd-\u06fe\u0700-\u070d\u070f\u0711"
    r"\u0730-\u074a\u07a6-\u07b0\u07eb-\u07f3\u07f6-\u07f9\u0816-\u0819\u081b-\u0823\u0825"
    r"-\u0827\u0829-\u082d\u0830-\u083e\u0859-\u085b\u085e\u08e4-\u08fe\u0900-\u0903\u093a"
    r"-\u093c\u093e-\u094f\u0951-\u0957\u0962-\u0965\u0970\u0981-\u0983\u09bc\u09be-\u09c4"
    r"\u09c7-\u09c8\u09cb-\u09cd\u09d7\u09e2-\u09e3\u09f2-\u09f3\u09fa-\u09fb\u0a01-\u0a03"
    r"\u0a3c\u0a3e-\u0a42\u0a47-\u0a48\u0a4b-\u0a4d\u0a51\u0a70-\u0a71\u0a75\u0a81-\u0a83"
    r"\u0abc\u0abe-\u0ac5\u0ac7-\u0ac9\u0acb-\u0acd\u0ae2-\u0ae3\u0af0-\u0af1\u0b01-\u0b03"
    r"\u0b3c\u0b3e-\u0b44\u0b47-\u0b48\u0b4b-\u0b4d\u0b56-\u0b57\u0b62-\u0b63\u0b70\u0b82"
    r"\u0bbe-\u0bc2\u0bc6-\u0bc8\u0bca-\u0bcd\u0bd7\u0bf3-\u0bfa\u0c01-\u0c03\u0c3e-\u0c44"
    r"\u0c46-\u0c48\u0c4a-\u0c4d\u0c55-\u0c56\u0c62-\u0c63\u0c7f\u0c82-\u0c83\u0cbc\u0cbe-"
    r"\u0cc4\u0cc6-\u0cc8\u0cca-\u0ccd\u0cd5-\u0cd6\u0ce2-\u0ce3\u0d02-\u0d03\u0d3e-\u0d44"
    r"\u0d46-\u0d48\u0d4a-\u0d4d\u0d57\u0d62-\u0d63\u0d79\u0d82-\u0d83\u0dca\u0dcf-\u0dd4"
    r"\u0dd6\u0dd8-\u0ddf\u0df2-\u0df4\u0e31\u0e34-\u0e3a\u0e3f\u0e47-\u0e4f\u0e5a-\u0e5b"
    r"\u0eb1\u0eb4-\u0eb9\u0ebb-\u0ebc\u0ec8-\u0ecd\u0f01-\u0f1f\u0f34-\u0f3f\u0f71-\u0f87"
    r"\u0f8d-\u0f97\u0f99-\u0fbc\u0fbe-\u0fcc\u0fce-\u0fda\u102b-\u103e\u104a-\u104f\u1056"
    r"-\u1059\u105e-\u1060\u1062-\u1064\u1067-\u106d\u1071-\u1074\u1082-\u108d\u108f\u109a"
    r"-\u109f\u10fb\u135d-\u1368\u1390-\u1399\u1400\u166d-\u166e\u1680\u169b-\u169c\u16eb-"
    r"\u16ed\u1712-\u1714\u1732-\u1736\u1752-\u1753\u1772-\u1773\u17b4-\u17d6\u17d8-\u17db"
    r"\u17dd\u1800-\u180e\u18a9\u1920-\u192b\u1930-\u193b\u1940\u1944-\u1945\u19b0-\u19c0"
    r"\u19c8-\u19c9\u19de-\u19ff\u1a17-\u1a1b\u1a1e-\u1a1f\u1a55-\u1a5e\u1a60-\u1a7c\u1a7f"
    r"\u1aa0-\u1aa6\u1aa8-\u1aad\u1b00-\u1b04\u1b34-\u1b44\u1b5a-\u1b7c\u1b80-\u1b82\u1ba1"
    r"-\u1bad\u1be6-\u1bf3\u1bfc-\u1bff\u1c24-\u1c37\u1c3b-\u1c3f\u1c7e-\u1c7f\u1cc0-"
    r"\u1cc7\u1cd0-\u1ce8\u1ced\u1cf2-\u1cf4\u1dc0-\u1de6\u1dfc-\u1dff\u1fbd\u1fbf-\u1fc1"
    r"\u1fcd-\u1fcf\u1fdd-\u1fdf\u1fed-\u1fef\u1ffd-\u1ffe\u2000-\u2064\u206a-\u206f\u207a"
    r"-\u207e\u208a-\u208e\u20a0-\u20b9\u20d0-\u20f0\u2100-\u2101\u2103-\u2106\u2108-"
    r"\u2109\u2114\u2116-\u2118\u211e-\u2123\u2125\u2127\u2129\u212e\u213a-\u213b\u2140-"
    r"\u2144\u214a-\u214d\u214f\u2190-\u23f3\u2400-\u2426\u2440-\u244a\u249c-\u24e9\u2500-"
    r"\u26ff\u2701-\u2775\u2794-\u2b4c\u2b50-\u2b59\u2ce5-\u2cea\u2cef-\u2cf1\u2cf9-\u2cfc"
    r"\u2cfe-\u2cff\u2d70\u2d7f\u2de0-\u2e2e\u2e30-\u2e3b\u2e80-\u2e99\u2e9b-\u2ef3\u2f00-"
    r"\u2fd5\u2ff0-\u2ffb\u3000-\u3004\u3008-\u3020\u302a-\u3030\u3036-\u3037\u303d-\u303f"
    r"\u3099-\u309c\u30a0\u30fb\u3190-\u3191\u3196-\u319f\u31c0-\u31e3\u3200-\u321e\u322a-"
    r"\u3247\u3250\u3260-\u327f\u328a-\u32b0\u32c0-\u32fe\u3300-\u33ff\u4dc0-\u4dff\ua490-"
    r"\ua4c6\ua4fe-\ua4ff\ua60d-\ua60f\ua66f-\ua67e\ua69f\ua6f0-\ua6f7\ua700-\ua716\ua720-"
    r"\ua721\ua789-\ua78a\ua802\ua806\ua80b\ua823-\ua82b\ua836-\ua839\ua874-\ua877\ua880-"
    r"\ua881\ua8b4-\ua8c4\ua8ce-\ua8cf\ua8e0-\ua8f1\ua8f8-\ua8fa\ua926-\ua92f\ua947-\ua953"
    r"\ua95f\ua980-\ua983\ua9b3-\ua9cd\ua9de-\ua9df\uaa29-\uaa36\uaa43\uaa4c-\uaa4d\uaa5c-"
    r"\uaa5f\uaa77-\uaa79\uaa7b\uaab0\uaab2-\uaab4\uaab7-\uaab8\uaabe-\uaabf\uaac1\uaade-"
    r"\uaadf\uaaeb-\uaaf1\uaaf5-\uaaf6\uabe3-\uabed\ufb1e\ufb29\ufbb2-\ufbc1\ufd3e-\ufd3f"
    r"\ufdfc-\ufdfd\ufe00-\ufe19\ufe20-\ufe26\ufe30-\ufe52\ufe54-\ufe66\ufe68-\ufe6b\ufeff"
    r"\uff01-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff65\uffe0-\uffe6\uffe8-\uffee\ufff9"
    r"-\uffff\U00010100-\U00010102\U00010137-\U0001013f\U00010179-\U00010189\U00010190-"
    r"\U0001019b\U000101d0-\U000101fd\U0001039f\U000103d0\U00010857\U0001091f\U0001093f"
    r"\U00010a01-\U00010a03\U00010a05-\U00010a06\U00010a0c-\U00010a0f\U00010a38-\U00010a3a"
    r"\U00010a3f\U00010a50-\U00010a58\U00010a7f\U00010b39-\U00010b3f\U00011000-\U00011002"
    r"\U00011038-\U0001104d\U00011080-\U00011082\U000110b0-\U000110c1\U00011100-\U00011102"
    r"\U00011127-\U00011134\U00011140-\U00011143\U00011180-\U00011182\U000111b3-\U000111c0"
    r"\U000111c5-\U000111c8\U000116ab-\U000116b7\U00012470-\U00012473\U00016f51-\U00016f7e"
    r"\U00016f8f-\U00016f92\U0001d000-\U0001d0f5\U0001d100-\U0001d126\U0001d129-\U0001d1dd"
    r"\U0001d200-\U0001d245\U0001d300-\U0001d356\U0001d6c1\U0001d6db\U0001d6fb\U0001d715"
    r"\U0001d735\U0001d74f\U0001d76f\U0001d789\U0001d7a9\U0001d7c3\U0001eef0-\U0001eef1"
    r"\U0001f000-\U0001f02b\U0001f030-\U0001f093\U0001f0a0-\U0001f0ae\U0001f0b1-\U0001f0be"
    r"\U0001f0c1-\U0001f0cf\U0001f0d1-\U0001f0df\U0001f110-\U0001f12e\U0001f130-\U0001f16b"
    r"\U0001f170-\U0001f19a\U0001f1e6-\U0001f202\U0001f210-\U0001f23a\U0001f240-\U0001f248"
    r"\U0001f250-\U0001f251\U0001f300-\U0001f320\U0001f330-\U0001f335\U0001f337-\U0001f37c"
    r"\U0001f380-\U0001f393\U0001f3a0-\U0001f3c4\U0001f3c6-\U0001f3ca\U0001f3e0-\U0001f3f0"
    r"\U0001f400-\U0001f43e\U0001f440\U0001f442-\U0001f4f7\U0001f4f9-\U0001f4fc\U0001f500-"
    r"\U0001f53d\U0001f540-\U0001f543\U0001f550-\U0001f567\U0001f5fb-\U0001f640\U0001f645-"
    r"\U0001f64f\U0001f680-\U0001f6c5\U0001f700-\U0001f773\U000e0001\U000e0020-\U000e007f"
    r"\U000e0100-\U000e01ef"
)

_FOLD = str.maketrans(FOLD_FROM, FOLD_TO, DROP)
# str.translate looks every character up in a dict: slow on long non-ASCII texts, in which the
# letters to fold are rare. Find them with a character class and fold only those.
_FOLDED = {**dict(zip(FOLD_FROM, FOLD_TO, strict=True)), **dict.fromkeys(DROP, "")}


@functools.cache
def _foldable() -> re.Pattern[str]:
    # compiled on first use: a one-shot search of ASCII words never needs it
    return re.compile("[" + re.escape(FOLD_FROM + DROP) + "]")


@functools.cache
def _separator_classes() -> tuple[str, str]:
    """`SEPARATORS` split into the Basic Multilingual Plane's ranges and the rest."""
    items = re.findall(
        r"\\u[0-9a-f]{4}(?:-\\u[0-9a-f]{4})?|\\U[0-9a-f]{8}(?:-\\U[0-9a-f]{8})?", SEPARATORS
    )
    assert "".join(items) == SEPARATORS
    bmp = "".join(i for i in items if i.startswith("\\u"))
    supplementary = "".join(i for i in items if i.startswith("\\U"))
    return bmp, supplementary


@functools.cache
def _word_run() -> re.Pattern[str]:
    # A class with code points above U+FFFF is checked range by range for every character it
    # does not hold (the letters, here): keep the Basic Multilingual Plane's separators in a
    # class of their own (a bitmap) and test the rarer supplementary characters apart.
    # Compiled on first use only (snippets on PostgreSQL): compiling it costs more than a
    # whole one-shot `tgparser search` on SQLite spends on everything else of its own.
    bmp, supplementary = _separator_classes()
    return re.compile(f"(?:[^{bmp}\\U00010000-\\U0010ffff]|[^\\u0000-\\uffff{supplementary}])+")


@functools.cache
def _bmp_word_run() -> re.Pattern[str]:
    # A word of a text with no character beyond U+FFFF: one character class, which `re`
    # tests each character against in a bitmap, in its tightest loop. On long non-ASCII
    # texts, findall() with it cuts words in half the time `str.translate` takes (which looks
    # every character up in a dict); on ASCII texts translate is the faster.
    return re.compile(f"[^{_separator_classes()[0]}]+")


@functools.cache
def _supplementary() -> re.Pattern[str]:
    return re.compile("[\\U00010000-\\U0010ffff]")  # the texts the class above cannot cut


@functools.cache
def separator_ranges() -> tuple[tuple[int, ...], tuple[int, ...]]:
    """`SEPARATORS` as sorted (first code points, last code points) of its ranges."""
    firsts: list[int] = []
    lasts: list[int] = []
    for item in SEPARATORS.split("\\")[1:]:  # "u0001-", "u002f", "U0001f3c6-", …
        code_point = int(item[1:5] if item[0] == "u" else item[1:9], 16)
        if len(firsts) > len(lasts):
            lasts.append(code_point)  # the end of a range
        else:
            firsts.append(code_point)
            if not item.endswith("-"):
                lasts.append(code_point)
    return tuple(firsts), tuple(lasts)


class _SeparatorsToSpaces(dict[int, "str | int"]):
    """A `str.translate` table: a separator to a space, any other character to itself.

    `text.translate(table).split()` then cuts words as `_word_run()` does (every character
    `str.split` splits on is a separator; a test checks both agree on every code point). It is
    filled as characters are first seen: building it whole, or compiling the regex, costs more
    than everything else a one-shot `tgparser search` on SQLite does of its own.
    """

    def __missing__(self, code_point: int) -> str | int:
        firsts, lasts = separator_ranges()
        i = bisect.bisect_right(firsts, code_point) - 1
        value: str | int = " " if i >= 0 and code_point <= lasts[i] else code_point
        self[code_point] = value
        return value


_SPACES = _SeparatorsToSpaces()


def fold(text: str) -> str:
    """`text` lower-cased and folded as the search index holds it."""
    text = text.lower()
    if text.isascii():  # nothing to fold
        return text
    return _foldable().sub(lambda m: _FOLDED[m.group()], text)


def words(text: str) -> list[str]:
    """The words of `text` as the search index holds them, in order."""
    return fold(text).translate(_SPACES).split()


def bulk_words(text: str) -> list[str]:
    """`words(text)`, faster on long non-ASCII texts once a regular expression is compiled:
    for cutting many texts (`db copy`), not for one query."""
    folded = fold(text)
    if folded.isascii() or _supplementary().search(folded):
        return folded.translate(_SPACES).split()
    return _bmp_word_run().findall(folded)


def word_spans(text: str) -> Iterator[re.Match[str]]:
    """The words of `text` where they stand in it (unfolded), for marking matches."""
    return _word_run().finditer(text)


# PostgreSQL's to_tsvector leaves out words of 2047 bytes or more (with a notice) without
# counting a position for them, keeps at most 255 positions of one word (its first), and
# records positions up to 16383 (later words share it).
_MAX_WORD_BYTES = 2047
_ASCII_DIGITS = re.compile("[0-9]+")
_MAX_POSITIONS = 255
_MAX_POSITION = 16383


def tsvector(text: str) -> str | None:
    """`text`'s words as a PostgreSQL tsvector literal, with their positions: the value
    `to_tsvector('simple', search_text(text))` computes on the server (migration 0004), made
    on the client so the server only reads it (migration 0007).

    None when a word holds a character the server's text search parser may read otherwise
    (anything but letters and decimal digits, e.g. `²`, `①`, private-use characters, the
    Ångström sign; the server's locale decides those): the server then computes the value
    itself, so the index holds the same words whoever computed them. The words hold no quote,
    backslash or space (all separators), so each is quoted as it is."""
    found = bulk_words(text)
    if not text.isascii():
        if "\u212b" in text:  # Å: lower() makes it å, which the server would not fold
            return None
        # Every character of every word a letter or a decimal digit: checked at C speed where
        # it can be (no digits; only ASCII digits), character by character otherwise.
        letters = "".join(found)
        if not (
            letters.isalpha()
            or _ASCII_DIGITS.sub("", letters).isalpha()
            or all(c.isalpha() or c.isdecimal() for c in letters)
        ):
            return None
    if (
        len(found) < _MAX_POSITION
        and max(map(len, found), default=0) * 4 < _MAX_WORD_BYTES
        # No word holds more than 255 positions: certain with at most 255 words, or when
        # fewer than 255 of them repeat an earlier one (a set is cheaper than counting).
        and (
            len(found) <= _MAX_POSITIONS
            or len(found) - len(set(found)) < _MAX_POSITIONS
            or max(Counter(found).values()) <= _MAX_POSITIONS
        )
    ):
        if not found:
            return ""
        # "'word':1 'word':2": each word followed by its ready-made "':N '", joined once.
        return ("'" + "".join(map(operator.add, found, _position_suffixes())))[:-2]
    return _capped(found)


@functools.cache
def _position_suffixes() -> tuple[str, ...]:
    return tuple(f"':{i} '" for i in range(1, _MAX_POSITION))


def _capped(found: list[str]) -> str:
    """The literal as to_tsvector builds it at its limits (see above)."""
    last: dict[str, list[int]] = {}  # word -> [positions kept, the last one]
    parts = []
    position = 0
    for word in found:
        if len(word.encode()) >= _MAX_WORD_BYTES:
            continue
        position = min(position + 1, _MAX_POSITION)
        kept = last.get(word)
        if kept is None:
            last[word] = [1, position]
        elif kept[0] < _MAX_POSITIONS and kept[1] != position:
            kept[0] += 1
            kept[1] = position
        else:
            continue
        parts.append(f"'{word}':{position}")
    return " ".join(parts)
