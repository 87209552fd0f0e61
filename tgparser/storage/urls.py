"""Database URLs: which backend, where, and how to show one without its password."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from tgparser.errors import ConfigError

Backend = Literal["sqlite", "postgresql"]

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_PG_SCHEMES = ("postgresql", "postgres")


@dataclass(frozen=True)
class DatabaseURL:
    """A parsed `--db` value: the backend plus what it needs to connect."""

    backend: Backend
    url: str  # as given, with the password (never print this: use `masked`)
    path: Path | None = None  # SQLite only

    @property
    def masked(self) -> str:
        return mask_password(self.url)

    def __str__(self) -> str:
        return self.masked


def parse_database_url(value: str) -> DatabaseURL:
    """Accept a bare file path, `sqlite:///path` or `postgresql://…` (libpq URI rules)."""
    value = value.strip()
    if not value:
        raise ConfigError("the database URL is empty")
    match = _SCHEME.match(value)
    if match is None:
        if value.startswith(("sqlite:", "postgresql:", "postgres:")):
            raise ConfigError(f"bad database URL {mask_password(value)!r}: expected scheme://…")
        return DatabaseURL("sqlite", value, Path(value).expanduser())
    scheme = match.group(1).lower()
    if scheme == "sqlite":
        # sqlite:///abs/path (file-URI style) and sqlite:////abs/path (SQLAlchemy style) both
        # name /abs/path; sqlite://relative.db names a path relative to the working directory.
        rest = value[match.end() :]
        if not rest or rest == "/":
            raise ConfigError(f"bad database URL {value!r}: no file path after sqlite://")
        rest = rest.split("?", 1)[0]
        path = Path("/" + rest.lstrip("/") if rest.startswith("//") else rest).expanduser()
        return DatabaseURL("sqlite", value, path)
    if scheme in _PG_SCHEMES:
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018 - raises ValueError on a malformed port
        except ValueError as exc:
            raise ConfigError(f"bad database URL {mask_password(value)!r}: {exc}") from None
        return DatabaseURL("postgresql", value)
    raise ConfigError(
        f"unsupported database URL scheme {scheme!r}: use a file path, sqlite:///path "
        "or postgresql://user@host/db"
    )


def mask_password(url: str) -> str:
    """Replace the password in a URL (userinfo or `password=` parameter) with `***`."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        if ":" in userinfo:
            netloc = userinfo.split(":", 1)[0] + ":***@" + host
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(k == "password" for k, _ in pairs):
            query = urlencode([(k, "***" if k == "password" else v) for k, v in pairs], safe="*")
    if (netloc, query) == (parts.netloc, parts.query):
        return url  # nothing secret; keep the text exactly as given (urlunsplit normalises)
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
