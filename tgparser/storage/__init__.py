"""Storage: one adapter interface (`Storage`), an SQLite and a PostgreSQL implementation."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tgparser.storage.base import Storage, UpsertResult
    from tgparser.storage.urls import DatabaseURL, mask_password, parse_database_url

__all__ = [
    "DatabaseURL",
    "Storage",
    "UpsertResult",
    "mask_password",
    "open_storage",
    "parse_database_url",
]


def __getattr__(name: str) -> Any:
    # The adapter base is large: imported on first use, not by `tgparser.storage.urls` users
    # such as the settings loader, nor by `tgparser.storage.migrations` (`--version`), which
    # need not compile the URL patterns either (start-up time).
    if name in ("Storage", "UpsertResult"):
        from tgparser.storage import base

        return getattr(base, name)
    if name in ("DatabaseURL", "mask_password", "parse_database_url"):
        from tgparser.storage import urls

        return getattr(urls, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def open_storage(
    url: str | DatabaseURL, *, pg_schema: str = "tgparser", create: bool = True
) -> Storage:
    """Connect to the database a URL names. psycopg is imported only for PostgreSQL URLs.

    `create=False` (commands that only read) creates nothing: a missing SQLite file raises
    `NoArchiveError`, and `ensure_schema(create=False)` refuses a database without an archive.
    """
    from tgparser.storage.urls import parse_database_url

    parsed = parse_database_url(url) if isinstance(url, str) else url
    if parsed.backend == "sqlite":
        from tgparser.storage.sqlite import SQLiteStorage

        return SQLiteStorage(parsed, create=create)
    from tgparser.storage.postgres import PostgresStorage

    return PostgresStorage(parsed, schema=pg_schema)
