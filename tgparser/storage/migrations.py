"""Schema migrations: numbered raw SQL files shipped in the package, one folder per dialect.

`sql/<dialect>/NNNN_name.sql` is applied in order, each in its own transaction, and recorded in
`schema_migrations` (version, name, checksum, applied_at). This module plans; the adapters
execute, because only they know how to run a script inside one transaction.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import NamedTuple

from tgparser.errors import MigrationError

MIGRATIONS_TABLE = "schema_migrations"
_FILE_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


# Compiled on first use: a one-shot command on an up-to-date archive never reads the SQL.
@cache
def _create_table() -> re.Pattern[str]:
    return re.compile(
        r"\bCREATE\s+(?:VIRTUAL\s+)?TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?\"?(\w+)\"?", re.IGNORECASE
    )


@cache
def _create_virtual() -> re.Pattern[str]:
    return re.compile(
        r"\bCREATE\s+VIRTUAL\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?\"?(\w+)\"?", re.IGNORECASE
    )


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str
    checksum: str

    @property
    def filename(self) -> str:
        return f"{self.version:04d}_{self.name}.sql"

    @property
    def tables(self) -> frozenset[str]:
        """Tables this file creates: tgparser owns exactly these (and their shadow tables)."""
        return frozenset(name.lower() for name in _create_table().findall(self.sql))

    @property
    def virtual_tables(self) -> frozenset[str]:
        return frozenset(name.lower() for name in _create_virtual().findall(self.sql))


class AppliedMigration(NamedTuple):
    """A row of `schema_migrations`. (A named tuple: every command reads these, and making
    one is several times cheaper than making a frozen dataclass: start-up time.)"""

    version: int
    name: str
    checksum: str
    applied_at: datetime


@cache
def load_migrations(dialect: str) -> tuple[Migration, ...]:
    """The migration files shipped for `dialect` ('sqlite' or 'postgresql'), in order."""
    import hashlib  # here: `--version` reads only the file names (start-up time)

    found: list[Migration] = []
    for name, data in _sql_files(dialect):
        match = _FILE_NAME.match(name)
        if not match:
            continue
        found.append(
            Migration(
                version=int(match.group(1)),
                name=match.group(2),
                sql=data.decode("utf-8"),
                checksum=hashlib.sha256(data).hexdigest(),
            )
        )
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"duplicate migration versions shipped for {dialect}")
    return tuple(found)


def _folder(dialect: str) -> str | None:
    folder = os.path.join(os.path.dirname(__file__), "sql", dialect)
    return folder if os.path.isdir(folder) else None


def _sql_files(dialect: str) -> list[tuple[str, bytes]]:
    """(name, content) of the files in `sql/<dialect>/`: read from the folder beside this
    module when there is one (an install, the single-file build once extracted), else through
    importlib.resources, which is slower to import (start-up time of `--version`)."""
    folder = _folder(dialect)
    if folder is not None:
        files = []
        for name in os.listdir(folder):
            with open(os.path.join(folder, name), "rb") as f:
                files.append((name, f.read()))
        return files
    from importlib import resources

    entries = (resources.files("tgparser.storage") / "sql" / dialect).iterdir()
    return [(entry.name, entry.read_bytes()) for entry in entries]


def owned_tables(migrations: tuple[Migration, ...] | list[Migration]) -> set[str]:
    return {MIGRATIONS_TABLE}.union(*(m.tables for m in migrations))


def foreign_tables(existing: set[str], applied: list[AppliedMigration], dialect: str) -> list[str]:
    """Tables present that no applied tgparser migration created."""
    applied_versions = {a.version for a in applied}
    shipped = [m for m in load_migrations(dialect) if m.version in applied_versions]
    owned = owned_tables(shipped)
    # An FTS5 virtual table `x` keeps its data in shadow tables named `x_*`.
    shadow_prefixes = tuple(f"{v}_" for m in shipped for v in m.virtual_tables)
    return sorted(
        t
        for t in existing
        if t.lower() not in owned
        and not t.lower().startswith("sqlite_")
        and not (shadow_prefixes and t.lower().startswith(shadow_prefixes))
    )


def pending_migrations(applied: list[AppliedMigration], dialect: str) -> list[Migration]:
    """What is left to apply; refuse a database that was changed or is newer than we know."""
    shipped = load_migrations(dialect)
    by_version = {m.version: m for m in shipped}
    latest = shipped[-1].version if shipped else 0
    for done in applied:
        if done.version > latest:
            raise MigrationError(
                f"the database schema is at version {done.version}, newer than this tgparser "
                f"knows (version {latest}): upgrade tgparser"
            )
        known = by_version.get(done.version)
        if known is None:
            raise MigrationError(
                f"the database records migration {done.version:04d}_{done.name}, which this "
                "tgparser does not ship"
            )
        if known.checksum != done.checksum:
            raise MigrationError(
                f"migration {known.filename} was changed after it was applied (checksum "
                f"{done.checksum[:12]}… in the database, {known.checksum[:12]}… shipped); "
                "refusing to continue"
            )
    applied_versions = {a.version for a in applied}
    return [m for m in shipped if m.version not in applied_versions]


def shipped_versions(dialect: str) -> list[tuple[int, str]]:
    """(version, name) of every migration shipped for `dialect`, in order, read off the file
    names alone: `--version`, and the check a command that only reads makes on every start
    (`Storage.ensure_schema`), need not read, hash and parse the SQL (start-up time)."""
    folder = _folder(dialect)
    if folder is None:
        return [(m.version, m.name) for m in load_migrations(dialect)]
    found = [m for m in map(_FILE_NAME.match, os.listdir(folder)) if m]
    return sorted((int(m.group(1)), m.group(2)) for m in found)


def latest_version(dialect: str) -> int:
    """The newest migration shipped for `dialect`, read off the file names (`--version`)."""
    shipped = shipped_versions(dialect)
    return shipped[-1][0] if shipped else 0
