"""Hardening (issue 9) of sources, REFs, imports and login, on both backends.

- every chat `source list` shows can be named by what it shows, everywhere a REF is taken;
- `source remove --purge` asks first (on a terminal) or needs --yes;
- a Telegram Desktop export with odd messages still imports;
- a bad session string and an unreachable Telegram are explained.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from telethon import utils

from tests.faketg import FakeTelegram
from tests.tgharness import Harness, recent_world

T0 = 1_704_103_200  # 2024-01-01 10:00:00 UTC


def _msg(mid: int, text: str = "hello archive", **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": mid,
        "type": "message",
        "date": "2024-01-01T12:00:00",
        "date_unixtime": str(T0 + 60 * mid),
        "from": "Somebody",
        "from_id": "user42",
        "text": text,
    }
    base.update(fields)
    return base


def _chat(name: str, kind: str, chat_id: int, *messages: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "type": kind, "id": chat_id, "messages": list(messages) or [_msg(1)]}


def _account(*chats: dict[str, Any]) -> dict[str, Any]:
    return {"about": "Here is the data you requested.", "chats": {"list": list(chats)}}


def _write(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


@pytest.fixture
def tg(db_url: str) -> Iterator[Harness]:
    fake = recent_world()
    with fake.patch():
        yield Harness(fake, db_url)


# -- item 7: every chat `source list` shows can be named -----------------------------------------

IMPORTED = [
    _chat("Imported Channel", "private_channel", 1500000001),
    _chat("Imported Supergroup", "private_supergroup", 1500000002),
    _chat("Imported Basic Group", "private_group", 4012345),
    _chat("Imported Ann", "personal_chat", 9777777777),
]


def _archive_of_every_kind(tg: Harness, tmp_path: Path) -> tuple[dict[int, str], int]:
    """Imported and followed chats of every type: their chat ids -> type, and the id of the
    one chat without messages (a followed user)."""
    tg.run("import", "desktop", str(_write(tmp_path / "result.json", _account(*IMPORTED))))
    fake = tg.fake
    channel = fake.add_channel("expertnews", "Followed Channel")
    private = fake.add_channel(None, "Followed Private Channel", with_discussion=False)
    group = fake.add_supergroup(None, "Followed Supergroup")
    forum = fake.add_supergroup(None, "Followed Forum", forum=True)
    basic = fake.add_group("Followed Basic Group")
    user = fake.add_user("Bea", username="bea_writes")
    for chat in (channel, private, group, forum, basic):
        fake.post(chat, "hello archive")
    tg.run(
        "source",
        "add",
        "@expertnews",
        f"https://t.me/c/{private.id}/1",
        str(utils.get_peer_id(group)),
        str(utils.get_peer_id(forum)),
        str(utils.get_peer_id(basic)),
        "@bea_writes",
    )
    listed = json.loads(tg.run("source", "list", "--json").stdout)
    kinds = {row["chat_id"]: row["type"] for row in listed}
    assert set(kinds.values()) == {"channel", "supergroup", "forum", "group", "user"}
    assert kinds[9777777777] == "user" and kinds[-4012345] == "group"
    assert kinds[utils.get_peer_id(user)] == "user"
    return kinds, utils.get_peer_id(user)


def _shown_refs(tg: Harness) -> dict[str, str]:
    """Every name `source list` prints for a chat: the label, and the id or @username in it."""
    table = tg.run("source", "list").stdout
    refs: dict[str, str] = {}
    for line in table.splitlines():
        label = re.search(r"│ (.+?) +│", line)
        if not label or label.group(1) == "source":
            continue
        shown = label.group(1).strip()
        refs[shown] = shown
        number = re.search(r"\((-?\d+)\)$", shown)
        if number:
            refs[number.group(1)] = shown
    for row in json.loads(tg.run("source", "list", "--json").stdout):
        refs.setdefault(str(row["chat_id"]), f"@{row['username']}")
    return refs


def test_every_id_and_label_source_list_shows_is_a_ref_everywhere(
    tg: Harness, tmp_path: Path
) -> None:
    kinds, silent = _archive_of_every_kind(tg, tmp_path)
    imported = {-1001500000001, -1001500000002, -4012345, 9777777777}
    tg.ingest()
    refs = _shown_refs(tg)
    ids = {int(r) for r in refs if re.fullmatch(r"-?\d+", r)}
    assert ids == set(kinds)
    assert {r for r in refs if r.startswith("@")} == {"@expertnews", "@bea_writes"}
    labels = {r for r in refs if refs[r] == r}
    assert len(labels) == len(kinds)  # every chat has a label in the table
    for ref in refs:
        assert "paused" in tg.run("source", "pause", ref).stderr
        listed = json.loads(tg.run("source", "list", "--json").stdout)
        (chat_id,) = [row["chat_id"] for row in listed if row["status"] == "paused"]
        if re.fullmatch(r"-?\d+", ref):
            assert chat_id == int(ref)
        assert "resumed" in tg.run("source", "resume", ref).stderr
        exported = tg.run("export", "messages", "--source", ref).stdout.splitlines()
        assert {json.loads(line)["source_chat_id"] for line in exported} <= {chat_id}
        assert len(exported) == (0 if chat_id == silent else 1), ref
        found = json.loads(tg.run("search", "hello", "--source", ref, "--json").stdout)
        assert len(found) == len(exported), ref
        (result,) = json.loads(tg.run("ingest", "--json", ref, expect=None).stdout)["sources"]
        assert result["chat_id"] == chat_id, ref
        if chat_id not in imported:  # `source add` asks Telegram, which knows the followed ones
            assert "updated " in tg.run("source", "add", ref).stderr, ref
    for ref in [*refs][::-1]:
        if refs[ref] == ref:
            assert "removed" in tg.run("source", "remove", ref).stderr
    assert json.loads(tg.run("source", "list", "--json").stdout) == []


@pytest.mark.parametrize(
    ("ref", "chat_id"),
    [
        ("9777777777", 9777777777),  # a personal chat: a positive id, no channel
        ("-4012345", -4012345),  # a basic group, as `source list` shows it
        ("4012345", -4012345),  # ... and as Telegram Desktop writes it
        ("1500000001", -1001500000001),  # a channel id as in t.me/c/… links
        ("https://t.me/c/1500000002/7", -1001500000002),
        ("imported ann", 9777777777),  # a title, in any case
        ("Imported Basic Group (-4012345)", -4012345),
    ],
)
def test_imported_chats_are_named_by_id_title_or_link(
    tg: Harness, tmp_path: Path, ref: str, chat_id: int
) -> None:
    tg.run("import", "desktop", str(_write(tmp_path / "result.json", _account(*IMPORTED))))
    exported = tg.run("export", "messages", "--source", ref).stdout.splitlines()
    assert {json.loads(line)["source_chat_id"] for line in exported} == {chat_id}
    tg.run("source", "pause", ref)
    assert tg.source(chat_id)["status"] == "paused"


def test_an_ambiguous_title_lists_the_candidates(tg: Harness, tmp_path: Path) -> None:
    chats = [
        _chat("Ann", "personal_chat", 42),
        _chat("Ann", "private_group", 555),
        _chat("Team", "private_supergroup", 1500000001),
    ]
    tg.run("import", "desktop", str(_write(tmp_path / "result.json", _account(*chats))))
    for command in (("source", "pause", "ann"), ("export", "messages", "--source", "Ann")):
        result = tg.run(*command, expect=1)
        assert result.stderr.strip() == (
            "Error: 'ann' is the title of 2 chats: Ann (42), Ann (-555); use the id"
            if command[0] == "source"
            else "Error: 'Ann' is the title of 2 chats: Ann (42), Ann (-555); use the id"
        )
    assert tg.source(42)["status"] == "imported"  # nothing paused
    unknown = tg.run("source", "resume", "Nobody Here", expect=1)
    assert unknown.stderr.strip() == (
        "Error: Nobody Here: not a followed chat (see `tgparser source list`)"
    )


def test_source_add_follows_an_imported_chat_named_by_its_id_or_title(
    tg: Harness, tmp_path: Path
) -> None:
    group = tg.fake.add_supergroup(None, "Team Chat")
    basic = tg.fake.add_group("Old Group")
    export = _account(
        _chat("Team Chat", "private_supergroup", group.id),
        _chat("Old Group", "private_group", basic.id),
    )
    tg.run("import", "desktop", str(_write(tmp_path / "result.json", export)))
    # No username, no link: the imported chat's title or bare id is all the user has.
    added = tg.run("source", "add", "team chat", str(basic.id))
    assert added.stderr.count("updated ") == 2
    assert tg.source(utils.get_peer_id(group))["status"] == "active"
    assert tg.source(utils.get_peer_id(basic))["status"] == "active"


# -- item 4: `source remove --purge` asks first --------------------------------------------------


def _two_channels(tg: Harness) -> tuple[int, int]:
    a = tg.fake.add_channel("channelaaa", "A")
    b = tg.fake.add_channel("channelbbb", "B")
    for ch in (a, b):
        post = tg.fake.post(ch, "text")
        tg.fake.comment(ch, post.id, "c", from_user=tg.fake.add_user("U", username=None))
        tg.fake.post(ch, "more")
    tg.run("source", "add", "@channelaaa", "@channelbbb")
    tg.ingest()
    return utils.get_peer_id(a), utils.get_peer_id(b)


def test_purge_without_a_terminal_needs_yes(tg: Harness) -> None:
    _, b = _two_channels(tg)
    refused = tg.run("source", "remove", "@channelaaa", "@channelbbb", "--purge", expect=2)
    assert refused.stderr.strip() == (
        "Error: --purge would delete 6 messages of 2 chats: add --yes to confirm (nothing deleted)"
    )
    with tg.storage() as store:
        assert store.count_messages() == 6
        assert len(store.list_sources()) == 2
    done = tg.run("source", "remove", "@channelaaa", "--purge", "--yes")
    assert "removed @channelaaa, 3 messages deleted" in done.stderr
    with tg.storage() as store:
        assert store.count_messages() == 3
        assert [s["chat_id"] for s in store.list_sources()] == [b]
    # Without --purge nothing is deleted, so nothing is asked.
    assert "archive kept" in tg.run("source", "remove", "@channelbbb").stderr


@pytest.mark.parametrize(("answer", "deleted"), [("y\n", True), ("n\n", False), ("\n", False)])
def test_purge_on_a_terminal_shows_what_goes_and_asks(
    tg: Harness, monkeypatch: pytest.MonkeyPatch, answer: str, deleted: bool
) -> None:
    from tgparser.cli import source_cmd

    _two_channels(tg)
    monkeypatch.setattr(source_cmd, "stdin_is_terminal", lambda: True)
    result = tg.run("source", "remove", "channelaaa", "--purge", input=answer, expect=None)
    assert "  @channelaaa: 3 messages\n" in result.stderr
    assert "Delete 3 messages of 1 chat for good? [y/N]" in result.stderr
    assert result.exit_code == (0 if deleted else 1)
    with tg.storage() as store:
        assert store.count_messages() == (3 if deleted else 6)
        assert len(store.list_sources()) == (1 if deleted else 2)
    if not deleted:
        assert result.stderr.strip().endswith("Error: nothing deleted")


# -- items 14-16: Telegram Desktop exports -------------------------------------------------------


def test_an_unsupported_message_is_skipped_and_reported_not_fatal(
    tg: Harness, tmp_path: Path
) -> None:
    export = _chat(
        "Expert News",
        "public_channel",
        1500000001,
        _msg(86),
        {"id": 87, "type": "unsupported"},  # what Telegram Desktop writes when it cannot render
        _msg(88, edited="not a date"),  # an unreadable edit date: the message is kept
        {"type": "message", "date": "2024-01-01T12:00:00", "text": "no id"},
        _msg(89, date_unixtime=None, date="garbage"),
        _msg(90, reply_to_message_id="not a number"),  # kept, without the reply
        _msg(91, text_entities=5),  # a shape never seen: skipped, with the reason
    )
    path = _write(tmp_path / "result.json", export)
    result = tg.run("import", "desktop", str(path), "--json")
    summary = json.loads(result.stdout)
    assert summary["messages"] == 3 and summary["skipped"] == 4
    (chat,) = summary["chats"]
    assert chat["skipped"] == [
        {"id": 87, "reason": "unsupported: Telegram Desktop could not export it, no date"},
        {"id": None, "reason": "no message id"},
        {"id": 89, "reason": "no date"},
        {"id": 91, "reason": "unreadable (TypeError: 'int' object is not iterable)"},
    ]
    assert tg.ids(-1001500000001) == [86, 88, 90]
    with tg.storage() as store:
        assert store.get_message(-1001500000001, 88)["edit_date"] is None
        assert store.get_message(-1001500000001, 90)["reply_to_msg_id"] is None
    human = tg.run("import", "desktop", str(path))
    assert (
        "  skipped 1 message (unsupported: Telegram Desktop could not export it, no date): 87"
    ) in human.stderr.splitlines()
    assert "  skipped 1 message (no date): 89" in human.stderr.splitlines()


@pytest.mark.parametrize(
    "placeholder",
    ["1970-01-01T05:00:00", "1970-01-01T00:00:00", "1969-12-31T19:00:00", "1970-01-01T14:00:00"],
)
def test_epoch_edit_dates_of_old_exports_mean_not_edited(
    tg: Harness, tmp_path: Path, placeholder: str
) -> None:
    legacy = [
        {"id": i, "type": "message", "date": "2020-05-01T10:00:00", "edited": placeholder}
        for i in range(1, 50)
    ]
    legacy.append(
        {
            "id": 50,
            "type": "message",
            "date": "2020-05-01T10:00:00",
            "edited": "2020-05-02T08:00:00",
        }
    )
    legacy.append(
        {"id": 51, "type": "message", "date": "2020-05-01T10:00:00", "edited_unixtime": "0"}
    )
    path = _write(tmp_path / "result.json", _chat("Old", "public_channel", 1700000003, *legacy))
    tg.run("import", "desktop", str(path))
    with tg.storage() as store:
        edits = {m["message_id"]: m["edit_date"] for m in store.iter_messages()}
    assert edits.pop(50) == datetime(2020, 5, 2, 8, 0, tzinfo=UTC)
    assert set(edits.values()) == {None}


def test_an_html_export_says_to_export_json(tg: Harness, tmp_path: Path) -> None:
    folder = tmp_path / "ChatExport_2024-01-05"
    folder.mkdir()
    (folder / "messages.html").write_text("<!DOCTYPE html>\n<html><body>hi</body></html>")
    hint = (
        "this is an HTML export; export the chat again in Telegram Desktop with "
        'Format: "Machine-readable JSON"'
    )
    for given in (folder, folder / "messages.html"):
        result = tg.run("import", "desktop", str(given), expect=1)
        assert result.stderr.strip() == f"Error: {given}: {hint}"


def test_an_unknown_chat_lists_the_chats_the_export_holds(tg: Harness, tmp_path: Path) -> None:
    path = _write(tmp_path / "result.json", _account(*IMPORTED))
    result = tg.run("import", "desktop", str(path), "--chat", "Nope", expect=1)
    assert result.stderr.strip() == (
        f"Error: no chat 'Nope' in {path}; it holds 4 chats: 'Imported Channel' "
        "(-1001500000001), 'Imported Supergroup' (-1001500000002), 'Imported Basic Group' "
        "(-4012345), 'Imported Ann' (9777777777)"
    )
    with tg.storage() as store:
        assert store.count_messages() == 0


# -- item 22: a bad session string, Telegram out of reach ----------------------------------------


@pytest.fixture
def login_world(sqlite_url: str) -> Iterator[Harness]:
    world = FakeTelegram(strict_sessions=True)
    with world.patch():
        yield Harness(world, sqlite_url, logged_in=False)


@pytest.mark.parametrize("garbage", ["garbage", "1garbage", "1YWJj"])
def test_a_garbage_session_string_is_called_invalid(login_world: Harness, garbage: str) -> None:
    login_world.env["TGPARSER_SESSION"] = garbage
    for command in (("whoami",), ("source", "add", "@expertnews"), ("login",)):
        result = login_world.run(*command, expect=1)
        assert result.stderr == (
            "Error: TGPARSER_SESSION is not a valid Telegram session string: set it to what "
            "`tgparser login --print-session` printed, or remove it and run `tgparser login`\n"
        )


def test_a_damaged_session_file_is_replaced_by_a_new_login(login_world: Harness) -> None:
    from tgparser.telegram.client import session_file, write_private

    write_private(session_file(), "not a session")
    who = login_world.run("whoami", expect=1)
    assert who.stderr.strip() == (
        f"Error: the session file {session_file()} is damaged (not a Telegram session "
        "string): run `tgparser login` again"
    )
    login_world.fake.register_account("+15551234567", username="ada_archive")
    done = login_world.run("login", input=f"+15551234567\n{login_world.fake.login_code}\n")
    assert "logged in as @ada_archive" in done.stderr
    assert json.loads(login_world.run("whoami", "--json").stdout)["username"] == "ada_archive"


@pytest.mark.parametrize(
    ("failure", "reason"),
    [
        (
            # An HTTP answer read as an MTProto packet: b"HTTP" as a length, minus 8.
            lambda: __import__("asyncio").IncompleteReadError(b"x" * 95, 1347703872),
            "something that is not Telegram answered (an HTTP proxy, firewall or captive "
            "portal in the way?)",
        ),
        (lambda: ConnectionRefusedError(111, "Connection refused"), "the connection was refused"),
        (
            lambda: ConnectionError("Connection to Telegram failed 5 time(s)"),
            "no connection after 5 attempts",
        ),
    ],
)
def test_login_without_a_route_to_telegram_says_where_and_why(
    login_world: Harness, monkeypatch: pytest.MonkeyPatch, failure: Any, reason: str
) -> None:
    from tests.faketg import FakeSender

    async def cut_off(self: FakeSender, connection: object) -> bool:
        raise failure()

    monkeypatch.setattr(FakeSender, "connect", cut_off)
    for command in (("login", "--phone", "+15551234567"), ("login",)):
        result = login_world.run(*command, input="+15551234567\n", expect=1)
        assert result.stderr.splitlines()[-1] == (
            f"Error: cannot reach Telegram at 149.154.167.51:443 (data center 2): {reason}; "
            "this is a network problem (check the internet connection, firewall or proxy)"
        )
