"""`import desktop`: Telegram Desktop JSON exports of several vintages, on both backends."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from tests.faketg import FakeTelegram
from tests.tgharness import Harness
from tgparser.cli import main
from tgparser.storage import open_storage

CHANNEL = 1000000777
MARKED = -(10**12 + CHANNEL)
T0 = 1_704_103_200  # 2024-01-01 10:00:00 UTC


def msg(mid: int, **fields: Any) -> dict[str, Any]:
    """A message as Telegram Desktop writes it (2021+ layout, with *_unixtime)."""
    base: dict[str, Any] = {
        "id": mid,
        "type": "message",
        "date": "2024-01-01T12:00:00",  # the exporting computer's local time
        "date_unixtime": str(T0 + 60 * mid),
        "from": "Expert News",
        "from_id": f"channel{CHANNEL}",
        "text": f"post {mid}",
        "text_entities": [{"type": "plain", "text": f"post {mid}"}],
    }
    base.update(fields)
    return base


def channel_export() -> dict[str, Any]:
    """Every message and action kind the issue lists, in one channel."""
    return {
        "name": "Expert News",
        "type": "public_channel",
        "id": CHANNEL,
        "messages": [
            msg(
                1,
                type="service",
                actor="Expert News",
                actor_id=f"channel{CHANNEL}",
                action="create_channel",
                title="Expert News",
                text="",
                text_entities=[],
            ),
            msg(
                2,
                author="Jane Editor",
                text=[
                    "Hi 👋 ",
                    {"type": "bold", "text": "bold"},
                    " and ",
                    {"type": "text_link", "text": "docs", "href": "https://example.org"},
                ],
                text_entities=[
                    {"type": "plain", "text": "Hi 👋 "},
                    {"type": "bold", "text": "bold"},
                    {"type": "plain", "text": " and "},
                    {"type": "text_link", "text": "docs", "href": "https://example.org"},
                ],
            ),
            msg(
                3,
                photo="photos/photo_3@01-01-2024_12-03-00.jpg",
                photo_file_size=53211,
                width=1280,
                height=720,
                text="a photo",
                text_entities=[{"type": "plain", "text": "a photo"}],
            ),
            msg(
                4,
                file="files/report.pdf",
                file_name="report.pdf",
                file_size=12345,
                mime_type="application/pdf",
                text="",
                text_entities=[],
            ),
            msg(
                5,
                file="voice_messages/audio_1.ogg",
                media_type="voice_message",
                mime_type="audio/ogg",
                duration_seconds=7,
                text="",
                text_entities=[],
            ),
            msg(
                6,
                file="stickers/sticker.webp",
                media_type="sticker",
                sticker_emoji="👍",
                width=512,
                height=512,
                text="",
                text_entities=[],
            ),
            msg(
                7,
                poll={
                    "question": "Best DB?",
                    "closed": False,
                    "total_voters": 3,
                    "answers": [
                        {"text": "SQLite", "voters": 1, "chosen": False},
                        {"text": "PostgreSQL", "voters": 2, "chosen": True},
                    ],
                },
                text="",
                text_entities=[],
            ),
            msg(
                8,
                forwarded_from="Other Channel",
                forwarded_from_id="channel2000000",
                text="forwarded",
                text_entities=[{"type": "plain", "text": "forwarded"}],
            ),
            msg(
                9,
                reply_to_message_id=2,
                edited="2024-01-02T09:00:00",
                edited_unixtime=str(T0 + 86_400),
                text="a reply, edited",
            ),
            msg(
                10,
                reactions=[
                    {"type": "emoji", "count": 5, "emoji": "🔥"},
                    {"type": "custom_emoji", "count": 2, "document_id": "5368324170671202286"},
                ],
            ),
            msg(
                11,
                contact_information={
                    "first_name": "Ann",
                    "last_name": "Lee",
                    "phone_number": "+15550001",
                },
                text="",
            ),
            msg(12, location_information={"latitude": 52.52, "longitude": 13.405}, text=""),
            msg(
                13,
                via_bot="@helper_bot",
                inline_bot_buttons=[[{"type": "url", "text": "Open", "data": "https://x.y"}]],
            ),
            msg(
                14,
                file="round_video_messages/v.mp4",
                media_type="video_message",
                duration_seconds=12,
                width=384,
                height=384,
                text="",
            ),
            msg(15, type="a_type_from_the_future", shiny_new_field={"nested": [1, 2]}),
            msg(
                16,
                type="service",
                actor=None,
                actor_id=None,
                action="an_action_added_in_2025",
                text="",
            ),
            msg(17, saved_from="Somebody", text="saved", from_id=None, **{"from": None}),
        ],
    }


def account_export() -> dict[str, Any]:
    """A full-account export: chats.list and left_chats.list, several chat types."""
    group = {
        "name": "Team Chat",
        "type": "private_supergroup",
        "id": 1500000001,
        "messages": [
            msg(1, **{"from": "Ann"}, from_id="user42", text="hello team"),
            msg(2, **{"from": None}, from_id="user43", text="from a deleted account"),
        ],
    }
    personal = {
        "name": "Ann",
        "type": "personal_chat",
        "id": 42,
        "messages": [
            msg(1, **{"from": "Ann"}, from_id="user42", text="hi"),
        ],
    }
    basic = {
        "name": "Old Group",
        "type": "private_group",
        "id": 555,
        "messages": [
            msg(3, **{"from": "Bob"}, from_id="user44", text="old basic group"),
        ],
    }
    left = {
        "name": "Left Channel",
        "type": "private_channel",
        "id": 1600000002,
        "messages": [
            msg(5, text="before I left"),
        ],
    }
    return {
        "about": "Here is the data you requested.",
        "personal_information": {"user_id": 1, "first_name": "Me"},
        "chats": {"about": "This page lists all chats.", "list": [group, personal, basic]},
        "left_chats": {"about": "Chats you left.", "list": [left]},
    }


def legacy_export() -> dict[str, Any]:
    """A 2020 export: no *_unixtime, text as a plain string, from_id as a number."""
    return {
        "name": "Old Channel",
        "type": "public_channel",
        "id": 1700000003,
        "messages": [
            {
                "id": 1,
                "type": "message",
                "date": "2020-05-01T10:00:00",
                "from": "Old Channel",
                "from_id": 1700000003,
                "text": "legacy text",
            },
            {
                "id": 2,
                "type": "message",
                "date": "2020-05-01T11:00:00",
                "from": None,
                "text": [{"type": "bold", "text": "bold"}, " plain"],
            },
        ],
    }


def write(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
    return path


def run(db_url: str, *args: str) -> Result:
    return CliRunner().invoke(main, ["--db", db_url, *args], catch_exceptions=False)


@pytest.fixture
def export_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "ChatExport_2024-01-05"
    folder.mkdir()
    write(folder / "result.json", channel_export())
    return folder


def test_channel_export_keeps_every_message(db_url: str, export_dir: Path) -> None:
    result = run(db_url, "import", "desktop", str(export_dir), "--json")
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["messages"] == 17
    assert summary["chats"][0]["chat_id"] == MARKED
    with open_storage(db_url) as store:
        rows = {m["message_id"]: m for m in store.iter_messages(chat_id=MARKED)}
        source = store.get_source(MARKED)
    assert len(rows) == 17
    assert (source["type"], source["status"], source["title"]) == (
        "channel",
        "imported",
        "Expert News",
    )
    assert rows[1]["kind"] == "service" and rows[1]["action"] == "create_channel"
    assert rows[2]["kind"] == "post"
    assert rows[2]["date"] == datetime(2024, 1, 1, 10, 2, tzinfo=UTC)  # from date_unixtime
    assert rows[2]["text"] == "Hi 👋 bold and docs"
    # UTF-16 offsets, as Telegram counts them: the emoji is two code units.
    assert rows[2]["entities"] == [
        {"type": "bold", "offset": 6, "length": 4},
        {"type": "text_url", "offset": 15, "length": 4, "url": "https://example.org"},
    ]
    assert rows[2]["post_author"] == "Jane Editor"
    assert rows[2]["sender_id"] == MARKED
    assert rows[3]["media_kind"] == "photo"
    assert rows[3]["media"]["file"] == "photos/photo_3@01-01-2024_12-03-00.jpg"
    assert (rows[3]["media"]["width"], rows[3]["media"]["size"]) == (1280, 53211)
    assert rows[4]["media_kind"] == "document"
    assert rows[4]["media"]["mime_type"] == "application/pdf"
    assert (rows[5]["media_kind"], rows[5]["media"]["duration"]) == ("voice", 7)
    assert (rows[6]["media_kind"], rows[6]["media"]["emoji"]) == ("sticker", "👍")
    assert rows[7]["media_kind"] == "poll"
    assert rows[7]["media"]["poll"]["question"] == "Best DB?"
    assert (rows[8]["fwd_from_name"], rows[8]["fwd_from_id"]) == (
        "Other Channel",
        -(10**12 + 2000000),
    )
    assert rows[9]["reply_to_msg_id"] == 2
    assert rows[9]["edit_date"] == datetime(2024, 1, 2, 10, 0, tzinfo=UTC)
    assert rows[10]["reactions"] == [
        {"reaction": "🔥", "count": 5},
        {"reaction": {"custom_emoji_id": "5368324170671202286"}, "count": 2},
    ]
    assert rows[11]["media_kind"] == "contact"
    assert rows[12]["media_kind"] == "geo"
    assert rows[13]["raw"]["via_bot"] == "@helper_bot"
    assert rows[14]["media_kind"] == "video_note"
    assert rows[15]["kind"] == "post" and rows[15]["raw"]["shiny_new_field"] == {"nested": [1, 2]}
    assert rows[16]["action"] == "an_action_added_in_2025" and rows[16]["sender_name"] is None
    assert rows[17]["fwd_from_name"] == "Somebody"
    assert rows[2]["raw"] == channel_export()["messages"][1]  # the original, whole


def test_account_export_and_chat_selection(db_url: str, tmp_path: Path) -> None:
    path = write(tmp_path / "result.json", account_export())
    one = run(
        db_url, "import", "desktop", str(path), "--chat", "team chat", "--chat", "555", "--json"
    )
    assert one.exit_code == 0, one.stderr
    assert [c["chat_id"] for c in json.loads(one.stdout)["chats"]] == [-1001500000001, -555]
    everything = json.loads(run(db_url, "import", "desktop", str(path), "--json").stdout)
    ids = {c["chat_id"]: c["type"] for c in everything["chats"]}
    assert ids == {
        -1001500000001: "supergroup",
        42: "user",
        -555: "group",
        -1001600000002: "channel",
    }
    with open_storage(db_url) as store:
        team = {m["message_id"]: m for m in store.iter_messages(chat_id=-1001500000001)}
    assert team[1]["sender_id"] == 42 and team[1]["kind"] == "message"
    assert team[2]["sender_name"] is None


def test_legacy_export(db_url: str, tmp_path: Path) -> None:
    path = write(tmp_path / "result.json", legacy_export())
    assert run(db_url, "import", "desktop", str(path)).exit_code == 0
    with open_storage(db_url) as store:
        rows = {m["message_id"]: m for m in store.iter_messages(chat_id=-1001700000003)}
    assert rows[1]["date"] == datetime(2020, 5, 1, 10, 0, tzinfo=UTC)  # no zone: taken as UTC
    assert rows[1]["sender_id"] == 1700000003
    assert rows[2]["text"] == "bold plain"
    assert rows[2]["entities"] == [{"type": "bold", "offset": 0, "length": 4}]


def test_reimport_adds_nothing_and_a_newer_export_adds_only_news(
    db_url: str, export_dir: Path
) -> None:
    run(db_url, "import", "desktop", str(export_dir))
    again = json.loads(run(db_url, "import", "desktop", str(export_dir), "--json").stdout)
    assert (again["chats"][0]["inserted"], again["chats"][0]["updated"]) == (0, 0)
    newer = channel_export()
    newer["messages"][1]["text_entities"] = [{"type": "plain", "text": "Hi, corrected"}]
    newer["messages"].append(msg(18, text="a new post"))
    write(export_dir / "result.json", newer)
    summary = json.loads(run(db_url, "import", "desktop", str(export_dir), "--json").stdout)
    assert (summary["chats"][0]["inserted"], summary["chats"][0]["updated"]) == (1, 1)
    with open_storage(db_url) as store:
        assert store.get_message(MARKED, 2)["text"] == "Hi, corrected"
        assert [v["text"] for v in store.list_versions(MARKED, 2)] == ["Hi 👋 bold and docs"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("this is not json at all", "not valid JSON"),
        (json.dumps(channel_export())[:-300], "truncated"),
        (json.dumps({"hello": "world", "list": [1, 2]}), "not a Telegram Desktop export"),
        (json.dumps([1, 2, 3]), "not a Telegram Desktop export"),
    ],
)
def test_malformed_input_leaves_the_archive_as_it_was(
    db_url: str, tmp_path: Path, export_dir: Path, content: str, message: str
) -> None:
    run(db_url, "import", "desktop", str(export_dir))
    bad = tmp_path / "bad.json"
    bad.write_text(content, encoding="utf-8")
    result = run(db_url, "import", "desktop", str(bad))
    assert result.exit_code == 1
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    with open_storage(db_url) as store:
        assert store.count_messages() == 17


def test_unknown_chat_and_missing_path(db_url: str, tmp_path: Path) -> None:
    path = write(tmp_path / "result.json", account_export())
    unknown = run(db_url, "import", "desktop", str(path), "--chat", "Nope")
    assert unknown.exit_code == 1 and "no chat 'Nope'" in unknown.stderr
    with open_storage(db_url) as store:
        assert store.count_messages() == 0  # the chats before it were rolled back too
    missing = run(db_url, "import", "desktop", str(tmp_path / "nowhere"))
    assert missing.exit_code == 1 and "no such file" in missing.stderr


def test_import_then_export_gives_back_the_same_messages(db_url: str, export_dir: Path) -> None:
    run(db_url, "import", "desktop", str(export_dir))
    rows = [json.loads(line) for line in run(db_url, "export", "messages").stdout.splitlines()]
    texts = sorted(r["text"] for r in rows)
    expected = sorted(
        "".join(p["text"] for p in m["text_entities"]) if "text_entities" in m else m["text"]
        for m in channel_export()["messages"]
    )
    assert len(rows) == 17
    assert texts == expected


@pytest.fixture
def tg(db_url: str) -> Iterator[Harness]:
    fake = FakeTelegram(start=datetime(2024, 1, 1, 10, 0, tzinfo=UTC))
    with fake.patch():
        yield Harness(fake, db_url)


def test_import_then_ingest_merges_without_duplicates(tg: Harness, tmp_path: Path) -> None:
    channel = tg.fake.add_channel(
        "expertnews", "Expert News", channel_id=CHANNEL, with_discussion=False
    )
    for i in range(1, 6):
        tg.fake.post(channel, f"post {i}")
    export = {
        "name": "Expert News",
        "type": "public_channel",
        "id": CHANNEL,
        "messages": [msg(i) for i in range(1, 4)],
    }
    path = write(tmp_path / "result.json", export)
    tg.run("import", "desktop", str(path))
    # Known from the file only: ingest says how to follow it, and touches nothing.
    refused = tg.ingest(str(MARKED), expect=1)[str(MARKED)]
    assert "source add" in refused["error"]
    tg.run("source", "add", "@expertnews")
    result = tg.ingest()["@expertnews"]
    assert result["status"] == "ok"
    assert result["inserted"] == 2  # posts 4 and 5; 1-3 were imported
    assert tg.ids(MARKED) == [1, 2, 3, 4, 5]
    with open_storage(tg.db_url) as store:
        assert store.get_source(MARKED)["status"] == "active"
        assert store.count_messages() == 5
