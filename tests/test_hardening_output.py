"""Output hardening: files written safely (devices, FIFOs, signals, leftovers, modes), the
added export fields and options, readable formats, search display, dates as durations, and
help and --json that hold for every command."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
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
    # NDJSON lines end at \n only (str.splitlines would also split at U+2028 in a text).
    return [json.loads(line) for line in stdout.split("\n") if line]


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


def _start_writer(target: Path, *, hangup: object = signal.SIG_DFL) -> subprocess.Popen[str]:
    """A process in the middle of writing `target` through `open_output`, started with SIGHUP
    set to `hangup` (the default, as from a terminal, even when the suite runs under nohup)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(target)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
        preexec_fn=lambda: signal.signal(signal.SIGHUP, hangup),
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


def test_an_export_under_nohup_keeps_ignoring_sighup(folder: Path) -> None:
    target = folder / "out.ndjson"
    proc = _start_writer(target, hangup=signal.SIG_IGN)
    try:
        proc.send_signal(signal.SIGHUP)
        with pytest.raises(subprocess.TimeoutExpired):
            proc.wait(timeout=1)  # still writing: nohup asked for exactly that
        assert len(_temporaries(folder)) == 1
    finally:
        proc.kill()
        proc.wait(timeout=30)


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


# -- 17. replies, topics, actions; --from, --limit; --fields '' -----------------------------------


def test_export_carries_reply_topic_and_action(archive: str) -> None:
    by_key = {
        (r["chat_id"], r["message_id"]): r for r in rows(run(archive, "export", "messages").stdout)
    }
    assert by_key[(CHANNEL, 3)]["reply_to_message_id"] == 1
    assert by_key[(CHANNEL, 4)]["action"] == "MessageActionPinMessage"
    assert by_key[(FORUM, 2)]["forum_topic_id"] == 7
    assert by_key[(FORUM, 2)]["reply_to_message_id"] == 1
    assert by_key[(CHANNEL, 1)]["action"] is None
    csv_head = run(archive, "export", "messages", "--format", "csv").stdout.splitlines()[0]
    assert csv_head.endswith(",reply_to_message_id,forum_topic_id,action")


def test_from_and_limit(archive: str) -> None:
    def ids(*args: str) -> list[tuple[int, int]]:
        out = run(archive, "export", "messages", *args).stdout
        return [(r["chat_id"], r["message_id"]) for r in rows(out)]

    assert ids("--from", "Bob") == [(CHANNEL, 2), (CHANNEL, 3)]
    assert ids("--from", "42") == [(CHANNEL, 2), (CHANNEL, 3)]
    assert ids("--from", "Jane", "--from", "Пётр") == [(FORUM, 2), (CHANNEL, 1)]
    assert ids("--limit", "2") == [(FORUM, 1), (FORUM, 2)]
    assert ids("--from", "Bob", "--limit", "1") == [(CHANNEL, 2)]
    unknown = run(archive, "export", "messages", "--from", "bob", expect=1)
    assert unknown.stdout == "" and "--from bob: nobody of that name" in unknown.stderr
    assert run(archive, "export", "messages", "--limit", "0", expect=2).stdout == ""


@pytest.mark.parametrize("value", ["", ",", " , "])
def test_empty_fields_are_rejected(archive: str, value: str) -> None:
    result = run(archive, "export", "messages", "--fields", value, expect=1)
    assert result.stdout == "" and "--fields names no field" in result.stderr


# -- 18. readable formats -----------------------------------------------------------------------


def test_txt_is_a_transcript_with_replies_and_forwards(archive: str) -> None:
    out = run(archive, "export", "messages", "--format", "txt").stdout
    assert "Expert channel (@expert_channel)  https://t.me/expert_channel" in out
    assert "Закрытый форум  https://t.me/c/9876543210\n" in out and "Basic group\n" in out
    jane = out.index("[2025-03-01 12:01 UTC] Jane\nHello <script>alert(1)</script> & welcome")
    reply = out.index(
        "[2025-03-01 12:03 UTC] Bob\n"
        '> in reply to Jane: "Hello <script>alert(1)</script> & welcome second line"\n'
        "> forwarded from Other Channel\nreplying to hello\nhttps://t.me/expert_channel/3\n"
    )
    assert jane < reply
    assert "[2025-03-01 12:02 UTC] Bob\n[photo]\n" in out
    assert "(MessageActionPinMessage)" in out
    assert (
        '[2025-03-01 12:02 UTC] Пётр (topic #7)\n> in reply to Ира: "в теме форума hello"\nответ'
        in out
    )
    assert "👍 3" in out


