"""Output hardening: files written safely (devices, FIFOs, signals, leftovers, modes), the
added export fields and options, readable formats, search display, dates as durations, and
help and --json that hold for every command."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.factories import make_message, make_source
from tgparser.cli import main
from tgparser.storage import open_storage

CHANNEL = -1001234567890
FORUM = -1009876543210
BASIC = -55


@pytest.fixture
def archive(db_url: str) -> str:
    """A channel with a reply, a forward, a service message and hostile text; a forum group
    with a topic; a basic group (no links)."""
    with open_storage(db_url) as store:
        store.ensure_schema()
        store.upsert_source(make_source(CHANNEL))
        store.upsert_source(
            make_source(FORUM, username=None, title="Закрытый форум", type="supergroup")
        )
        store.upsert_source(make_source(BASIC, username=None, title="Basic group", type="group"))
        store.upsert_messages(
            [
                make_message(
                    1,
                    text="Hello <script>alert(1)</script> & welcome\nsecond line",
                    post_author="Jane",
                    reactions=[{"reaction": "👍", "count": 3}],
                ),
                make_message(2, text="", media_kind="photo", sender_name="Bob", sender_id=42),
                make_message(
                    3,
                    text="replying to hello",
                    reply_to_msg_id=1,
                    sender_name="Bob",
                    sender_id=42,
                    fwd_from_name="Other Channel",
                    fwd_from_id=-100777,
                ),
                make_message(
                    4, kind="service", text="", action="MessageActionPinMessage", sender_id=7
                ),
                make_message(
                    1,
                    chat_id=FORUM,
                    kind="message",
                    text="в теме форума hello",
                    forum_topic_id=7,
                    sender_name="Ира",
                    sender_id=5,
                ),
                make_message(
                    2,
                    chat_id=FORUM,
                    kind="message",
                    text="ответ",
                    reply_to_msg_id=1,
                    forum_topic_id=7,
                    sender_name="Пётр",
                    sender_id=6,
                ),
                make_message(
                    1,
                    chat_id=BASIC,
                    kind="message",
                    text="basic hello world",
                    sender_name="Zed",
                    sender_id=9,
                ),
            ]
        )
    return db_url


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """An empty folder for outputs (the SQLite archive lives in tmp_path itself)."""
    path = tmp_path / "out"
    path.mkdir()
    return path


def run(db_url: str, *args: str, expect: int | None = 0, input: str | None = None):
    result = CliRunner().invoke(main, ["--db", db_url, *args], input=input)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    if expect is not None:
        assert result.exit_code == expect, (result.exit_code, result.stdout, result.stderr)
    return result


def rows(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines()]


# -- 5. outputs that are not regular files are written in place ---------------------------------

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="mknod needs root")


@needs_root
def test_a_device_output_is_written_in_place_never_replaced(archive: str, folder: Path) -> None:
    null = folder / "null"  # a copy of /dev/null's device node; the real one is not touched
    os.mknod(null, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    link = folder / "stdout-like"  # like /dev/stdout: a symlink to a device
    link.symlink_to(null)
    for target in (null, link):
        result = run(archive, "export", "messages", "-o", str(target))
        assert "wrote 7 messages" in result.stderr
    info = null.lstat()
    assert stat.S_ISCHR(info.st_mode) and info.st_rdev == os.makedev(1, 3)
    assert link.is_symlink() and os.readlink(link) == str(null)
    assert sorted(p.name for p in folder.iterdir()) == ["null", "stdout-like"]


def test_a_fifo_output_is_written_in_place(archive: str, folder: Path) -> None:
    fifo = folder / "pipe"
    os.mkfifo(fifo)
    received: list[str] = []
    reader = threading.Thread(
        target=lambda: received.append(fifo.read_text(encoding="utf-8")), daemon=True
    )
    reader.start()
    run(archive, "export", "messages", "--format", "csv", "-o", str(fifo))
    reader.join(timeout=30)
    assert stat.S_ISFIFO(fifo.lstat().st_mode)
    assert received and received[0].startswith("source_chat_id,") and "ответ" in received[0]
    assert [p.name for p in folder.iterdir()] == ["pipe"]


def test_a_symlinked_file_is_replaced_behind_its_link(archive: str, folder: Path) -> None:
    real = folder / "real.ndjson"
    real.write_text("old\n")
    link = folder / "latest.ndjson"
    link.symlink_to(real.name)
    run(archive, "export", "messages", "-o", str(link))
    assert link.is_symlink() and len(real.read_text().splitlines()) == 7


# -- 6. temporary files: signals, kill -9 leftovers, modes ----------------------------------------

_WRITER = textwrap.dedent(
    """
    import sys, time
    from tgparser.export import open_output
    with open_output(sys.argv[1]) as out:
        out.write("partial\\n")
        out.flush()
        print("ready", flush=True)
        time.sleep(60)
    """
)


def _start_writer(target: Path) -> subprocess.Popen[str]:
    """A process in the middle of writing `target` through `open_output`."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(target)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready", proc.stderr.read() if proc.stderr else ""
    return proc


def _temporaries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


@pytest.mark.parametrize(
    ("signum", "code"), [(signal.SIGTERM, 128 + 15), (signal.SIGINT, None), (signal.SIGHUP, 129)]
)
def test_a_signal_removes_the_temporary_file(
    folder: Path, signum: signal.Signals, code: int | None
) -> None:
    target = folder / "out.ndjson"
    proc = _start_writer(target)
    assert len(_temporaries(folder)) == 1
    proc.send_signal(signum)
    returncode = proc.wait(timeout=30)
    assert returncode != 0 and (code is None or returncode == code)
    assert list(folder.iterdir()) == []  # no temporary file, and no half-written target


def test_a_kill_9_leftover_is_removed_by_the_next_export_but_a_live_one_is_kept(
    archive: str, folder: Path
) -> None:
    target = folder / "out.ndjson"
    killed = _start_writer(target)
    killed.kill()
    killed.wait(timeout=30)
    [leftover] = _temporaries(folder)
    alive = _start_writer(target)  # another export to the same path, still writing
    try:
        live = set(_temporaries(folder)) - {leftover}
        run(archive, "export", "messages", "-o", str(target))
        assert _temporaries(folder) == sorted(live)  # the dead one's gone, the live one kept
        assert len(target.read_text().splitlines()) == 7
    finally:
        alive.kill()
        alive.wait(timeout=30)


@pytest.fixture
def umask() -> Iterator[None]:
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


@pytest.mark.usefixtures("umask")
def test_export_files_get_the_umask_or_keep_the_mode_they_replace(
    archive: str, folder: Path
) -> None:
    fresh = folder / "fresh.csv"
    run(archive, "export", "messages", "--format", "csv", "-o", str(fresh))
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o644
    os.umask(0o027)
    other = folder / "other.csv"
    run(archive, "export", "messages", "-o", str(other))
    assert stat.S_IMODE(other.stat().st_mode) == 0o640
    shared = folder / "shared.ndjson"
    shared.write_text("")
    shared.chmod(0o664)
    os.umask(0o077)
    run(archive, "export", "messages", "-o", str(shared))
    assert stat.S_IMODE(shared.stat().st_mode) == 0o664
    assert len(shared.read_text().splitlines()) == 7
