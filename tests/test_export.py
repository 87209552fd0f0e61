"""`export messages`, `search` and `stats` on an archive built through the fake Telegram,
on SQLite and PostgreSQL, with the same literal expectations for both."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from telethon import utils

from tests.faketg import FakeTelegram
from tests.tgharness import Harness
from tgparser.export import FIELDS
from tgparser.storage import migrations as mig
from tgparser.storage import open_storage

DAY = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


class World:
    """Two channels and a comment thread, ingested once per test."""

    def __init__(self, tg: Harness) -> None:
        fake = tg.fake
        self.public = fake.add_channel("expertnews", "Expert News")
        self.private = fake.add_channel(None, "Private Notes", with_discussion=False)
        ann = fake.add_user("Ann", "Lee", username="ann_reader")
        post = fake.post
        post(
            self.public,
            "PostgreSQL и SQLite: сравнение баз данных",
            date=DAY,
            views=500,
            post_author="Jane",
        )
        post(
            self.public,
            'Quote "this", comma, and\nnew line',
            date=DAY + timedelta(hours=5),
            views=20,
        )
        post(
            self.public,
            "Database tuning tips for postgres",
            date=DAY + timedelta(days=1),
            views=300,
            media=fake.photo(),
        )
        post(self.public, "MySQL notes only", date=DAY + timedelta(days=2), views=5)
        post(
            self.public,
            "exact phrase here, not here phrase exact",
            date=DAY + timedelta(days=3),
            views=1,
        )
        post(self.private, "Private sqlite diary", date=DAY + timedelta(days=1), views=None)
        self.comment = fake.comment(
            self.public,
            1,
            "Отличный пост про постгрес",
            from_user=ann,
            date=DAY + timedelta(hours=1),
        )
        tg.run("source", "add", "@expertnews", str(utils.get_peer_id(self.private)))
        tg.ingest("--refresh-window", "0s", "--counters-window", "0s")
        self.public_id = utils.get_peer_id(self.public)
        self.private_id = utils.get_peer_id(self.private)
        self.group_id = utils.get_peer_id(fake.discussion_of(self.public))


@pytest.fixture
def tg(db_url: str) -> Iterator[Harness]:
    fake = FakeTelegram(start=DAY - timedelta(days=30))
    with fake.patch():
        yield Harness(fake, db_url)


@pytest.fixture
def world(tg: Harness) -> World:
    return World(tg)


def ndjson(result_stdout: str) -> list[dict]:
    return [json.loads(line) for line in result_stdout.splitlines()]


# -- export ------------------------------------------------------------------------------------


def test_ndjson_export_has_the_documented_fields_and_working_urls(
    tg: Harness, world: World
) -> None:
    result = tg.run("export", "messages")
    rows = ndjson(result.stdout)
    assert "сравнение" in result.stdout  # UTF-8, not \u-escaped
    assert all(list(r) == list(FIELDS) for r in rows)
    by_text = {r["text"]: r for r in rows}
    first = by_text["PostgreSQL и SQLite: сравнение баз данных"]
    assert first == {
        "source_chat_id": world.public_id,
        "source_username": "expertnews",
        "chat_id": world.public_id,
        "message_id": 1,
        "kind": "post",
        "date": "2025-03-01T09:00:00.000000Z",
        "edit_date": None,
        "author": "Jane",
        "sender_id": world.public_id,
        "text": "PostgreSQL и SQLite: сравнение баз данных",
        "url": "https://t.me/expertnews/1",
        "views": 500,
        "forwards": 0,
        "replies": 1,
        "reactions": None,
        "media_kind": None,
        "album_id": None,
        "forward_from_id": None,
        "forward_from_name": None,
        "forward_from_message_id": None,
        "parent_message_id": None,
        "reply_to_message_id": None,
        "forum_topic_id": None,
        "action": None,
    }
    comment = by_text["Отличный пост про постгрес"]
    assert comment["kind"] == "comment"
    assert comment["chat_id"] == world.group_id
    assert comment["source_chat_id"] == world.public_id
    assert comment["source_username"] == "expertnews"
    assert comment["author"] == "Ann Lee"
    assert comment["parent_message_id"] == 1
    assert comment["url"] == f"https://t.me/expertnews/1?comment={world.comment.id}"
    private = by_text["Private sqlite diary"]
    assert private["url"] == f"https://t.me/c/{world.private.id}/1"
    assert private["source_username"] is None
    assert by_text["Database tuning tips for postgres"]["media_kind"] == "photo"
    assert len(rows) == 7


def test_filters(tg: Harness, world: World) -> None:
    def texts(*args: str) -> list[str]:
        return [r["text"] for r in ndjson(tg.run("export", "messages", *args).stdout)]

    assert texts("--source", "@expertnews", "--kind", "post", "--min-views", "300") == [
        "PostgreSQL и SQLite: сравнение баз данных",
        "Database tuning tips for postgres",
    ]
    assert texts("--source", str(world.private_id)) == ["Private sqlite diary"]
    assert texts("--has-media") == ["Database tuning tips for postgres"]
    assert texts("--kind", "comment") == ["Отличный пост про постгрес"]
    # --until with a date includes that whole day; with a time, that instant.
    assert texts("--source", "@expertnews", "--kind", "post", "--until", "2025-03-01") == [
        "PostgreSQL и SQLite: сравнение баз данных",
        'Quote "this", comma, and\nnew line',
    ]
    assert texts(
        "--kind",
        "post",
        "--source",
        "expertnews",
        "--since",
        "2025-03-02",
        "--until",
        "2025-03-03T09:00:00Z",
    ) == [
        "Database tuning tips for postgres",
        "MySQL notes only",
    ]
    # Time zones count, and a datetime --until includes that very instant.
    assert texts(
        "--kind",
        "post",
        "--since",
        "2025-03-02T12:00:00+03:00",
        "--until",
        "2025-03-02T09:00:00+00:00",
    ) == [
        "Private sqlite diary",  # chats in id order: the private channel's marked id is lower
        "Database tuning tips for postgres",
    ]
    # The comment's own date is inside the window: it comes with its channel.
    assert "Отличный пост про постгрес" in texts("--source", "@expertnews", "--until", "2025-03-01")


def test_with_comments_puts_each_thread_after_its_post(tg: Harness, world: World) -> None:
    rows = ndjson(
        tg.run(
            "export",
            "messages",
            "--source",
            "@expertnews",
            "--kind",
            "post",
            "--with-comments",
            "--until",
            "2025-03-01",
        ).stdout
    )
    assert [(r["kind"], r["message_id"]) for r in rows] == [
        ("post", 1),
        ("comment", world.comment.id),
        ("post", 2),
    ]


def test_csv_is_rfc_4180_with_a_header(tg: Harness, world: World) -> None:
    result = tg.run(
        "export",
        "messages",
        "--format",
        "csv",
        "--fields",
        "message_id,text,url,views,reactions",
        "--source",
        "@expertnews",
        "--kind",
        "post",
    )
    out = result.stdout_bytes.decode("utf-8")  # (.stdout would fold \r\n into \n)
    assert out.startswith("message_id,text,url,views,reactions\r\n")
    rows = list(csv.reader(io.StringIO(out, newline="")))
    assert rows[0] == ["message_id", "text", "url", "views", "reactions"]
    assert rows[2] == [
        "2",
        'Quote "this", comma, and\nnew line',
        "https://t.me/expertnews/2",
        "20",
        "",
    ]
    assert '"Quote ""this"", comma, and\nnew line"' in out
    assert len(rows) == 6


def test_json_is_one_array_and_raw_is_optional(tg: Harness, world: World) -> None:
    data = json.loads(tg.run("export", "messages", "--format", "json", "--raw").stdout)
    assert isinstance(data, list) and len(data) == 7
    assert all(r["raw"]["_"] == "Message" for r in data)
    assert (
        json.loads(tg.run("export", "messages", "--format", "json", "--kind", "service").stdout)
        == []
    )


def test_output_file_is_written_whole(tg: Harness, world: World, tmp_path: Path) -> None:
    folder = tmp_path / "exports"
    folder.mkdir()
    target = folder / "out.ndjson"
    result = tg.run("export", "messages", "-o", str(target))
    assert result.stdout == ""
    assert "wrote 7 messages" in result.stderr
    assert len(target.read_text(encoding="utf-8").splitlines()) == 7
    assert [p.name for p in folder.iterdir()] == ["out.ndjson"]  # no temporary file left


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--since", "yesterday"), "'yesterday' is not a date"),
        (("--source", "@unknownchan"), "@unknownchan: not a followed chat"),
        (("--fields", "text,colour"), "unknown field 'colour'"),
        (("--since", "2025-03-05", "--until", "2025-03-01"), "--until must be after --since"),
    ],
)
def test_bad_input_is_a_one_line_error(
    tg: Harness, world: World, args: tuple[str, ...], message: str
) -> None:
    result = tg.run("export", "messages", *args, expect=None)
    assert result.exit_code != 0
    assert result.stdout == ""
    assert message in result.stderr
    assert "Traceback" not in result.stderr


# -- search ------------------------------------------------------------------------------------


def _search(tg: Harness, *query: str) -> list[dict]:
    return json.loads(tg.run("search", *query, "--json").stdout)


def test_search_words_phrases_or_exclusion_prefix(tg: Harness, world: World) -> None:
    def found(*query: str) -> list[str]:
        return [h["text"] for h in _search(tg, *query)]

    assert found("postgres") == ["Database tuning tips for postgres"]
    assert found("POSTGRESQL") == ["PostgreSQL и SQLite: сравнение баз данных"]
    assert set(found("sqlite")) == {
        "PostgreSQL и SQLite: сравнение баз данных",
        "Private sqlite diary",
    }
    assert found("sqlite", "-private") == ["PostgreSQL и SQLite: сравнение баз данных"]
    assert found('"exact phrase"') == ["exact phrase here, not here phrase exact"]
    assert found('"phrase exact here"') == []
    assert set(found("datab*")) == {"Database tuning tips for postgres"}
    assert set(found("mysql OR tuning")) == {
        "MySQL notes only",
        "Database tuning tips for postgres",
    }
    assert found("сравнение баз") == ["PostgreSQL и SQLite: сравнение баз данных"]
    assert found("постгр*") == ["Отличный пост про постгрес"]


def test_search_ranks_better_matches_first(tg: Harness, world: World) -> None:
    hits = _search(tg, "postgresql OR sqlite OR сравнение")
    assert hits[0]["text"] == "PostgreSQL и SQLite: сравнение баз данных"
    assert hits[0]["score"] > hits[-1]["score"]
    assert "**" in hits[0]["snippet"]
    assert hits[0]["url"] == "https://t.me/expertnews/1"


def test_search_filters_and_formats(tg: Harness, world: World) -> None:
    assert [h["text"] for h in _search(tg, "sqlite", "--source", str(world.private_id))] == [
        "Private sqlite diary"
    ]
    assert _search(tg, "sqlite", "--kind", "comment") == []
    lines = tg.run("search", "sqlite", "--format", "ndjson").stdout.splitlines()
    assert len(lines) == 2 and all(json.loads(line)["snippet"] for line in lines)
    out = tg.run("search", "sqlite", "--format", "csv", "--limit", "1").stdout_bytes.decode()
    assert len(list(csv.reader(io.StringIO(out, newline="")))) == 2
    human = tg.run("search", "tuning").stdout
    assert "https://t.me/expertnews/3" in human and "**tuning**" in human


def test_no_match_prints_nothing_and_exits_0(tg: Harness, world: World) -> None:
    assert tg.run("search", "nothingmatchesthis").stdout == ""
    assert tg.run("search", "nothingmatchesthis", "--format", "ndjson").stdout == ""
    assert json.loads(tg.run("search", "nothingmatchesthis", "--json").stdout) == []


def test_bad_queries(tg: Harness, world: World) -> None:
    only_excluded = tg.run("search", "-mysql", expect=1)
    assert "each part needs a word to find" in only_excluded.stderr
    assert len(only_excluded.stderr.strip().splitlines()) == 1
    assert tg.run("search", "sqlite", "--since", "soon", expect=2).stdout == ""


# -- stats -------------------------------------------------------------------------------------


def test_stats(tg: Harness, world: World) -> None:
    rows = {r["chat_id"]: r for r in json.loads(tg.run("stats", "--json").stdout)}
    public = rows[world.public_id]
    assert (public["messages"], public["comments"]) == (5, 1)
    assert (public["first_date"], public["last_date"]) == (
        "2025-03-01T09:00:00.000000Z",
        "2025-03-04T09:00:00.000000Z",
    )
    assert public["telegram_count"] == 5
    assert public["archived_share"] == 1.0
    assert public["last_success_at"] is not None
    assert public["last_error"] is None
    assert public["link"] == "https://t.me/expertnews"
    assert rows[world.private_id]["link"] == f"https://t.me/c/{world.private.id}"
    human = tg.run("stats").stdout
    assert "@expertnews" in human and "100%" in human


# -- an existing archive gets search from `db migrate` -------------------------------------------


def test_migrating_an_existing_archive_indexes_its_messages(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.factories import make_message

    with open_storage(db_url) as store:
        shipped = mig.load_migrations(store.dialect)
        before_search = tuple(m for m in shipped if m.name != "search")
        monkeypatch.setattr(mig, "load_migrations", lambda d: before_search)
        store.migrate()
        store.upsert_messages([make_message(1, text="archived before search existed")])
        monkeypatch.setattr(mig, "load_migrations", lambda d: shipped)
        assert [m.name for m in store.migrate()] == ["search"]
        from tgparser.search_query import parse
        from tgparser.storage.base import MessageFilter

        hits = store.search_messages(parse("existed"), MessageFilter())
        assert [h["message_id"] for h in hits] == [1]
        # and new rows, edits and deletions keep the index in step
        store.upsert_messages([make_message(2, text="added later")])
        store.upsert_messages([make_message(1, text="edited text")])
        assert store.search_messages(parse("existed"), MessageFilter()) == []
        assert [
            h["message_id"] for h in store.search_messages(parse("edited"), MessageFilter())
        ] == [1]
        store.delete_messages(-1001234567890)
        assert store.search_messages(parse("later"), MessageFilter()) == []
