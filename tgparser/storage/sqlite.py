"""SQLite adapter: the embedded default. One file, WAL mode, a busy timeout, foreign keys on."""

from __future__ import annotations

import functools
import json
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import quote

from tgparser.errors import MigrationError, NoArchiveError, StorageBusyError, StorageError
from tgparser.storage import migrations as mig
from tgparser.storage.base import (
    MessageFilter,
    Storage,
    as_utc,
    clean_text,
    json_text,
    utcnow,
)
from tgparser.storage.columns import TABLE_COLUMNS
from tgparser.storage.topics import pack_weights, unpack_weights
from tgparser.storage.urls import DatabaseURL

PAGE_SIZE = 16_384
BUSY_TIMEOUT_MS = 30_000  # a second writer (an overlapping cron run) waits instead of failing
# Timestamps are stored as fixed-width ISO-8601 UTC text, 2025-03-01T12:00:00.000000Z: text
# order is time order, and SQLite's date functions read the trailing Z.


@functools.lru_cache(maxsize=1024)  # a batch shares its first_seen_at / updated_at
def format_timestamp(value: datetime) -> str:
    # isoformat is C and twice as fast as strftime; in UTC it always ends in "+00:00".
    return as_utc(value).isoformat(timespec="microseconds")[:-6] + "Z"


def parse_timestamp(value: str) -> datetime:
    return as_utc(datetime.fromisoformat(value))


