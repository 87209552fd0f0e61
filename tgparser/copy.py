"""`db copy` and `db verify`: move an archive between databases, and prove it arrived whole.

Copying streams each table from the source (a server-side cursor on PostgreSQL) into the
target in batches (COPY on PostgreSQL, executemany on SQLite), in foreign-key order, with
constant memory. Verifying compares, per table, the row count and an order-independent
checksum over the same normalised values on both sides, so one changed byte, a missing row
or an extra row shows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from tgparser.errors import TgparserError
from tgparser.storage import Storage
from tgparser.storage.base import SchemaState
from tgparser.storage.checksum import MODULUS, checksum_text
from tgparser.storage.columns import COPIED_TABLES

# Foreign-key order, from the one table registry.
COPY_TABLES = COPIED_TABLES
DEFAULT_BATCH = 5000


class CopyError(TgparserError):
    """The copy cannot start (or must not): nothing was written."""


class Progress(Protocol):
    def table_started(self, table: str, total: int) -> None: ...
    def advanced(self, rows: int) -> None: ...


class NoProgress:
    def table_started(self, table: str, total: int) -> None:
        pass

    def advanced(self, rows: int) -> None:
        pass


@dataclass
class TablePlan:
    table: str
    source_rows: int
    target_rows: int  # what the target holds: before a copy (a plan), after it (a result)
    action: str  # copy | append | replace | refuse
    copied_rows: int | None = None  # rows this copy wrote (None: not copied yet)
    check: TableCheck | None = None  # with `copy_archive(verify=True)`

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "table": self.table,
            "source_rows": self.source_rows,
            "target_rows": self.target_rows,
            "action": self.action,
        }
        if self.copied_rows is not None:
            data["copied_rows"] = self.copied_rows
        return data


@dataclass
class TableCheck:
    table: str
    source_rows: int
    target_rows: int
    source_checksum: str
    target_checksum: str

    @property
    def ok(self) -> bool:
        return (self.source_rows, self.source_checksum) == (
            self.target_rows,
            self.target_checksum,
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "ok": self.ok,
            "source_rows": self.source_rows,
            "target_rows": self.target_rows,
            "source_checksum": self.source_checksum,
            "target_checksum": self.target_checksum,
        }


def choose_tables(tables: str | None) -> tuple[str, ...]:
    if not tables:
        return COPY_TABLES
    chosen = [t.strip() for t in tables.split(",") if t.strip()]
    unknown = [t for t in chosen if t not in COPY_TABLES]
    if unknown:
        raise CopyError(f"unknown table {unknown[0]!r} (tables: {', '.join(COPY_TABLES)})")
    return tuple(t for t in COPY_TABLES if t in chosen)  # foreign-key order, whatever asked


def require_current_schema(state: SchemaState, side: str) -> None:
    """Copy and verify read and write the columns of this version's schema: an archive a
    migration behind lacks some of them (a column a later migration added)."""
    if state.pending:
        raise CopyError(
            f"{side} is at schema version {state.version}, this tgparser's is "
            f"{state.latest}: run `tgparser db migrate` on it first"
        )


def prepare_target(source: Storage, target: Storage, *, dry_run: bool) -> None:
    """Refuse a copy onto itself or across schema versions; migrate a fresh target to the
    source's version (not beyond, so both hold the same tables and columns)."""
    if source.identity() == target.identity():
        raise CopyError("the source and the target are the same database")
    source_state = source.schema_state()
    if not source_state.applied:
        raise CopyError("the source database holds no tgparser archive")
    require_current_schema(source_state, "the source")
    target_state = target.schema_state()
    if target_state.applied and target_state.version != source_state.version:
        raise CopyError(
            f"the source is at schema version {source_state.version}, the target at "
            f"{target_state.version}: run `tgparser db migrate` on the older one first"
        )
    if not target_state.applied and not dry_run:
        target.migrate(up_to=source_state.version)


def plan_copy(
    source: Storage, target: Storage, tables: Sequence[str], *, append: bool, replace: bool
) -> list[TablePlan]:
    target_tables = target.existing_tables()
    plans = []
    for table in tables:
        in_target = target.count_rows(table) if table in target_tables else 0
        if replace:
            action = "replace"
        elif in_target == 0:
            action = "copy"
        elif append:
            action = "append"
        else:
            action = "refuse"
        plans.append(TablePlan(table, source.count_rows(table), in_target, action))
    return plans


