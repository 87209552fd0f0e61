"""The storage adapter: the one interface the rest of tgparser uses to read and write.

`Storage` holds everything both backends share (SQL that is the same in both dialects, record
validation, the upsert logic, migration planning); `SQLiteStorage` and `PostgresStorage` add
connections, transactions, value conversion and introspection. Rows are plain dicts keyed by
column name (see `columns.TABLE_COLUMNS`), with aware UTC datetimes, parsed JSON and bools,
whichever backend they come from.
"""

from __future__ import annotations

import functools
import json
import os
import re
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, NamedTuple

from tgparser.errors import MigrationError, NoArchiveError
from tgparser.storage import migrations as mig
from tgparser.storage.columns import MESSAGE_KINDS, SOURCE_TYPES, TABLE_COLUMNS, ColumnType
from tgparser.storage.documents import DocumentsMixin, not_an_ad_sql
from tgparser.storage.topics import TopicsMixin
from tgparser.storage.urls import DatabaseURL

Row = dict[str, Any]
MessageKey = tuple[int, int]

MESSAGE_COLUMNS = tuple(TABLE_COLUMNS["messages"])
VERSION_COLUMNS = tuple(TABLE_COLUMNS["message_versions"])
# Columns that say when tgparser saw a row, not what the row is: never a reason to update.
_BOOKKEEPING = frozenset({"first_seen_at", "updated_at"})
_MESSAGE_REQUIRED = ("chat_id", "message_id", "kind", "date", "raw", "content_hash")
_KEY_CHUNK = 400  # keys per `IN (VALUES …)` lookup: well under SQLite's parameter limit


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """An aware datetime in UTC; naive datetimes are refused, since their zone is a guess."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value.isoformat()} has no time zone")
    return value.astimezone(UTC)


@functools.cache
def _nul_escape() -> re.Pattern[str]:  # compiled when a text holds one (start-up time)
    return re.compile(r"(?<!\\)((?:\\\\)*)\\u0000")


def clean_text(value: str) -> str:
    """Text as both backends can store it: PostgreSQL refuses NUL characters, so U+0000
    becomes U+FFFD (the replacement character) on either backend."""
    return value.replace("\x00", "\ufffd") if "\x00" in value else value


def json_text(value: Any) -> str:
    """Compact UTF-8 JSON, with NUL characters in strings replaced as in `clean_text`."""
    text = _json_encode(value)
    return _nul_escape().sub(r"\1\\ufffd", text) if "\\u0000" in text else text


# Built once: json.dumps() with options constructs a new encoder on every call.
_json_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _normalise_json(value: Any) -> Any:
    # What a JSON column hands back: tuples become lists, keys become strings.
    return None if value is None else json.loads(json_text(value))


@dataclass
class UpsertResult:
    """What an upsert did. `previous` holds the stored rows that were replaced, by key."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    edited: int = 0  # updated rows whose content (text, formatting, media) changed
    previous: dict[MessageKey, Row] = field(default_factory=dict)

    @property
    def written(self) -> int:
        return self.inserted + self.updated