class SQLiteStorage(Storage):
    dialect = "sqlite"
    placeholder = "?"
    encoders: ClassVar[dict[str, Callable[[Any], Any]]] = {
        "text": clean_text,
        "timestamp": format_timestamp,
        "json": json_text,
        "bool": int,
        "weights": pack_weights,
    }
    decoders: ClassVar[dict[str, Callable[[Any], Any]]] = {
        "timestamp": parse_timestamp,
        "json": json.loads,
        "bool": bool,
        "weights": unpack_weights,
    }

    def __init__(self, url: DatabaseURL, *, create: bool = True) -> None:
        super().__init__(url)
        assert url.path is not None
        self.path: Path = url.path
        self._depth = 0  # transaction nesting: the outer block is BEGIN, inner ones savepoints
        self.conn = _connect(self.path, create=create)

    @functools.cached_property
    def db(self) -> Any:
        """An sqlite-utils view of the connection, imported on first use (start-up time)."""
        import sqlite_utils

        return sqlite_utils.Database(self.conn)

    def close(self) -> None:
        self.conn.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        if self._depth == 0:
            # IMMEDIATE takes the write lock up front: two writers queue on the busy timeout
            # instead of one failing later with "database is locked" when it upgrades.
            begin, commit, rollback = "BEGIN IMMEDIATE", "COMMIT", "ROLLBACK"
        else:
            name = f"sp{self._depth}"
            begin, commit = f"SAVEPOINT {name}", f"RELEASE {name}"
            rollback = f"ROLLBACK TO {name}; RELEASE {name}"
        self._run_sql(begin)
        self._depth += 1
        try:
            yield
        except BaseException:
            self._depth -= 1
            # SQLite may already have rolled back on its own (e.g. after SQLITE_FULL).
            if self.conn.in_transaction:
                for statement in rollback.split("; "):
                    self.conn.execute(statement)
            raise
        self._depth -= 1
        try:
            self._run_sql(commit)
        except StorageError:
            # A failed COMMIT (disk full, I/O error) leaves the transaction open; close it so
            # the connection stays usable.
            if self._depth == 0 and self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise

    def _run_sql(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        try:
            return self.conn.execute(sql, params)
        except sqlite3.DatabaseError as exc:
            raise _storage_error(exc, self.path) from exc

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        return self._run_sql(sql, params).rowcount

    def _executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        try:
            self.conn.executemany(sql, rows)
        except sqlite3.DatabaseError as exc:
            raise _storage_error(exc, self.path) from exc

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self._run_sql(sql, params).fetchall()

    def _stream(
        self, sql: str, params: Sequence[Any] = (), batch_size: int = 1000
    ) -> Iterator[tuple[Any, ...]]:
        cursor = self._run_sql(sql, params)
        while rows := cursor.fetchmany(batch_size):
            yield from rows

    def _search_rows(
        self, groups: list[Any], columns: str, where: str, params: list[Any], limit: int
    ) -> list[tuple[Any, ...]]:
        from tgparser.search_query import to_fts5

        # bm25() is lower for better matches; negated, it reads like PostgreSQL's rank.
        sql = (
            f"SELECT {columns}, s.username, -bm25(messages_fts), "
            "snippet(messages_fts, 0, '**', '**', '…', 24) "
            "FROM messages_fts JOIN messages m ON m.rowid = messages_fts.rowid "
            "LEFT JOIN sources s ON s.chat_id = COALESCE(m.parent_chat_id, m.chat_id) "
            f"WHERE messages_fts MATCH ?{where} "
            "ORDER BY bm25(messages_fts), m.date DESC LIMIT ?"
        )
        return self._query(sql, [to_fts5(groups), *params, limit])

    def _json_export_sql(
        self,
        f: MessageFilter,
        fields: Sequence[tuple[str, str]],
        with_comments: bool,
        limit: int | None,
    ) -> tuple[str, list[Any]]:
        pairs = ", ".join(f"'{name}', {expression}" for name, expression in fields)
        return self._export_sql(f, f"json_object({pairs})", with_comments, limit)

    def reactions_json_sql(self, column: str) -> str:
        return f"json({column})"  # stored compact, keys in the documented order

    def _count_search_rows(self, groups: list[Any], where: str, params: list[Any]) -> int:
        from tgparser.search_query import to_fts5

        sql = (
            "SELECT count(*) FROM messages_fts JOIN messages m ON m.rowid = messages_fts.rowid "
            f"WHERE messages_fts MATCH ?{where}"
        )
        return self._query(sql, [to_fts5(groups), *params])[0][0]

    def identity(self) -> str:
        return f"sqlite:{self.path.resolve()}"

    def _stream_with_digests(self, table: str, batch_size: int) -> Iterator[tuple[Any, ...]]:
        # SQLite has no hash function: the rows are hashed here, from their stored form.
        from tgparser.storage import checksum  # `db verify` only: not at start-up

        writers = checksum.row_writers(TABLE_COLUMNS[table].values())
        digest = checksum.sqlite_digest
        for values in self.iter_table(table, batch_size):
            yield (*values, digest(values, writers))

    def load_rows(self, table: str, rows: Iterable[Sequence[Any]], *, skip_existing: bool) -> int:
        columns = tuple(TABLE_COLUMNS[table])
        marks = ", ".join("?" * len(columns))
        conflict = " ON CONFLICT DO NOTHING" if skip_existing else ""
        try:
            cursor = self.conn.executemany(
                f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks}){conflict}", rows
            )
        except sqlite3.DatabaseError as exc:
            raise _storage_error(exc, self.path) from exc
        # rowcount sums the rows executemany inserted (not what the search triggers wrote).
        return cursor.rowcount

    def existing_tables(self) -> set[str]:
        rows = self.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        return {name for (name,) in rows}

    def _applied_migrations(self) -> list[mig.AppliedMigration]:
        if mig.MIGRATIONS_TABLE not in self.existing_tables():
            return []
        try:
            rows = self.conn.execute(
                f"SELECT version, name, checksum, applied_at FROM {mig.MIGRATIONS_TABLE} "
                "ORDER BY version"
            ).fetchall()
        except sqlite3.DatabaseError as exc:
            if _busy(exc):
                raise _storage_error(exc, self.path) from None
            raise MigrationError(
                f"{self.path} has a {mig.MIGRATIONS_TABLE} table that tgparser did not create; "
                "refusing to touch it"
            ) from None
        return [mig.AppliedMigration(v, n, c, parse_timestamp(a)) for v, n, c, a in rows]

    @contextmanager
    def _migration_lock(self) -> Iterator[None]:
        # SQLite's write lock, held by one outer transaction; each migration is a savepoint
        # in it, so a failing file is undone alone and the ones before it are kept.
        self._run_sql("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            if self.conn.in_transaction:
                self.conn.execute("COMMIT")

    def _apply_migration(self, migration: mig.Migration) -> None:
        conn = self.conn
        try:
            conn.execute("SAVEPOINT migration")
            conn.execute(
                f"CREATE TABLE IF NOT EXISTS {mig.MIGRATIONS_TABLE} (version INTEGER PRIMARY KEY, "
                "name TEXT NOT NULL, checksum TEXT NOT NULL, applied_at TEXT NOT NULL)"
            )
            for statement in split_statements(migration.sql):
                conn.execute(statement)
            conn.execute(
                f"INSERT INTO {mig.MIGRATIONS_TABLE} (version, name, checksum, applied_at) "
                "VALUES (?, ?, ?, ?)",
                (migration.version, migration.name, migration.checksum, format_timestamp(utcnow())),
            )
            conn.execute("RELEASE migration")
        except sqlite3.DatabaseError as exc:
            conn.execute("ROLLBACK TO migration")
            conn.execute("RELEASE migration")
            raise MigrationError(f"migration {migration.filename} failed: {exc}") from exc

    def server_version(self) -> str:
        return sqlite3.sqlite_version

    def _backend_status(self) -> dict[str, Any]:
        # With WAL, recent writes live in the -wal file until a checkpoint: count both.
        wal = self.path.with_name(self.path.name + "-wal")
        size = self.path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)
        return {"file": str(self.path), "file_size": size}

    def _namespace_name(self) -> str:
        return f"the SQLite file {self.path}"

    def _archive_location(self) -> str:
        return str(self.path)


