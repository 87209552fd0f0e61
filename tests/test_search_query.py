"""The search syntax and its translation to FTS5 and tsquery (engines tested in test_export)."""

from __future__ import annotations

import pytest

from tgparser.search_query import BadQuery, Term, parse, to_fts5, to_tsquery


def test_parse() -> None:
    assert parse('Базы "exact Phrase" OR pre* -No') == [
        [Term(("базы",)), Term(("exact", "phrase"))],
        [Term(("pre",), prefix=True), Term(("no",), negated=True)],
    ]
    # Punctuation splits words the way both tokenizers do: e-mail is the phrase "e mail".
    assert parse("e-mail") == [[Term(("e", "mail"))]]
    assert parse('-"not this" but') == [[Term(("not", "this"), negated=True), Term(("but",))]]


def test_translations_are_fully_parenthesised() -> None:
    groups = parse('a "b c" OR d* -e')
    assert to_fts5(groups) == '("a" AND "b c") OR ("d" * NOT "e")'
    assert to_tsquery(groups) == "('a' & ('b' <-> 'c')) | ('d':* & !'e')"


def test_phrase_prefix() -> None:
    groups = parse('"machine lear*"')
    assert groups == [[Term(("machine", "lear"))]]  # inside quotes * is just punctuation


@pytest.mark.parametrize("query", ["", "   ", "-only -excluded", "a OR -b", '""', "OR"])
def test_queries_that_can_find_nothing_are_refused(query: str) -> None:
    with pytest.raises(BadQuery):
        parse(query)