def test_html_is_self_contained_and_shows_markup_as_text(archive: str, folder: Path) -> None:
    from html.parser import HTMLParser

    target = folder / "chat.html"
    run(archive, "export", "messages", "--format", "html", "-o", str(target))
    page = target.read_text(encoding="utf-8")
    assert "<script" not in page  # the message's <script> is escaped…
    assert "Hello &lt;script&gt;alert(1)&lt;/script&gt; &amp; welcome" in page  # …and shown

    class Tags(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.tags: set[str] = set()
            self.external: list[str] = []
            self.text = ""

        def handle_starttag(self, tag: str, attrs: list) -> None:
            self.tags.add(tag)
            for name, value in attrs:
                if name in ("src", "srcset") or (tag == "link" and name == "href"):
                    self.external.append(value)

        def handle_data(self, data: str) -> None:
            self.text += data

    parsed = Tags()
    parsed.feed(page)
    assert parsed.tags <= {
        "html", "head", "meta", "title", "style", "body", "main", "header", "h2", "a",
        "article", "div", "span", "time", "footer",
    }  # fmt: skip
    assert parsed.external == [] and "@import" not in page and "url(" not in page
    assert "Hello <script>alert(1)</script> & welcome" in parsed.text  # what a reader sees
    assert "default-src 'none'" in page  # and a browser would run no script anyway
    assert "в теме форума" in parsed.text and "forwarded from Other Channel" in parsed.text


def test_fields_do_not_apply_to_readable_formats(archive: str) -> None:
    result = run(archive, "export", "messages", "--format", "html", "--fields", "text", expect=2)
    assert "--fields and --raw do not apply to --format html" in result.stderr


# -- 19. search: what a terminal shows, conflicting options, -o, NOT -----------------------------


def test_search_shows_title_author_date_link_and_how_many_more(archive: str) -> None:
    result = run(archive, "search", "hello")
    out = result.stdout
    assert "Basic group" in out and "Zed" in out and "2025-03-01 12:01 UTC" in out
    assert "Закрытый форум" in out and "Ира" in out and "https://t.me/c/9876543210/1" in out
    assert "Expert channel (@expert_channel)" in out and "https://t.me/expert_channel/1" in out
    assert str(BASIC) not in out and str(FORUM) not in out  # titles, not chat ids
    assert "of" not in result.stderr  # all shown: nothing to hint
    limited = run(archive, "search", "hello", "--limit", "2")
    assert "2 of 4 matches (--limit 4 shows more)" in limited.stderr
    assert limited.stdout.count("UTC") == 2


def test_search_rejects_two_formats_and_writes_to_o(archive: str, folder: Path) -> None:
    for args in (
        ("search", "hello", "--json", "--format", "csv"),
        ("--json", "search", "hello", "--format", "ndjson"),
    ):
        result = run(archive, *args, expect=2)
        assert result.stdout == "" and "ask for two formats: give one" in result.stderr
    target = folder / "hits.csv"
    run(archive, "search", "hello", "--format", "csv", "-o", str(target))
    with target.open(encoding="utf-8", newline="") as stream:
        table = list(csv.reader(stream))
    assert table[0][-2:] == ["score", "snippet"] and len(table) == 5


def test_not_excludes_like_a_minus(archive: str) -> None:
    from tgparser.search_query import parse

    assert parse("hello NOT basic") == parse("hello -basic")
    assert parse('hello NOT "basic hello"') == parse('hello -"basic hello"')
    assert parse("hello not basic") != parse("hello -basic")  # only the capitalised operator
    dangling = run(archive, "search", "hello NOT", expect=1)
    assert "NOT needs a word after it" in dangling.stderr
    texts = {
        h["text"] for h in json.loads(run(archive, "search", "hello NOT basic", "--json").stdout)
    }
    assert "basic hello world" not in texts and "replying to hello" in texts


# -- 20. durations wherever dates are accepted ----------------------------------------------------


def test_since_and_until_take_durations(archive: str) -> None:
    with open_storage(archive) as store:
        recent = datetime.now(UTC) - timedelta(days=2)
        store.upsert_messages([make_message(9, text="two days old", date=recent)])

    def texts(*args: str) -> list[str]:
        return [r["text"] for r in rows(run(archive, "export", "messages", *args).stdout)]

    assert texts("--since", "3d") == ["two days old"]
    assert texts("--since", "72h", "--until", "1d") == ["two days old"]
    assert "two days old" not in texts("--until", "3d") and len(texts("--until", "3d")) == 7
    assert texts("--since", "2025-01-01", "--until", "1w") == texts("--until", "2025-03-02")
    backwards = run(archive, "export", "messages", "--since", "1d", "--until", "3d", expect=1)
    assert "--until must be after --since" in backwards.stderr
    bad = run(archive, "export", "messages", "--since", "3 days", expect=2)
    assert "or a time ago such as 7d, 12h" in bad.stderr


# -- 21. help that is complete, and --json honoured or refused ------------------------------------


def _commands(
    group: click.Group, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    for name, command in group.commands.items():
        yield (*path, name), command
        if isinstance(command, click.Group):
            yield from _commands(command, (*path, name))


@pytest.mark.parametrize("width", [80, 100])
def test_every_short_help_is_shown_whole(width: int) -> None:
    groups = [((), main)] + [(p, c) for p, c in _commands(main) if isinstance(c, click.Group)]
    for path, group in groups:
        result = CliRunner().invoke(main, [*path, "--help"], terminal_width=width)
        assert result.exit_code == 0
        listing = result.stdout.split("Commands:\n", 1)[1]
        shown: dict[str, str] = {}
        for line in listing.splitlines():
            name, _, text = line.strip().partition(" ")
            if line.startswith("  ") and not line.startswith("    ") and name:
                current = name
                shown[current] = text.strip()
            elif line.strip():
                shown[current] += " " + line.strip()
        for name, command in group.commands.items():
            full = command.get_short_help_str(limit=10_000)
            assert shown[name] == full, (path, name, shown[name])
            assert not full.endswith(("...", "…")), (path, name)
            assert full.endswith("."), (path, name, full)


def test_help_is_self_sufficient() -> None:
    for path, _command in _commands(main):
        result = CliRunner().invoke(main, [*path, "--help"], terminal_width=100)
        assert result.exit_code == 0, path
        assert "docs/" not in result.stdout, path  # pipx users have no docs folder
    export_help = CliRunner().invoke(main, ["export", "messages", "--help"]).stdout
    for field in ("reply_to_message_id", "forum_topic_id", "action", "forward_from_name", "url"):
        assert field in export_help
    search_help = CliRunner().invoke(main, ["search", "--help"]).stdout
    assert (
        '"exact phrase"' in search_help and "prefix*" in search_help and "NOT word" in search_help
    )


def test_every_command_honours_json_or_refuses_it() -> None:
    import inspect

    for path, command in _commands(main):
        if isinstance(command, click.Group):
            continue
        source = inspect.getsource(inspect.unwrap(command.callback))
        # wants_json(json_flag) is the global --json or the command's own; json_flag is handed
        # to a renderer that asks wants_json; _choose_format makes --json the json format.
        honours = any(mark in source for mark in ("wants_json(", "json_flag", "_choose_format("))
        refuses = getattr(command, "rejects_json", False)
        assert honours != refuses, (path, "must either honour --json or refuse it")


def test_json_where_it_used_to_be_ignored(archive: str) -> None:
    removed = run(archive, "--json", "source", "remove", "@expert_channel")
    assert json.loads(removed.stdout) == [
        {"chat_id": CHANNEL, "label": "@expert_channel", "removed": True, "deleted_messages": 0}
    ]
    paused = json.loads(run(archive, "--json", "source", "pause", str(FORUM)).stdout)
    assert paused == [{"chat_id": FORUM, "label": f"Закрытый форум ({FORUM})", "status": "paused"}]
    assert json.loads(run(archive, "--json", "logout").stdout) == {"logged_out": False}
    exported = json.loads(run(archive, "--json", "export", "messages", "--limit", "1").stdout)
    assert isinstance(exported, list) and len(exported) == 1
    refused = run(archive, "--json", "login", expect=2)
    assert "--json does not apply here" in refused.stderr


# -- 14.1 the database writes NDJSON: same bytes as the Python path, on both backends -----------


def _fill_awkward(url: str) -> None:
    weird = 'tab\there "quoted" back\\slash \x01\x1f\x7f é 👍 \u2028 line\nnext'
    with open_storage(url) as store:
        store.ensure_schema()
        store.upsert_source(make_source(CHANNEL))
        store.upsert_source(make_source(FORUM, username="", title="Empty username"))
        store.upsert_messages(
            [
                make_message(1, text=weird, post_author="", sender_name="Sender", replies=1),
                make_message(
                    2,
                    reactions=[
                        {"reaction": "👍", "count": 3},
                        {"reaction": {"custom_emoji_id": 5368324170671202286}, "count": 2},
                        {"reaction": "paid", "count": 1},
                    ],
                    edit_date=datetime(2025, 3, 2, 1, 2, 3, 456789, tzinfo=UTC),
                    media_kind="photo",
                    grouped_id=99,
                ),
                make_message(
                    7,
                    chat_id=-1001111,
                    kind="comment",
                    parent_chat_id=CHANNEL,
                    parent_message_id=1,
                    text="a comment",
                    sender_name="Ann",
                    sender_id=11,
                ),
                make_message(3, chat_id=FORUM, kind="message", text="", reactions=[]),
                make_message(4, chat_id=BASIC, kind="service", action="MessageActionPinMessage"),
            ]
        )


@pytest.mark.parametrize(
    ("fmt", "fields", "with_comments"),
    [
        ("ndjson", None, False),
        ("ndjson", "url,reactions,text,date,author", True),
        ("json", None, True),
        ("json", "message_id", False),
    ],
)
def test_database_made_json_matches_the_python_path_on_both_backends(
    sqlite_url: str, pg_url: str, fmt: str, fields: str | None, with_comments: bool
) -> None:
    from tgparser.export import choose_fields, export_messages, export_record, write_records
    from tgparser.storage.base import MessageFilter

    chosen = choose_fields(fields)
    outputs = []
    for url in (sqlite_url, pg_url):
        _fill_awkward(url)
        with open_storage(url) as store:
            fast = io.StringIO()
            export_messages(
                store, fast, filters=MessageFilter(), fmt=fmt, fields=chosen,
                with_comments=with_comments,
            )  # fmt: skip
            rows_ = store.iter_export(MessageFilter(), with_comments=with_comments)
            slow = io.StringIO()
            write_records((export_record(r, chosen) for r in rows_), slow, fmt, chosen)
        assert fast.getvalue() == slow.getvalue(), url
        outputs.append(fast.getvalue())
    assert outputs[0] == outputs[1]  # SQLite and PostgreSQL, byte for byte
    if fields is None:
        records = json.loads(outputs[0]) if fmt == "json" else rows(outputs[0])
        by_id = {(r["chat_id"], r["message_id"]): r for r in records}
        assert by_id[(CHANNEL, 2)]["reactions"][1] == {
            "reaction": {"custom_emoji_id": 5368324170671202286},
            "count": 2,
        }
        assert by_id[(CHANNEL, 1)]["author"] == "Sender"
        assert by_id[(-1001111, 7)]["url"] == "https://t.me/expert_channel/1?comment=7"
        assert by_id[(FORUM, 3)]["url"] == "https://t.me/c/9876543210/3"
        assert by_id[(FORUM, 3)]["reactions"] == []
        assert by_id[(BASIC, 4)]["url"] is None


@pytest.mark.parametrize("count", [0, 1, 1999, 2000, 2001, 4000, 4001])
def test_json_lines_writer_at_batch_edges(count: int) -> None:
    from tgparser.export import write_json_lines, write_records

    records = [{"n": i} for i in range(count)]
    lines = [json.dumps(r, separators=(",", ":")) for r in records]
    for fmt in ("ndjson", "json"):
        made, written = io.StringIO(), io.StringIO()
        assert write_json_lines(iter(lines), made, fmt) == count
        write_records(records, written, fmt, ("n",))
        assert made.getvalue() == written.getvalue()