def split_statements(script: str) -> list[str]:
    """The statements of an SQL script, so they can run inside our own transaction
    (executescript would commit first). sqlite3.complete_statement knows about strings,
    comments and trigger bodies."""
    statements: list[str] = []
    buffer = ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            statements.append(buffer)
            buffer = ""
    rest = "\n".join(
        line for line in buffer.splitlines() if line.strip() and not line.strip().startswith("--")
    )
    if rest:
        statements.append(buffer)  # incomplete: let SQLite say what is wrong with it
    return statements


def _connect(path: Path, *, create: bool) -> sqlite3.Connection:
    """Open the archive file; `create=False` (commands that only read) creates nothing: not
    the file, not its folder, not even a change to an empty file."""
    if not create and not path.exists():
        raise NoArchiveError(str(path))
    if path.is_dir():
        raise StorageError(f"{path} is a directory, not an SQLite database file")
    if create:
        try:
            # A new folder for an archive is private to its owner (0700), like the session's.
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise StorageError(
                f"cannot create {path}: a part of {path.parent} is not a folder"
            ) from None
        except OSError as exc:
            raise StorageError(
                f"cannot create the database folder {path.parent}: {exc.strerror}"
            ) from None
    try:
        # isolation_level=None: no implicit transactions; `transaction()` says where they are.
        # mode=rw opens an existing file only (a reader racing a deleted file creates none).
        target: str | Path = path if create else f"file:{quote(str(path))}?mode=rw"
        conn = sqlite3.connect(
            target, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000, uri=not create
        )
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA foreign_keys = ON")
        # Reading the schema is the first thing that fails on a file that is not SQLite.
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        new_file = conn.execute("PRAGMA page_count").fetchone()[0] == 0
        if new_file and create:
            # Messages are 1-4 KB each (text plus raw JSON), which 16 KiB pages hold with less
            # overflow: ingest writes about 25% faster than with 4 KiB.
            conn.execute(f"PRAGMA page_size = {PAGE_SIZE}")
        ours = (new_file and create) or (
            conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                (mig.MIGRATIONS_TABLE,),
            ).fetchone()
            is not None
        )
        # Switching to WAL changes the file: never do it to a file tgparser may refuse.
        if ours and conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            _switch_to_wal(conn)
        conn.execute("PRAGMA synchronous = NORMAL")  # safe with WAL; fsync at checkpoints
    except sqlite3.DatabaseError as exc:
        if not create and "unable to open" in str(exc) and not path.exists():
            raise NoArchiveError(str(path)) from None
        raise _storage_error(exc, path) from None
    return conn


def _busy(exc: sqlite3.DatabaseError) -> bool:
    """SQLITE_BUSY / SQLITE_LOCKED: another connection held the lock past the busy timeout."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    return name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "database is locked" in str(exc)


def _switch_to_wal(conn: sqlite3.Connection) -> None:
    # The switch needs the file to itself; processes opening a new archive at the same moment
    # get "database is locked" at once (the busy timeout does not cover it), so retry.
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _storage_error(exc: sqlite3.DatabaseError, path: Path) -> StorageError:
    message = str(exc)
    if _busy(exc):
        return StorageBusyError(
            f"the archive {path} is locked by another writer (waited "
            f"{BUSY_TIMEOUT_MS / 1000:g} s): try again later"
        )
    if "file is not a database" in message:
        return StorageError(f"{path} is not an SQLite database")
    if "unable to open database file" in message:
        return StorageError(f"cannot open the database file {path}")
    if "readonly" in message:
        return StorageError(f"the database file {path} is read-only")
    return StorageError(f"SQLite error on {path}: {message}")
