"""Search finds the same messages on SQLite and PostgreSQL, and other SQLite tools see the index.

The corpus holds what real chats are made of and what the two engines used to cut differently
(URLs, e-mails, hashtags, @mentions, numbers with dots, hyphens, emoji), Russian with ё and
Persian written with Arabic ي/ك. Every query must return the same set of messages on both
backends, and the set a plain Python reading of `tgparser.search_tokens` predicts.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlite_utils

from tests.factories import make_message
from tgparser import search_tokens
from tgparser.search_query import parse
from tgparser.storage import Storage, open_storage
from tgparser.storage import migrations as mig
from tgparser.storage.base import MessageFilter

CORPUS = {
    1: "Docs at https://docs.python.org/3/library/re.html#module-re and www.ubuntu.com/download",
    2: "Write to admin@python-dev.org or support@ubuntu.com for help",
    3: "#python #ubuntu_tips #Linux news today",
    4: "Thanks @python_bot and @UbuntuNews!",
    5: "Released version 3.12.1 (build 2024.05), IP 192.168.0.1, price 1,500.75",
    6: "A well-known state-of-the-art e-mail client",
    7: "Python 🐍 rocks 🚀🔥 ubuntu👍",
    8: "Ёлка и ёж, а также елка и еж; Йод. ЁЛКА!",
    9: "مشكل در نصب ubuntu: يك خطاي عجيب",  # Arabic ي and ك
    10: "مشکل حل شد، یک راه ساده",  # Persian ی and ک
    11: "می‌خواهم پایتون یاد بگیرم (python)",  # zero-width non-joiner inside a word
    12: "Café, naïve résumé; CAFE and cafe",
    13: "snake_case_name and CamelCaseName and file.tar.gz",
    14: "pythonic code, pythonista, PyThOn",
    15: "nothing relevant here at all",
    16: "Ubuntu 22.04 LTS; ubuntu-22.04-desktop-amd64.iso",
    17: "C++ and C# and .NET, 50% off, $100",
    18: "Arabic digits ١٢٣ and Persian digits ۱۲۳ and 123",
    19: "<b>html</b> &amp; entities, path/to/python3, ~/ubuntu",
    20: "Pre-release: v2.0-rc1 — “quoted” «ёлочки» 'single'",
}

QUERIES = [
    "python",
    "ubuntu",
    "pyth*",
    "ubun*",
    "org",
    "docs",
    "html",
    "admin",
    "com",
    "linux",
    "tips",
    "bot",
    "ubuntunews",
    "3",
    "12",
    "192",
    "168",
    "04",
    "well",
    "known",
    '"well known"',
    "e-mail",
    "mail",
    "art",
    "rocks",
    "ёлка",
    "елка",
    "ЁЖ",
    "йод",
    "иод",
    "مشکل",
    "مشكل",
    "یک",
    "يك",
    "خواهم",
    "می",
    "پایتون",
    "cafe",
    "café",
    "naive",
    "resume",
    "snake",
    "case",
    "name",
    "camelcasename",
    "gz",
    "tar",
    "net",
    "rc1",
    "v2",
    "١٢٣",
    "۱۲۳",
    "123",
    "ёлочки",
    "example.com",
    "docs.python.org",
    "python OR ubuntu",
    "python -ubuntu",
    "ubuntu 22",
    "amd64",
    '"state of the art"',
    "ubuntu_tips",
]


def expected(query: str) -> set[int]:
    """The messages a query should find, read straight off `search_tokens.words`: for one
    word or prefix, the texts holding it (phrases and operators go to the engines only)."""
    terms = parse(query)
    assert len(terms) == 1 and len(terms[0]) == 1, query
    term = terms[0][0]
    assert len(term.words) == 1 and not term.negated, query
    word = term.words[0]
    return {
        mid
        for mid, text in CORPUS.items()
        if any(w == word or (term.prefix and w.startswith(word)) for w in search_tokens.words(text))
    }


def fill(storage: Storage) -> None:
    storage.migrate()
    storage.upsert_messages([make_message(mid, text=text) for mid, text in CORPUS.items()])


def hits(storage: Storage, query: str) -> set[int]:
    return {
        r["message_id"] for r in storage.search_messages(parse(query), MessageFilter(), limit=100)
    }


@pytest.fixture
def both(sqlite_url: str, pg_url: str) -> Iterator[tuple[Storage, Storage]]:
    with open_storage(sqlite_url) as lite, open_storage(pg_url) as pg:
        fill(lite)
        fill(pg)
        yield lite, pg


def test_both_backends_find_the_same_messages(both: tuple[Storage, Storage]) -> None:
    lite, pg = both
    found_something = 0
    for query in QUERIES:
        on_sqlite, on_postgres = hits(lite, query), hits(pg, query)
        assert on_sqlite == on_postgres, query
        found_something += bool(on_sqlite)
    assert found_something >= len(QUERIES) - 2  # the corpus answers nearly every query


def test_a_word_finds_the_texts_that_hold_it(both: tuple[Storage, Storage]) -> None:
    lite, pg = both
    single = [q for q in QUERIES if len(parse(q)) == 1 and len(parse(q)[0]) == 1]
    words = [q for q in single if len(parse(q)[0][0].words) == 1 and not parse(q)[0][0].negated]
    assert len(words) > 40
    for query in words:
        want = expected(query)
        assert hits(lite, query) == want, query
        assert hits(pg, query) == want, query


READER_EXPECTS = [
    ("python", {1, 2, 3, 4, 7, 11, 14}),  # URL, e-mail, hashtag, mention, emoji, ()
    ("ubuntu", {1, 2, 3, 7, 9, 16, 19}),
    ("pyth*", {1, 2, 3, 4, 7, 11, 14, 19}),  # python-dev, python_bot, python3, pythonic
    ("مشکل", {9, 10}),  # Persian ک finds Arabic ك and back
    ("مشكل", {9, 10}),
    ("یک", {9, 10}),
    ("елка", {8}),  # е finds ё and back
    ("ёлка", {8}),
    ("иод", set()),  # й stays a letter of its own
    ("cafe", {12}),  # Latin diacritics folded
    ("resume", {12}),
    ("خواهم", {11}),  # the zero-width non-joiner separates, as unicode61 has it
    ("example.com", set()),
    ("docs.python.org", {1}),  # a phrase of its words
    ("3", {1, 5}),
]


def test_what_a_reader_expects(both: tuple[Storage, Storage]) -> None:
    lite, pg = both
    for query, ids in READER_EXPECTS:
        assert hits(lite, query) == ids, query
        assert hits(pg, query) == ids, query


def test_snippets_mark_the_match_on_both(both: tuple[Storage, Storage]) -> None:
    for storage in both:
        (row,) = storage.search_messages(parse("rocks"), MessageFilter())
        assert "**rocks**" in row["snippet"].lower(), storage.dialect
        (row,) = storage.search_messages(parse("ёлочки"), MessageFilter())
        assert "**ёлочки**" in row["snippet"], storage.dialect


def test_postgres_index_holds_exactly_the_words_python_cuts(pg_url: str) -> None:
    with open_storage(pg_url) as pg:
        fill(pg)
        for mid, text in CORPUS.items():
            (vector,) = pg._query(
                "SELECT array(SELECT lexeme FROM unnest(search)) FROM messages "
                "WHERE message_id = %s",
                (mid,),
            )[0]
            assert set(vector) == set(search_tokens.words(text)), text


def test_edits_and_deletes_keep_the_folded_sqlite_index_in_step(sqlite_url: str) -> None:
    with open_storage(sqlite_url) as lite:
        fill(lite)
        lite.upsert_messages([make_message(9, text="نسخه جديد بدون آن كلمه")])  # edited
        assert hits(lite, "مشکل") == {10}
        assert hits(lite, "جدید") == {9}  # Arabic ي folded in the new text
        lite.delete_messages(make_message(1)["chat_id"])
        assert hits(lite, "python") == set()
        problems = lite._query("INSERT INTO messages_fts (messages_fts) VALUES ('integrity-check')")
        assert problems == []


# -- the tables in search_tokens are unicode61's -----------------------------------------------


def unicode61_words(texts: list[str]) -> list[list[str]]:
    db = sqlite3.connect(":memory:")
    db.execute("CREATE VIRTUAL TABLE f USING fts5(t, tokenize='unicode61 remove_diacritics 2')")
    db.execute("CREATE VIRTUAL TABLE v USING fts5vocab(f, 'instance')")
    db.executemany("INSERT INTO f (rowid, t) VALUES (?, ?)", enumerate(texts))
    found: list[list[str]] = [[] for _ in texts]
    for doc, term in db.execute("SELECT doc, term FROM v ORDER BY doc, offset"):
        found[doc].append(term)
    return found


def test_separators_and_folding_match_sqlite_unicode61_over_the_bmp() -> None:
    # "a<c>b" for every code point of the Basic Multilingual Plane, and the emoji blocks:
    # unicode61 and `words()` cut and fold it alike (the explicit Persian/ё folds aside).
    points = [c for c in range(1, 0x10000) if not 0xD800 <= c <= 0xDFFF]
    points += list(range(0x1F000, 0x1FB00))
    explicit = set(search_tokens.EXPLICIT_FROM)
    texts = [f"a{chr(c)}b" for c in points if chr(c) not in explicit]
    theirs = unicode61_words(texts)
    # unicode61 leaves a few letters' case alone that Python lower-cases (and PostgreSQL's
    # lower() too); those compare folded.
    differ = [
        t
        for t, ref in zip(texts, theirs, strict=True)
        if search_tokens.words(t) != [search_tokens.fold(w) for w in ref]
    ]
    # U+1FBE GREEK PROSGEGRAMMENI: unicode61 folds it to ι, the tables (Latin, Greek) do not.
    assert differ == ["a\u1fbeb"]


def test_the_postgres_migration_carries_the_same_tables() -> None:
    (migration,) = [m for m in mig.load_migrations("postgresql") if m.version == 4]
    sql = migration.sql.replace("'\n        || E'", "").replace("'\n        || '", "")
    assert search_tokens.SEPARATORS.replace("\\", "\\\\") in sql
    latin = search_tokens.FOLD_FROM[: -len(search_tokens.EXPLICIT_FROM)]
    assert latin in sql
    assert search_tokens.FOLD_TO[: -len(search_tokens.EXPLICIT_TO)] in sql
    for a, b in zip(search_tokens.EXPLICIT_FROM, search_tokens.EXPLICIT_TO, strict=True):
        assert f"'{a}', '{b}')" in sql
    (lite,) = [m for m in mig.load_migrations("sqlite") if m.version == 4]
    for a, b in zip(search_tokens.EXPLICIT_FROM, search_tokens.EXPLICIT_TO, strict=True):
        assert (
            lite.sql.count(f"'{a}', '{b}'") == 5
        )  # every old/new text in the triggers, and the fill


# -- an existing archive ---------------------------------------------------------------------


def test_migrating_an_existing_archive_folds_and_splits(db_url: str, monkeypatch) -> None:
    with open_storage(db_url) as store:
        shipped = mig.load_migrations(store.dialect)
        monkeypatch.setattr(
            mig, "load_migrations", lambda d: tuple(m for m in shipped if m.version < 4)
        )
        fill(store)
        monkeypatch.setattr(mig, "load_migrations", lambda d: shipped)
        assert 4 in [m.version for m in store.migrate()]
        assert hits(store, "مشکل") == {9, 10}
        assert hits(store, "python") == {1, 2, 3, 4, 7, 11, 14}
        assert hits(store, "елка") == {8}


# -- sqlite-utils and Datasette see the index --------------------------------------------------


def test_sqlite_utils_finds_and_searches_the_index(sqlite_url: str, tmp_path: Path) -> None:
    with open_storage(sqlite_url) as lite:
        fill(lite)
        path = lite.path
    db = sqlite_utils.Database(path)
    assert db["messages"].detect_fts() == "messages_fts"
    found = {row["message_id"] for row in db["messages"].search("python")}
    assert found == {1, 2, 3, 4, 7, 11, 14}
    assert {row["message_id"] for row in db["messages"].search("مشکل")} == {9, 10}
    cli = Path(sys.executable).with_name("sqlite-utils")
    result = subprocess.run(
        [str(cli), "search", str(path), "messages", "ubuntu", "-c", "message_id", "--json-cols"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert {row["message_id"] for row in json.loads(result.stdout)} == {1, 2, 3, 7, 9, 16, 19}


def test_datasettes_detection_query_finds_the_index(sqlite_url: str) -> None:
    # Datasette (datasette.utils.detect_fts_sql) looks for the same two spellings.
    with open_storage(sqlite_url) as lite:
        lite.migrate()
        rows = lite._query(
            "SELECT name FROM sqlite_master WHERE rootpage = 0 AND ("
            "sql LIKE '%VIRTUAL TABLE%USING FTS%content=\"messages\"%' "
            "OR sql LIKE '%VIRTUAL TABLE%USING FTS%content=[messages]%')"
        )
    assert rows == [("messages_fts",)]
