"""Shared fixtures: an isolated home for every test, and both storage backends.

Every storage test runs twice: on an SQLite file and on a real PostgreSQL server that this
session starts itself (or the one named by TGPARSER_TEST_PG_URL). Without PostgreSQL the
PostgreSQL half is skipped with the reason shown, except under CI=true, where it fails.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests import pgcluster
from tgparser.storage import Storage, open_storage

_db_numbers = itertools.count(1)


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No test reads or writes the real user's config, data or TGPARSER_* settings."""
    for name in list(os.environ):
        if name.startswith("TGPARSER_") and name != "TGPARSER_TEST_PG_URL":
            monkeypatch.delenv(name)
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    return home


class PGServer:
    """An admin URL plus a way to make fresh databases on it."""

    def __init__(self, admin_url: str, cluster: pgcluster.Cluster | None) -> None:
        self.admin_url = admin_url
        self.cluster = cluster

    def url_for(self, dbname: str) -> str:
        parts = urlsplit(self.admin_url)
        return urlunsplit(parts._replace(path="/" + dbname))

    def admin(self, sql: str, url: str | None = None) -> None:
        """Run SQL as the admin role, on the admin database or the one `url` names."""
        import psycopg

        url = self.url_for(urlsplit(url).path.lstrip("/")) if url else self.admin_url
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(sql)

    def create_database(self) -> str:
        name = f"tgp_test_{os.getpid()}_{next(_db_numbers)}"
        self.admin(f"DROP DATABASE IF EXISTS {name}")
        self.admin(f"CREATE DATABASE {name} TEMPLATE template0")
        return name

    def drop_database(self, name: str) -> None:
        self.admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def fresh_database(self) -> Iterator[str]:
        """Yield the URL of a new, empty database; drop it afterwards (for fixtures)."""
        name = self.create_database()
        try:
            yield self.url_for(name)
        finally:
            self.drop_database(name)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PGServer]:
    given = os.environ.get("TGPARSER_TEST_PG_URL")
    if given:
        yield PGServer(given, None)
        return
    try:
        cluster = pgcluster.start_cluster()
    except Exception as exc:
        reason = f"PostgreSQL unavailable, PostgreSQL tests not run: {exc}"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    server = PGServer(cluster.url(), cluster)
    server.admin(f"CREATE ROLE {pgcluster.PASSWORD_USER} LOGIN PASSWORD '{pgcluster.PASSWORD}'")
    try:
        yield server
    finally:
        cluster.stop()


@pytest.fixture
def pg_url(pg_server: PGServer) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test."""
    yield from pg_server.fresh_database()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'archive.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest) -> str:
    """A fresh, empty database URL: once per backend."""
    return request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")


@pytest.fixture
def storage(db_url: str) -> Iterator[Storage]:
    """A migrated, empty archive on each backend."""
    store = open_storage(db_url)
    store.migrate()
    try:
        yield store
    finally:
        store.close()
