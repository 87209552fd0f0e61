"""PostgreSQL adapter (psycopg 3): one connection per process, tables in a schema of their own.

Keeping tgparser's tables in their own schema (default `tgparser`) lets the archive share a
database with other applications: tgparser looks at, and refuses to touch, only that schema.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, ClassVar

import psycopg
from psycopg import sql as pgsql
from psycopg.types.json import Jsonb

from tgparser.errors import MigrationError, StorageBusyError, StorageError
from tgparser.storage import checksum
from tgparser.storage import migrations as mig
from tgparser.storage.base import (
    MESSAGE_COLUMNS,
    MessageFilter,
    Row,
    Storage,
    as_utc,
    clean_text,
    json_text,
)
from tgparser.storage.columns import TABLE_COLUMNS
from tgparser.storage.topics import pack_weights, unpack_weights
from tgparser.storage.urls import DatabaseURL, pg_connect_args

DEFAULT_SCHEMA = "tgparser"
CONNECT_TIMEOUT_S = 10
_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_cursor_names = itertools.count(1)
ADVISORY_LOCK_NAMESPACE = 0x7467  # "tg"


def _int32(value: int) -> int:
    """Fold a 64-bit id into the int4 an advisory lock key takes (a clash only serialises)."""
    folded = (value ^ (value >> 32)) & 0xFFFFFFFF
    return folded - 2**32 if folded >= 2**31 else folded


# Another transaction held a lock past lock_timeout, or won a conflict: try the run again.
_TRY_LATER = (
    psycopg.errors.LockNotAvailable,
    psycopg.errors.SerializationFailure,
    psycopg.errors.DeadlockDetected,
)


def one_line(exc: BaseException) -> str:
    """psycopg/libpq messages span lines (DETAIL, HINT, tabs); a user gets them on one."""
    return " ".join(str(exc).split()) or type(exc).__name__


def _jsonb(value: Any) -> Jsonb:
    return Jsonb(value, dumps=json_text)


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


class PostgresStorage(Storage):
    dialect = "postgresql"
    placeholder = "%s"
    # psycopg adapts ints, texts, datetimes and bools itself and parses jsonb and boolean.
    encoders: ClassVar[dict[str, Callable[[Any], Any]]] = {
        "text": clean_text,
        "timestamp": as_utc,
        "json": _jsonb,
        "bool": bool,
        "weights": pack_weights,
    }
    decoders: ClassVar[dict[str, Callable[[Any], Any]]] = {
        "timestamp": _utc,
        "weights": unpack_weights,
    }

    def __init__(self, url: DatabaseURL, *, schema: str = DEFAULT_SCHEMA) -> None:
        super().__init__(url)
        if not _SCHEMA_NAME.match(schema):
            raise StorageError(
                f"bad PostgreSQL schema name {schema!r}: use lower-case letters, digits and _"
            )
        self.schema = schema
        self._writer_search: bool | None = None  # see _fills_search
        # The password goes to libpq as a parameter of its own, never inside the URL text that
        # libpq quotes in its errors: no message can show any part of it.
        conninfo, secrets = pg_connect_args(url.url)
        try:
            self.conn = psycopg.connect(
                conninfo,
                autocommit=True,  # transactions are explicit: `with storage.transaction()`
                connect_timeout=CONNECT_TIMEOUT_S,
                application_name="tgparser",
                **secrets,
            )
        except psycopg.ProgrammingError as exc:  # libpq could not parse the URL
            raise StorageError(f"bad database URL {url.masked}: {one_line(exc)}") from None
        except psycopg.Error as exc:
            raise StorageError(f"cannot connect to {url.masked}: {one_line(exc)}") from None
        # UTC sessions: timestamptz values come back in UTC, whatever the server's zone.
        self._execute("SET TIME ZONE 'UTC'")
        self._execute(
            pgsql.SQL("SET search_path TO {}").format(pgsql.Identifier(schema)).as_string(self.conn)
        )

    def close(self) -> None:
        self.conn.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        try:
            with self.conn.transaction():  # nested blocks become savepoints
                yield
        except psycopg.Error as exc:
            raise self._error(exc) from exc

    def _error(self, exc: psycopg.Error) -> StorageError:
        if isinstance(exc, _TRY_LATER):
            return StorageBusyError(
                f"the archive {self.url.masked} is locked by another writer "
                f"({one_line(exc)}): try again later"
            )
        if isinstance(exc, psycopg.OperationalError):
            return StorageError(f"lost the connection to {self.url.masked}: {one_line(exc)}")
        return StorageError(f"PostgreSQL error: {one_line(exc)}")

    def _cursor_run(
        self, sql: str, params: Sequence[Any], *, prepare: bool | None = None
    ) -> psycopg.Cursor:
        cursor = self.conn.cursor()
        try:
            # No parameters: the simple protocol, which also runs multi-statement scripts.
            cursor.execute(sql, params or None, prepare=prepare)
        except psycopg.Error as exc:
            cursor.close()
            raise self._error(exc) from exc
        return cursor

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        with self._cursor_run(sql, params) as cursor:
            return cursor.rowcount

    def _executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        try:
            with self.conn.cursor() as cursor:
                cursor.executemany(sql, rows)  # pipelined: one round trip per batch, not per row
        except psycopg.Error as exc:
            raise self._error(exc) from exc

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._cursor_run(sql, params) as cursor:
            return cursor.fetchall()

    def _stream(
        self, sql: str, params: Sequence[Any] = (), batch_size: int = 1000
    ) -> Iterator[tuple[Any, ...]]:
        # A named (server-side) cursor lives inside a transaction and fetches `itersize` rows
        # per round trip, so the client never holds the whole result.
        with self.transaction(), self.conn.cursor(name=f"tgparser_{next(_cursor_names)}") as cur:
            cur.itersize = batch_size
            try:
                cur.execute(sql, params or None)
                yield from cur
            except GeneratorExit:
                # The reader stopped early. Leave normally, so the stream's transaction commits:
                # what the reader wrote meanwhile is kept, not rolled back with the stream.
                return
            except psycopg.Error as exc:
                raise self._error(exc) from exc

    def _lock_chats(self, chat_ids: list[int]) -> None:
        # Transaction-scoped advisory locks, taken in sorted order so writers cannot deadlock;
        # the first key is tgparser's own namespace, away from other applications' locks.
        for chat_id in chat_ids:
            self._execute(
                "SELECT pg_advisory_xact_lock(%s, %s)", (ADVISORY_LOCK_NAMESPACE, _int32(chat_id))
            )

    def _insert_rows(self, table: str, columns: Sequence[str], rows: Sequence[Row]) -> None:
        # COPY streams the rows in one operation: about 30% cheaper than a pipelined
        # executemany of INSERTs, server time included. The search vector is left to the
        # server here (see _search_source): an ingest waits for each batch anyway, and the
        # server's C regular expressions cut words faster than Python's.
        statement = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
        try:
            with self.conn.cursor() as cursor, cursor.copy(statement) as copy:
                for row in rows:
                    copy.write_row(self._encode_row(table, row, columns))
        except psycopg.Error as exc:
            raise self._error(exc) from exc

    def _fills_search(self) -> bool:
        """Whether the writer computes messages.search (migration 0007 made it a plain column;
        before it, the server generates it)."""
        if self._writer_search is None:
            rows = self._query(
                "SELECT a.attgenerated = '' FROM pg_attribute a "
                "WHERE a.attrelid = to_regclass('messages') AND a.attname = 'search'"
            )
            self._writer_search = bool(rows and rows[0][0])
        return self._writer_search

    def _search_source(self, table: str, columns: Sequence[str]) -> int | None:
        """Where the text is among `columns` when rows loaded into `table` carry the search
        vector, computed here from that text (`search_tokens.tsvector`); else None.

        Only `db copy` sends it (load_rows): there the client reads and sends while the server
        writes, each on its own core, and the server's share (parsing the words, once per
        message) was what held the copy back. An ingest works batch by batch, the client
        waiting for the server: computing the words in Python would only move the work to the
        slower side, so there the trigger of migration 0007 computes them, as before."""
        if table != "messages" or "text" not in columns or not self._fills_search():
            return None
        return list(columns).index("text")

    def _messages_by_ids(self, chat_id: int, ids: list[int]) -> list[Row]:
        # One primary-key probe per id. A plain `message_id = ANY(…)` lets the planner, with
        # the stale statistics of a table that is being filled (a first ingest), pick a scan
        # of the whole chat per batch instead; `OFFSET 0` keeps the lateral probe as written.
        columns = ", ".join(f"m.{c}" for c in MESSAGE_COLUMNS)
        sql = (
            f"SELECT {columns} FROM unnest(%s::bigint[]) AS k(id) CROSS JOIN LATERAL "
            "(SELECT * FROM messages WHERE chat_id = %s AND message_id = k.id OFFSET 0) AS m"
        )
        # prepare=False: once psycopg prepared this statement (after 5 runs) it ran ~150 ms
        # instead of <1 ms on a table being filled; a fresh plan per batch costs 0.2 ms.
        with self._cursor_run(sql, (ids, chat_id), prepare=False) as cursor:
            rows = cursor.fetchall()
        return [self._decode_row("messages", MESSAGE_COLUMNS, r) for r in rows]

    def _search_rows(
        self, groups: list[Any], columns: str, where: str, params: list[Any], limit: int
    ) -> list[tuple[Any, ...]]:
        from tgparser.search_query import snippet, to_tsquery

        # The text is indexed as search_text(text) (migration 0004): the words SQLite's
        # unicode61 sees, with the same letters folded. The snippet is cut in Python by the same
        # rules (ts_headline would re-parse the text its own way, and miss `python` in a URL).
        sql = (
            f"SELECT {columns}, s.username, r.score, m.text FROM ("
            "SELECT m.chat_id, m.message_id, ts_rank_cd(m.search, q) AS score "
            "FROM messages m, to_tsquery('simple', %s) q "
            f"WHERE m.search @@ q{where} ORDER BY score DESC, m.date DESC LIMIT %s) r "
            "JOIN messages m ON m.chat_id = r.chat_id AND m.message_id = r.message_id "
            "LEFT JOIN sources s ON s.chat_id = COALESCE(m.parent_chat_id, m.chat_id) "
            "ORDER BY r.score DESC, m.date DESC"
        )
        rows = self._query(sql, [to_tsquery(groups), *params, limit])
        return [(*row[:-1], snippet(row[-1] or "", groups)) for row in rows]

    def _json_export_sql(
        self,
        f: MessageFilter,
        fields: Sequence[tuple[str, str]],
        with_comments: bool,
        limit: int | None,
    ) -> tuple[str, list[Any]]:
        # row_to_json writes compact JSON ({"a":1}) with the columns in order, json values
        # verbatim; the subquery's ORDER BY gives the rows' order.
        columns = ", ".join(f'{expression} AS "{name}"' for name, expression in fields)
        sql, params = self._export_sql(f, columns, with_comments, limit)
        return f"SELECT row_to_json(t)::text FROM ({sql}) t", params

    def reactions_json_sql(self, column: str) -> str:
        # jsonb prints ", " and ": " and sorts keys: rebuilt compact, "reaction" first.
        reaction = (
            "CASE WHEN jsonb_typeof(e.v->'reaction') = 'object' THEN "
            "'{\"custom_emoji_id\":' || (e.v->'reaction'->'custom_emoji_id')::text || '}' "
            "ELSE (e.v->'reaction')::text END"
        )
        return (
            f"CASE WHEN {column} IS NULL THEN NULL ELSE "
            f"(SELECT COALESCE('[' || string_agg('{{\"reaction\":' || {reaction} || ',\"count\":' "
            "|| (e.v->'count')::text || '}', ',' ORDER BY e.i) || ']', '[]')::json "
            f"FROM jsonb_array_elements({column}) WITH ORDINALITY AS e(v, i)) END"
        )

    def _count_search_rows(self, groups: list[Any], where: str, params: list[Any]) -> int:
        from tgparser.search_query import to_tsquery

        sql = f"SELECT count(*) FROM messages m WHERE m.search @@ to_tsquery('simple', %s){where}"
        return self._query(sql, [to_tsquery(groups), *params])[0][0]

    def _timestamp_text(self, expression: str) -> str:
        return f"""to_char({expression} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')"""

    def identity(self) -> str:
        info = self.conn.info
        return f"postgresql://{info.host}:{info.port}/{info.dbname}#{self.schema}"

    def _stream_with_digests(self, table: str, batch_size: int) -> Iterator[tuple[Any, ...]]:
        # The server hashes each row as it sends it: the client only adds the digests up.
        kinds = TABLE_COLUMNS[table]
        digest = checksum.postgres_digest_sql(kinds, utf8_client=self._utf8_client())
        sql = f"SELECT {', '.join(kinds)}, {digest} FROM {table}"
        for values in self._stream(sql, (), batch_size):
            yield (*values[:-1], int(values[-1], 16))

    def _utf8_client(self) -> bool:
        return self.conn.info.encoding == "utf-8"

    def table_checksum(self, table: str) -> tuple[int, int]:
        # One query: the server hashes and sums; nothing but five numbers crosses the wire.
        sql = checksum.postgres_table_checksum_sql(
            table, TABLE_COLUMNS[table], utf8_client=self._utf8_client()
        )
        count, *quarters = self._query(sql)[0]
        return count, checksum.combine_quarters(quarters)

    def load_rows(self, table: str, rows: Iterable[Sequence[Any]], *, skip_existing: bool) -> int:
        text_at = self._search_source(table, tuple(TABLE_COLUMNS[table]))
        if text_at is not None:
            from tgparser.search_tokens import tsvector

            # Computed as the rows stream out: while the server writes the rows sent before.
            rows = ((*row, tsvector(row[text_at] or "")) for row in rows)
        columns = ", ".join([*TABLE_COLUMNS[table], *(["search"] if text_at is not None else [])])
        try:
            if not skip_existing:
                return self._copy_in(table, columns, rows)
            # COPY cannot skip conflicts: stage the rows, then insert what is missing.
            stage = f"copy_stage_{table}"
            self._execute(
                f"CREATE TEMP TABLE IF NOT EXISTS {stage} (LIKE {table}) ON COMMIT DELETE ROWS"
            )
            self._execute(f"TRUNCATE {stage}")
            self._copy_in(stage, columns, rows)
            return self._execute(
                f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {stage} "
                "ON CONFLICT DO NOTHING"
            )
        except psycopg.Error as exc:
            raise self._error(exc) from exc

    def _copy_in(self, table: str, columns: str, rows: Iterable[Sequence[Any]]) -> int:
        # Text COPY: the server parses each value by its column type, so ISO timestamps and
        # JSON text read from SQLite load as they are.
        count = 0
        with (
            self.conn.cursor() as cursor,
            cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)
                count += 1
        return count

    @contextmanager
    def bulk_load(self, tables: Sequence[str]) -> Iterator[None]:
        # Secondary indexes (the search GIN index above all) cost far more kept up to date row
        # by row than built once: drop them for the load and build them again at its end, in
        # the caller's transaction, so an interrupted copy leaves the schema as it was. Indexes
        # behind a primary key or unique constraint stay (the load relies on them).
        indexes = self._query(
            "SELECT c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid "
            "JOIN pg_namespace n ON n.oid = t.relnamespace "
            "WHERE n.nspname = %s AND t.relname = ANY(%s) "
            "AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid) "
            "ORDER BY c.relname",
            (self.schema, list(tables)),
        )
        for name, _ in indexes:
            self._execute(f"DROP INDEX {pgsql.Identifier(name).as_string(self.conn)}")
        yield
        # A GIN index builds much faster with room to sort in (the default is 64 MB).
        self._execute("SET LOCAL maintenance_work_mem = '256MB'")
        for _, definition in indexes:
            self._execute(definition)

    def after_bulk_load(self) -> None:
        # ingest_runs.id is an identity column: move its sequence past the copied ids.
        self._execute(
            "SELECT setval(pg_get_serial_sequence('ingest_runs', 'id'), "
            "COALESCE((SELECT max(id) FROM ingest_runs), 0) + 1, false)"
        )

    def existing_tables(self) -> set[str]:
        rows = self._query(
            "SELECT tablename FROM pg_catalog.pg_tables WHERE schemaname = %s", (self.schema,)
        )
        return {r[0] for r in rows}

    def _applied_migrations(self) -> list[mig.AppliedMigration]:
        if mig.MIGRATIONS_TABLE not in self.existing_tables():
            return []
        try:
            rows = self._query(
                f"SELECT version, name, checksum, applied_at FROM {mig.MIGRATIONS_TABLE} "
                "ORDER BY version"
            )
        except StorageError:
            raise MigrationError(
                f"schema {self.schema!r} has a {mig.MIGRATIONS_TABLE} table that tgparser did "
                "not create; refusing to touch it"
            ) from None
        return [mig.AppliedMigration(v, n, c, as_utc(a)) for v, n, c, a in rows]

    @contextmanager
    def _migration_lock(self) -> Iterator[None]:
        # A session-level advisory lock spans the separate transactions of the migrations.
        self._execute("SELECT pg_advisory_lock(%s, 0)", (ADVISORY_LOCK_NAMESPACE + 1,))
        try:
            yield
        finally:
            self._execute("SELECT pg_advisory_unlock(%s, 0)", (ADVISORY_LOCK_NAMESPACE + 1,))

    def _apply_migration(self, migration: mig.Migration) -> None:
        schema = pgsql.Identifier(self.schema).as_string(self.conn)
        self._writer_search = None  # a migration may change who computes messages.search
        try:
            with self.conn.transaction():
                # CREATE SCHEMA IF NOT EXISTS needs CREATE on the database even when the schema
                # exists: a role given a ready-made schema has no such right.
                exists = self.conn.execute(
                    "SELECT 1 FROM pg_namespace WHERE nspname = %s", (self.schema,)
                ).fetchone()
                if not exists:
                    self.conn.execute(f"CREATE SCHEMA {schema}")
                self.conn.execute(
                    f"CREATE TABLE IF NOT EXISTS {mig.MIGRATIONS_TABLE} ("
                    "version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL, "
                    "applied_at timestamptz NOT NULL DEFAULT now())"
                )
                self.conn.execute(migration.sql)
                self.conn.execute(
                    f"INSERT INTO {mig.MIGRATIONS_TABLE} (version, name, checksum) "
                    "VALUES (%s, %s, %s)",
                    (migration.version, migration.name, migration.checksum),
                )
        except psycopg.Error as exc:
            raise MigrationError(f"migration {migration.filename} failed: {one_line(exc)}") from exc

    def server_version(self) -> str:
        return self._query("SHOW server_version")[0][0]

    def _backend_status(self) -> dict[str, Any]:
        return {"schema": self.schema, "database": self.conn.info.dbname}

    def _namespace_name(self) -> str:
        return f"schema {self.schema!r} of {self.url.masked}"

    def _archive_location(self) -> str:
        return f"{self.url.masked} (schema {self.schema})"