@dataclass(frozen=True)
class MessageFilter:
    """Which messages to read out. `until` is exclusive; `sources` are followed chats' ids."""

    sources: tuple[int, ...] = ()
    kinds: tuple[str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None
    has_media: bool = False
    min_views: int | None = None
    no_ads: bool = False  # leave out messages whose current document is an ad
    topic: str | None = None  # only the messages of this topic's bundle (`topics`)
    authors: tuple[int | str, ...] = ()  # sender ids, or names (signature or sender name)


class SchemaState(NamedTuple):
    """What `schema_state` found (a named tuple, cheaper to define than a dataclass)."""

    applied: list[mig.AppliedMigration]
    pending: list[mig.Migration]
    latest: int

    @property
    def version(self) -> int:
        return max((a.version for a in self.applied), default=0)


class Storage(DocumentsMixin, TopicsMixin, ABC):
    """Base of both adapters. Use as a context manager, or call `close()`."""

    dialect: str  # 'sqlite' | 'postgresql': also the folder name of its migration files
    placeholder: str  # parameter marker of the driver: '?' or '%s'

    def __init__(self, url: DatabaseURL) -> None:
        self.url = url

    # -- lifecycle ---------------------------------------------------------------------------

    def __enter__(self) -> Storage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @abstractmethod
    def close(self) -> None: ...

    @abstractmethod
    def transaction(self) -> AbstractContextManager[None]:
        """All writes inside commit together or not at all. Nests (inner blocks are savepoints)."""

    # -- driver primitives, per backend --------------------------------------------------------

    @abstractmethod
    def _execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; return the affected row count."""

    @abstractmethod
    def _executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None: ...

    @abstractmethod
    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...

    @abstractmethod
    def _stream(
        self, sql: str, params: Sequence[Any] = (), batch_size: int = 1000
    ) -> Iterator[tuple[Any, ...]]:
        """Yield rows without holding the whole result in memory."""

    # How each logical column type becomes a driver value and back; types not named pass as
    # they are. Set by each backend.
    encoders: ClassVar[dict[str, Callable[[Any], Any]]] = {}
    decoders: ClassVar[dict[str, Callable[[Any], Any]]] = {}

    def _encode(self, kind: ColumnType, value: Any) -> Any:
        convert = self.encoders.get(kind)
        return value if value is None or convert is None else convert(value)

    def _decode(self, kind: ColumnType, value: Any) -> Any:
        convert = self.decoders.get(kind)
        return value if value is None or convert is None else convert(value)

    @abstractmethod
    def existing_tables(self) -> set[str]:
        """Tables in tgparser's namespace (the SQLite file, or the PostgreSQL schema)."""

    @abstractmethod
    def _applied_migrations(self) -> list[mig.AppliedMigration]: ...

    @abstractmethod
    def _migration_lock(self) -> AbstractContextManager[None]:
        """Held while migrations are checked and applied: one migrating process at a time."""

    @abstractmethod
    def _apply_migration(self, migration: mig.Migration) -> None:
        """Run one migration file and record it, in one transaction (under the lock)."""

    @abstractmethod
    def server_version(self) -> str: ...

    @abstractmethod
    def _backend_status(self) -> dict[str, Any]:
        """Backend-specific lines of `db status` (file size, schema name…)."""

    # -- schema ------------------------------------------------------------------------------

    def schema_state(self) -> SchemaState:
        """Applied and pending migrations. Raises `MigrationError` for a database tgparser must
        not touch: one holding tables but no tgparser archive, a changed migration, a newer
        schema. Tables users add next to a tgparser archive are theirs and left alone."""
        # Tables first, then the record of migrations: a migration commits its tables and its
        # record together, so whatever tables we saw, their record is visible by the second
        # read, even while another process is migrating.
        tables = self.existing_tables()
        applied = self._applied_migrations()
        foreign = mig.foreign_tables(tables, applied, self.dialect)
        if not applied and foreign:
            raise MigrationError(
                f"{self._namespace_name()} holds tables tgparser did not create "
                f"({', '.join(foreign[:5])}{', …' if len(foreign) > 5 else ''}) and no "
                "tgparser archive; refusing to touch it: point --db at an empty or "
                "tgparser database"
            )
        pending = mig.pending_migrations(applied, self.dialect)
        # A user's table named like one a pending migration creates would make it fail.
        taken = sorted({t.lower() for t in foreign} & set().union(*(m.tables for m in pending)))
        if taken and applied:
            raise MigrationError(
                f"{self._namespace_name()} holds a table {taken[0]!r} that tgparser did not "
                f"create and migration {pending[0].filename} needs that name: rename it"
            )
        return SchemaState(applied, pending, mig.latest_version(self.dialect))

    def migrate(
        self,
        *,
        dry_run: bool = False,
        up_to: int | None = None,
        on_apply: Callable[[mig.Migration], None] | None = None,
    ) -> list[mig.Migration]:
        """Apply pending migrations in order, each in its own transaction; return them.
        `up_to` stops at that version (to match another database's schema); `on_apply` is
        told of each migration before it runs (one may rewrite a big table for minutes).

        The whole run holds the database's migration lock, so processes migrating at once
        apply each file once and never see each other's half-migrated schema.
        """

        def wanted(pending: list[mig.Migration]) -> list[mig.Migration]:
            return [m for m in pending if up_to is None or m.version <= up_to]

        if dry_run:
            return wanted(self.schema_state().pending)
        with self._migration_lock():
            pending = wanted(self.schema_state().pending)  # again, now nobody else migrates
            for migration in pending:
                if on_apply is not None:
                    on_apply(migration)
                self._apply_migration(migration)
        return pending

    def ensure_schema(self, *, create: bool = True) -> None:
        """What every command that reads or writes archive data calls first.

        A fresh database (no tgparser tables yet) is migrated automatically when `create` (a
        command that writes); a command that only reads refuses it (`NoArchiveError`) and
        changes nothing. A database at an older version is left alone until the user runs
        `tgparser db migrate`, because upgrading a shared server should be a decision, not a
        side effect of a cron job.

        A command that only reads (`create=False`: search, export, stats) first compares the
        migrations the database records with the shipped files' numbers and names; when they
        are the same, nothing is pending and nothing is newer, and it goes on without reading,
        hashing and parsing every migration file (start-up time). Otherwise, and for every
        command that writes, `schema_state` checks in full: checksums, foreign tables.
        """
        if not create and self._records_shipped_migrations():
            return
        state = self.schema_state()
        if not state.applied and not create:
            raise NoArchiveError(self._archive_location())
        if not state.pending:
            return
        with self._migration_lock():
            state = self.schema_state()  # another process may have migrated it meanwhile
            if not state.pending:
                return
            if state.applied:
                raise MigrationError(
                    f"the database schema is at version {state.version}, this tgparser needs "
                    f"{state.latest}: run `tgparser db migrate`"
                )
            for migration in state.pending:
                self._apply_migration(migration)

    def _records_shipped_migrations(self) -> bool:
        """True when the applied migrations are exactly the shipped ones, by number and name."""
        applied = [(a.version, a.name) for a in self._applied_migrations()]
        return bool(applied) and applied == mig.shipped_versions(self.dialect)

    def _archive_location(self) -> str:
        """Where the archive is, for 'no archive at …'."""
        return self.url.masked

    def _namespace_name(self) -> str:
        return f"the database {self.url.masked}"

    # -- status --------------------------------------------------------------------------------

    def latency_ms(self, rounds: int = 5) -> float:
        """Median round trip of a trivial query, in milliseconds."""
        samples = []
        for _ in range(rounds):
            start = time.perf_counter()
            self._query("SELECT 1")
            samples.append((time.perf_counter() - start) * 1000)
        import statistics  # here: `db status` only, and it is slow to import

        return round(statistics.median(samples), 3)

    def table_counts(self) -> dict[str, int]:
        """Row count of every tgparser table that exists (bookkeeping table included; search
        indexes, which mirror messages, left out)."""
        shipped = mig.load_migrations(self.dialect)
        indexes = set().union(*(m.virtual_tables for m in shipped))
        tables = sorted((self.existing_tables() & mig.owned_tables(shipped)) - indexes)
        return {t: self._query(f"SELECT count(*) FROM {t}")[0][0] for t in tables}

    def status(self) -> dict[str, Any]:
        state = self.schema_state()
        info: dict[str, Any] = {
            "backend": self.dialect,
            "url": self.url.masked,
            "server_version": self.server_version(),
            "schema_version": state.version,
            "latest_version": state.latest,
            "pending_migrations": [m.filename for m in state.pending],
            "tables": self.table_counts(),
            "latency_ms": self.latency_ms(),
        }
        info.update(self._backend_status())
        return info

    # -- row conversion ------------------------------------------------------------------------

    def _encode_row(self, table: str, row: Row, columns: Sequence[str]) -> list[Any]:
        values = [row.get(c) for c in columns]
        for index, kind in self._converted_columns(table, tuple(columns)):
            if values[index] is not None:
                values[index] = self._encode(kind, values[index])
        return values

    @functools.cache  # noqa: B019 - a handful of (table, columns) keys per adapter
    def _converted_columns(
        self, table: str, columns: tuple[str, ...]
    ) -> list[tuple[int, ColumnType]]:
        """Positions whose values need converting: the others pass through as they are, which
        saves a call per column on the hot path (every ingested message)."""
        types = TABLE_COLUMNS[table]
        return [(i, types[c]) for i, c in enumerate(columns) if types[c] in self.encoders]

    def _decode_row(self, table: str, columns: Sequence[str], values: Sequence[Any]) -> Row:
        row = dict(zip(columns, values, strict=True))
        for column, convert in self._decoded_columns(table, tuple(columns)):
            if row[column] is not None:
                row[column] = convert(row[column])
        return row

    @functools.cache  # noqa: B019 - a handful of (table, columns) keys per adapter
    def _decoded_columns(
        self, table: str, columns: tuple[str, ...]
    ) -> list[tuple[str, Callable[[Any], Any]]]:
        types = TABLE_COLUMNS[table]
        return [(c, self.decoders[types[c]]) for c in columns if types[c] in self.decoders]

    def _select(
        self, table: str, where: str = "", params: Sequence[Any] = (), tail: str = ""
    ) -> list[Row]:
        columns = tuple(TABLE_COLUMNS[table])
        sql = f"SELECT {', '.join(columns)} FROM {table} {where} {tail}"
        return [self._decode_row(table, columns, r) for r in self._query(sql, params)]

    def _upsert_sql(self, table: str, columns: Sequence[str], key: Sequence[str]) -> str:
        """`INSERT … ON CONFLICT DO UPDATE`: the same text in both dialects."""
        marks = ", ".join([self.placeholder] * len(columns))
        updates = (
            ", ".join(
                f"{c} = excluded.{c}" for c in columns if c not in key and c != "first_seen_at"
            )
            or f"{key[0]} = excluded.{key[0]}"
        )
        return (
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks}) "
            f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {updates}"
        )

    # -- sources -------------------------------------------------------------------------------

    def upsert_source(self, source: Row) -> Row:
        """Insert a followed chat, or update the fields given for a known one.

        Fields left out keep their stored value, so re-adding a source never resets it.
        """
        _check_columns("sources", source)
        if source.get("chat_id") is None:
            raise ValueError("a source needs a chat_id")
        if source.get("type") is not None and source["type"] not in SOURCE_TYPES:
            raise ValueError(f"unknown source type {source['type']!r}")
        now = utcnow()
        with self.transaction():
            existing = self.get_source(source["chat_id"])
            inserted = False
            if existing is None:
                if source.get("type") is None:
                    raise ValueError("a new source needs a type")
                row = {"options": {}, "status": "active", **source}
                row["created_at"] = row["updated_at"] = now
                columns = [c for c in TABLE_COLUMNS["sources"] if c in row]
                marks = ", ".join([self.placeholder] * len(columns))
                # Another process may add the same chat between our read and this insert:
                # then the insert waits for it, does nothing, and ours becomes an update.
                inserted = (
                    self._execute(
                        f"INSERT INTO sources ({', '.join(columns)}) VALUES ({marks}) "
                        "ON CONFLICT (chat_id) DO NOTHING",
                        self._encode_row("sources", row, columns),
                    )
                    > 0
                )
            if not inserted:
                changes = {k: v for k, v in source.items() if k != "chat_id"}
                self.update_source(source["chat_id"], **changes)
        stored = self.get_source(source["chat_id"])
        assert stored is not None
        return stored

    def update_source(self, chat_id: int, **changes: Any) -> bool:
        """Set the given fields of a source; False when there is no such source."""
        _check_columns("sources", changes)
        changes.pop("created_at", None)
        changes["updated_at"] = changes.get("updated_at") or utcnow()
        columns = list(changes)
        sets = ", ".join(f"{c} = {self.placeholder}" for c in columns)
        params = [*self._encode_row("sources", changes, columns), chat_id]
        return (
            self._execute(f"UPDATE sources SET {sets} WHERE chat_id = {self.placeholder}", params)
            > 0
        )

    def get_source(self, chat_id: int) -> Row | None:
        rows = self._select("sources", f"WHERE chat_id = {self.placeholder}", (chat_id,))
        return rows[0] if rows else None

    def list_sources(self) -> list[Row]:
        return self._select("sources", tail="ORDER BY created_at, chat_id")

    def delete_source(self, chat_id: int) -> bool:
        """Forget a source and its run history (messages stay unless purged separately)."""
        p = self.placeholder
        return self._execute(f"DELETE FROM sources WHERE chat_id = {p}", (chat_id,)) > 0

    # -- messages ------------------------------------------------------------------------------

    def upsert_messages(self, records: Iterable[Row]) -> UpsertResult:
        """Store messages keyed by (chat_id, message_id), in one transaction.

        A message seen before is rewritten only when something about it changed, so running the
        same batch twice is a no-op (`unchanged`), and `first_seen_at` is kept from the first
        sighting. When the content itself changed (a new `content_hash`: an edit), the replaced
        content is kept in `message_versions`, so history is never silently overwritten. The
        replaced rows also come back in `result.previous`.
        """
        batch: dict[MessageKey, Row] = {}
        for record in records:
            row = self._prepare_message(record)
            batch[(row["chat_id"], row["message_id"])] = row  # last one of a key wins
        result = UpsertResult()
        if not batch:
            return result
        now = utcnow()
        with self.transaction():
            self._lock_chats(sorted({chat_id for chat_id, _ in batch}))
            existing = self._existing_messages(list(batch))
            new_rows: list[Row] = []
            changed_rows: list[Row] = []
            versions: list[Row] = []
            for key, row in batch.items():
                old = existing.get(key)
                if old is not None and old["parent_chat_id"] is not None:
                    _keep_comment_link(old, row)
                if old is None:
                    result.inserted += 1
                    row.setdefault("first_seen_at", now)
                    new_rows.append(row)
                elif _message_differs(old, row):
                    result.updated += 1
                    result.previous[key] = old
                    row["first_seen_at"] = old["first_seen_at"]
                    changed_rows.append(row)
                    if old["content_hash"] != row["content_hash"]:
                        result.edited += 1
                        versions.append(
                            {
                                **{c: old[c] for c in VERSION_COLUMNS if c in old},
                                "captured_at": old["updated_at"],
                            }
                        )
                else:
                    result.unchanged += 1
                    continue
                row.setdefault("updated_at", now)
            if new_rows:
                # Known to be absent, and no other writer of these chats can add them before
                # this transaction ends (see _lock_chats): a plain bulk insert suffices.
                self._insert_rows("messages", MESSAGE_COLUMNS, new_rows)
            if changed_rows:
                self._executemany(
                    self._upsert_sql("messages", MESSAGE_COLUMNS, ("chat_id", "message_id")),
                    (self._encode_row("messages", r, MESSAGE_COLUMNS) for r in changed_rows),
                )
            if versions:
                self._executemany(
                    f"INSERT INTO message_versions ({', '.join(VERSION_COLUMNS)}) "
                    f"VALUES ({', '.join([self.placeholder] * len(VERSION_COLUMNS))}) "
                    "ON CONFLICT (chat_id, message_id, content_hash) DO NOTHING",
                    (self._encode_row("message_versions", v, VERSION_COLUMNS) for v in versions),
                )
        return result

    def list_versions(self, chat_id: int, message_id: int) -> list[Row]:
        """Earlier contents of an edited message, oldest first (the current one is in messages)."""
        p = self.placeholder
        return self._select(
            "message_versions",
            f"WHERE chat_id = {p} AND message_id = {p}",
            (chat_id, message_id),
            "ORDER BY captured_at, content_hash",
        )

    def _insert_rows(self, table: str, columns: Sequence[str], rows: Sequence[Row]) -> None:
        """Bulk-insert rows that do not exist yet (PostgreSQL overrides this with COPY)."""
        marks = ", ".join([self.placeholder] * len(columns))
        self._executemany(
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})",
            (self._encode_row(table, r, columns) for r in rows),
        )

    def _lock_chats(self, chat_ids: list[int]) -> None:
        """Serialise writers of the same chats until the transaction ends, so two processes
        never both decide a message is new. (SQLite's write lock already does this.)"""

    def _prepare_message(self, record: Row) -> Row:
        _check_columns("messages", record)
        missing = [c for c in _MESSAGE_REQUIRED if record.get(c) is None]
        if missing:
            raise ValueError(f"message record lacks {', '.join(missing)}")
        if record["kind"] not in MESSAGE_KINDS:
            raise ValueError(f"unknown message kind {record['kind']!r}")
        row = {c: record.get(c) for c in MESSAGE_COLUMNS}
        row["text"] = row["text"] or ""
        for column in ("first_seen_at", "updated_at"):
            if row[column] is None:
                del row[column]
        return row

    def _existing_messages(self, keys: list[MessageKey]) -> dict[MessageKey, Row]:
        by_chat: dict[int, list[int]] = {}
        for chat_id, message_id in keys:
            by_chat.setdefault(chat_id, []).append(message_id)
        found: dict[MessageKey, Row] = {}
        for chat_id, ids in by_chat.items():
            for start in range(0, len(ids), _KEY_CHUNK):
                for row in self._messages_by_ids(chat_id, ids[start : start + _KEY_CHUNK]):
                    found[(row["chat_id"], row["message_id"])] = row
        return found

    def _messages_by_ids(self, chat_id: int, ids: list[int]) -> list[Row]:
        """Stored messages of one chat among `ids`, through the primary key.

        (A row-value `(chat_id, message_id) IN (VALUES …)` would make SQLite scan the table.)
        """
        p = self.placeholder
        where = f"WHERE chat_id = {p} AND message_id IN ({', '.join([p] * len(ids))})"
        return self._select("messages", where, [chat_id, *ids])

    def get_message(self, chat_id: int, message_id: int) -> Row | None:
        p = self.placeholder
        rows = self._select(
            "messages", f"WHERE chat_id = {p} AND message_id = {p}", (chat_id, message_id)
        )
        return rows[0] if rows else None

    def iter_messages(
        self,
        *,
        chat_id: int | None = None,
        kind: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        batch_size: int = 1000,
    ) -> Iterator[Row]:
        """Stream messages in (chat_id, date, message_id) order; memory stays flat."""
        where, params = self._message_filter(chat_id=chat_id, kind=kind, since=since, until=until)
        columns = MESSAGE_COLUMNS
        sql = (
            f"SELECT {', '.join(columns)} FROM messages {where} ORDER BY chat_id, date, message_id"
        )
        for values in self._stream(sql, params, batch_size):
            yield self._decode_row("messages", columns, values)

    def count_messages(self, *, chat_id: int | None = None, kind: str | None = None) -> int:
        where, params = self._message_filter(chat_id=chat_id, kind=kind)
        return self._query(f"SELECT count(*) FROM messages {where}", params)[0][0]

    def delete_messages(self, chat_id: int) -> int:
        """Remove every stored message of one chat; return how many."""
        p = self.placeholder
        return self._execute(f"DELETE FROM messages WHERE chat_id = {p}", (chat_id,))

    def _message_filter(
        self,
        *,
        chat_id: int | None = None,
        kind: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> tuple[str, list[Any]]:
        # The same date and kind conditions as export and search use, on the bare table.
        f = MessageFilter(kinds=(kind,) if kind else (), since=since, until=until)
        clauses, params = self._filter_sql(f, alias="messages")
        if chat_id is not None:
            clauses.insert(0, f"messages.chat_id = {self.placeholder}")
            params.insert(0, chat_id)
        return ("WHERE " + " AND ".join(clauses) if clauses else ""), params

    # -- reading out: export, search, stats -----------------------------------------------------

    def _filter_sql(self, f: MessageFilter, alias: str = "m") -> tuple[list[str], list[Any]]:
        p, a = self.placeholder, alias
        clauses: list[str] = []
        params: list[Any] = []
        if f.sources:
            marks = ", ".join([p] * len(f.sources))
            # A followed channel's comments live in its discussion group: include them.
            clauses.append(f"({a}.chat_id IN ({marks}) OR {a}.parent_chat_id IN ({marks}))")
            params += [*f.sources, *f.sources]
        if f.kinds:
            clauses.append(f"{a}.kind IN ({', '.join([p] * len(f.kinds))})")
            params += list(f.kinds)
        if f.since is not None:
            clauses.append(f"{a}.date >= {p}")
            params.append(self._encode("timestamp", f.since))
        if f.until is not None:
            clauses.append(f"{a}.date < {p}")
            params.append(self._encode("timestamp", f.until))
        if f.has_media:
            clauses.append(f"{a}.media_kind IS NOT NULL")
        if f.min_views is not None:
            clauses.append(f"{a}.views >= {p}")
            params.append(f.min_views)
        if f.topic is not None:
            clauses.append(
                f"EXISTS (SELECT 1 FROM topic_members tm WHERE tm.topic_id = {p} "
                f"AND tm.chat_id = {a}.chat_id AND tm.message_id = {a}.message_id)"
            )
            params.append(f.topic)
        if f.no_ads:
            clauses.append(not_an_ad_sql(a))
        if f.authors:
            ids = [x for x in f.authors if isinstance(x, int)]
            names = [x for x in f.authors if isinstance(x, str)]
            either = [f"{a}.sender_id = {p}"] * len(ids)
            either += [f"{a}.post_author = {p} OR {a}.sender_name = {p}"] * len(names)
            clauses.append(f"({' OR '.join(either)})")
            params += [*ids, *(n for name in names for n in (name, name))]
        return clauses, params

    def iter_export(
        self,
        f: MessageFilter,
        *,
        with_comments: bool = False,
        columns: Sequence[str] = MESSAGE_COLUMNS,
        batch_size: int = 2000,
        limit: int | None = None,
    ) -> Iterator[Row]:
        """Stream the messages a filter selects, each with `source_username` (the followed
        chat's: a comment's channel, else its own chat). With `with_comments`, each selected
        post is followed by its whole thread. Only `columns` are read (raw JSON is the
        largest); `limit` stops after that many rows. Memory stays flat whatever the archive
        size."""
        wanted = tuple(columns)
        # Timestamps come back as ISO-8601 UTC text (2025-03-01T09:00:00.000000Z), made by
        # the database: an export writes them as text anyway, and parsing a million
        # datetimes only to format them again would cost more than the query.
        kinds = TABLE_COLUMNS["messages"]
        columns_sql = ", ".join(
            self._timestamp_text(f"m.{c}") if kinds[c] == "timestamp" else f"m.{c}" for c in wanted
        )
        decoded = tuple(c for c in wanted if kinds[c] != "timestamp")
        sql, params = self._export_sql(f, f"{columns_sql}, s.username", with_comments, limit)
        convert = self._decoded_columns("messages", decoded)
        for values in self._stream(sql, params, batch_size):
            row = dict(zip(wanted, values[:-1], strict=True))
            for column, decode in convert:
                if row[column] is not None:
                    row[column] = decode(row[column])
            row["source_username"] = values[-1]
            yield row

    def _export_sql(
        self, f: MessageFilter, select_list: str, with_comments: bool, limit: int | None
    ) -> tuple[str, list[Any]]:
        """The export's SELECT (messages m, the followed chat's row s) in export order."""
        clauses, params = self._filter_sql(f)
        select = (
            f"SELECT {select_list} FROM messages m LEFT JOIN sources s "
            "ON s.chat_id = COALESCE(m.parent_chat_id, m.chat_id)"
        )
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        if not with_comments:
            sql = f"{select} {where} ORDER BY m.chat_id, m.date, m.message_id"
        else:
            picked = f"SELECT m.chat_id, m.message_id FROM messages m {where}"
            sql = (
                f"{select} WHERE (m.chat_id, m.message_id) IN ({picked}) "
                f"OR (m.parent_chat_id, m.parent_message_id) IN ({picked}) "
                "ORDER BY COALESCE(m.parent_chat_id, m.chat_id), "
                "COALESCE(m.parent_message_id, m.message_id), "
                "CASE WHEN m.parent_chat_id IS NULL THEN 0 ELSE 1 END, m.date, m.message_id"
            )
            params = params * 2
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return sql, params

    def iter_export_json(
        self,
        f: MessageFilter,
        fields: Sequence[tuple[str, str]],
        *,
        with_comments: bool = False,
        limit: int | None = None,
        batch_size: int = 2000,
    ) -> Iterator[str]:
        """The messages `iter_export` selects, each as one compact JSON object made by the
        database (no Python per row): `fields` are (name, SQL expression over m and s) in
        order; `timestamp_text_sql` and `reactions_json_sql` give the dialect's parts."""
        for (line,) in self._stream(
            *self._json_export_sql(f, fields, with_comments, limit), batch_size
        ):
            yield line

    @abstractmethod
    def _json_export_sql(
        self,
        f: MessageFilter,
        fields: Sequence[tuple[str, str]],
        with_comments: bool,
        limit: int | None,
    ) -> tuple[str, list[Any]]:
        """The SELECT of one JSON text column for `iter_export_json`."""

    def timestamp_text_sql(self, expression: str) -> str:
        """SQL giving a timestamp as the export's fixed-width ISO-8601 UTC text."""
        return self._timestamp_text(expression)

    @abstractmethod
    def reactions_json_sql(self, column: str) -> str:
        """SQL giving a reactions column as compact JSON, [{"reaction":…,"count":…}], to be
        embedded as JSON (not as a string) in `iter_export_json`'s objects."""

    def _timestamp_text(self, expression: str) -> str:
        """SQL giving a timestamp column as fixed-width ISO-8601 UTC text."""
        return expression  # SQLite stores it so; PostgreSQL overrides

    def search_messages(self, groups: list[Any], f: MessageFilter, *, limit: int = 20) -> list[Row]:
        """Messages matching a parsed query (see `tgparser.search_query`), best first, each with
        `source_username`, a `score` (higher is better; comparable within one search only) and
        a `snippet` with the matches between ** marks."""
        clauses, params = self._filter_sql(f)
        columns = ", ".join(f"m.{c}" for c in MESSAGE_COLUMNS)
        where = "".join(f" AND {c}" for c in clauses)
        rows = self._search_rows(groups, columns, where, params, limit)
        found = []
        for values in rows:
            row = self._decode_row("messages", MESSAGE_COLUMNS, values[:-3])
            row["source_username"], row["score"], row["snippet"] = values[-3:]
            found.append(row)
        return found

    def count_search(self, groups: list[Any], f: MessageFilter) -> int:
        """How many messages match a parsed query under the filter."""
        clauses, params = self._filter_sql(f)
        return self._count_search_rows(groups, "".join(f" AND {c}" for c in clauses), params)

    @abstractmethod
    def _count_search_rows(self, groups: list[Any], where: str, params: list[Any]) -> int:
        """The number of matching messages (as m); `where` as for `_search_rows`."""

    @abstractmethod
    def _search_rows(
        self, groups: list[Any], columns: str, where: str, params: list[Any], limit: int
    ) -> list[tuple[Any, ...]]:
        """Rows of `columns` (messages as m) + username + score + snippet, best first;
        `where` adds the filter's conditions (`AND …`) with `params`."""

    def source_stats(self) -> list[Row]:
        """Per followed chat: posts/messages and comments stored, first and last message date,
        Telegram's own count, the last successful run and the last run's error."""
        p = self.placeholder
        stats = []
        for source in self.list_sources():
            chat_id = source["chat_id"]
            own = self._query(
                f"SELECT count(*), min(date), max(date) FROM messages WHERE chat_id = {p}",
                (chat_id,),
            )[0]
            ok_runs = self._query(
                f"SELECT max(finished_at) FROM ingest_runs WHERE chat_id = {p} AND status = 'ok'",
                (chat_id,),
            )[0][0]
            runs = self.list_runs(chat_id=chat_id, limit=1)
            stats.append(
                {
                    "source": source,
                    "messages": own[0],
                    "comments": self.count_comments(chat_id),
                    "first_date": self._decode("timestamp", own[1]),
                    "last_date": self._decode("timestamp", own[2]),
                    "last_success_at": self._decode("timestamp", ok_runs),
                    "last_run": runs[0] if runs else None,
                }
            )
        return stats

    # -- whole tables: copy and verify ----------------------------------------------------------

    def identity(self) -> str:
        """What names this database and namespace, to refuse copying a database onto itself."""
        return self.url.masked

    def count_rows(self, table: str) -> int:
        return self._query(f"SELECT count(*) FROM {table}")[0][0]

    def iter_table(
        self, table: str, batch_size: int = 5000, *, digests: bool = False
    ) -> Iterator[tuple[Any, ...]]:
        """Every row of a table, in this backend's own representation, streamed; with
        `digests`, each row ends with its digest (`tgparser.storage.checksum`)."""
        if digests:
            return self._stream_with_digests(table, batch_size)
        columns = ", ".join(TABLE_COLUMNS[table])
        return self._stream(f"SELECT {columns} FROM {table}", (), batch_size)

    @abstractmethod
    def _stream_with_digests(self, table: str, batch_size: int) -> Iterator[tuple[Any, ...]]:
        """`iter_table(table, digests=True)`: the rows, each with its digest appended."""

    def table_checksum(self, table: str) -> tuple[int, int]:
        """(row count, sum of the row digests modulo 2**128): the same for the same rows on
        either backend, whatever their order."""
        count = total = 0
        for row in self._stream_with_digests(table, 5000):
            count += 1
            total += row[-1]
        return count, total % (1 << 128)

    def decode_native(self, table: str, values: Sequence[Any]) -> Row:
        return self._decode_row(table, tuple(TABLE_COLUMNS[table]), values)

    def encode_native(self, table: str, row: Row) -> list[Any]:
        return self._encode_row(table, row, tuple(TABLE_COLUMNS[table]))

    @abstractmethod
    def load_rows(self, table: str, rows: Iterable[Sequence[Any]], *, skip_existing: bool) -> int:
        """Insert rows given in this backend's representation (all columns of the table);
        with `skip_existing`, rows whose key is already there are left out. Returns how many
        were inserted. Runs in the caller's transaction."""

    def delete_all(self, table: str) -> int:
        return self._execute(f"DELETE FROM {table}")

    @contextmanager
    def bulk_load(self, tables: Sequence[str]) -> Iterator[None]:
        """Around loading many rows into empty `tables`, inside one transaction: a backend may
        set index maintenance aside and build the indexes once at the end."""
        yield

    def after_bulk_load(self) -> None:
        """Bring counters in step with loaded rows (PostgreSQL's identity sequences)."""

    # -- ingest runs ---------------------------------------------------------------------------

    def start_run(self, chat_id: int) -> int:
        """Record the start of an ingest attempt; return its id."""
        p = self.placeholder
        rows = self._query(
            f"INSERT INTO ingest_runs (chat_id, started_at, status) VALUES ({p}, {p}, 'running') "
            "RETURNING id",
            (chat_id, self._encode("timestamp", utcnow())),
        )
        return rows[0][0]

    def finish_run(
        self,
        run_id: int,
        *,
        status: str,
        fetched: int = 0,
        inserted: int = 0,
        updated: int = 0,
        error: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        p = self.placeholder
        self._execute(
            f"UPDATE ingest_runs SET finished_at = {p}, status = {p}, fetched = {p}, "
            f"inserted = {p}, updated = {p}, error = {p}, details = {p} WHERE id = {p}",
            (
                self._encode("timestamp", utcnow()),
                status,
                fetched,
                inserted,
                updated,
                error,
                self._encode("json", details),
                run_id,
            ),
        )

    def list_runs(self, *, chat_id: int | None = None, limit: int | None = None) -> list[Row]:
        """Ingest attempts, newest first."""
        p = self.placeholder
        where, params = ("", []) if chat_id is None else (f"WHERE chat_id = {p}", [chat_id])
        tail = "ORDER BY started_at DESC, id DESC"
        if limit is not None:
            tail += f" LIMIT {int(limit)}"
        return self._select("ingest_runs", where, params, tail)

    # -- ingest bookkeeping: locks, thread cursors, counters -----------------------------------

    def acquire_lock(self, chat_id: int, owner: str, ttl: timedelta) -> bool:
        """Take the ingest lock of a source, or say False when another live run holds it.

        A lock is free when nobody holds it, when it expired (its holder stopped refreshing
        it), or when its holder was a process on this machine that no longer exists (a crashed
        or killed run), so a crash never blocks a source for longer than `ttl`.
        """
        host, pid, now = host_identity(), os.getpid(), utcnow()
        p = self.placeholder
        with self.transaction():
            self._lock_chats([chat_id])  # two runs must not both see the lock as free
            held = self._select("source_locks", f"WHERE chat_id = {p}", (chat_id,))
            if held:
                lock = held[0]
                stale = lock["expires_at"] <= now or (
                    lock["host"] == host and not _process_alive(lock["pid"])
                )
                if lock["owner"] != owner and not stale:
                    return False
            row = {
                "chat_id": chat_id,
                "owner": owner,
                "host": host,
                "pid": pid,
                "acquired_at": now,
                "expires_at": now + ttl,
            }
            columns = tuple(TABLE_COLUMNS["source_locks"])
            self._execute(
                self._upsert_sql("source_locks", columns, ("chat_id",)),
                self._encode_row("source_locks", row, columns),
            )
        return True

    def refresh_lock(self, chat_id: int, owner: str, ttl: timedelta) -> bool:
        """Extend a held lock; False when it was lost (it expired and another run took it)."""
        p = self.placeholder
        return (
            self._execute(
                f"UPDATE source_locks SET expires_at = {p} WHERE chat_id = {p} AND owner = {p}",
                (self._encode("timestamp", utcnow() + ttl), chat_id, owner),
            )
            > 0
        )

    def release_lock(self, chat_id: int, owner: str) -> None:
        p = self.placeholder
        self._execute(
            f"DELETE FROM source_locks WHERE chat_id = {p} AND owner = {p}", (chat_id, owner)
        )

    def get_lock(self, chat_id: int) -> Row | None:
        rows = self._select("source_locks", f"WHERE chat_id = {self.placeholder}", (chat_id,))
        return rows[0] if rows else None

    def threads_to_fetch(self, chat_id: int) -> list[tuple[int, int, int]]:
        """Posts of a channel whose comment thread has comments we have not fetched yet.

        Telegram reports the newest comment id of each post's thread (`replies_max_id`); a
        thread needs fetching only when that moved past what we fetched (`thread_cursors`).
        Returns (post id, replies_max_id, synced max id or 0), oldest post first.
        """
        p = self.placeholder
        rows = self._query(
            "SELECT m.message_id, m.replies_max_id, COALESCE(t.synced_max_id, 0) "
            "FROM messages m LEFT JOIN thread_cursors t "
            "ON t.chat_id = m.chat_id AND t.message_id = m.message_id "
            f"WHERE m.chat_id = {p} AND m.kind = 'post' AND m.replies_max_id IS NOT NULL "
            "AND m.replies_max_id > COALESCE(t.synced_max_id, 0) ORDER BY m.message_id",
            (chat_id,),
        )
        return [(r[0], r[1], r[2]) for r in rows]

    def set_thread_cursor(self, chat_id: int, message_id: int, synced_max_id: int) -> None:
        row = {
            "chat_id": chat_id,
            "message_id": message_id,
            "synced_max_id": synced_max_id,
            "synced_at": utcnow(),
        }
        columns = tuple(TABLE_COLUMNS["thread_cursors"])
        self._execute(
            self._upsert_sql("thread_cursors", columns, ("chat_id", "message_id")),
            self._encode_row("thread_cursors", row, columns),
        )

    def message_ids(
        self, chat_id: int, *, kind: str | None = None, since: datetime | None = None
    ) -> list[int]:
        """Ids of a chat's stored messages (optionally of one kind, dated since), ascending."""
        where, params = self._message_filter(chat_id=chat_id, kind=kind, since=since)
        return [
            r[0]
            for r in self._query(
                f"SELECT message_id FROM messages {where} ORDER BY message_id", params
            )
        ]

    def update_counters(self, chat_id: int, counters: Iterable[Row]) -> int:
        """Set views / forwards / replies / replies_max_id of stored messages (from a views
        refresh, which returns counters only); returns how many rows changed."""
        p = self.placeholder
        columns = ("views", "forwards", "replies", "replies_max_id")
        keys = {c["message_id"]: c for c in counters}
        if not keys:
            return 0
        changed = 0
        with self.transaction():
            stored = self._existing_messages([(chat_id, mid) for mid in keys])
            now = self._encode("timestamp", utcnow())
            rows = []
            for (_, mid), old in stored.items():
                new = keys[mid]
                if any(old[c] != new.get(c, old[c]) for c in columns):
                    changed += 1
                    rows.append((*(new.get(c, old[c]) for c in columns), now, chat_id, mid))
            if rows:
                self._executemany(
                    f"UPDATE messages SET {', '.join(f'{c} = {p}' for c in columns)}, "
                    f"updated_at = {p} WHERE chat_id = {p} AND message_id = {p}",
                    rows,
                )
        return changed

    def count_comments(self, parent_chat_id: int) -> int:
        """Comments stored for a channel's posts (they live in its discussion group)."""
        return self._query(
            f"SELECT count(*) FROM messages WHERE parent_chat_id = {self.placeholder}",
            (parent_chat_id,),
        )[0][0]

    def purge_source_data(self, chat_id: int) -> int:
        """Delete a source's messages, the comments on its posts (wherever they live), their
        edit history, thread cursors, documents and processing failures. Other messages of
        its discussion group stay: the group may be followed on its own."""
        p = self.placeholder
        with self.transaction():
            removed = self._execute(
                f"DELETE FROM messages WHERE chat_id = {p} OR parent_chat_id = {p}",
                (chat_id, chat_id),
            )
            self._execute(
                "DELETE FROM message_versions WHERE NOT EXISTS (SELECT 1 FROM messages m "
                "WHERE m.chat_id = message_versions.chat_id "
                "AND m.message_id = message_versions.message_id)"
            )
            self._execute(f"DELETE FROM thread_cursors WHERE chat_id = {p}", (chat_id,))
            # Documents and failures are derived from the messages just deleted: a knowledge
            # base must not go on quoting a chat the user purged.
            for table in ("documents", "document_failures"):
                self._execute(
                    f"DELETE FROM {table} WHERE NOT EXISTS (SELECT 1 FROM messages m "
                    f"WHERE m.chat_id = {table}.chat_id AND m.message_id = {table}.message_id)"
                )
        return removed

    def close_interrupted_runs(self, chat_id: int) -> int:
        """Mark runs of a source still 'running' as failed: called by the holder of its lock,
        so no live process is running them (they crashed or were killed)."""
        p = self.placeholder
        return self._execute(
            f"UPDATE ingest_runs SET status = 'failed', finished_at = {p}, "
            f"error = 'interrupted: the process stopped before the run ended' "
            f"WHERE chat_id = {p} AND status = 'running'",
            (self._encode("timestamp", utcnow()), chat_id),
        )


def host_identity() -> str:
    """Which machine (and PID namespace) a process id belongs to. Containers sharing a hostname
    have separate PID namespaces; a pid seen from another one says nothing about liveness."""
    import socket  # here: only `ingest` takes locks, and start-up time counts

    try:
        namespace = os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return socket.gethostname()
    return f"{socket.gethostname()}/pidns:{namespace}"


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def _keep_comment_link(old: Row, row: Row) -> None:
    """A comment stays a comment of its channel post when its discussion group is ingested as
    a source of its own: history of the group does not know which post a message belongs to."""
    if row.get("parent_chat_id") is None:
        row["parent_chat_id"] = old["parent_chat_id"]
        row["parent_message_id"] = old["parent_message_id"]
        if row["kind"] == "message":
            row["kind"] = "comment"


def _check_columns(table: str, row: Row) -> None:
    unknown = set(row) - set(TABLE_COLUMNS[table])
    if unknown:
        raise ValueError(f"unknown {table} column(s): {', '.join(sorted(unknown))}")


def _message_differs(old: Row, new: Row) -> bool:
    types = TABLE_COLUMNS["messages"]
    for column in MESSAGE_COLUMNS:
        if column in _BOOKKEEPING:
            continue
        value = new.get(column)
        if types[column] == "json":
            value = _normalise_json(value)
        elif types[column] == "timestamp" and value is not None:
            value = as_utc(value)
        if old.get(column) != value:
            return True
    return False
