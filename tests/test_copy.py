"""`db copy` and `db verify` in every direction between SQLite and a real PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from tests.conftest import PGServer
from tests.factories import CHANNEL_ID, make_message, make_source
from tgparser.cli import main
from tgparser.storage import Storage, open_storage
from tgparser.storage import migrations as mig
from tgparser.storage.columns import COPIED_TABLES

GROUP = -1009876543210


@pytest.fixture
def second_pg_url(pg_server: PGServer) -> Iterator[str]:
    yield from pg_server.fresh_database()


@pytest.fixture
def second_sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'target.db'}"


def _urls(request: pytest.FixtureRequest, kind: str, second: bool) -> str:
    name = {
        ("sqlite", False): "sqlite_url",
        ("sqlite", True): "second_sqlite_url",
        ("postgresql", False): "pg_url",
        ("postgresql", True): "second_pg_url",
    }[kind, second]
    return request.getfixturevalue(name)


# Every direction a copy can go, as (source kind, target kind).
DIRECTIONS = [
    ("sqlite", "postgresql"),
    ("postgresql", "sqlite"),
    ("postgresql", "postgresql"),
    ("sqlite", "sqlite"),
]


def direction_id(pair: tuple[str, str]) -> str:
    return f"{pair[0]}-to-{pair[1]}"


@pytest.fixture(params=DIRECTIONS, ids=direction_id)
def pair(request: pytest.FixtureRequest) -> tuple[str, str]:
    """(source URL, empty target URL) for each direction."""
    src_kind, dst_kind = request.param
    return _urls(request, src_kind, False), _urls(request, dst_kind, True)


def fill_archive(url: str) -> None:
    """Every table and every column type: timestamps with zones and microseconds, JSON with
    Unicode and 64-bit ints, booleans, huge and awkward texts, edit history, runs."""
    with open_storage(url) as store:
        store.migrate()
        store.upsert_source(
            make_source(
                options={"comments": True, "since": "2024-01-01"},
                linked_chat_id=GROUP,
                access_hash=-(2**62),
            )
        )
        store.upsert_source(make_source(GROUP, username=None, type="supergroup"))
        run = store.start_run(CHANNEL_ID)
        store.finish_run(run, status="ok", fetched=3, inserted=3, details={"phases": {"new": 3}})
        store.update_source(
            CHANNEL_ID,
            high_water_id=3,
            backfill_done=True,
            not_before=datetime(2030, 1, 1, 12, 0, 0, 1, tzinfo=UTC),
        )
        store.upsert_messages(
            [
                make_message(
                    1,
                    text="Привет 👋 'quotes' \"double\" \\ back\nnew line",
                    date=datetime(
                        2024, 2, 29, 23, 59, 59, 999999, tzinfo=timezone(timedelta(hours=-5))
                    ),
                    entities=[{"type": "bold", "offset": 0, "length": 6}],
                    reactions=[{"reaction": {"custom_emoji_id": 2**63 - 1}, "count": 2}],
                    media={"kind": "photo", "id": 2**63 - 1, "w": 1.5},
                    is_pinned=True,
                    grouped_id=-(2**63),
                ),
                make_message(2, text="x" * 200_000, is_pinned=False, views=None),
                make_message(3, text="", raw={"_": "MessageService", "nested": [[], {}, None]}),
                make_message(
                    7,
                    chat_id=GROUP,
                    kind="comment",
                    parent_chat_id=CHANNEL_ID,
                    parent_message_id=1,
                    text="комментарий",
                ),
            ]
        )
        store.upsert_messages([make_message(1, text="edited ✓")])  # a message_versions row
        store.set_thread_cursor(CHANNEL_ID, 1, 7)
        # Knowledge documents (tgparser process): floats, JSON lists, bools, NULLs.
        store.upsert_documents(
            [
                {
                    "chat_id": CHANNEL_ID,
                    "message_id": 1,
                    "processor": "llm",
                    "processor_version": "1",
                    "model": "m",
                    "prompt_id": "p",
                    "content_hash": "h",
                    "urls": [{"url": "https://x.example/?erid=A1b2C3", "domain": "x.example"}],
                    "is_ad": True,
                    "ad_reasons": ["erid=A1b2C3 in the link"],
                    "entities": [{"type": "product", "value": "Ж", "confidence": 0.3}],
                    "cost": 0.1 + 0.2,
                    "processed_at": datetime(2024, 3, 1, 12, 0, 0, 1, tzinfo=UTC),
                }
            ]
        )
        store.record_failures(
            [
                {
                    "chat_id": GROUP,
                    "message_id": 7,
                    "processor": "llm",
                    "processor_version": "1",
                    "content_hash": "h7",
                    "error": "timeout",
                }
            ]
        )
        store.cache_responses(
            [
                {
                    "model": "m",
                    "prompt_id": "p",
                    "input_hash": "i",
                    "response": {"summary": "s"},
                    "tokens_in": 3,
                    "tokens_out": 1,
                    "cost": 1 / 3,
                    "created_at": datetime(2024, 3, 1, tzinfo=UTC),
                }
            ]
        )


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def copy(source: str, target: str, *extra: str) -> Result:
    return run("--db", source, "db", "copy", "--to", target, *extra)


def checksums(result: Result) -> dict[str, bool]:
    return {t["table"]: t["ok"] for t in json.loads(result.stdout)["verify"]}


def test_copy_every_direction_with_verify(pair: tuple[str, str]) -> None:
    source, target = pair
    fill_archive(source)
    result = copy(source, target, "--verify", "--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["ok"] is True
    copied = {t["table"]: t["target_rows"] for t in data["tables"]}
    assert set(copied) == set(COPIED_TABLES)
    assert {table: rows for table, rows in copied.items() if rows} == {
        "sources": 2,
        "ingest_runs": 1,
        "messages": 4,
        "message_versions": 1,
        "thread_cursors": 1,
        "documents": 1,
        "document_failures": 1,
        "llm_cache": 1,
    }
    with open_storage(source) as a, open_storage(target) as b:
        assert b.get_document(CHANNEL_ID, 1, "llm") == a.get_document(CHANNEL_ID, 1, "llm")
        assert b.cached_responses("m", "p", ["i"]) == a.cached_responses("m", "p", ["i"])
        for key in [(CHANNEL_ID, 1), (CHANNEL_ID, 2), (CHANNEL_ID, 3), (GROUP, 7)]:
            assert b.get_message(*key) == a.get_message(*key)
        assert b.list_sources() == a.list_sources()
        assert b.list_versions(CHANNEL_ID, 1) == a.list_versions(CHANNEL_ID, 1)
        assert b.list_runs() == a.list_runs()
        # later inserts work: the id sequence moved past the copied runs
        assert b.start_run(CHANNEL_ID) == a.list_runs()[0]["id"] + 1
        assert b.schema_state().version == a.schema_state().version


def test_round_trip_sqlite_postgresql_sqlite_keeps_checksums(
    sqlite_url: str, pg_url: str, second_sqlite_url: str
) -> None:
    fill_archive(sqlite_url)
    assert copy(sqlite_url, pg_url).exit_code == 0
    assert copy(pg_url, second_sqlite_url).exit_code == 0
    result = run("--db", sqlite_url, "db", "verify", "--against", second_sqlite_url, "--json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["ok"] is True
    assert all(t["source_checksum"] == t["target_checksum"] for t in data["tables"])


@pytest.mark.parametrize("damage", ["changed", "missing", "extra"])
def test_verify_catches_a_changed_missing_or_extra_row(pair: tuple[str, str], damage: str) -> None:
    source, target = pair
    fill_archive(source)
    assert copy(source, target).exit_code == 0
    with open_storage(target) as store:
        if damage == "changed":  # one character of one text
            store._execute("UPDATE messages SET text = 'edited ✔' WHERE message_id = 1")
        elif damage == "missing":
            store._execute("DELETE FROM thread_cursors")
        else:
            store.upsert_messages([make_message(99)])
    result = run("--db", source, "db", "verify", "--against", target, "--json")
    assert result.exit_code == 1
    broken = [t["table"] for t in json.loads(result.stdout)["tables"] if not t["ok"]]
    assert (
        broken
        == {"changed": ["messages"], "missing": ["thread_cursors"], "extra": ["messages"]}[damage]
    )
    human = run("--db", source, "db", "verify", "--against", target)
    assert human.exit_code == 1 and "MISMATCH" in human.stdout


def test_non_empty_target_is_refused_then_append_copies_nothing_twice(
    pair: tuple[str, str],
) -> None:
    source, target = pair
    fill_archive(source)
    assert copy(source, target).exit_code == 0
    refused = copy(source, target)
    assert refused.exit_code == 1
    assert "already holds rows" in refused.stderr and "--append" in refused.stderr
    again = copy(source, target, "--append", "--verify", "--json")
    assert again.exit_code == 0
    tables = json.loads(again.stdout)["tables"]
    assert all(t["copied_rows"] == 0 for t in tables)
    assert all(t["target_rows"] == t["source_rows"] for t in tables)  # what it holds, not 0
    assert sum(t["target_rows"] for t in tables) > 0
    assert all(checksums(again).values())


def test_replace_overwrites(pair: tuple[str, str]) -> None:
    source, target = pair
    fill_archive(source)
    assert copy(source, target).exit_code == 0
    with open_storage(target) as store:
        store.upsert_messages([make_message(500)])
    result = copy(source, target, "--replace", "--verify", "--json")
    assert result.exit_code == 0
    assert all(checksums(result).values())


def test_interrupted_copy_then_append_completes(
    pair: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    source, target = pair
    fill_archive(source)
    with open_storage(source) as store:
        store.upsert_messages(make_message(i) for i in range(10, 60))
    from tgparser.storage.postgres import PostgresStorage
    from tgparser.storage.sqlite import SQLiteStorage

    target_class = PostgresStorage if target.startswith("postgresql") else SQLiteStorage
    loaded = 0
    real_load = target_class.load_rows

    def dying_load(self: Storage, table: str, rows: Iterable, *, skip_existing: bool) -> int:
        # The connection drops at the 25th message handed to the target: in the middle of
        # the load (a copy into an empty table streams it whole), in the third batch of 10
        # of an --append.
        def dying() -> Iterator:
            nonlocal loaded
            for row in rows:
                loaded += 1
                if loaded == 25:
                    raise ConnectionError("connection to the target dropped")
                yield row

        return real_load(
            self, table, dying() if table == "messages" else rows, skip_existing=skip_existing
        )

    monkeypatch.setattr(target_class, "load_rows", dying_load)
    interrupted = copy(source, target, "--batch-size", "10")
    assert interrupted.exit_code == 1  # never reported as a success
    assert "connection to the target dropped" in interrupted.stderr
    with open_storage(target) as store:
        # A copy into an empty target is one transaction: nothing of it stays behind, and
        # the indexes it set aside for the load are all there again.
        assert store.table_counts()["messages"] == 0
        assert store.table_counts()["sources"] == 0
        assert index_names(store) == FULL_INDEXES[store.dialect]
    # An --append commits batch by batch: interrupted, it keeps what it wrote, and running
    # it again completes it.
    loaded = 0
    assert copy(source, target, "--tables", "sources").exit_code == 0
    interrupted = copy(source, target, "--append", "--batch-size", "10")
    assert interrupted.exit_code == 1
    monkeypatch.undo()
    with open_storage(target) as store:
        assert 0 < store.count_messages() < 54  # two batches made it
    done = copy(source, target, "--append", "--verify", "--json", "--batch-size", "10")
    assert done.exit_code == 0
    assert all(checksums(done).values())


def index_names(store: Storage) -> set[str]:
    if store.dialect == "sqlite":
        rows = store._query("SELECT name FROM sqlite_master WHERE type IN ('index', 'trigger')")
    else:
        rows = store._query("SELECT indexname FROM pg_indexes WHERE schemaname = 'tgparser'")
    return {r[0] for r in rows}


FULL_INDEXES: dict[str, set[str]] = {}


@pytest.fixture(autouse=True, scope="module")
def _full_indexes(tmp_path_factory: pytest.TempPathFactory, pg_server: PGServer) -> None:
    """The indexes (and, on SQLite, triggers) a freshly migrated archive has."""
    with open_storage(f"sqlite:///{tmp_path_factory.mktemp('idx') / 'a.db'}") as store:
        store.migrate()
        FULL_INDEXES["sqlite"] = index_names(store)
    name = pg_server.create_database()
    try:
        with open_storage(pg_server.url_for(name)) as store:
            store.migrate()
            FULL_INDEXES["postgresql"] = index_names(store)
    finally:
        pg_server.drop_database(name)
    assert "messages_search" in FULL_INDEXES["postgresql"]


def test_dry_run_writes_nothing(sqlite_url: str, second_pg_url: str) -> None:
    fill_archive(sqlite_url)
    result = copy(sqlite_url, second_pg_url, "--dry-run", "--json")
    assert result.exit_code == 0
    plans = {
        t["table"]: (t["source_rows"], t["target_rows"], t["action"])
        for t in json.loads(result.stdout)["tables"]
    }
    assert plans["messages"] == (4, 0, "copy")
    with open_storage(second_pg_url) as store:
        assert store.existing_tables() == set()  # not even migrated


def test_version_mismatch_is_refused(
    sqlite_url: str, second_pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    fill_archive(sqlite_url)
    shipped = mig.load_migrations("postgresql")
    monkeypatch.setattr(mig, "load_migrations", lambda d: shipped[:1])
    with open_storage(second_pg_url) as store:
        store.migrate()
    monkeypatch.undo()
    result = copy(sqlite_url, second_pg_url)
    assert result.exit_code == 1
    assert "the target at 1" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_source_behind_this_version_is_refused_before_anything_is_written(
    sqlite_url: str, second_pg_url: str
) -> None:
    # The copy moves the columns of this version's schema; an older source lacks the newest
    # (a real archive at version 9 failed on topics.scored_centroid with a server error).
    with open_storage(sqlite_url) as store:
        store.migrate(up_to=mig.latest_version("sqlite") - 1)
    result = copy(sqlite_url, second_pg_url)
    assert result.exit_code == 1
    assert "the source is at schema version" in result.stderr
    assert "run `tgparser db migrate` on it first" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    with open_storage(second_pg_url) as store:
        assert store.existing_tables() == set()
        store.migrate()
    verify = run("--db", second_pg_url, "db", "verify", "--against", sqlite_url)
    assert verify.exit_code == 1
    assert "the other database is at schema version" in verify.stderr
    assert len(verify.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("mysql://x/y", "unsupported database URL scheme"),
        ("postgresql://u:pw@/db?host=/nonexistent&port=1", "cannot connect to"),
    ],
)
def test_bad_targets(sqlite_url: str, target: str, message: str) -> None:
    fill_archive(sqlite_url)
    result = copy(sqlite_url, target)
    assert result.exit_code == 1
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "pw" not in result.stderr


def test_same_database_and_unknown_table_are_refused(sqlite_url: str) -> None:
    fill_archive(sqlite_url)
    same = copy(sqlite_url, sqlite_url)
    assert same.exit_code == 1 and "same database" in same.stderr
    unknown = copy(sqlite_url, sqlite_url + ".other", "--tables", "messages,secrets")
    assert unknown.exit_code == 1 and "unknown table 'secrets'" in unknown.stderr


def test_dry_run_and_verify_create_no_file(sqlite_url: str, tmp_path: Path) -> None:
    fill_archive(sqlite_url)
    missing = tmp_path / "not-yet.db"
    dry = copy(sqlite_url, str(missing), "--dry-run", "--json")
    assert dry.exit_code == 0, dry.stderr
    assert {t["action"] for t in json.loads(dry.stdout)["tables"]} == {"copy"}
    assert not missing.exists()
    verify = run("--db", sqlite_url, "db", "verify", "--against", str(missing))
    assert verify.exit_code == 1
    assert f"no archive at {missing} to compare with" in verify.stderr
    assert "db migrate" not in verify.stderr
    assert not missing.exists()


AWKWARD_JSON = {
    "bb": 1,
    "a": [1.5, 1e-07, 2.5e20, -3, 2**63 - 1, True, None, [], {}],
    "ключ": '\u0001\t\n"\\ é 😀',
    "ab": {"zz": {"y": 0.1}, "z": "", "longer key": [{"k": 1, "kk": 2, "j": 3}]},
}


def test_checksums_agree_on_awkward_json_both_ways(pair: tuple[str, str]) -> None:
    # The target's checksum is PostgreSQL's own (jsonb printed, md5) or Python's (SQLite):
    # both must write the same canonical text for keys of every length, floats with
    # exponents, control characters and non-ASCII text.
    source, target = pair
    with open_storage(source) as store:
        store.migrate()
        store.upsert_source(make_source())
        store.upsert_messages([make_message(1, raw=AWKWARD_JSON, entities=[AWKWARD_JSON])])
    result = copy(source, target, "--verify", "--json")
    assert result.exit_code == 0, result.stdout
    assert checksums(result) and all(checksums(result).values())
    # and one changed value shows
    with open_storage(target) as store:
        store.upsert_messages(
            [make_message(1, raw={**AWKWARD_JSON, "bb": 2}, entities=[AWKWARD_JSON])]
        )
    verify = run("--db", source, "db", "verify", "--against", target, "--json")
    assert verify.exit_code == 1
    assert {t["table"]: t["ok"] for t in json.loads(verify.stdout)["tables"]}["messages"] is False


def test_float_checksum_text_is_what_postgresql_prints(pg_url: str) -> None:
    """Scores and costs are doubles: the checksum's text for one must be PostgreSQL's own,
    and exact (its 8 bytes), so that a change in the last bit shows."""
    import psycopg

    from tgparser.storage.checksum import _float_text

    values = [0.0, 0.1, 1.0, 2.5, 1e-07, 0.000123, 1e20, 0.1234567890123456789, 12345.678, 3.0e-5]
    values += [0.1 + 0.2, 0.30000000000000010, -0.0, 5e-324, float("inf"), -1.5, 2**53 + 1.0]
    with psycopg.connect(pg_url) as conn:
        printed = [
            conn.execute("SELECT encode(float8send(%s::float8), 'hex')", (v,)).fetchone()[0]
            for v in values
        ]
    assert [_float_text(v) for v in values] == printed
    assert len(set(printed)) == len(values)  # 0.1 + 0.2 and 0.3000000000000001 differ
