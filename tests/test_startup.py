"""Start-up: what a one-shot command imports, run as the whole process a shell starts.

`python -X importtime` lists every module a run imports. `--help` and `--version` must not pay
for what only a command that runs needs (storage, settings, logging, Rich, drivers), and a
one-shot `search --json` on SQLite must not pay for the other backends, Rich or the regex that
cuts texts into words. The figures are in docs/development.md (`tests/bench/bench_startup.py`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.test_import_desktop import channel_export
from tgparser import search_tokens
from tgparser.cli import main
from tgparser.errors import MigrationError
from tgparser.storage import Storage, open_storage
from tgparser.storage import migrations as mig

# Never imported by any of the runs below.
HEAVY = {
    "rich",
    "sqlite_utils",
    "psycopg",
    "telethon",
    "httpx",
    "numpy",
    "scipy",
    "ijson",
    "asyncio",
}
# Imported only by a command that runs, never by `--help` or `--version`.
COMMAND_ONLY = {
    "logging",
    "platformdirs",
    "tomllib",
    "importlib.resources",
    "tempfile",
    "sqlite3",
    "hashlib",
    "tgparser.config",
    "tgparser.storage.urls",
    "tgparser.storage.base",
    "tgparser.search",
}


def imported(*args: str, env: dict[str, str]) -> set[str]:
    """The modules a `python -m tgparser ARGS` process imports, from `-X importtime`."""
    run = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "tgparser", *args],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    modules = set()
    for line in run.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            name = line.rsplit("|", 1)[1].strip()
            if name != "imported package":
                modules.add(name)
    assert "tgparser.cli" in modules, run.stderr[-2000:]
    return modules


@pytest.fixture()
def env(tmp_path: Path) -> dict[str, str]:
    home = tmp_path / "home"
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("TGPARSER_")},
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_DATA_HOME": str(home / "data"),
    }


def tops(modules: set[str]) -> set[str]:
    return {m.split(".")[0] for m in modules}


@pytest.mark.parametrize("args", [["--help"], ["--version"], ["-V"], ["db", "--help"]])
def test_help_and_version_import_no_storage_settings_or_logging(
    args: list[str], env: dict[str, str]
) -> None:
    modules = imported(*args, env=env)
    assert tops(modules) & HEAVY == set()
    assert modules & COMMAND_ONLY == set()


def test_one_shot_search_on_sqlite_imports_only_what_it_uses(
    tmp_path: Path, env: dict[str, str]
) -> None:
    export = tmp_path / "result.json"
    export.write_text(json.dumps(channel_export()), encoding="utf-8")
    db = str(tmp_path / "a.db")
    subprocess.run(
        [sys.executable, "-m", "tgparser", "-q", "--db", db, "import", "desktop", str(export)],
        env=env,
        check=True,
    )
    out = subprocess.run(
        [sys.executable, "-m", "tgparser", "--db", db, "search", "docs", "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert [hit["text"] for hit in json.loads(out)] == ["Hi 👋 bold and docs"]
    modules = imported("--db", db, "search", "docs", "--json", env=env)
    assert tops(modules) & HEAVY == set()
    # no other backend, no other command, no output machinery a JSON answer does not use
    assert (
        modules
        & {
            "tgparser.storage.postgres",
            "tgparser.sources",
            "tgparser.storage.checksum",
            "tgparser.cli.topics_cmd",
            "tgparser.cli.process_cmd",
            "tgparser.cli.source_cmd",
            "tgparser.telegram.refs",  # the REF parser: links need only the id offset
            "tempfile",
            "csv",
            "importlib.resources",
            "logging",  # configured when imported, and nothing on this path logs
            "traceback",
            "hashlib",  # the archive is at the shipped version: no migration file is read
        }
        == set()
    )
    assert {"tgparser.storage.sqlite", "tgparser.search", "sqlite3"} <= modules


# -- the query's words without the word-run regex ------------------------------------------------


def test_query_words_are_cut_without_compiling_the_word_run_regex() -> None:
    code = (
        "from tgparser import search_query, search_tokens\n"
        "groups = search_query.parse('Репликация \"connection pool\" -mysql café*')\n"
        "print([[t.words for t in g] for g in groups])\n"
        "print(search_tokens._word_run.cache_info().currsize)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert out == [
        "[[('репликация',), ('connection', 'pool'), ('mysql',), ('cafe',)]]",
        "0",
    ]


def test_separator_table_and_word_run_regex_agree_on_every_code_point() -> None:
    regex = search_tokens._word_run()
    firsts, lasts = search_tokens.separator_ranges()
    assert list(firsts) == sorted(firsts) and all(
        a <= b for a, b in zip(firsts, lasts, strict=True)
    )
    from_table = set()
    for first, last in zip(firsts, lasts, strict=True):
        from_table.update(range(first, last + 1))
    from_regex = {cp for cp in range(0x110000) if regex.fullmatch(chr(cp)) is None}
    assert from_table == from_regex
    assert all(cp in from_table for cp in range(0x110000) if chr(cp).isspace())
    # every code point in one text, each between letters: the same words both ways
    text = "".join(f"a{chr(cp)}b" for cp in range(0x110000) if not 0xD800 <= cp < 0xE000)
    folded = search_tokens.fold(text)
    table = search_tokens._SeparatorsToSpaces()
    assert folded.translate(table).split() == regex.findall(folded)
    sample = "Hi 👋 bold, docs; example.com/путь — مشكل ёлка Ca\u0301fe\u00a0x\u200cy 2024-01-01"
    assert search_tokens.words(sample) == regex.findall(search_tokens.fold(sample))
    assert search_tokens.words(sample) == [
        "hi", "bold", "docs", "example", "com", "путь", "مشکل", "елка", "cafe", "x", "y",
        "2024", "01", "01",
    ]  # fmt: skip


def test_bulk_words_cuts_as_words_does() -> None:
    # `db copy`'s word cutter (one BMP character class) against `words()` (the table): every
    # BMP code point between letters, in one text and alone; texts with a character beyond
    # U+FFFF (which the class does not know) fall back to the table.
    bmp = [cp for cp in range(1, 0x10000) if not 0xD800 <= cp < 0xE000]
    text = "".join(f"a{chr(cp)}b" for cp in bmp)
    assert search_tokens.bulk_words(text) == search_tokens.words(text)
    assert search_tokens._bmp_word_run().findall(search_tokens.fold(text)) == (
        search_tokens.words(text)
    )
    for cp in bmp:
        single = f"Ёж{chr(cp)}Ab 1"
        assert search_tokens.bulk_words(single) == search_tokens.words(single), hex(cp)
    for single in ["ёж😀ab", "ёж\U0001d7ceab", "ёж\U00020000ab x", "ёж\U000e0001ab", ""]:
        assert search_tokens.bulk_words(single) == search_tokens.words(single), single


# -- the user folders without importing platformdirs ---------------------------------------------


@pytest.mark.parametrize(
    ("xdg", "home"),
    [
        (None, "/home/someone"),
        ("", "/home/someone"),
        ("/srv/xdg", "/home/someone"),
        ("/srv/xdg/", "/home/someone"),
        ("relative/xdg", "/home/someone"),
        ("  ", "/home/someone"),
        (None, "relative-home"),
        (None, None),
        ("/srv/xdg", None),
    ],
)
def test_config_and_data_folders_are_what_platformdirs_says(
    monkeypatch: pytest.MonkeyPatch, xdg: str | None, home: str | None
) -> None:
    import platformdirs

    from tgparser import paths

    for variable in ("XDG_CONFIG_HOME", "XDG_DATA_HOME"):
        if xdg is None:
            monkeypatch.delenv(variable, raising=False)
        else:
            monkeypatch.setenv(variable, xdg)
    if home is None:
        monkeypatch.delenv("HOME", raising=False)
    else:
        monkeypatch.setenv("HOME", home)
    assert paths.config_dir() == platformdirs.user_config_path("tgparser")
    assert paths.data_dir() == platformdirs.user_data_path("tgparser")
    if sys.platform == "linux" and xdg and xdg.startswith("/"):
        assert paths._xdg_dir("XDG_CONFIG_HOME", ".config") is not None  # the short way


# -- logging: configured when something imports it -------------------------------------------

LOGS = (
    "import sys\n"
    "from tgparser.cli.logsetup import setup_logging\n"
    "{before}"
    "setup_logging({verbose})\n"
    "assert ('logging' in sys.modules) == {loaded}, 'imported too early'\n"
    "import logging\n"
    "logging.getLogger('tgparser.ingest').debug('debug line')\n"
    "logging.getLogger('psycopg').warning('warning %s', 1)\n"
    "logging.getLogger('telethon.network').warning('reconnecting')\n"
    "logging.getLogger('telethon.network').error('gave up')\n"
    "import logging.handlers\n"  # the package's submodules still load
    "print(type(logging.__loader__).__name__, logging.__spec__.loader is logging.__loader__)\n"
)


@pytest.mark.parametrize("already_imported", [False, True])
def test_logging_is_set_up_as_before_whenever_it_is_imported(already_imported: bool) -> None:
    before = "import logging\n" if already_imported else ""

    def logs(verbose: bool, loaded: bool) -> subprocess.CompletedProcess[str]:
        code = LOGS.format(before=before, verbose=verbose, loaded=loaded)
        return subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        )

    quiet = logs(verbose=False, loaded=already_imported)
    assert quiet.stderr.splitlines() == [
        "WARNING psycopg: warning 1",
        "ERROR telethon.network: gave up",
    ]
    assert quiet.stdout.split() == ["SourceFileLoader", "True"]
    verbose = logs(verbose=True, loaded=True)
    assert verbose.stderr.splitlines() == [
        "DEBUG tgparser.ingest: debug line",
        "WARNING psycopg: warning 1",
        "WARNING telethon.network: reconnecting",
        "ERROR telethon.network: gave up",
    ]


# -- the schema check of a command that only reads -------------------------------------------


def test_an_up_to_date_archive_is_read_without_reading_the_migration_files(
    storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unread(dialect: str) -> None:
        raise AssertionError(f"read the {dialect} migration files")

    monkeypatch.setattr(mig, "load_migrations", unread)
    storage.ensure_schema(create=False)  # search, export, stats: file names only
    with pytest.raises(AssertionError, match="read the"):
        storage.ensure_schema(create=True)  # a command that writes checks in full


def _records_change(store: Storage, change: str) -> None:
    if change == "older":
        store.migrate(up_to=mig.latest_version(store.dialect) - 1)
        return
    store.migrate()
    if change == "newer":
        store._execute(
            "INSERT INTO schema_migrations (version, name, checksum, applied_at) "
            "VALUES (9999, 'future', 'x', '2030-01-01T00:00:00.000000Z')"
        )
    elif change == "missing":
        store._execute("DELETE FROM schema_migrations WHERE version = 2")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("older", "run `tgparser db migrate`"),
        ("newer", "newer than this tgparser knows"),
        ("missing", "migration 0002_ingest.sql needs that name"),
    ],
)
def test_a_command_that_only_reads_still_refuses_an_archive_at_another_schema(
    db_url: str, change: str, message: str
) -> None:
    with open_storage(db_url) as store:
        _records_change(store, change)
    with (
        open_storage(db_url, create=False) as store,
        pytest.raises(MigrationError, match=message.replace("`", ".")),
    ):
        store.ensure_schema(create=False)
    for args in (["search", "x", "--json"], ["export", "messages"], ["stats", "--json"]):
        result = CliRunner().invoke(main, ["--db", db_url, *args])
        assert result.exit_code == 1, result.output
        assert result.stdout == ""
        assert result.stderr.strip().splitlines() == [result.stderr.strip()]
        assert message in result.stderr
    if change == "older":  # and `db migrate` brings it up to date, as before
        assert CliRunner().invoke(main, ["--db", db_url, "db", "migrate"]).exit_code == 0
        assert CliRunner().invoke(main, ["--db", db_url, "search", "x", "--json"]).exit_code == 0


def test_a_changed_migration_is_refused_by_commands_that_write(
    sqlite_url: str, tmp_path: Path
) -> None:
    """A read-only command compares numbers and names only (above); the checksums are checked
    by every command that writes and by `db migrate` and `db status`."""
    with open_storage(sqlite_url) as store:
        store.migrate()
        store._execute("UPDATE schema_migrations SET checksum = 'abc123' WHERE version = 1")
    export = tmp_path / "result.json"
    export.write_text(json.dumps(channel_export()), encoding="utf-8")
    for args in (["import", "desktop", str(export)], ["db", "migrate"], ["db", "status"]):
        result = CliRunner().invoke(main, ["--db", sqlite_url, *args])
        assert result.exit_code == 1, result.output
        assert "0001_core.sql was changed after it was applied" in result.stderr
    assert CliRunner().invoke(main, ["--db", sqlite_url, "search", "x", "--json"]).exit_code == 0