def copy_archive(
    source: Storage,
    target: Storage,
    tables: Sequence[str],
    *,
    append: bool = False,
    replace: bool = False,
    batch_size: int = DEFAULT_BATCH,
    progress: Progress | None = None,
    verify: bool = False,
) -> list[TablePlan]:
    """Copy the tables; returns the plan it followed, with the rows each table received and,
    with `verify`, each table's check (the source hashed as its rows stream through the copy,
    the target summed by one checksum query where the database can)."""
    if append and replace:
        raise CopyError("--append and --replace exclude each other")
    progress = progress or NoProgress()
    prepare_target(source, target, dry_run=False)
    plans = plan_copy(source, target, tables, append=append, replace=replace)
    refused = [p.table for p in plans if p.action == "refuse"]
    if refused:
        raise CopyError(
            f"the target already holds rows in {', '.join(refused)}: use --append to add what "
            "is missing, or --replace to overwrite"
        )
    convert = row_converter(source, target)
    # Into empty tables (and with --replace) the whole copy is one transaction: an interrupted
    # copy leaves nothing behind, and the target may build its indexes once, after the load,
    # instead of row by row. --append commits each batch: an interrupted append is completed
    # by running it again.
    whole = replace or all(p.action == "copy" for p in plans)
    with target.transaction() if whole else _nothing():
        if replace:
            for plan in reversed(plans):  # children before parents
                target.delete_all(plan.table)
        with target.bulk_load([p.table for p in plans]) if whole else _nothing():
            sums = {}
            for plan in plans:
                progress.table_started(plan.table, plan.source_rows)
                plan.copied_rows, sums[plan.table] = _copy_table(
                    source, target, plan, convert, batch_size, progress, whole, verify
                )
                # --replace emptied the table first; --append kept what was there.
                plan.target_rows = plan.copied_rows + (0 if replace else plan.target_rows)
        target.after_bulk_load()
        if verify and whole:
            # In the copy's transaction, just before it commits: the rows the copy wrote are
            # read while PostgreSQL still knows them as its own (a first read after the commit
            # would also stamp every row's commit status into its page and dirty it).
            _check_target(target, plans, sums, progress)
    if verify and not whole:  # --append committed batch by batch: the target as it now is
        _check_target(target, plans, sums, progress)
    return plans


def _check_target(
    target: Storage,
    plans: Sequence[TablePlan],
    sums: dict[str, tuple[int, int]],
    progress: Progress,
) -> None:
    for plan in plans:
        progress.table_started(f"verify {plan.table}", 0)
        count, total = target.table_checksum(plan.table)
        plan.check = TableCheck(
            plan.table,
            sums[plan.table][0],
            count,
            checksum_text(sums[plan.table][1]),
            checksum_text(total),
        )


def _copy_table(
    source: Storage,
    target: Storage,
    plan: TablePlan,
    convert: Callable[[str, Sequence[Any]], Sequence[Any]],
    batch_size: int,
    progress: Progress,
    whole: bool,
    verify: bool,
) -> tuple[int, tuple[int, int]]:
    """Rows copied, and (rows read, sum of their digests) when verifying."""
    copied = read = total = 0

    def rows() -> Iterator[Sequence[Any]]:
        nonlocal read, total
        for values in source.iter_table(plan.table, batch_size, digests=verify):
            if verify:
                total += values[-1]
                values = values[:-1]
            read += 1
            yield convert(plan.table, values)
            if read % batch_size == 0:
                progress.advanced(batch_size)

    if whole and plan.action != "append":
        # Into an empty table: one load for the whole table, so the target never waits for the
        # next batch to be read and converted (PostgreSQL: one COPY; the client prepares rows
        # while the server writes the ones sent before).
        copied = target.load_rows(plan.table, rows(), skip_existing=False)
        progress.advanced(read % batch_size)
        return copied, (read, total % MODULUS)
    batch: list[Sequence[Any]] = []

    def flush() -> int:
        with _nothing() if whole else target.transaction():
            return target.load_rows(plan.table, batch, skip_existing=plan.action == "append")

    for row in rows():
        batch.append(row)
        if len(batch) >= batch_size:
            copied += flush()
            batch = []
    if batch:
        copied += flush()
        progress.advanced(len(batch))
    return copied, (read, total % MODULUS)


@contextmanager
def _nothing() -> Iterator[None]:
    yield


def row_converter(
    source: Storage, target: Storage
) -> Callable[[str, Sequence[Any]], Sequence[Any]]:
    """How a row read from the source becomes a row the target loads.

    From SQLite: as it is, into SQLite and into PostgreSQL alike (PostgreSQL's COPY parses
    SQLite's ISO timestamps, JSON text and 0/1 by column type). From PostgreSQL, psycopg hands
    back Python values (datetimes, parsed JSON, bools): through the target's encoders.
    """
    if source.dialect == "sqlite":
        return lambda table, values: values
    return lambda table, values: target.encode_native(table, source.decode_native(table, values))


# -- verify ----------------------------------------------------------------------------------


def table_checksum(storage: Storage, table: str) -> tuple[int, str]:
    """(row count, checksum) of a table (see `tgparser.storage.checksum`): the same rows give
    the same checksum on SQLite and PostgreSQL, whatever their order."""
    count, total = storage.table_checksum(table)
    return count, checksum_text(total)


def verify(
    source: Storage,
    target: Storage,
    tables: Sequence[str] = COPY_TABLES,
    progress: Progress | None = None,
) -> list[TableCheck]:
    progress = progress or NoProgress()
    checks = []
    present = target.existing_tables()
    for table in tables:
        progress.table_started(f"verify {table}", 0)
        source_rows, source_sum = table_checksum(source, table)
        target_rows, target_sum = (
            table_checksum(target, table) if table in present else (0, "missing")
        )
        checks.append(TableCheck(table, source_rows, target_rows, source_sum, target_sum))
    return checks
