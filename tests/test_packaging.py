"""Packaging: the one-file zipapp, the wheel and sdist, shell completion, --version, start-up.

The zipapp and wheel tests build from this checkout with pip (PyPI is the only network they
use) and take a minute or two each. Under CI=true a missing tool fails them instead of
skipping.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import sys
import tarfile
import tempfile
import tomllib
import zipfile
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from tests.conftest import PGServer
from tests.test_import_desktop import channel_export
from tgparser import __version__, extras
from tgparser.cli import COMMANDS, main
from tgparser.storage import open_storage
from tgparser.storage.migrations import latest_version, load_migrations

ROOT = Path(__file__).resolve().parents[1]
SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin"
FIXTURE_MESSAGES = len(channel_export()["messages"])


def need(condition: object, reason: str) -> None:
    """Skip without what the test needs; under CI=true, fail instead."""
    if not condition:
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)


def python_code(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return out.stdout.strip()


# -- start-up: a command imports only what it needs -------------------------------------------


def test_search_imports_no_other_command_and_nothing_heavy(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    with closing(open_storage(f"sqlite:///{db}")) as archive:
        archive.migrate()
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from tgparser.cli import main\n"
        f"r = CliRunner().invoke(main, ['--db', {str(db)!r}, 'search', 'docs', '--json'])\n"
        "assert r.exit_code == 0, r.output\n"
        "assert r.output.strip() == '[]', r.output\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'telethon', 'psycopg', "
        "'rich', 'sqlite_utils', 'asyncio'}))\n"
        "print(sorted(m for m in sys.modules if m.startswith('tgparser.cli.')))\n"
    )
    heavy, commands = python_code(code).splitlines()
    assert heavy == "[]"
    # export_cmd holds search; it reuses the argument types of two small modules (the `source`
    # commands' chat label only for `stats`), and logsetup configures logging if it is imported
    assert commands == str(
        ["tgparser.cli.app", "tgparser.cli.export_cmd", "tgparser.cli.lazy",
         "tgparser.cli.logsetup", "tgparser.cli.params", "tgparser.cli.refs"]
    )  # fmt: skip


def test_every_command_in_the_table_loads_and_is_listed() -> None:
    from click.testing import CliRunner

    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for name in COMMANDS:
        command = main.get_command(None, name)  # type: ignore[arg-type]
        assert command is not None and command.name == name
        assert f"\n  {name} " in result.output
    assert CliRunner().invoke(main, ["nosuchcommand"]).exit_code == 2


# -- --version and the optional extras ----------------------------------------------------------


def test_version_tells_schema_python_and_extras() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "tgparser", "--version"], capture_output=True, text=True, check=True
    ).stdout
    lines = out.splitlines()
    assert lines[0] == f"tgparser, version {__version__}"
    assert f"schema version: {latest_version('sqlite')} " in lines[1]
    assert (
        latest_version("sqlite") == latest_version("postgresql") == len(load_migrations("sqlite"))
    )
    assert f"Python: CPython {sys.version.split()[0]}" in out
    for extra in extras.OPTIONAL_EXTRAS:
        assert f"extra {extra}: " in out


def test_extras_table_matches_pyproject() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    declared = set(pyproject["project"]["optional-dependencies"]) - {"test"}
    assert declared == set(extras.OPTIONAL_EXTRAS), (
        "every optional extra in pyproject.toml needs its line in tgparser.extras.OPTIONAL_EXTRAS"
    )


def test_a_missing_extra_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from tgparser.errors import TgparserError

    monkeypatch.setitem(extras.OPTIONAL_EXTRAS, "demo", ("json", "no_such_module_xyz"))
    assert extras.extras_status()["demo"] is False
    with pytest.raises(TgparserError) as caught:
        extras.require("demo")
    message = str(caught.value)
    assert "no_such_module_xyz" in message and "json," not in message
    assert "'tgparser[demo]'" in message
    monkeypatch.setitem(extras.OPTIONAL_EXTRAS, "demo", ("json",))
    extras.require("demo")  # present: no error


# -- shell completion (Click's own) ------------------------------------------------------------


@pytest.mark.parametrize(
    ("shell", "marker"),
    [
        ("bash", "complete -o nosort -F _tgparser_completion tgparser"),
        ("zsh", "compdef _tgparser_completion tgparser"),
        ("fish", "complete --no-files --command tgparser"),
    ],
)
def test_completion_script_for_each_shell(shell: str, marker: str) -> None:
    tgparser = Path(sys.executable).with_name("tgparser")
    need(tgparser.exists(), f"no installed tgparser command beside {sys.executable}")
    env = {**os.environ, "_TGPARSER_COMPLETE": f"{shell}_source"}
    script = subprocess.run(
        [str(tgparser)], env=env, capture_output=True, text=True, check=True
    ).stdout
    assert marker in script
    if shell == "bash" and shutil.which("bash"):
        subprocess.run(["bash", "-n"], input=script, text=True, check=True)  # it parses
    # and the completions it asks for are tgparser's own: commands, then their options
    env = {**os.environ, "_TGPARSER_COMPLETE": f"{shell}_complete"}
    # bash and zsh pass the index of the word being completed, fish the word itself
    env["COMP_WORDS"] = "tgparser s"
    env["COMP_CWORD"] = "s" if shell == "fish" else "1"
    answer = subprocess.run(
        [str(tgparser)], env=env, capture_output=True, text=True, check=True
    ).stdout
    for name in COMMANDS:
        assert (name in answer) == name.startswith("s"), (name, answer)


# -- the wheel and the sdist ----------------------------------------------------------------------


def test_wheel_and_sdist_are_publishable_and_install_into_a_fresh_venv(tmp_path: Path) -> None:
    for module in ("build", "twine"):
        need(
            python_code(f"import importlib.util; print(importlib.util.find_spec({module!r}))")
            != "None",
            f"{module} is not installed (it is in the 'test' extra)",
        )
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(dist), str(ROOT)],
        capture_output=True,
        check=True,
    )
    wheels = list(dist.glob("tgparser-*.whl"))
    sdists = list(dist.glob("tgparser-*.tar.gz"))
    assert [w.name for w in wheels] == [f"tgparser-{__version__}-py3-none-any.whl"]
    assert [s.name for s in sdists] == [f"tgparser-{__version__}.tar.gz"]
    subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", *map(str, dist.iterdir())],
        capture_output=True,
        check=True,
    )
    shipped = {
        f"tgparser/storage/sql/{dialect}/{m.filename}"
        for dialect in ("sqlite", "postgresql")
        for m in load_migrations(dialect)
    }
    in_wheel = set(zipfile.ZipFile(wheels[0]).namelist())
    assert shipped <= in_wheel
    assert not any(name.startswith("tests/") for name in in_wheel)
    with tarfile.open(sdists[0]) as sdist:
        prefix = f"tgparser-{__version__}/"
        assert {prefix + name for name in shipped} <= set(sdist.getnames())

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [str(venv / "bin/pip"), "install", "-q", "--disable-pip-version-check", str(wheels[0])],
        check=True,
    )
    db = tmp_path / "fresh.db"
    tgparser = str(venv / "bin/tgparser")
    env = {**os.environ, "HOME": str(tmp_path / "home")}
    migrate = subprocess.run(
        [tgparser, "--db", str(db), "db", "migrate", "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(migrate.stdout)["schema_version"] == latest_version("sqlite")
    status = subprocess.run(
        [tgparser, "--db", str(db), "db", "status", "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    state = json.loads(status.stdout)
    assert state["schema_version"] == state["latest_version"] == latest_version("sqlite")
    assert state["pending_migrations"] == []
    assert state["tables"]["schema_migrations"] == len(load_migrations("sqlite"))


# -- the one-file zipapp ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def zipapp() -> Iterator[Path]:
    """dist/tgparser built from this checkout, in a folder any user may read."""
    need(
        python_code("import importlib.util; print(importlib.util.find_spec('shiv'))") != "None",
        "shiv is not installed (it is in the 'test' extra)",
    )
    folder = Path(tempfile.mkdtemp(prefix="tgparser-zipapp-"))
    try:
        folder.chmod(0o755)
        target = folder / "tgparser"
        subprocess.run(
            [sys.executable, "-m", "tgparser.build_zipapp", "--output", str(target)],
            cwd=ROOT,
            capture_output=True,
            check=True,
        )
        yield target
    finally:
        shutil.rmtree(folder, ignore_errors=True)


class Box:
    """A machine with only a system python3, as a non-root user whose HOME is read-only except
    for the config, data and cache folders tgparser creates its own folders in; no network."""

    def __init__(self, zipapp: Path, root: Path) -> None:
        self.zipapp = zipapp
        self.home = root / "home"
        python3 = shutil.which("python3", path=SYSTEM_PATH)
        need(python3, f"no system python3 on {SYSTEM_PATH}")
        self.as_root = os.geteuid() == 0
        user = pwd.getpwnam("postgres") if self.as_root else pwd.getpwuid(os.getuid())
        self.uid, self.gid = user.pw_uid, user.pw_gid
        for folder in (".config", ".local/share", ".cache"):
            (self.home / folder).mkdir(parents=True)
            os.chown(self.home / folder, self.uid, self.gid)
        for folder in (root, self.home, self.home / ".local"):
            folder.chmod(0o555)  # read-only for everyone but root
        self.env = {"PATH": SYSTEM_PATH, "HOME": str(self.home), "LANG": "C.UTF-8"}
        self.isolate_network = True

    def command(self, *args: str) -> list[str]:
        prefix: list[str] = []
        if self.as_root:
            # A network namespace of its own (only a down loopback), then the unprivileged user.
            prefix = ["unshare", "--net"] if self.isolate_network else []
            prefix += ["setpriv", f"--reuid={self.uid}", f"--regid={self.gid}", "--clear-groups"]
            prefix += ["--"]
        return [*prefix, str(self.zipapp), *args]

    def run(self, *args: str) -> str:
        done = subprocess.run(self.command(*args), env=self.env, capture_output=True, text=True)
        assert done.returncode == 0, f"{args}: {done.stderr}"
        return done.stdout

    def start(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.command(*args), env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip


@pytest.fixture
def box(zipapp: Path) -> Iterator[Box]:
    root = Path(tempfile.mkdtemp(prefix="tgparser-box-"))
    try:
        yield Box(zipapp, root)
    finally:
        for folder in (root, root / "home", root / "home/.local"):
            folder.chmod(0o755)
        shutil.rmtree(root, ignore_errors=True)


def test_zipapp_is_one_small_executable_for_the_supported_pythons(zipapp: Path) -> None:
    assert os.access(zipapp, os.X_OK)
    assert zipapp.read_bytes().startswith(b"#!/usr/bin/env python3\n")
    assert zipapp.stat().st_size < 15_000_000
    names = zipfile.ZipFile(zipapp).namelist()
    assert "site-packages/tgparser/storage/sql/sqlite/0001_core.sql" in names
    for unused in ("pip", "tzdata", "pygments", "markdown_it"):  # never imported by tgparser
        assert not any(name.startswith(f"site-packages/{unused}/") for name in names)
    info = json.loads(zipfile.ZipFile(zipapp).read("site-packages/tgparser/_zipapp.json"))
    assert info["pythons"] == ["3.11", "3.12", "3.13", "3.14"]
    for python in info["pythons"]:  # the PostgreSQL driver's compiled module, for each
        tag = python.replace(".", "")
        assert any(
            n.startswith("site-packages/psycopg_binary/_psycopg.cpython-" + tag) for n in names
        )


def test_zipapp_extracts_once_when_started_twice_at_once(box: Box) -> None:
    runs = [box.start("--version") for _ in range(3)]
    outputs = [run.communicate(timeout=120) for run in runs]
    for run, (out, err) in zip(runs, outputs, strict=True):
        assert run.returncode == 0, err
        assert out.startswith(f"tgparser, version {__version__}\n")
        assert "single-file build for CPython 3.11, 3.12, 3.13, 3.14" in out
    cache = box.home / ".cache/tgparser"
    extracted = [p.name for p in cache.iterdir() if not p.name.startswith(".")]
    assert len(extracted) == 1 and not extracted[0].endswith(".tmp"), extracted
    assert (cache / extracted[0] / "site-packages/tgparser/__init__.py").is_file()


def test_zipapp_smoke_on_sqlite_and_postgresql(
    box: Box, pg_server: PGServer, tmp_path: Path
) -> None:
    export = box.home / ".cache/result.json"  # a folder the box user may read
    export.write_text(json.dumps(channel_export()), encoding="utf-8")
    export.chmod(0o644)
    names = [pg_server.create_database() for _ in range(2)]
    pg_urls = [pg_server.url_for(name) for name in names]
    # The throwaway cluster listens on a Unix socket only: the box may lose its network.
    box.isolate_network = pg_server.cluster is not None
    sqlite_copy = f"sqlite:///{box.home / '.local/share/copy.db'}"
    try:
        assert box.run("--version").startswith(f"tgparser, version {__version__}")
        # SQLite in the default data folder, then a copy of it into PostgreSQL, and back
        for db, copy_to in ((None, pg_urls[0]), (pg_urls[1], sqlite_copy)):
            where = ["--db", db] if db else []
            migrated = json.loads(box.run(*where, "db", "migrate", "--json"))
            assert migrated["schema_version"] == latest_version("sqlite")
            box.run(*where, "-q", "import", "desktop", str(export))
            exported = [
                json.loads(line) for line in box.run(*where, "export", "messages").splitlines()
            ]
            assert len(exported) == FIXTURE_MESSAGES
            hits = json.loads(box.run(*where, "search", "docs", "--json"))
            assert [hit["message_id"] for hit in hits] == [2]
            assert "Expert News" in box.run(*where, "stats")  # a Rich table
            box.run(*where, "-q", "db", "copy", "--to", copy_to, "--verify")
            copied = box.run("--db", copy_to, "export", "messages").splitlines()
            assert [json.loads(line) for line in copied] == exported  # jsonb orders keys
    finally:
        for name in names:
            pg_server.drop_database(name)
    # what it wrote: its own folders in the config/data/cache folders, nothing else
    assert (box.home / ".local/share/tgparser/tgparser.db").is_file()
    assert sorted(p.name for p in (box.home / ".cache").iterdir()) == ["result.json", "tgparser"]
