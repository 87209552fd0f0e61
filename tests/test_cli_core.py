"""The command line of the core: config, `db migrate`, `db status`, and how errors look."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from tests import pgcluster
from tests.conftest import PGServer
from tgparser.cli import main
from tgparser.storage.columns import COPIED_TABLES, NOT_COPIED
from tgparser.storage.migrations import latest_version, load_migrations

SHIPPED = [m.filename for m in load_migrations("sqlite")]


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def assert_one_line_error(result: Result, fragment: str) -> None:
    assert result.exit_code != 0
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    assert fragment in lines[0]
    assert "Traceback" not in result.stderr


# -- start-up ----------------------------------------------------------------------------------


def test_help_and_version_import_neither_telethon_nor_psycopg() -> None:
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from tgparser.cli import main\n"
        "for args in (['--help'], ['--version'], ['db', '--help']):\n"
        "    r = CliRunner().invoke(main, args)\n"
        "    assert r.exit_code == 0, r.output\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('telethon', 'psycopg', 'rich', 'sqlite_utils'))\n"
        "print(heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_python_dash_m_and_version() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "tgparser", "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.startswith("tgparser, version ")


# -- config ------------------------------------------------------------------------------------


def test_config_path_default_and_explicit(isolated_home: Path, tmp_path: Path) -> None:
    assert run("config", "path").stdout.strip() == str(
        isolated_home / "config" / "tgparser" / "config.toml"
    )
    other = tmp_path / "other.toml"
    assert run("--config", str(other), "config", "path").stdout.strip() == str(other)


def test_precedence_flag_over_env_over_file_over_default(isolated_home: Path) -> None:
    config_file = isolated_home / "config" / "tgparser" / "config.toml"
    config_file.parent.mkdir(parents=True)
    config_file.write_text('db = "/from/file.db"\napi_id = 111\npg_schema = "from_file"\n')

    def shown(*args: str, env: dict[str, str] | None = None) -> dict:
        result = run(*args, "config", "show", "--json", env=env)
        assert result.exit_code == 0, result.stderr
        return json.loads(result.stdout)

    data = shown()
    assert data["settings"]["db"] == "/from/file.db"
    assert {k: v for k, v in data["origins"].items() if not k.startswith("llm_")} == {
        "db": "file",
        "pg_schema": "file",
        "api_id": "file",
        "api_hash": "default",
        "session": "default",
    }
    data = shown(env={"TGPARSER_DB": "/from/env.db", "TGPARSER_API_ID": "222"})
    assert (data["settings"]["db"], data["origins"]["db"]) == ("/from/env.db", "env")
    assert data["settings"]["api_id"] == 222
    data = shown("--db", "/from/flag.db", env={"TGPARSER_DB": "/from/env.db"})
    assert (data["settings"]["db"], data["origins"]["db"]) == ("/from/flag.db", "flag")
    config_file.unlink()
    data = shown()
    assert data["origins"]["db"] == "default"
    assert data["settings"]["db"] == "sqlite:///" + str(
        isolated_home / "data" / "tgparser" / "tgparser.db"
    ).lstrip("/")
    assert data["settings"]["pg_schema"] == "tgparser"


def test_config_show_masks_every_secret() -> None:
    env = {
        "TGPARSER_DB": "postgresql://alice:hunter2@db.example.org/tg?password=hunter3",
        "TGPARSER_API_HASH": "0123456789abcdef0123456789abcdef",
        "TGPARSER_SESSION": "1BVtsOK4Bu0secret-session-string",
    }
    for args in (("config", "show"), ("config", "show", "--json")):
        result = run(*args, env=env)
        assert result.exit_code == 0
        for secret in ("hunter2", "hunter3", "0123456789abcdef", "secret-session"):
            assert secret not in result.stdout
    data = json.loads(run("--json", "config", "show", env=env).stdout)
    assert data["settings"]["api_hash"] == "***"
    assert data["settings"]["session"] == "***"
    assert data["settings"]["db"].startswith("postgresql://alice:***@db.example.org/tg")


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("db = ", "is not valid TOML"),
        ('colour = "red"\n', "unknown setting 'colour'"),
        ('api_id = "abc"\n', "api_id must be a whole number"),
    ],
)
def test_bad_config_file_is_one_line_error(tmp_path: Path, content: str, fragment: str) -> None:
    config_file = tmp_path / "bad.toml"
    config_file.write_text(content)
    assert_one_line_error(run("--config", str(config_file), "config", "show"), fragment)


def test_missing_explicit_config_file(tmp_path: Path) -> None:
    result = run("--config", str(tmp_path / "nope.toml"), "db", "status")
    assert_one_line_error(result, "does not exist")


# -- db migrate / db status --------------------------------------------------------------------


def test_migrate_and_status_on_the_default_sqlite(isolated_home: Path) -> None:
    db_file = isolated_home / "data" / "tgparser" / "tgparser.db"
    dry = run("db", "migrate", "--dry-run")
    assert dry.exit_code == 0
    assert dry.stdout.splitlines() == SHIPPED
    assert not db_file.exists()  # a dry run creates nothing, not even the folder's file

    result = run("db", "migrate")
    assert result.exit_code == 0, result.stderr
    lines = result.stderr.splitlines()
    assert lines == [
        *(f"applying {name} …" for name in SHIPPED),
        f"applied {len(SHIPPED)} migration(s): schema is at version {latest_version('sqlite')}",
    ]
    assert db_file.exists()
    assert "nothing to apply" in run("db", "migrate", "--dry-run").stderr

    status = run("db", "status", "--json")
    assert status.exit_code == 0
    info = json.loads(status.stdout)
    assert info["backend"] == "sqlite"
    assert info["file"] == str(db_file)
    assert info["file_size"] > 0
    assert info["schema_version"] == latest_version("sqlite")
    assert info["pending_migrations"] == []
    assert info["tables"]["schema_migrations"] == len(SHIPPED)
    assert {t: n for t, n in info["tables"].items() if t != "schema_migrations"} == dict.fromkeys(
        set(COPIED_TABLES) | set(NOT_COPIED), 0
    )
    assert isinstance(info["latency_ms"], float)
    human = run("db", "status")
    assert "schema version" in human.stdout
    assert "rows in messages" in human.stdout


def test_migrate_and_status_on_postgresql(pg_url: str) -> None:
    result = run("--db", pg_url, "--json", "db", "migrate")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["applied"] == SHIPPED
    info = json.loads(run("--db", pg_url, "db", "status", "--json").stdout)
    assert info["backend"] == "postgresql"
    assert info["server_version"].startswith(("15", "16", "17", "14", "13"))
    assert info["schema"] == "tgparser"
    assert info["schema_version"] == latest_version("postgresql")
    assert info["tables"]["messages"] == 0


def test_status_masks_the_password(pg_server: PGServer, pg_url: str) -> None:
    if pg_server.cluster is None:
        pytest.skip("needs the test cluster's password role")
    url = pg_server.cluster.url(
        pg_url.split("/")[3].split("?")[0],
        pgcluster.PASSWORD_USER,
        pgcluster.PASSWORD.replace(" ", "%20"),
    )
    pg_server.admin(
        f"GRANT ALL ON DATABASE {url.split('/')[3].split('?')[0]} TO {pgcluster.PASSWORD_USER}"
    )
    result = run("--db", url, "db", "migrate")
    assert result.exit_code == 0, result.stderr
    status = run("--db", url, "db", "status", "--json")
    assert status.exit_code == 0, status.stderr
    assert "s3cret" not in status.stdout
    assert json.loads(status.stdout)["url"].startswith(
        f"postgresql://{pgcluster.PASSWORD_USER}:***@/"
    )


# -- refusals and errors: one line, non-zero, no traceback ------------------------------------


def test_status_of_a_missing_file(tmp_path: Path) -> None:
    result = run("--db", str(tmp_path / "none.db"), "db", "status")
    assert_one_line_error(result, "no archive at")
    assert not (tmp_path / "none.db").exists()


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("mysql://u@h/db", "unsupported database URL scheme 'mysql'"),
        ("postgresql://u@host:notaport/db", "bad database URL"),
        ("sqlite://", "no file path"),
        ("postgresql://u@/db?nonsense_option=1", "bad database URL"),
    ],
)
def test_bad_urls(url: str, fragment: str) -> None:
    assert_one_line_error(run("--db", url, "db", "migrate"), fragment)


def test_unreachable_server(tmp_path: Path) -> None:
    url = f"postgresql://u:topsecret@/db?host={tmp_path}&port=5999"
    result = run("--db", url, "db", "status")
    assert_one_line_error(result, "cannot connect to postgresql://u:***@/db")
    assert "topsecret" not in result.stderr


def test_wrong_password(pg_server: PGServer) -> None:
    if pg_server.cluster is None:
        pytest.skip("needs the test cluster's password role")
    url = pg_server.cluster.url("postgres", pgcluster.PASSWORD_USER, "wrong-password")
    result = run("--db", url, "db", "status")
    assert_one_line_error(result, "password authentication failed")
    assert "wrong-password" not in result.stderr


def test_file_that_is_not_sqlite(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("just some text, not a database\n" * 100)
    assert_one_line_error(run("--db", str(path), "db", "migrate"), "is not an SQLite database")
    assert path.read_text().startswith("just some text")


def test_read_only_location(tmp_path: Path) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    result = run("--db", str(blocker / "sub" / "archive.db"), "db", "migrate")
    assert_one_line_error(result, "is not a folder")


def test_tampered_migration_via_cli(sqlite_url: str) -> None:
    assert run("--db", sqlite_url, "db", "migrate").exit_code == 0
    conn = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"))
    conn.execute("UPDATE schema_migrations SET checksum = 'abc123' WHERE version = 1")
    conn.commit()
    conn.close()
    assert_one_line_error(run("--db", sqlite_url, "db", "migrate"), "was changed after")


def test_newer_schema_via_cli(db_url: str) -> None:
    from tgparser.storage import open_storage

    with open_storage(db_url) as store:
        store.migrate()
        store._execute(
            "INSERT INTO schema_migrations (version, name, checksum, applied_at) "
            "VALUES (42, 'future', 'x', '2030-01-01T00:00:00.000000Z')"
        )
    assert_one_line_error(run("--db", db_url, "db", "migrate"), "newer than this tgparser")
    assert_one_line_error(run("--db", db_url, "db", "status"), "newer than this tgparser")


def test_foreign_sqlite_file_via_cli(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE photos (id INTEGER)")
    conn.close()
    assert_one_line_error(run("--db", str(path), "db", "migrate"), "tgparser did not create")


def test_foreign_pg_schema_via_cli(pg_server: PGServer, pg_url: str) -> None:
    pg_server.admin("CREATE SCHEMA tgparser; CREATE TABLE tgparser.accounts (id int)", pg_url)
    assert_one_line_error(run("--db", pg_url, "db", "migrate"), "accounts")


def test_pg_schema_setting_is_validated(pg_url: str) -> None:
    result = run("--db", pg_url, "db", "migrate", env={"TGPARSER_PG_SCHEMA": "Bad-Name"})
    assert_one_line_error(result, "bad PostgreSQL schema name")


def test_verbose_shows_the_traceback() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "tgparser", "-v", "--db", "mysql://x/y", "db", "status"],
        capture_output=True,
        text=True,
    )
    assert out.returncode != 0
    assert "Traceback" in out.stderr
    assert "unsupported database URL scheme" in out.stderr


def test_password_in_a_malformed_url_is_not_echoed() -> None:
    result = run("--db", "postgresql://u:se%zzcret@localhost/db", "db", "status")
    assert result.exit_code != 0
    assert "se%zzcret" not in result.stderr and "zzcret" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through file permissions")
def test_read_only_folder(tmp_path: Path) -> None:
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        result = run("--db", str(folder / "archive.db"), "db", "migrate")
    finally:
        folder.chmod(0o700)
    assert_one_line_error(result, "cannot open the database file")
    assert not (folder / "archive.db").exists()


def test_a_reader_closing_the_pipe_early_is_not_an_error(sqlite_url: str) -> None:
    from tests.factories import make_message
    from tgparser.storage import open_storage

    with open_storage(sqlite_url) as store:
        store.migrate()
        store.upsert_messages(make_message(i) for i in range(1, 20_001))
    process = subprocess.Popen(
        [sys.executable, "-m", "tgparser", "--db", sqlite_url, "export", "messages"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None and process.stderr is not None
    first = process.stdout.readline()
    process.stdout.close()  # like `| head -1`
    process.wait(timeout=60)
    assert json.loads(first)["message_id"] == 1
    assert process.stderr.read() == b""  # no "Broken pipe" error
    assert process.returncode == -13  # ended by SIGPIPE, as cat or grep would be
