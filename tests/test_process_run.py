"""`tgparser process` with the builtin processor, end to end through the CLI, on SQLite and
PostgreSQL: incremental runs, edits, scope, duplicates, two runs at once, data out."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import subprocess
import sys
from datetime import timedelta

from click.testing import CliRunner, Result

from tests.factories import BASE_DATE, CHANNEL_ID, make_message, make_source
from tgparser.cli import main
from tgparser.storage import open_storage

GROUP_ID = -1009000000001  # the channel's discussion group
OTHER_ID = -1009000000002  # another followed channel
IMPORTED_ID = -1009000000003  # a chat imported from a Desktop export
PAUSED_ID = -1009000000004

AD = (
    "Курс по аналитике со скидкой 30%!\nЗаписывайтесь: https://school.example/da\n\n"
    "Реклама. ООО «Школа», ИНН 7707083893, erid: 2VtzqwHxk9A"
)


def run(db_url: str, *args: str) -> Result:
    return CliRunner().invoke(main, ["--db", db_url, *args], catch_exceptions=False)


def processed(db_url: str, *args: str) -> dict:
    result = run(db_url, "process", "--json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def message(message_id: int, chat_id: int = CHANNEL_ID, **fields) -> dict:
    text = fields.pop("text", f"Пост номер {message_id} о базах данных и их настройке")
    return make_message(
        message_id,
        chat_id,
        text=text,
        content_hash=hashlib.sha256(text.encode()).hexdigest(),
        **fields,
    )


def fill(db_url: str) -> None:
    with open_storage(db_url) as store:
        store.ensure_schema()
        store.upsert_source(make_source(linked_chat_id=GROUP_ID))
        store.upsert_source(make_source(OTHER_ID, username="other"))
        store.upsert_source(
            make_source(IMPORTED_ID, username=None, title="Imported", status="imported")
        )
        store.upsert_source(make_source(PAUSED_ID, username="paused", status="paused"))
        store.upsert_messages(
            [
                message(1, text="Вышла новая версия PostgreSQL 17: ускорили VACUUM и репликацию."),
                message(2, text=AD),
                message(3, kind="service", text="", action="MessageActionPinMessage"),
                message(4, text="Вышла новая версия PostgreSQL 17: ускорили VACUUM и репликацию!"),
                message(
                    5,
                    GROUP_ID,
                    kind="comment",
                    text="+1",
                    parent_chat_id=CHANNEL_ID,
                    parent_message_id=1,
                ),
                message(
                    6,
                    GROUP_ID,
                    kind="comment",
                    text="А где почитать подробнее про репликацию?",
                    parent_chat_id=CHANNEL_ID,
                    parent_message_id=1,
                ),
                # The same post forwarded into two other chats.
                message(10, OTHER_ID, fwd_from_id=CHANNEL_ID, fwd_from_message_id=1),
                message(11, IMPORTED_ID, fwd_from_id=CHANNEL_ID, fwd_from_message_id=1),
                message(12, IMPORTED_ID, text="Заметки из импортированного чата о Kafka"),
                message(13, PAUSED_ID, text="Этот канал на паузе, его не трогаем"),
            ]
        )


def documents(db_url: str, *args: str) -> dict[tuple[int, int], dict]:
    result = run(db_url, "export", "documents", *args)
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    return {(r["chat_id"], r["message_id"]): r for r in rows}


def test_process_is_incremental_and_redoes_only_an_edit(db_url: str) -> None:
    fill(db_url)
    first = processed(db_url)
    assert (first["processed"], first["failed"], first["ads"]) == (9, 0, 1)
    assert first["noise"] == 2  # the service message and the "+1" comment
    assert first["exit_code"] == 0 and first["tokens"] == {"in": 0, "out": 0}
    assert processed(db_url)["processed"] == 0  # nothing pending
    with open_storage(db_url) as store:
        store.upsert_messages(
            [
                message(
                    6,
                    GROUP_ID,
                    kind="comment",
                    text="Исправил вопрос: где почитать про логическую репликацию?",
                )
            ]
        )
    again = processed(db_url)
    assert again["processed"] == 1
    assert [c["chat_id"] for c in again["chats"] if c["processed"]] == [GROUP_ID]
    assert processed(db_url, "--reprocess")["processed"] == 9


def test_documents_carry_every_field(db_url: str) -> None:
    fill(db_url)
    processed(db_url)
    docs = documents(db_url)
    assert (PAUSED_ID, 13) not in docs  # paused chats are left alone
    post = docs[(CHANNEL_ID, 1)]
    assert post["language"] == "ru"
    assert post["url"] == "https://t.me/expert_channel/1"
    assert post["summary"] == "Вышла новая версия PostgreSQL 17: ускорили VACUUM и репликацию."
    assert "PostgreSQL" in post["keywords"] and "VACUUM" in post["keywords"]
    assert (post["is_ad"], post["is_noise"], post["duplicate_of"]) == (False, False, None)
    assert post["processor"] == "builtin" and post["model"] is None and post["entities"] is None
    assert post["processed_at"].endswith("Z")
    ad = docs[(CHANNEL_ID, 2)]
    assert ad["is_ad"] is True
    assert "erid token 2VtzqwHxk9A in the text" in ad["ad_reasons"]
    assert ad["urls"] == [{"url": "https://school.example/da", "domain": "school.example"}]
    assert docs[(CHANNEL_ID, 3)]["noise_reason"] == "service (MessageActionPinMessage)"
    assert docs[(GROUP_ID, 5)]["noise_reason"] == "too short"
    assert docs[(GROUP_ID, 5)]["url"] == "https://t.me/expert_channel/1?comment=5"
    # Same text (up to punctuation) in the same chat: the later one points at the first.
    assert docs[(CHANNEL_ID, 4)]["duplicate_of"] == {"chat_id": CHANNEL_ID, "message_id": 1}
    # Forwards of the same post in other chats point at the original.
    for key in ((OTHER_ID, 10), (IMPORTED_ID, 11)):
        assert docs[key]["duplicate_of"] == {"chat_id": CHANNEL_ID, "message_id": 1}
    assert docs[(IMPORTED_ID, 12)]["is_noise"] is False

    assert set(documents(db_url, "--no-ads")) == set(docs) - {(CHANNEL_ID, 2)}
    assert set(documents(db_url, "--no-noise")) == set(docs) - {(CHANNEL_ID, 3), (GROUP_ID, 5)}
    assert set(documents(db_url, "@expert_channel")) == {
        (CHANNEL_ID, 1),
        (CHANNEL_ID, 2),
        (CHANNEL_ID, 3),
        (CHANNEL_ID, 4),
        (GROUP_ID, 5),
        (GROUP_ID, 6),
    }
    table = list(
        csv.reader(io.StringIO(run(db_url, "export", "documents", "--format", "csv").stdout))
    )
    assert table[0][:7] == [
        "source_chat_id",
        "source_username",
        "chat_id",
        "message_id",
        "kind",
        "date",
        "url",
    ]
    assert len(table) == 1 + len(docs)


def test_an_earlier_duplicate_processed_later_takes_over(db_url: str) -> None:
    fill(db_url)
    text = "Длинный одинаковый текст, который повторили дважды в одном канале"
    with open_storage(db_url) as store:
        store.upsert_messages([message(30, text=text)])
    processed(db_url)
    with open_storage(db_url) as store:  # an older copy arrives later (a backfill)
        store.upsert_messages([message(20, text=text)])
    processed(db_url)
    docs = documents(db_url)
    assert docs[(CHANNEL_ID, 20)]["duplicate_of"] is None
    assert docs[(CHANNEL_ID, 30)]["duplicate_of"] == {"chat_id": CHANNEL_ID, "message_id": 20}


def test_refs_since_until_limit_and_usage_errors(db_url: str) -> None:
    fill(db_url)
    assert processed(db_url, "@other")["processed"] == 1
    assert processed(db_url, str(PAUSED_ID))["processed"] == 1  # named: even when paused
    some = processed(
        db_url,
        "--since",
        (BASE_DATE + timedelta(minutes=2)).isoformat(),
        "--until",
        (BASE_DATE + timedelta(minutes=5)).isoformat(),
        "@expert_channel",
    )
    assert some["processed"] == 4  # posts 2, 3, 4 and comment 5 (--until is inclusive)
    limited = processed(db_url, "--limit", "2")
    assert limited["processed"] == 2 and limited["stopped"] == "limit"
    rest = processed(db_url)
    assert rest["processed"] == 10 - 1 - 1 - 4 - 2  # what is left, once
    assert processed(db_url)["processed"] == 0

    for args, fragment in [
        (("@nobody",), "not a followed chat"),
        (("--reprocess", "--retry-failed"), "exclude each other"),
        (("--model", "x"), "are for --processor llm"),
        (("--processor", "llm"), "needs a server"),
        (("--processor", "llm", "--llm-url", "ftp://x"), "not an http(s) URL"),
        (("--processor", "llm", "--llm-url", "http://127.0.0.1:9/v1"), "needs a model"),
    ]:
        result = run(db_url, "process", *args)
        assert result.exit_code != 0
        assert result.stdout == ""
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert fragment in result.stderr


def test_search_no_ads_and_stats(db_url: str) -> None:
    fill(db_url)
    assert json.loads(run(db_url, "search", "курс", "--json").stdout)  # the ad matches
    processed(db_url)
    hits = json.loads(run(db_url, "search", "курс", "--json", "--no-ads").stdout)
    assert hits == []
    stats = {r["chat_id"]: r for r in json.loads(run(db_url, "stats", "--json").stdout)}
    assert stats[CHANNEL_ID]["documents"] == {"processed": 6, "pending": 0, "failed": 0, "ads": 1}
    assert stats[PAUSED_ID]["documents"]["pending"] == 1
    assert "6 (1 ads)" in run(db_url, "stats").stdout


def test_two_runs_at_once_never_process_a_message_twice(db_url: str) -> None:
    with open_storage(db_url) as store:
        store.ensure_schema()
        batch = []
        for chat in range(6):
            chat_id = -1009100000000 - chat
            store.upsert_source(make_source(chat_id, username=f"c{chat}"))
            batch += [
                message(i, chat_id, text=f"Сообщение {i} канала {chat} про базы данных")
                for i in range(1, 401)
            ]
        store.upsert_messages(batch)
    command = [sys.executable, "-m", "tgparser", "--db", db_url, "process", "--json"]
    runs = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = [r.communicate(timeout=300) for r in runs]
    assert [r.returncode for r in runs] == [0, 0], [o[1] for o in outputs]
    summaries = [json.loads(out) for out, _ in outputs]
    done = [
        {c["chat_id"] for c in s["chats"] if c["status"] == "ok" and c["processed"]}
        for s in summaries
    ]
    assert not done[0] & done[1]  # no chat worked by both
    # Whatever interleaving happened, each message got exactly one document, once.
    total_processed = sum(s["processed"] for s in summaries)
    with open_storage(db_url) as store:
        assert store.count_documents("builtin") == 2400
    left = processed(db_url)["processed"]
    assert total_processed + left == 2400


def test_pending_work_is_found_through_the_index(sqlite_url: str) -> None:
    fill(sqlite_url)
    processed(sqlite_url)
    with open_storage(sqlite_url) as store:
        from tgparser.process.builtin import IDENTITY

        mark = store.chat_scan_position(CHANNEL_ID, IDENTITY)
        assert mark is not None
        sql_seen: list[str] = []
        original = store._query

        def spy(sql, params=()):
            if sql.startswith("SELECT") and "FROM messages m WHERE" in sql:
                sql_seen.append(sql)
                plan = original(f"EXPLAIN QUERY PLAN {sql}", params)
                assert any("messages_chat_updated" in str(row[-1]) for row in plan), plan
            return original(sql, params)

        store._query = spy
        assert store.pending_messages(CHANNEL_ID, IDENTITY, updated_from=mark) == []
        assert sql_seen


def test_purging_a_source_deletes_its_documents(db_url: str) -> None:
    fill(db_url)
    processed(db_url)
    with open_storage(db_url) as store:
        store.record_failures(
            [
                {
                    "chat_id": CHANNEL_ID,
                    "message_id": 1,
                    "processor": "llm",
                    "processor_version": "1",
                    "content_hash": "x",
                    "error": "timeout",
                }
            ]
        )
        assert store.purge_source_data(CHANNEL_ID) == 6  # 4 posts and 2 comments
        assert store.list_failures() == []
    left = documents(db_url)
    assert left and {chat for chat, _ in left} == {OTHER_ID, IMPORTED_ID}
    assert processed(db_url)["processed"] == 0
