"""Database URLs: which backend, where, and how to show one without its password."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Literal, NamedTuple
from urllib.parse import unquote, urlsplit

from tgparser.errors import ConfigError

Backend = Literal["sqlite", "postgresql"]

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_PG_SCHEMES = ("postgresql", "postgres")
# A bare word names a backend with its defaults: `postgres` connects like `psql` with no
# arguments (PGHOST, PGPORT, PGDATABASE, PGUSER, PGPASSWORD, .pgpass, PGSERVICE); `sqlite` is
# the default archive file. A file of that name is still reachable as ./postgres.
PG_DEFAULTS_URL = "postgresql://"
_BARE_POSTGRES = frozenset({"postgres", "postgresql"})
_BARE_SQLITE = "sqlite"
# Query parameters that carry a secret (libpq's `password` and `sslpassword`).
_SECRET_PARAMS = ("password", "sslpassword")
# libpq's other form, `host=db.example.org dbname=telegram user=archiver` (key=value pairs; a
# value in single quotes may hold spaces, with \' and \\ escapes).
_CONNINFO = re.compile(r"^[A-Za-z_]+\s*=")


# The patterns only masking and PostgreSQL URLs need: compiled on first use (start-up time).
@cache
def _query_secret() -> re.Pattern[str]:
    return re.compile(r"([?&](?:ssl)?password=)[^&#]*", re.IGNORECASE)


@cache
def _conninfo_secret() -> re.Pattern[str]:
    return re.compile(
        r"(?:^|(?<=\s))((?:ssl)?password)(\s*=\s*)('(?:[^'\\]|\\.)*(?:'|$)|\S*)", re.IGNORECASE
    )


@cache
def _ports() -> re.Pattern[str]:
    """The host part of a normal URL after the first ':': a port, or ports of a host list."""
    return re.compile(r"^\d*(?:,[^,:/?#]*(?::\d*)?)*$")


class DatabaseURL(NamedTuple):
    """A parsed `--db` value: the backend plus what it needs to connect. (A named tuple:
    defining one costs a one-shot command far less than a frozen dataclass.)"""

    backend: Backend
    url: str  # as given, with the password (never print this: use `masked`)
    path: Path | None = None  # SQLite only

    @property
    def masked(self) -> str:
        return mask_password(self.url)

    def __str__(self) -> str:
        return self.masked


def default_database_url() -> str:
    """The embedded default: `tgparser.db` in the user data folder (platformdirs)."""
    from tgparser.paths import data_dir

    return "sqlite:///" + str(data_dir() / "tgparser.db").lstrip("/")


def parse_database_url(value: str) -> DatabaseURL:
    """Accept a bare file path, `sqlite:///path`, `postgresql://…` (libpq URI rules), or a bare
    word: `postgres`/`postgresql` (libpq's defaults, like `psql`) or `sqlite` (the default
    file)."""
    value = value.strip()
    if not value:
        raise ConfigError("the database URL is empty")
    if value.lower() in _BARE_POSTGRES:
        return DatabaseURL("postgresql", PG_DEFAULTS_URL)
    if value.lower() == _BARE_SQLITE:
        return parse_database_url(default_database_url())
    match = _SCHEME.match(value)
    if match is None and _CONNINFO.match(value):
        return DatabaseURL("postgresql", value)  # host=… dbname=…: libpq's key=value form
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
        pg_connect_args(value)  # refuses what libpq would misread, before anything connects
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018 - raises ValueError on a malformed port
        except ValueError as exc:
            raise ConfigError(f"bad database URL {mask_password(value)!r}: {exc}") from None
        return DatabaseURL("postgresql", value)
    raise ConfigError(
        f"unsupported database URL scheme {scheme!r}: use a file path, sqlite:///path, "
        "postgresql://user@host/db, or `postgres` for libpq's defaults"
    )


def _password_span(url: str) -> tuple[int, int, bool] | None:
    """Where the password of a URL's user info is (start, end), found by the URL's structure,
    and whether the URL is malformed around it (an unencoded '/', '?' or '#' in the password,
    which ends the host part early: `postgresql://u:pa/ss@host/db`)."""
    match = _SCHEME.match(url)
    if match is None:
        return None
    start = match.end()
    rest = url[start:]
    cut = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    netloc = rest[:cut]
    malformed = False
    if "@" in netloc:
        at = netloc.rfind("@")  # a raw '@' in the password: the last one ends the user info
    else:
        colon = netloc.find(":")
        at = rest.rfind("@")
        if colon < 0 or at < cut or _ports().match(netloc[colon + 1 :]):
            return None
        malformed = True
    colon = rest.find(":", 0, at)
    if colon < 0:
        return None
    return start + colon + 1, start + at, malformed


def mask_password(url: str) -> str:
    """The URL with its password (user info, or `password=`/`sslpassword=` parameter) replaced
    by `***`. Only those fields are touched, by position: the rest reads exactly as given."""
    if _SCHEME.match(url) is None:
        if _CONNINFO.match(url.strip()):
            return _conninfo_secret().sub(r"\1\2***", url)
        return url
    span = _password_span(url)
    if span is not None:
        url = url[: span[0]] + "***" + url[span[1] :]
    return _query_secret().sub(r"\1***", url)


def pg_connect_args(url: str) -> tuple[str, dict[str, str]]:
    """Split a PostgreSQL URL into the URL without its secrets and the secrets (percent-decoded)
    as separate connection parameters. libpq then never sees the password inside the text it
    may quote in an error, so no message can show a part of it."""
    secrets: dict[str, str] = {}
    if _SCHEME.match(url) is None:  # key=value form
        for key, _, value in _conninfo_secret().findall(url):
            if value.startswith("'"):
                value = re.sub(r"\\(.)", r"\1", value[1:].removesuffix("'"))
            secrets[key.lower()] = value
        return " ".join(_conninfo_secret().sub("", url).split()), secrets
    span = _password_span(url)
    if span is not None:
        start, end, malformed = span
        if malformed:
            raise ConfigError(
                f"bad database URL {mask_password(url)!r}: a '/', '?' or '#' in the password "
                "must be percent-encoded (%2F, %3F, %23)"
            )
        secrets["password"] = unquote(url[start:end])
        url = url[: start - 1] + url[end:]  # drop ':password', keep 'user@'
    base, sep, query = url.partition("?")
    if sep:
        fragment = ""
        if "#" in query:
            query, fragment = query.split("#", 1)
            fragment = "#" + fragment
        kept = []
        for pair in query.split("&"):
            key, _, value = pair.partition("=")
            if key.lower() in _SECRET_PARAMS:
                secrets[key.lower()] = unquote(value)
            else:
                kept.append(pair)
        url = base + ("?" + "&".join(kept) if kept else "") + fragment
    return url, secrets
