"""Hardening of the archive commands (issue 9): what a new user and a hostile tester found.

Read commands never create an archive; bare `postgres` means libpq's defaults; passwords are
masked by the URL's structure; users' own tables are welcome; concurrent writers merge; a
locked archive is "try later"; `db copy`/`db verify` figures and hints are true.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
import sqlite_utils
from click.testing import CliRunner, Result

from tests import pgcluster
from tests.conftest import PGServer
from tests.factories import make_message, make_source
from tgparser.cli import main
from tgparser.cli.app import App
from tgparser.errors import NoArchiveError
from tgparser.storage import mask_password, open_storage, parse_database_url
from tgparser.storage.migrations import load_migrations
from tgparser.storage.urls import pg_connect_args

ROOT = Path(__file__).resolve().parent.parent


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def one_line_error(result: Result) -> str:
    assert result.exit_code != 0, result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    return lines[0]


def schema_exists(pg_server: PGServer, url: str, schema: str = "tgparser") -> bool:
    import psycopg

    with psycopg.connect(pg_server.url_for(urlsplit(url).path.lstrip("/"))) as conn:
        row = conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,)).fetchone()
    return row is not None


def pg_env(pg_server: PGServer, url: str) -> dict[str, str]:
    """PG* variables naming the database `url` points at, as a libpq user would set them."""
    parts = urlsplit(pg_server.url_for(urlsplit(url).path.lstrip("/")))
    query = dict(p.split("=", 1) for p in parts.query.split("&") if p)
    env = {
        "PGHOST": query.get("host") or parts.hostname or "",
        "PGPORT": query.get("port") or str(parts.port or 5432),
        "PGUSER": parts.username or "postgres",
        "PGDATABASE": parts.path.lstrip("/"),
    }
    return {k: v for k, v in env.items() if v}


def filled(url: str) -> None:
    with open_storage(url) as store:
        store.migrate()
        store.upsert_source(make_source())
        store.upsert_messages([make_message(i, text=f"hello number {i}") for i in (1, 2, 3)])


READ_COMMANDS = [
    ("stats",),
    ("search", "hello"),
    ("export", "messages"),
    ("source", "list"),
    ("db", "status"),
]


# -- 1. read commands never create an archive ---------------------------------------------------


@pytest.mark.parametrize("command", READ_COMMANDS, ids=lambda c: " ".join(c))
def test_read_commands_refuse_a_missing_sqlite_archive(tmp_path: Path, command: tuple) -> None:
    missing = tmp_path / "typo" / "x.db"
    line = one_line_error(run("--db", str(missing), *command))
    assert line == f"Error: no archive at {missing}; `tgparser db migrate` creates one"
    assert not (tmp_path / "typo").exists()


@pytest.mark.parametrize("command", READ_COMMANDS[:-1], ids=lambda c: " ".join(c))
def test_read_commands_refuse_a_postgres_database_without_archive(
    pg_server: PGServer, pg_url: str, command: tuple
) -> None:
    line = one_line_error(run("--db", pg_url, *command))
    assert line.startswith("Error: no archive at postgresql://")
    assert line.endswith("(schema tgparser); `tgparser db migrate` creates one")
    assert not schema_exists(pg_server, pg_url)


def test_db_status_reports_a_reachable_server_without_archive(
    pg_server: PGServer, pg_url: str
) -> None:
    """There is something to report (the server answers): version 0, everything pending."""
    info = json.loads(run("--db", pg_url, "db", "status", "--json").stdout)
    shipped = len(load_migrations("postgresql"))  # every shipped migration, whatever their number
    assert (info["schema_version"], len(info["pending_migrations"])) == (0, shipped)
    assert not schema_exists(pg_server, pg_url)


def test_tgparser_db_from_the_environment_creates_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    line = one_line_error(run("stats", env={"TGPARSER_DB": "nonsense"}))
    assert line == "Error: no archive at nonsense; `tgparser db migrate` creates one"
    assert list(tmp_path.iterdir()) == []


def test_an_empty_file_is_no_archive_and_stays_untouched(tmp_path: Path) -> None:
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    assert "no archive at" in one_line_error(run("--db", str(empty), "stats"))
    assert empty.read_bytes() == b""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.db"]  # no -wal, no -shm


def test_read_commands_work_on_an_archive(db_url: str) -> None:
    filled(db_url)
    for command in READ_COMMANDS:
        result = run("--db", db_url, *command)
        assert result.exit_code == 0, (command, result.stderr)
    assert run("--db", db_url, "export", "messages").stdout.count("\n") == 3


def test_writers_create_the_archive(db_url: str, pg_server: PGServer, tmp_path: Path) -> None:
    """`import desktop` (a writer) creates a missing archive; App.storage says which is which."""
    if db_url.startswith("sqlite"):
        db_url = f"sqlite:///{tmp_path / 'new' / 'folder' / 'archive.db'}"
    export = write_export(tmp_path / "export", messages=5)
    result = run("--db", db_url, "import", "desktop", str(export), "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["messages"] == 5
    assert run("--db", db_url, "stats").exit_code == 0


def test_app_storage_says_read_or_write(db_url: str) -> None:
    reader = App(db=db_url)
    with pytest.raises(NoArchiveError):
        reader.storage()
    reader.close()
    writer = App(db=db_url)
    assert writer.storage(write=True).schema_state().pending == []
    writer.close()
    again = App(db=db_url)
    assert again.storage().count_messages() == 0  # now there is one to read
    again.close()


# -- 2. bare `postgres` means libpq's defaults ----------------------------------------------------


def test_bare_words_name_backends() -> None:
    for word in ("postgres", "postgresql", "PostgreSQL"):
        parsed = parse_database_url(word)
        assert (parsed.backend, parsed.url, parsed.path) == ("postgresql", "postgresql://", None)
    default = parse_database_url("sqlite")
    assert default.backend == "sqlite"
    assert default.path is not None and default.path.name == "tgparser.db"
    assert parse_database_url("./postgres").path == Path("postgres")  # a file, spelled as one


def test_copy_to_bare_postgres_uses_libpq_defaults(
    pg_server: PGServer, pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    source = f"sqlite:///{tmp_path / 'archive.db'}"
    filled(source)
    env = pg_env(pg_server, pg_url)
    result = run("--db", source, "db", "copy", "--to", "postgres", "--verify", "--json", env=env)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["ok"] is True
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("archive.db")) == []
    with open_storage(pg_url) as store:
        assert store.count_messages() == 3
    # The same word works wherever a database URL is accepted.
    for args in (
        ("--db", "postgresql", "stats", "--json"),
        ("db", "verify", "--against", "postgres", "--json"),
        ("db", "copy", "--from", "postgres", "--to", str(tmp_path / "back.db"), "--json"),
    ):
        with_db = args if args[0] == "--db" else ("--db", source, *args)
        assert run(*with_db, env=env).exit_code == 0, args
    assert run("stats", "--json", env={**env, "TGPARSER_DB": "postgres"}).exit_code == 0
    config = tmp_path / "config.toml"
    config.write_text('db = "postgres"\n')
    status = run("--config", str(config), "db", "status", "--json", env=env)
    assert json.loads(status.stdout)["tables"]["messages"] == 3
    assert not (tmp_path / "postgres").exists() and not (tmp_path / "postgresql").exists()


def test_bare_postgres_reads_pgservice(
    pg_server: PGServer, pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = pg_env(pg_server, pg_url)
    services = tmp_path / "pg_service.conf"
    services.write_text(
        "[archive]\n"
        + "".join(f"{k[2:].lower()}={v}\n" for k, v in env.items()).replace("database=", "dbname=")
    )
    monkeypatch.chdir(tmp_path)
    result = run(
        "--db",
        "postgres",
        "db",
        "migrate",
        "--json",
        env={"PGSERVICEFILE": str(services), "PGSERVICE": "archive"},
    )
    assert result.exit_code == 0, result.stderr
    assert schema_exists(pg_server, pg_url)


# -- 3. passwords masked by structure -----------------------------------------------------------

TRICKY = ["p", "e", "a", pgcluster.PASSWORD_USER, "a@b%40c:d/e"]


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("postgresql://u:p@/db?host=/tmp&port=1", "postgresql://u:***@/db?host=/tmp&port=1"),
        ("postgresql://user:user@host/user", "postgresql://user:***@host/user"),
        ("postgresql://u:a%40b%2540c%3Ad%2Fe@h/db", "postgresql://u:***@h/db"),
        ("postgresql://u:a@b:c@h:5432/db", "postgresql://u:***@h:5432/db"),
        ("postgresql://u:pa/ss@h/db", "postgresql://u:***@h/db"),
        (
            "postgresql://u@h/db?password=e&sslmode=require",
            "postgresql://u@h/db?password=***&sslmode=require",
        ),
        ("postgresql://h:5432/db?user=me@corp", "postgresql://h:5432/db?user=me@corp"),
        ("postgresql://h1:5432,h2:5433/db", "postgresql://h1:5432,h2:5433/db"),
        ("/tmp/some:file@x.db", "/tmp/some:file@x.db"),
        ("host=h user=e password=e dbname=e", "host=h user=e password=*** dbname=e"),
        ("host=h password='a b\\'c' user=u", "host=h password=*** user=u"),
    ],
)
def test_mask_password_by_structure(url: str, masked: str) -> None:
    assert mask_password(url) == masked


def test_connect_args_keep_the_password_out_of_the_url() -> None:
    # Like libpq, a password= parameter wins over the user info.
    assert pg_connect_args("postgresql://u:x@h/db?password=q&port=5") == (
        "postgresql://u@h/db?port=5",
        {"password": "q"},
    )
    assert pg_connect_args("postgresql://h/db") == ("postgresql://h/db", {})
    assert pg_connect_args("postgresql://u:a%40b%2540c%3Ad%2Fe@h/db?port=5") == (
        "postgresql://u@h/db?port=5",
        {"password": "a@b%40c:d/e"},
    )


def _pieces(secret: str) -> set[str]:
    """Every part of a password that would give it away (3+ characters), raw and encoded."""
    found = set()
    for text in (secret, quote(secret, safe="")):
        found |= {text[i : i + 3] for i in range(len(text) - 2)}
    return found


@pytest.fixture
def password_role(pg_server: PGServer) -> Any:
    """Set the scram role's password; restore the cluster's own afterwards."""
    if pg_server.cluster is None:
        pytest.skip("needs the test cluster's password role")
    import psycopg
    from psycopg import sql

    def set_password(value: str) -> None:
        with psycopg.connect(pg_server.admin_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                    sql.Identifier(pgcluster.PASSWORD_USER), sql.Literal(value)
                )
            )

    yield set_password
    set_password(pgcluster.PASSWORD)


@pytest.mark.parametrize("password", TRICKY)
def test_errors_and_status_show_no_part_of_the_password(
    pg_server: PGServer, pg_url: str, password_role: Any, password: str
) -> None:
    assert pg_server.cluster is not None
    user = pgcluster.PASSWORD_USER
    dbname = urlsplit(pg_url).path.lstrip("/")
    pg_server.admin(f"GRANT ALL ON DATABASE {dbname} TO {user}")
    password_role(password)
    socket = pg_server.cluster.socket_dir

    def url(secret: str, port: int = 5432) -> str:
        return f"postgresql://{user}:{quote(secret, safe='')}@/{dbname}?host={socket}&port={port}"

    def shown(port: int = 5432) -> str:
        return f"postgresql://{user}:***@/{dbname}?host={socket}&port={port}"

    ok = run("--db", url(password), "db", "migrate")
    assert ok.exit_code == 0, ok.stderr
    status = run("--db", url(password), "db", "status", "--json")
    assert json.loads(status.stdout)["url"] == shown()

    wrong = one_line_error(run("--db", url(password + "x"), "db", "status"))
    assert wrong.startswith(f"Error: cannot connect to {shown()}: ")
    assert f'password authentication failed for user "{user}"' in wrong  # readable, whole
    assert wrong.count("***") == 1

    refused = one_line_error(run("--db", url(password, port=5999), "db", "status"))
    assert refused.startswith(f"Error: cannot connect to {shown(5999)}: ")
    assert "port 5999 failed" in refused or ".s.PGSQL.5999" in refused
    assert refused.count("***") == 1
    if password != user:  # (a password equal to the user name shows as the user name)
        for text in (status.stdout, wrong, refused):
            assert not _pieces(password) & {text[i : i + 3] for i in range(len(text) - 2)}


def test_libpq_key_value_form(pg_server: PGServer, pg_url: str, password_role: Any) -> None:
    """`host=… dbname=… password=…` is PostgreSQL too, masked by its structure."""
    assert pg_server.cluster is not None
    user, dbname = pgcluster.PASSWORD_USER, urlsplit(pg_url).path.lstrip("/")
    pg_server.admin(f"GRANT ALL ON DATABASE {dbname} TO {user}")
    password_role("it's a@b")
    base = f"host={pg_server.cluster.socket_dir} port=5432 dbname={dbname} user={user}"
    good = base + " password='it\\'s a@b'"
    assert run("--db", good, "db", "migrate").exit_code == 0
    assert json.loads(run("--db", good, "db", "status", "--json").stdout)["url"] == (
        base + " password=***"
    )
    line = one_line_error(run("--db", base + " password=wrong", "stats"))
    assert line.startswith(f"Error: cannot connect to {base} password=***: ")
    assert "wrong" not in line


def test_raw_special_characters_in_a_password(
    pg_server: PGServer, pg_url: str, password_role: Any
) -> None:
    """Unencoded '@' and ':' work (the last '@' ends the user info); an unencoded '/' is refused
    with a hint, and the message holds no part of the password."""
    assert pg_server.cluster is not None
    user, dbname = pgcluster.PASSWORD_USER, urlsplit(pg_url).path.lstrip("/")
    pg_server.admin(f"GRANT ALL ON DATABASE {dbname} TO {user}")
    socket = pg_server.cluster.socket_dir
    password_role("x@y:z")
    raw = f"postgresql://{user}:x@y:z@/{dbname}?host={socket}&port=5432"
    assert run("--db", raw, "db", "migrate").exit_code == 0
    slash = f"postgresql://{user}:sec/ret@/{dbname}?host={socket}&port=5432"
    line = one_line_error(run("--db", slash, "db", "status"))
    assert "must be percent-encoded (%2F" in line
    assert "sec" not in line and "ret@" not in line


def test_malformed_percent_encoding_in_a_password(tmp_path: Path) -> None:
    line = one_line_error(
        run("--db", f"postgresql://u:e%zze@/db?host={tmp_path}&port=5999", "stats")
    )
    assert "e%zze" not in line and "%zz" not in line
    assert line.startswith(f"Error: cannot connect to postgresql://u:***@/db?host={tmp_path}")
    assert "connection" in line and "conn***" not in line


# -- 10. other tools' tables are welcome ------------------------------------------------------


def test_sqlite_utils_tables_next_to_an_archive(tmp_path: Path, sqlite_url: str) -> None:
    filled(sqlite_url)
    path = parse_database_url(sqlite_url).path
    assert path is not None
    cli = Path(sys.executable).parent / "sqlite-utils"
    notes = tmp_path / "notes.json"
    notes.write_text(json.dumps([{"id": 1, "text": "my own note"}]))
    subprocess.run([str(cli), "insert", str(path), "notes", str(notes), "--pk", "id"], check=True)
    subprocess.run([str(cli), "enable-fts", str(path), "notes", "text"], check=True)
    db = sqlite_utils.Database(path)
    db["tags"].insert({"name": "x"})
    db.close()
    for command in [*READ_COMMANDS, ("db", "migrate")]:
        result = run("--db", sqlite_url, *command)
        assert result.exit_code == 0, (command, result.stderr)
    status = json.loads(run("--db", sqlite_url, "db", "status", "--json").stdout)
    assert "notes" not in status["tables"] and status["tables"]["messages"] == 3
    copy = run("--db", sqlite_url, "db", "copy", "--to", str(tmp_path / "c.db"), "--verify")
    assert copy.exit_code == 0, copy.stderr
    verify = run("--db", sqlite_url, "db", "verify", "--against", str(tmp_path / "c.db"))
    assert verify.exit_code == 0, verify.stderr
    # And the other way: a copy onto an archive that holds a user's table.
    back = run("--db", str(tmp_path / "c.db"), "db", "copy", "--to", sqlite_url, "--append")
    assert back.exit_code == 0, back.stderr
    db = sqlite_utils.Database(path)
    assert [r["text"] for r in db["notes"].search("note")] == ["my own note"]


def test_other_objects_in_the_postgres_schema(
    pg_server: PGServer, pg_url: str, tmp_path: Path
) -> None:
    filled(pg_url)
    pg_server.admin(
        "CREATE TABLE tgparser.notes (id int PRIMARY KEY, text text);"
        "INSERT INTO tgparser.notes VALUES (1, 'mine');"
        "CREATE VIEW tgparser.recent AS SELECT * FROM tgparser.messages;"
        "CREATE FUNCTION tgparser.one() RETURNS int LANGUAGE sql AS 'SELECT 1'",
        pg_url,
    )
    for command in [*READ_COMMANDS, ("db", "migrate")]:
        result = run("--db", pg_url, *command)
        assert result.exit_code == 0, (command, result.stderr)
    status = json.loads(run("--db", pg_url, "db", "status", "--json").stdout)
    assert "notes" not in status["tables"]
    target = str(tmp_path / "c.db")
    assert run("--db", pg_url, "db", "copy", "--to", target, "--verify").exit_code == 0
    assert run("--db", pg_url, "db", "verify", "--against", target).exit_code == 0


def test_a_user_table_a_pending_migration_needs_is_named(db_url: str) -> None:
    with open_storage(db_url) as store:
        store.migrate(up_to=1)
        store._execute("CREATE TABLE thread_cursors (id integer)")
    line = one_line_error(run("--db", db_url, "db", "migrate"))
    assert "'thread_cursors'" in line and "0002_ingest.sql" in line and "rename it" in line


def test_a_foreign_file_is_still_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    sqlite_utils.Database(path)["photos"].insert({"id": 1})
    for command in (("db", "migrate"), ("stats",)):
        line = one_line_error(run("--db", str(path), *command))
        assert "tables tgparser did not create (photos)" in line and "no tgparser archive" in line


# -- 12. concurrent writers merge ----------------------------------------------------------------


def test_two_writers_adding_the_same_source_merge(db_url: str) -> None:
    """The second writer reads "no such source" while the first has it uncommitted."""
    with open_storage(db_url) as store:
        store.migrate()
    inside = threading.Event()
    errors: list[BaseException] = []

    def hold() -> None:
        with open_storage(db_url) as first, first.transaction():
            first.upsert_source(make_source(title="first"))
            inside.set()
            time.sleep(0.5)  # the second writer reads and inserts meanwhile

    def add() -> None:
        inside.wait(10)
        try:
            with open_storage(db_url) as second:
                second.upsert_source(make_source(title="second", username="second"))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=hold), threading.Thread(target=add)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    with open_storage(db_url) as store:
        stored = store.get_source(make_source()["chat_id"])
    assert stored is not None and (stored["title"], stored["username"]) == ("second", "second")


def write_export(folder: Path, messages: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    data = {
        "name": "Race Chat",
        "type": "public_channel",
        "id": 1000000999,
        "messages": [
            {
                "id": i,
                "type": "message",
                "date": "2024-01-01T12:00:00",
                "date_unixtime": str(1_704_103_200 + i),
                "from": "Race Chat",
                "from_id": "channel1000000999",
                "text": f"message {i} " + "words " * 40,
                "text_entities": [],
            }
            for i in range(1, messages + 1)
        ],
    }
    path = folder / "result.json"
    path.write_text(json.dumps(data))
    return path


def test_two_imports_into_a_fresh_database_at_once(db_url: str, tmp_path: Path) -> None:
    export = write_export(tmp_path / "export", messages=3000)
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.hardening_worker",
                db_url,
                str(barrier),
                name,
                str(export),
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("a", "b")
    ]
    outcomes = [(p.wait(180), *p.communicate()) for p in procs]
    for code, _out, err in outcomes:
        assert code == 0, err
    with open_storage(db_url) as store:
        assert store.count_messages() == 3000
        assert len(store.list_sources()) == 1


# -- 13. a locked archive is "try later" -------------------------------------------------------


def test_sqlite_locked_past_the_busy_timeout_exits_75(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    filled(sqlite_url)
    monkeypatch.setattr("tgparser.storage.sqlite.BUSY_TIMEOUT_MS", 200)
    path = parse_database_url(sqlite_url).path
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        result = run("--db", sqlite_url, "source", "pause", "@expert_channel")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert result.exit_code == 75, result.stderr
    line = one_line_error(result)
    assert line == (
        f"Error: the archive {path} is locked by another writer (waited 0.2 s): try again later"
    )


def test_postgres_lock_timeout_exits_75(pg_server: PGServer, pg_url: str) -> None:
    filled(pg_url)
    import psycopg

    holder = psycopg.connect(pg_url)
    holder.execute("LOCK TABLE tgparser.sources IN ACCESS EXCLUSIVE MODE")
    try:
        result = run(
            "--db",
            pg_url,
            "source",
            "pause",
            "@expert_channel",
            env={"PGOPTIONS": "-c lock_timeout=200"},
        )
    finally:
        holder.rollback()
        holder.close()
    assert result.exit_code == 75, result.stderr
    line = one_line_error(result)
    assert "try again later" in line and "lock" in line


# -- 23. true figures and hints from db copy / db verify -------------------------------------


def test_append_reports_what_the_target_holds(db_url: str, tmp_path: Path) -> None:
    filled(db_url)
    target = str(tmp_path / "target.db")
    assert run("--db", db_url, "db", "copy", "--to", target).exit_code == 0
    again = run("--db", db_url, "db", "copy", "--to", target, "--append", "--json")
    tables = {t["table"]: t for t in json.loads(again.stdout)["tables"]}
    assert tables["messages"]["target_rows"] == 3
    assert tables["messages"]["copied_rows"] == 0
    human = run("--db", db_url, "db", "copy", "--to", target, "--append")
    assert "append: 0 rows written" in human.stdout


def test_verify_against_a_missing_archive(db_url: str, tmp_path: Path, pg_server: PGServer) -> None:
    filled(db_url)
    missing = tmp_path / "nowhere.db"
    line = one_line_error(run("--db", db_url, "db", "verify", "--against", str(missing)))
    assert line == f"Error: no archive at {missing} to compare with"
    assert not missing.exists()
    fresh = pg_server.fresh_database()
    empty_pg = next(fresh)
    try:
        line = one_line_error(run("--db", db_url, "db", "verify", "--against", empty_pg))
        assert line.endswith("(schema tgparser) to compare with")
        line = one_line_error(run("--db", str(missing), "db", "copy", "--to", empty_pg))
        assert line == f"Error: no archive at {missing} to copy from"
    finally:
        fresh.close()
