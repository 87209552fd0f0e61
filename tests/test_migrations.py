"""Migrations: applied in order, recorded, and refused where tgparser must not touch a database."""

from __future__ import annotations

import dataclasses
import sqlite3
from datetime import UTC, datetime

import pytest

from tests.conftest import PGServer
from tgparser.errors import MigrationError
from tgparser.storage import Storage, open_storage
from tgparser.storage import migrations as mig

LATEST = mig.latest_version("sqlite")
NEXT = LATEST + 1  # the version a future release's migration would have


def _extra_migration(dialect: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Pretend this tgparser ships one more migration (as a later release will)."""
    shipped = mig.load_migrations(dialect)
    extra = mig.Migration(
        NEXT, "extra", "CREATE TABLE extra_things (id integer PRIMARY KEY);", "0" * 64
    )
    monkeypatch.setattr(
        mig, "load_migrations", lambda d: (*shipped, extra) if d == dialect else shipped
    )


def test_each_dialect_ships_the_same_numbered_files() -> None:
    sqlite_files = [m.filename for m in mig.load_migrations("sqlite")]
    pg_files = [m.filename for m in mig.load_migrations("postgresql")]
    assert sqlite_files == pg_files
    assert sqlite_files[0] == "0001_core.sql"
    assert mig.load_migrations("sqlite")[0].tables == {"sources", "messages", "ingest_runs"}


def test_migrate_records_version_name_checksum_time(db_url: str) -> None:
    with open_storage(db_url) as store:
        shipped = mig.load_migrations(store.dialect)
        assert [m.filename for m in store.migrate(dry_run=True)] == [m.filename for m in shipped]
        assert store.schema_state().version == 0  # the dry run changed nothing
        applied = store.migrate()
        assert [m.version for m in applied] == [m.version for m in shipped]
        records = store.schema_state().applied
        assert [(r.version, r.name, r.checksum) for r in records] == [
            (m.version, m.name, m.checksum) for m in shipped
        ]
        assert all(r.applied_at.tzinfo is not None for r in records)


def test_pending_migration_is_applied_and_ensure_schema_refuses_until_then(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with open_storage(db_url) as store:
        store.migrate()
        dialect = store.dialect
        _extra_migration(dialect, monkeypatch)
        with pytest.raises(MigrationError, match="run `tgparser db migrate`"):
            store.ensure_schema()
        assert [m.filename for m in store.migrate()] == [f"{NEXT:04d}_extra.sql"]
        store.ensure_schema()
        assert "extra_things" in store.existing_tables()
        assert store.schema_state().version == NEXT


def test_ensure_schema_migrates_a_fresh_database(db_url: str) -> None:
    with open_storage(db_url) as store:
        store.ensure_schema()
        assert store.schema_state().version == LATEST


def test_failed_migration_leaves_nothing_behind(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with open_storage(db_url) as store:
        store.migrate()
        shipped = mig.load_migrations(store.dialect)
        broken = mig.Migration(
            NEXT, "broken", "CREATE TABLE half_done (id integer);\nTHIS IS NOT SQL;", "1" * 64
        )
        monkeypatch.setattr(mig, "load_migrations", lambda d: (*shipped, broken))
        with pytest.raises(MigrationError, match=rf"{NEXT:04d}_broken\.sql failed"):
            store.migrate()
        assert "half_done" not in store.existing_tables()
        assert store.schema_state().version == LATEST


def test_changed_migration_file_is_refused(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with open_storage(db_url) as store:
        store.migrate()
        shipped = mig.load_migrations(store.dialect)
        tampered = dataclasses.replace(shipped[0], checksum="f" * 64)
        monkeypatch.setattr(mig, "load_migrations", lambda d: (tampered, *shipped[1:]))
        with pytest.raises(MigrationError, match=r"0001_core\.sql was changed after"):
            store.migrate()


def test_newer_database_is_refused(db_url: str) -> None:
    with open_storage(db_url) as store:
        store.migrate()
        store._execute(
            "INSERT INTO schema_migrations (version, name, checksum, applied_at) "
            f"VALUES (9999, 'future', 'x', {store.placeholder})",
            (store._encode("timestamp", datetime.now(UTC)),),
        )
        with pytest.raises(MigrationError, match="version 9999, newer than this tgparser"):
            store.migrate()
        with pytest.raises(MigrationError, match="upgrade tgparser"):
            store.ensure_schema()


def test_foreign_sqlite_file_is_refused(tmp_path) -> None:
    path = tmp_path / "other_app.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")
    conn.commit()
    conn.close()
    with open_storage(str(path)) as store, pytest.raises(MigrationError) as info:
        store.migrate()
    assert "tables tgparser did not create (invoices)" in str(info.value)
    conn = sqlite3.connect(path)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert tables == {"invoices"}  # untouched


def test_a_table_added_next_to_an_archive_is_left_alone(storage: Storage) -> None:
    storage._execute("CREATE TABLE my_notes (id INTEGER)")
    storage.ensure_schema(create=False)  # not refused: the archive is still tgparser's
    assert storage.migrate() == []
    assert "my_notes" not in storage.table_counts()
    assert "my_notes" in storage.existing_tables()  # and still there


def test_someone_elses_schema_migrations_table_is_refused(tmp_path) -> None:
    path = tmp_path / "rails.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE schema_migrations (version TEXT PRIMARY KEY)")
    conn.commit()
    conn.close()
    with open_storage(str(path)) as store, pytest.raises(MigrationError, match="did not create"):
        store.migrate()


def test_foreign_tables_in_the_tgparser_schema_are_refused(
    pg_url: str, pg_server: PGServer
) -> None:
    pg_server.admin("CREATE SCHEMA tgparser; CREATE TABLE tgparser.orders (id int)", pg_url)
    with open_storage(pg_url) as store, pytest.raises(MigrationError) as info:
        store.migrate()
    assert "schema 'tgparser'" in str(info.value)
    assert "orders" in str(info.value)


def test_database_shared_with_another_application_works(pg_url: str, pg_server: PGServer) -> None:
    pg_server.admin(
        "CREATE TABLE public.customers (id int PRIMARY KEY, name text);"
        "INSERT INTO public.customers VALUES (1, 'x');"
        "CREATE SCHEMA billing; CREATE TABLE billing.sources (id int)",
        pg_url,
    )
    with open_storage(pg_url) as store:
        store.migrate()
        assert store.schema_state().version == LATEST
        assert "customers" not in store.existing_tables()
    # A second tgparser archive in its own schema of the same database.
    with open_storage(pg_url, pg_schema="archive_two") as store:
        store.migrate()
        assert store.table_counts()["messages"] == 0
    import psycopg

    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT count(*) FROM public.customers").fetchone() == (1,)
        assert conn.execute("SELECT count(*) FROM billing.sources").fetchone() == (0,)


def test_a_refused_sqlite_file_is_left_exactly_as_it_was(tmp_path) -> None:
    path = tmp_path / "other_app.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY)")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    with open_storage(str(path)) as store, pytest.raises(MigrationError):
        store.status()
    assert path.read_bytes() == before  # not even switched to WAL
    assert not path.with_name("other_app.db-wal").exists()


def test_a_schema_prepared_by_an_admin_is_enough(pg_server: PGServer, pg_url: str) -> None:
    # The role may not create schemas in this database; the admin made one for it.
    if pg_server.cluster is None:
        pytest.skip("needs the test cluster's trust authentication for a new role")
    pg_server.admin("DROP ROLE IF EXISTS tg_limited; CREATE ROLE tg_limited LOGIN")
    pg_server.admin("CREATE SCHEMA tgparser AUTHORIZATION tg_limited", pg_url)
    limited_url = pg_url.replace("postgresql://postgres@", "postgresql://tg_limited@")
    try:
        with open_storage(limited_url) as store:
            assert [m.version for m in store.migrate()] == [
                m.version for m in mig.load_migrations("postgresql")
            ]
            assert store.schema_state().pending == []
    finally:
        pg_server.admin("DROP SCHEMA tgparser CASCADE", pg_url)
        pg_server.admin("DROP ROLE tg_limited")


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_every_table_a_migration_creates_is_copied_or_deliberately_not(dialect: str) -> None:
    """A table a later migration adds must never be silently left out of `db copy --verify`."""
    from tgparser.storage.columns import COPIED_TABLES, NOT_COPIED, TABLE_COLUMNS

    shipped = mig.load_migrations(dialect)
    created = set().union(*(m.tables - m.virtual_tables for m in shipped))
    registered = set(COPIED_TABLES) | set(NOT_COPIED)
    assert created - registered == set(), "tables no registry entry covers"
    assert registered - created == set(), "registry entries no migration creates"
    assert set(COPIED_TABLES).isdisjoint(NOT_COPIED)
    assert registered <= set(TABLE_COLUMNS), "every registered table has its column types"


def test_the_registry_test_catches_an_unregistered_table(monkeypatch: pytest.MonkeyPatch) -> None:
    _extra_migration("sqlite", monkeypatch)
    with pytest.raises(AssertionError, match="no registry entry"):
        test_every_table_a_migration_creates_is_copied_or_deliberately_not("sqlite")
