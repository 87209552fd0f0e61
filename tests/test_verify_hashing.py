"""How `db copy --verify` / `db verify` hash rows: cheaply, and still exactly.

Row by row, SQLite's side (Python) and PostgreSQL's give each row the same digest; the
cached jsonb key order prints JSON exactly as PostgreSQL does; PostgreSQL's cheap way to the
text's UTF-8 bytes is taken only where it gives them.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.test_copy import copy, fill_archive
from tgparser.errors import StorageError
from tgparser.storage import Storage, open_storage
from tgparser.storage import checksum as ck
from tgparser.storage.columns import COPIED_TABLES, TABLE_COLUMNS


def _streamed(store: Storage, table: str) -> list[tuple[Any, ...]]:
    return list(store.iter_table(table, 2, digests=True))


def test_each_row_digest_is_the_same_on_sqlite_and_postgresql(tmp_path: Path, pg_url: str) -> None:
    """Row by row, not only the sums: the digests PostgreSQL computes for the copied rows are
    the very digests SQLite's side computes for the source rows."""
    source = f"sqlite:///{tmp_path / 'source.db'}"
    fill_archive(source)
    assert copy(source, pg_url).exit_code == 0
    with open_storage(source) as sqlite, open_storage(pg_url) as pg:
        compared = 0
        for table in COPIED_TABLES:
            sqlite_digests = Counter(row[-1] for row in _streamed(sqlite, table))
            pg_digests = Counter(row[-1] for row in _streamed(pg, table))
            assert pg_digests == sqlite_digests, table
            assert pg.table_checksum(table) == sqlite.table_checksum(table), table
            compared += sum(sqlite_digests.values())
        assert compared >= 12


def _keys(rng: random.Random) -> list[str]:
    alphabet = ["a", "b", "z", "_", "é", "я", "😀", "A", "0", " ", "\\", '"']
    return ["".join(rng.choices(alphabet, k=rng.randint(0, 3))) for _ in range(rng.randint(0, 6))]


def _document(rng: random.Random, depth: int = 0) -> Any:
    if depth > 2 or rng.random() < 0.3:
        return rng.choice([1, -2, 1.25, "s", "ж\n", True, None, [], {}])
    if rng.random() < 0.3:
        return [_document(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    return {k: _document(rng, depth + 1) for k in _keys(rng)}


def _with_duplicate_key(text: str) -> str:
    # the same key twice (jsonb keeps the last value), wherever an object starts with "{"
    return text.replace('{"', '{"dup":1,"dup":2,"', 1) if '{"' in text else text


def test_jsonb_key_order_is_postgresql_s_for_every_key_tuple(pg_url: str) -> None:
    """Random documents (keys of 0–4 UTF-8 bytes per character, empty keys, keys needing
    escapes, the same keys in other orders, duplicate keys) print as jsonb prints them; the
    key orders the hook remembers are reused, and forgotten past their limit."""
    rng = random.Random(14)
    texts = []
    for _ in range(300):
        document = _document(rng)
        text = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
        texts += [text, _with_duplicate_key(text)]
        if isinstance(document, dict):  # the same keys in reverse order
            reverse = dict(reversed(list(document.items())))
            texts.append(json.dumps(reverse, ensure_ascii=False))
    with open_storage(pg_url) as store:
        printed = [
            row[0]
            for row in store._query(
                "SELECT t::jsonb::text FROM unnest(%s::text[]) WITH ORDINALITY AS u(t, i) "
                "ORDER BY i",
                (texts,),
            )
        ]
    assert [ck.jsonb_text(t) for t in texts] == printed
    assert [ck.jsonb_text(t) for t in texts] == printed  # the second time from the cache


def test_the_remembered_key_orders_are_bounded() -> None:
    order = ck._JsonbOrder()
    order.LIMIT = 10
    for n in range(25):
        value = {f"k{n}": 1, "a": 2}
        assert list(order(value)) == ["a", f"k{n}"]
        assert len(order.orders) <= 10
    already = {"a": 1, "bb": 2}
    assert order(already) is already  # in jsonb's order: handed back as it is


def test_postgresql_digest_is_the_utf8_text_s_whatever_the_client_encoding(pg_url: str) -> None:
    """`textsend()` (cheap) gives the text in the session's client encoding: used only when
    that is UTF-8; another session takes `convert_to(…, 'UTF8')` and gets the same sums."""
    fill_archive(pg_url)
    with open_storage(pg_url) as store:
        assert store._utf8_client()
        expected = {t: store.table_checksum(t) for t in COPIED_TABLES}
        store._execute("SET client_encoding = 'LATIN1'")
        assert not store._utf8_client()
        assert {t: store.table_checksum(t) for t in COPIED_TABLES} == expected
        # the cheap form would want the Cyrillic text as LATIN1 bytes here: not used
        cheap = ck.postgres_table_checksum_sql(
            "messages", TABLE_COLUMNS["messages"], utf8_client=True
        )
        with pytest.raises(StorageError, match="LATIN1"):
            store._query(cheap)
