"""PostgreSQL keeps each message's search vector in its row (migration 0009, STORAGE MAIN):
ranking reads the vector of every match, and out of line it cost a TOAST lookup per match.

Where a value lives is counted in the TOAST table: every out-of-line value is one chunk_id
there. A long message of words that do not compress puts its `text` and `raw` out of line
either way; before 0009 its vector went out too, after it the vector stays in the row (and no
small column is pushed out in its place).
"""

from __future__ import annotations

import random
import string

from tests.factories import make_message, make_source
from tgparser import copy as copying
from tgparser.search_query import parse
from tgparser.storage import Storage, open_storage
from tgparser.storage.base import MessageFilter

LONG = 6  # messages whose text and vector are each too big to share a row under EXTENDED


def long_texts() -> list[str]:
    rng = random.Random(9)
    texts = []
    for i in range(LONG):
        # ~400 distinct random words: ~3.6 KB of text, a ~5 KB vector, neither compresses
        words = ["".join(rng.choices(string.ascii_lowercase, k=8)) for _ in range(400)]
        texts.append(" ".join([f"topic{i}", "shared", *words]))
    return texts


def out_of_line_values(pg: Storage) -> int:
    toast = pg._query(
        "SELECT reltoastrelid::regclass::text FROM pg_class WHERE oid = 'messages'::regclass"
    )[0][0]
    return pg._query(f"SELECT count(DISTINCT chunk_id) FROM {toast}")[0][0]


def vectors(pg: Storage) -> dict[int, str]:
    return dict(pg._query("SELECT message_id, search::text FROM messages ORDER BY message_id"))


def extended_columns(pg: Storage) -> set[str]:
    rows = pg._query(
        "SELECT attname FROM pg_attribute WHERE attrelid = 'messages'::regclass "
        "AND attnum > 0 AND NOT attisdropped AND attstorage = 'x'"
    )
    return {name for (name,) in rows}


def column_storage(pg: Storage) -> tuple[str, str]:
    return pg._query(
        "SELECT attstorage::text, attcompression::text FROM pg_attribute "
        "WHERE attrelid = 'messages'::regclass AND attname = 'search'"
    )[0]


def fill(store: Storage, texts: list[str]) -> None:
    store.upsert_source(make_source())
    store.upsert_messages([make_message(i, text=t) for i, t in enumerate(texts, 1)])


def test_migration_brings_out_of_line_vectors_into_the_row(pg_url: str) -> None:
    texts = [*long_texts(), "short one", "another short shared message"]
    with open_storage(pg_url) as old:
        old.migrate(up_to=8)
        fill(old, texts)
        assert column_storage(old)[0] == "x"  # EXTENDED: vectors may go out of line
        assert out_of_line_values(old) == 3 * LONG  # raw, text and vector of each long message
        before = vectors(old)
        ranked = [r["message_id"] for r in old.search_messages(parse("shared"), MessageFilter())]

        old.migrate()

        assert column_storage(old) == ("m", "l")  # MAIN, and migration 7's lz4 kept
        assert extended_columns(old) == {"raw", "text"}  # the only EXTENDED ones left
        assert out_of_line_values(old) == 2 * LONG  # only raw and text
        assert vectors(old) == before
        assert [
            r["message_id"] for r in old.search_messages(parse("shared"), MessageFilter())
        ] == ranked
        # The trigger came back: a row written without its vector gets one, a new text a new one.
        old._execute("UPDATE messages SET text = 'rewritten by hand' WHERE message_id = 1")
        old.upsert_messages([make_message(50, text="written after the migration")])
        found = vectors(old)
        assert found[1] == "'by':2 'hand':3 'rewritten':1"
        assert found[50] == "'after':2 'migration':4 'the':3 'written':1"


def test_new_rows_keep_their_vectors_in_the_row(pg_url: str) -> None:
    with open_storage(pg_url) as pg:
        pg.migrate()
        assert column_storage(pg) == ("m", "l")
        fill(pg, long_texts())
        assert out_of_line_values(pg) == 2 * LONG


def test_copied_rows_keep_their_vectors_in_the_row(pg_url: str, sqlite_url: str) -> None:
    with open_storage(sqlite_url) as lite:
        lite.migrate()
        fill(lite, long_texts())
    with open_storage(sqlite_url) as lite, open_storage(pg_url) as pg:
        copying.copy_archive(lite, pg, copying.choose_tables(None))
        assert out_of_line_values(pg) == 2 * LONG
        assert len(pg.search_messages(parse("shared"), MessageFilter())) == LONG
