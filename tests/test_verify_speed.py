"""`db copy --verify` / `db verify`: a cheap checksum that is still a complete one.

The target's checksum is one query per table; making it cheap must not make it blind. Here,
in every direction between SQLite and a real PostgreSQL: one changed value in any column of
any copied row (one flipped bit of an integer or a float, one character of a text or of a
string inside JSON, one microsecond of a timestamp, a NULL that becomes a value) changes the
target's checksum, so `--verify` and `db verify --against` fail on it. And PostgreSQL hashes
each row once, in a plan that can run in parallel.

(The speed itself is measured by tests/bench/bench_copy.py, not here.)
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from tests.conftest import PGServer
from tests.test_copy import DIRECTIONS, direction_id, fill_archive
from tgparser.cli import main
from tgparser.storage import Storage, open_storage
from tgparser.storage import checksum as ck
from tgparser.storage.columns import COPIED_TABLES, TABLE_COLUMNS, ColumnType

SOME_TIME = datetime(2001, 2, 3, 4, 5, 6, 7, tzinfo=UTC)


@pytest.fixture
def other_pg_url(pg_server: PGServer) -> Iterator[str]:
    yield from pg_server.fresh_database()


@pytest.fixture(params=DIRECTIONS, ids=direction_id)
def copied(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str, dict[str, str]]:
    """(source URL, target URL, the source's checksum per table as `--verify` computed it
    from the streamed rows): the test archive, copied with --verify, which passed."""
    source_kind, target_kind = request.param
    source = (
        request.getfixturevalue("pg_url")
        if source_kind == "postgresql"
        else f"sqlite:///{tmp_path / 'source.db'}"
    )
    target = (
        request.getfixturevalue("other_pg_url")
        if target_kind == "postgresql"
        else f"sqlite:///{tmp_path / 'target.db'}"
    )
    fill_archive(source)
    result = run("--db", source, "db", "copy", "--to", target, "--verify", "--json")
    assert result.exit_code == 0, result.stdout + result.stderr
    checks = json.loads(result.stdout)["verify"]
    assert checks and all(t["ok"] for t in checks)
    return source, target, {t["table"]: t["source_checksum"] for t in checks}


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def changed(kind: ColumnType, value: Any) -> Any:
    """`value` with one small change: a bit, a character, a microsecond, NULL to a value."""
    if kind == "json":
        return _changed_json(value)
    if value is None:
        return {"int": 0, "float": 0.0, "text": "", "bool": False, "timestamp": SOME_TIME}[kind]
    if kind == "int":
        return value ^ (1 << 40)  # no key collides, no 64-bit overflow
    if kind == "float":  # the lowest bit of the mantissa: beyond 15 significant digits
        (bits,) = struct.unpack(">q", struct.pack(">d", value))
        return struct.unpack(">d", struct.pack(">q", bits ^ 1))[0]
    if kind == "text":
        return _changed_text(value)
    if kind == "bool":
        return not value
    if kind == "timestamp":
        return value + timedelta(microseconds=1)
    raise AssertionError(kind)


def _changed_text(text: str) -> str:
    if not text:
        return "x"
    last = ord(text[-1]) ^ 1
    return text[:-1] + chr(last if last else 2)


def _changed_json(value: Any) -> Any:
    """One leaf changed (the first one found), or an element added to an empty container."""
    if isinstance(value, dict):
        if not value:
            return {"": None}
        key = next(iter(value))
        return {**value, key: _changed_json(value[key])}
    if isinstance(value, list):
        return [_changed_json(value[0]), *value[1:]] if value else [None]
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value ^ 1
    if isinstance(value, float):
        return changed("float", value)
    if isinstance(value, str):
        return _changed_text(value)
    return 0  # null


def _row_ids(store: Storage, table: str) -> list[Any]:
    row_id = "ctid" if store.dialect == "postgresql" else "rowid"
    return [r[0] for r in store._query(f"SELECT {row_id} FROM {table}")]


def _rolled_back(store: Storage) -> Any:
    """BEGIN … ROLLBACK around one change, with foreign keys not enforced (a changed key)."""
    from contextlib import contextmanager

    @contextmanager
    def block() -> Iterator[None]:
        if store.dialect == "postgresql":
            store._execute("BEGIN")
            store._execute("SET LOCAL session_replication_role = replica")
        else:
            store._execute("PRAGMA foreign_keys = OFF")
            store._execute("BEGIN")
        try:
            yield
        finally:
            store._execute("ROLLBACK")
            if store.dialect == "sqlite":
                store._execute("PRAGMA foreign_keys = ON")

    return block()


def test_one_changed_value_in_any_column_changes_the_checksum(
    copied: tuple[str, str, dict[str, str]],
) -> None:
    source_url, target_url, _ = copied
    tried = 0
    with open_storage(source_url) as source, open_storage(target_url) as target:
        for table in COPIED_TABLES:
            columns = TABLE_COLUMNS[table]
            expected = source.table_checksum(table)
            assert target.table_checksum(table) == expected, table
            row_ids = _row_ids(target, table)
            # every column of every row of the small test archive
            for row_id in row_ids:
                row_key = "ctid" if target.dialect == "postgresql" else "rowid"
                (values,) = target._query(
                    f"SELECT {', '.join(columns)} FROM {table} WHERE {row_key} = "
                    f"{target.placeholder}",
                    (row_id,),
                )
                row = target.decode_native(table, values)
                for column, kind in columns.items():
                    new = changed(kind, row[column])
                    assert new is not None and new != row[column]
                    encoded = target.encode_native(table, {**row, column: new})
                    value = encoded[list(columns).index(column)]
                    with _rolled_back(target):
                        target._execute(
                            f"UPDATE {table} SET {column} = {target.placeholder} "
                            f"WHERE {row_key} = {target.placeholder}",
                            (value, row_id),
                        )
                        assert target.table_checksum(table) != expected, (table, column, new)
                    tried += 1
            assert target.table_checksum(table) == expected  # rolled back
    assert tried > 150  # every column of the eight filled tables' rows


@pytest.mark.parametrize("column", ["raw", "text", "views", "date"])
def test_verify_fails_on_one_changed_byte(
    copied: tuple[str, str, dict[str, str]], column: str
) -> None:
    """End to end, after a `db copy --verify` that passed: one byte of `raw` (inside the
    message's text), of `text`, one bit of `views`, one microsecond of `date`, changed in
    place on the target, and `db verify --against` fails on `messages` alone, with the
    source's checksum the one `--verify` computed from the streamed rows."""
    source, target, streamed = copied
    with open_storage(target) as store:
        columns = list(TABLE_COLUMNS["messages"])
        (values,) = store._query(f"SELECT {', '.join(columns)} FROM messages WHERE message_id = 1")
        row = store.decode_native("messages", values)
        new = row[column]
        if column == "raw":  # one character of the text the raw JSON holds
            new = {**new, "message": changed("text", new["message"])}
        else:
            new = changed(TABLE_COLUMNS["messages"][column], new)
        value = store.encode_native("messages", {**row, column: new})[columns.index(column)]
        store._execute(
            f"UPDATE messages SET {column} = {store.placeholder} WHERE message_id = 1",
            (value,),
        )
        (after,) = store._query(f"SELECT {column} FROM messages WHERE message_id = 1")
        assert after[0] != values[columns.index(column)]
    result = run("--db", source, "db", "verify", "--against", target, "--json")
    assert result.exit_code == 1
    tables = {t["table"]: t for t in json.loads(result.stdout)["tables"]}
    assert [name for name, t in tables.items() if not t["ok"]] == ["messages"]
    assert tables["messages"]["source_checksum"] == streamed["messages"]


def test_postgresql_hashes_each_row_once_in_a_parallel_plan(pg_url: str) -> None:
    """The checksum query prints and hashes a row once (a subquery column was copied into
    each of the four sums: four times the work), and the server may split it over workers."""
    with open_storage(pg_url) as store:
        store.migrate()
        sql = ck.postgres_table_checksum_sql("messages", TABLE_COLUMNS["messages"])
        store._execute("SET parallel_setup_cost = 0")
        store._execute("SET parallel_tuple_cost = 0")
        store._execute("SET min_parallel_table_scan_size = 0")
        store._execute("SET max_parallel_workers_per_gather = 2")
        plan = "\n".join(r[0] for r in store._query(f"EXPLAIN (VERBOSE) {sql}"))
    assert plan.count("sha256(") == 1, plan
    assert plan.count("raw)::text") == 1, plan
    assert "Partial Aggregate" in plan and "Parallel Seq Scan" in plan, plan


JSON_NUMBERS = (
    "[1.50, -0.0, -0, 0.0, 1e-07, 2.5e20, 2.5e+20, 1e16, 1E+2, 0.1, 0.30000000000000004, "
    "0.3000000000000001, 12345678901234567890.5, 0.10000000000000000001, -1.5e-3, 5e-324, "
    "9223372036854775807]"
)


def test_json_numbers_are_written_as_jsonb_prints_them(pg_url: str) -> None:
    """jsonb keeps a number's every digit (a numeric): the checksum's text for JSON read from
    SQLite must be the same, so numbers no double holds, or written with trailing zeros or
    exponents, neither fail a good copy nor hide a changed digit."""
    with open_storage(pg_url) as store:
        ((printed,),) = store._query("SELECT %s::jsonb::text", (JSON_NUMBERS,))
    assert ck.jsonb_text(JSON_NUMBERS) == printed
    assert "0.10000000000000000001" in printed and "1.50" in printed
