"""The search syntax, one for both backends, and its translation to each engine.

    word other        both words (AND)
    "exact phrase"    the words next to each other, in that order
    this OR that      either side (AND binds tighter: `a b OR c` is `(a b) OR c`)
    -word, -"phrase"  without it (`NOT word` too)
    prefix*           words starting with it

Matching is case-insensitive and language-neutral (no stemming), so Russian, Ukrainian and
English texts are searched alike. The query is parsed into a small tree and written out fully
parenthesised, so neither engine's own operator precedence matters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tgparser.errors import TgparserError

_TOKEN = re.compile(r'\s*(?:(-?)"([^"]*)"?|(\S+))')
_WORD = re.compile(r"\w+", re.UNICODE)


class BadQuery(TgparserError):
    """A search query that finds nothing by construction."""


@dataclass(frozen=True)
class Term:
    words: tuple[str, ...]  # one word, or a phrase
    prefix: bool = False  # the last word is a prefix
    negated: bool = False


Group = list[Term]  # terms that must all hold (AND)


def parse(query: str) -> list[Group]:
    """The query as OR-ed groups of AND-ed terms; `BadQuery` when it cannot match anything."""
    groups: list[Group] = [[]]
    negate_next = False  # after NOT: the next term is excluded, as with -term
    for match in _TOKEN.finditer(query):
        negated, phrase, bare = match.group(1) == "-", match.group(2), match.group(3)
        negated, negate_next = negated or negate_next, False
        if bare is not None:
            if bare == "OR":
                groups.append([])
                continue
            if bare == "NOT":
                negate_next = True
                continue
            negated = negated or (bare.startswith("-") and len(bare) > 1)
            bare = bare[1:] if bare.startswith("-") and len(bare) > 1 else bare
            prefix = bare.endswith("*")
            words = tuple(w.lower() for w in _WORD.findall(bare))
        else:
            prefix = False
            words = tuple(w.lower() for w in _WORD.findall(phrase))
        if words:
            groups[-1].append(Term(words, prefix, negated))
    if negate_next:
        raise BadQuery(f"{query!r}: NOT needs a word after it (NOT word, or -word)")
    groups = [g for g in groups if g]
    if not groups:
        raise BadQuery(f"nothing to search for in {query!r}")
    for group in groups:
        if all(t.negated for t in group):
            raise BadQuery(f"{query!r}: each part needs a word to find, not only words to exclude")
    return groups


def to_fts5(groups: list[Group]) -> str:
    """An SQLite FTS5 MATCH expression."""

    def term(t: Term) -> str:
        quoted = " ".join(f'"{w}"' for w in t.words)
        text = f'"{" ".join(t.words)}"' if len(t.words) > 1 else quoted
        return f"{text} *" if t.prefix else text

    parts = []
    for group in groups:
        positive = " AND ".join(term(t) for t in group if not t.negated)
        negative = "".join(f" NOT {term(t)}" for t in group if t.negated)
        parts.append(f"({positive}{negative})")
    return " OR ".join(parts)


def to_tsquery(groups: list[Group]) -> str:
    """A PostgreSQL to_tsquery('simple', …) expression."""

    def lexeme(word: str, prefix: bool = False) -> str:
        escaped = word.replace("\\", "\\\\").replace("'", "''")
        return f"'{escaped}'" + (":*" if prefix else "")

    def term(t: Term) -> str:
        last = len(t.words) - 1
        text = " <-> ".join(lexeme(w, t.prefix and i == last) for i, w in enumerate(t.words))
        text = f"({text})" if len(t.words) > 1 else text
        return f"!{text}" if t.negated else text

    return " | ".join("(" + " & ".join(term(t) for t in group) + ")" for group in groups)
