"""The storage contract: every adapter method, run on SQLite and on PostgreSQL.

Each test runs once per backend and compares against the same literal expectations, so both
backends are shown to hand back the same Python values for the same rows.
"""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta, timezone

import pytest

from tests.factories import BASE_DATE, CHANNEL_ID, make_message, make_source
from tgparser.errors import StorageError
from tgparser.storage import Storage, open_storage
from tgparser.storage.columns import INTERNAL_COLUMNS, TABLE_COLUMNS
from tgparser.storage.migrations import latest_version, load_migrations

NASTY_TEXTS = [
    "emoji 🧠🔥👍🏽 and a family 👨‍👩‍👧‍👦",
    "שלום עולם — RTL text مرحبا بالعالم",
    "quotes ' \" `` ‘’ “” and a backslash \\ and \\n not a newline",
    "new\nlines\r\nand\ttabs",
    "Русский текст с ёлками и «кавычками»",
    "'; DROP TABLE messages; --",
    "zero\u200bwidth and combining e\u0301",
]


# -- schema ------------------------------------------------------------------------------------


def test_fresh_database_gets_every_table(storage: Storage) -> None:
    assert storage.existing_tables() >= {"sources", "messages", "ingest_runs", "schema_migrations"}
    state = storage.schema_state()
    assert state.version == state.latest == latest_version(storage.dialect)
    assert state.pending == []


def test_column_map_matches_the_migrated_schema(storage: Storage) -> None:
    sql_types = {
        "sqlite": {
            "int": "INTEGER",
            "text": "TEXT",
            "timestamp": "TEXT",
            "json": "TEXT",
            "bool": "INTEGER",
            "float": "REAL",
            "weights": "TEXT",  # packed {term: weight} (topics.centroid)
        },
        "postgresql": {
            "int": "bigint",
            "text": "text",
            "timestamp": "timestamp with time zone",
            "json": "jsonb",
            "bool": "boolean",
            "float": "double precision",
            "weights": "text",
        },
    }[storage.dialect]
    for table, columns in TABLE_COLUMNS.items():
        if storage.dialect == "sqlite":
            actual = {r[1]: r[2] for r in storage._query(f"PRAGMA table_info({table})")}
        else:
            actual = dict(
                storage._query(
                    "SELECT column_name, data_type FROM information_schema.columns "
                    "WHERE table_schema = %s AND table_name = %s",
                    ("tgparser", table),
                )
            )
        for internal in INTERNAL_COLUMNS.get(table, ()):
            actual.pop(internal, None)
        assert list(actual) == list(columns), table
        assert {c: sql_types[t] for c, t in columns.items()} == actual, table


def test_migrate_twice_applies_nothing_the_second_time(storage: Storage) -> None:
    assert storage.migrate() == []
    shipped = load_migrations(storage.dialect)  # numbers may have gaps between branches
    assert storage.table_counts()["schema_migrations"] == len(shipped)


# -- sources -----------------------------------------------------------------------------------


def test_source_insert_get_update_list_delete(storage: Storage) -> None:
    created = storage.upsert_source(make_source(options={"comments": True}, linked_chat_id=-1002))
    assert created["chat_id"] == CHANNEL_ID
    assert created["status"] == "active"
    assert created["options"] == {"comments": True}
    assert created["linked_chat_id"] == -1002
    assert created["created_at"].tzinfo == UTC

    # Re-adding with only some fields updates those and keeps the rest (and created_at).
    again = storage.upsert_source({"chat_id": CHANNEL_ID, "options": {"comments": False}})
    assert again["options"] == {"comments": False}
    assert again["title"] == "Expert channel"
    assert again["created_at"] == created["created_at"]
    assert again["updated_at"] >= created["updated_at"]

    assert storage.update_source(CHANNEL_ID, status="paused") is True
    assert storage.update_source(-1, status="paused") is False
    storage.upsert_source(make_source(-1009, username=None, type="supergroup"))
    assert [s["chat_id"] for s in storage.list_sources()] == [CHANNEL_ID, -1009]
    assert storage.get_source(CHANNEL_ID)["status"] == "paused"

    assert storage.delete_source(CHANNEL_ID) is True
    assert storage.delete_source(CHANNEL_ID) is False
    assert storage.get_source(CHANNEL_ID) is None


def test_source_validation(storage: Storage) -> None:
    with pytest.raises(ValueError, match="unknown sources column"):
        storage.upsert_source(make_source(colour="red"))
    with pytest.raises(ValueError, match="unknown source type"):
        storage.upsert_source(make_source(type="planet"))
    with pytest.raises(ValueError, match="needs a type"):
        storage.upsert_source({"chat_id": 5})
    assert storage.list_sources() == []


# -- messages ----------------------------------------------------------------------------------


def test_upsert_is_idempotent(storage: Storage) -> None:
    batch = [make_message(i) for i in range(1, 51)]
    first = storage.upsert_messages(batch)
    assert (first.inserted, first.updated, first.unchanged) == (50, 0, 0)
    second = storage.upsert_messages(batch)
    assert (second.inserted, second.updated, second.unchanged) == (0, 0, 50)
    assert storage.count_messages() == 50


def test_upsert_updates_changed_rows_and_keeps_first_seen(storage: Storage) -> None:
    storage.upsert_messages([make_message(1), make_message(2)])
    before = storage.get_message(CHANNEL_ID, 1)
    result = storage.upsert_messages([make_message(1, views=999), make_message(2)])
    assert (result.inserted, result.updated, result.unchanged) == (0, 1, 1)
    assert result.previous[(CHANNEL_ID, 1)]["views"] == 10
    after = storage.get_message(CHANNEL_ID, 1)
    assert after["views"] == 999
    assert after["first_seen_at"] == before["first_seen_at"]
    assert after["updated_at"] >= before["updated_at"]


def test_same_key_twice_in_one_batch_keeps_the_last(storage: Storage) -> None:
    result = storage.upsert_messages([make_message(1, views=1), make_message(1, views=2)])
    assert result.inserted == 1
    assert storage.get_message(CHANNEL_ID, 1)["views"] == 2


def test_full_message_round_trip(storage: Storage) -> None:
    record = make_message(
        7,
        kind="comment",
        date=datetime(2024, 12, 31, 23, 59, 59, 123456, tzinfo=timezone(timedelta(hours=3))),
        edit_date=datetime(2025, 1, 1, 0, 0, tzinfo=UTC),
        sender_id=123456789012,
        sender_name="Анна",
        post_author="Editor",
        entities=[{"type": "bold", "offset": 0, "length": 4}],
        reply_to_msg_id=3,
        reply_to_top_id=2,
        forum_topic_id=2,
        parent_chat_id=CHANNEL_ID,
        parent_message_id=2,
        forwards=5,
        replies=0,
        replies_max_id=None,
        reactions=[{"reaction": "👍", "count": 3}],
        fwd_from_id=-1009999999999,
        fwd_from_name="Other",
        fwd_from_message_id=77,
        fwd_date=datetime(2020, 2, 29, 0, 0, tzinfo=UTC),
        grouped_id=2**62 + 1,
        action=None,
        media_kind="photo",
        media={"id": 2**63 - 1, "sizes": [1, 2], "caption": None, "ok": True},
        is_pinned=True,
        raw={"_": "Message", "nested": {"list": [1, "two", None, False]}, "big": -(2**63)},
    )
    storage.upsert_messages([record])
    got = storage.get_message(CHANNEL_ID, 7)
    assert got["date"] == datetime(2024, 12, 31, 20, 59, 59, 123456, tzinfo=UTC)
    assert got["date"].utcoffset() == timedelta(0)
    for column in TABLE_COLUMNS["messages"]:
        if column in ("first_seen_at", "updated_at"):
            assert got[column].tzinfo == UTC
        else:
            assert got[column] == record.get(column), column
    assert got["is_pinned"] is True
    assert isinstance(got["media"]["id"], int)


@pytest.mark.parametrize("pinned", [True, False, None])
def test_booleans_round_trip(storage: Storage, pinned: bool | None) -> None:
    storage.upsert_messages([make_message(1, is_pinned=pinned)])
    assert storage.get_message(CHANNEL_ID, 1)["is_pinned"] is pinned


def test_naive_datetimes_are_refused(storage: Storage) -> None:
    with pytest.raises(ValueError, match="naive datetime"):
        storage.upsert_messages([make_message(1, date=datetime(2025, 1, 1, 12, 0))])
    assert storage.count_messages() == 0


def test_awkward_texts_round_trip(storage: Storage) -> None:
    storage.upsert_messages(
        make_message(i, text=t, raw={"message": t, "keys": {t: t}}, sender_name=t)
        for i, t in enumerate(NASTY_TEXTS, start=1)
    )
    for i, text in enumerate(NASTY_TEXTS, start=1):
        got = storage.get_message(CHANNEL_ID, i)
        assert got["text"] == text
        assert got["sender_name"] == text
        assert got["raw"] == {"message": text, "keys": {text: text}}


def test_huge_text_round_trips(storage: Storage) -> None:
    huge = ("абв😀\\\"'\n" * 600_000)[:5_000_000]
    storage.upsert_messages([make_message(1, text=huge, raw={"message": huge})])
    got = storage.get_message(CHANNEL_ID, 1)
    assert got["text"] == huge
    assert got["raw"]["message"] == huge


def test_message_validation(storage: Storage) -> None:
    with pytest.raises(ValueError, match="unknown messages column"):
        storage.upsert_messages([make_message(1, colour="red")])
    with pytest.raises(ValueError, match="lacks raw"):
        storage.upsert_messages([make_message(1, raw=None)])
    with pytest.raises(ValueError, match="unknown message kind"):
        storage.upsert_messages([make_message(1, kind="story")])
    assert storage.count_messages() == 0


def test_iter_messages_filters_orders_and_streams(storage: Storage) -> None:
    other = -1005
    storage.upsert_messages(
        [make_message(i) for i in range(1, 26)]
        + [make_message(i, chat_id=other, kind="service") for i in range(1, 6)]
    )
    everything = list(storage.iter_messages(batch_size=7))  # several fetches per stream
    assert len(everything) == 30
    assert [(m["chat_id"], m["message_id"]) for m in everything] == sorted(
        [(CHANNEL_ID, i) for i in range(1, 26)] + [(other, i) for i in range(1, 6)]
    )
    mine = [m["message_id"] for m in storage.iter_messages(chat_id=CHANNEL_ID)]
    assert mine == list(range(1, 26))
    window = storage.iter_messages(
        chat_id=CHANNEL_ID,
        since=BASE_DATE + timedelta(minutes=10),
        until=BASE_DATE + timedelta(minutes=13),
    )
    assert [m["message_id"] for m in window] == [10, 11, 12]
    assert [m["message_id"] for m in storage.iter_messages(kind="service")] == [1, 2, 3, 4, 5]
    assert storage.count_messages(chat_id=other) == 5
    assert storage.count_messages(kind="post") == 25
    assert storage.get_message(CHANNEL_ID, 999) is None


def test_delete_messages(storage: Storage) -> None:
    storage.upsert_messages([make_message(i) for i in range(1, 4)] + [make_message(1, -7)])
    assert storage.delete_messages(CHANNEL_ID) == 3
    assert storage.count_messages() == 1


# -- transactions ------------------------------------------------------------------------------


def test_failed_transaction_writes_nothing(storage: Storage) -> None:
    with pytest.raises(RuntimeError), storage.transaction():
        storage.upsert_source(make_source())
        storage.upsert_messages([make_message(1)])
        raise RuntimeError("crash mid-batch")
    assert storage.list_sources() == []
    assert storage.count_messages() == 0


def test_nested_transaction_rolls_back_only_the_inner_block(storage: Storage) -> None:
    with storage.transaction():
        storage.upsert_messages([make_message(1)])
        with pytest.raises(RuntimeError), storage.transaction():
            storage.upsert_messages([make_message(2)])
            raise RuntimeError("inner failure")
        storage.upsert_messages([make_message(3)])
    assert [m["message_id"] for m in storage.iter_messages()] == [1, 3]


def test_a_failing_statement_leaves_a_one_line_storage_error(storage: Storage) -> None:
    with pytest.raises(StorageError) as info:
        storage.start_run(424242)  # no such source: the foreign key refuses it
    assert "\n" not in str(info.value)
    assert storage.list_runs() == []


# -- ingest runs -------------------------------------------------------------------------------


def test_runs_are_recorded_and_listed_newest_first(storage: Storage) -> None:
    storage.upsert_source(make_source())
    first = storage.start_run(CHANNEL_ID)
    storage.finish_run(
        first,
        status="ok",
        fetched=10,
        inserted=8,
        updated=2,
        details={"phases": ["new", "backfill"]},
    )
    second = storage.start_run(CHANNEL_ID)
    storage.finish_run(second, status="failed", error="ChannelPrivateError: private")
    runs = storage.list_runs(chat_id=CHANNEL_ID)
    assert [r["id"] for r in runs] == [second, first]
    assert runs[1]["status"] == "ok"
    assert (runs[1]["fetched"], runs[1]["inserted"], runs[1]["updated"]) == (10, 8, 2)
    assert runs[1]["details"] == {"phases": ["new", "backfill"]}
    assert runs[1]["finished_at"] >= runs[1]["started_at"]
    assert runs[0]["error"] == "ChannelPrivateError: private"
    assert len(storage.list_runs(limit=1)) == 1
    storage.delete_source(CHANNEL_ID)
    assert storage.list_runs() == []  # history goes with its source


# -- status and concurrency --------------------------------------------------------------------


def test_status_reports_counts_version_and_latency(storage: Storage) -> None:
    storage.upsert_messages([make_message(1), make_message(2)])
    info = storage.status()
    assert info["backend"] == storage.dialect
    assert info["schema_version"] == latest_version(storage.dialect)
    assert info["pending_migrations"] == []
    assert info["tables"]["messages"] == 2
    assert info["latency_ms"] >= 0
    assert info["server_version"]
    if storage.dialect == "sqlite":
        assert info["file_size"] > 0
    else:
        assert info["schema"] == "tgparser"


def _write_batches(url: str, first_id: int, count: int) -> int:
    store = open_storage(url)
    try:
        written = 0
        for start in range(first_id, first_id + count, 50):
            result = store.upsert_messages(make_message(i) for i in range(start, start + 50))
            written += result.inserted
        return written
    finally:
        store.close()


def test_two_processes_writing_at_once(storage: Storage, db_url: str) -> None:
    # Overlapping ranges: 1..1000 and 501..1500; every key lands exactly once.
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(2) as pool:
        results = pool.starmap(_write_batches, [(db_url, 1, 1000), (db_url, 501, 1000)])
    assert storage.count_messages() == 1500
    assert sum(results) == 1500


# -- ingest bookkeeping ------------------------------------------------------------------------


def test_edits_keep_earlier_versions(storage: Storage) -> None:
    storage.upsert_messages([make_message(1, text="first draft")])
    views_only = storage.upsert_messages([make_message(1, text="first draft", views=500)])
    assert (views_only.updated, views_only.edited) == (1, 0)
    assert storage.list_versions(CHANNEL_ID, 1) == []

    edit = storage.upsert_messages([make_message(1, text="second draft")])
    assert (edit.updated, edit.edited) == (1, 1)
    storage.upsert_messages([make_message(1, text="final text")])
    storage.upsert_messages([make_message(1, text="final text")])  # unchanged: no version
    versions = storage.list_versions(CHANNEL_ID, 1)
    assert [v["text"] for v in versions] == ["first draft", "second draft"]
    assert storage.get_message(CHANNEL_ID, 1)["text"] == "final text"
    # Going back to an earlier content does not duplicate its version (keyed by hash).
    storage.upsert_messages([make_message(1, text="first draft")])
    storage.upsert_messages([make_message(1, text="final text")])
    assert [v["text"] for v in storage.list_versions(CHANNEL_ID, 1)] == [
        "first draft",
        "second draft",
        "final text",
    ]


def test_lock_is_exclusive_refreshable_and_released(storage: Storage) -> None:
    storage.upsert_source(make_source())
    ttl = timedelta(minutes=5)
    assert storage.acquire_lock(CHANNEL_ID, "run-a", ttl) is True
    assert storage.acquire_lock(CHANNEL_ID, "run-b", ttl) is False
    assert storage.acquire_lock(CHANNEL_ID, "run-a", ttl) is True  # re-entrant for its owner
    assert storage.refresh_lock(CHANNEL_ID, "run-a", ttl) is True
    assert storage.refresh_lock(CHANNEL_ID, "run-b", ttl) is False
    assert storage.get_lock(CHANNEL_ID)["owner"] == "run-a"
    storage.release_lock(CHANNEL_ID, "run-b")  # not the owner: no effect
    assert storage.get_lock(CHANNEL_ID)["owner"] == "run-a"
    storage.release_lock(CHANNEL_ID, "run-a")
    assert storage.get_lock(CHANNEL_ID) is None
    assert storage.acquire_lock(CHANNEL_ID, "run-b", ttl) is True


def test_expired_lock_is_taken_over(storage: Storage) -> None:
    storage.upsert_source(make_source())
    assert storage.acquire_lock(CHANNEL_ID, "crashed-run", timedelta(seconds=-1))
    assert storage.acquire_lock(CHANNEL_ID, "next-run", timedelta(minutes=5)) is True
    assert storage.refresh_lock(CHANNEL_ID, "crashed-run", timedelta(minutes=5)) is False


def test_lock_of_a_dead_process_on_this_host_is_taken_over(storage: Storage) -> None:
    storage.upsert_source(make_source())
    assert storage.acquire_lock(CHANNEL_ID, "killed-run", timedelta(hours=1))
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    storage._execute(f"UPDATE source_locks SET pid = {dead.pid}")
    assert storage.acquire_lock(CHANNEL_ID, "next-run", timedelta(minutes=5)) is True
    assert storage.get_lock(CHANNEL_ID)["owner"] == "next-run"


def test_threads_to_fetch_follow_the_reported_max_id(storage: Storage) -> None:
    storage.upsert_messages(
        [
            make_message(1, replies=2, replies_max_id=40),
            make_message(2, replies=0, replies_max_id=None),
            make_message(3, replies=5, replies_max_id=55),
            make_message(4, chat_id=-1002, kind="comment", replies_max_id=99),
        ]
    )
    assert storage.threads_to_fetch(CHANNEL_ID) == [(1, 40, 0), (3, 55, 0)]
    storage.set_thread_cursor(CHANNEL_ID, 1, 40)
    storage.set_thread_cursor(CHANNEL_ID, 3, 50)
    assert storage.threads_to_fetch(CHANNEL_ID) == [(3, 55, 50)]
    storage.set_thread_cursor(CHANNEL_ID, 3, 55)
    assert storage.threads_to_fetch(CHANNEL_ID) == []


def test_update_counters_changes_only_what_moved(storage: Storage) -> None:
    storage.upsert_messages([make_message(i) for i in (1, 2, 3)])
    changed = storage.update_counters(
        CHANNEL_ID,
        [
            {"message_id": 1, "views": 10, "forwards": None, "replies": None},  # same
            {"message_id": 2, "views": 777, "forwards": 3, "replies": 4, "replies_max_id": 90},
            {"message_id": 99, "views": 1},  # not stored: ignored
        ],
    )
    assert changed == 1
    got = storage.get_message(CHANNEL_ID, 2)
    assert (got["views"], got["forwards"], got["replies"], got["replies_max_id"]) == (
        777,
        3,
        4,
        90,
    )
    assert storage.get_message(CHANNEL_ID, 1)["views"] == 10


def test_message_ids_and_comment_counts(storage: Storage) -> None:
    group = -1002
    storage.upsert_messages(
        [make_message(i) for i in (5, 6, 7)]
        + [
            make_message(
                i, chat_id=group, kind="comment", parent_chat_id=CHANNEL_ID, parent_message_id=5
            )
            for i in (100, 101)
        ]
    )
    assert storage.message_ids(CHANNEL_ID) == [5, 6, 7]
    assert storage.message_ids(CHANNEL_ID, since=BASE_DATE + timedelta(minutes=6)) == [6, 7]
    assert storage.message_ids(group, kind="post") == []
    assert storage.count_comments(CHANNEL_ID) == 2


def test_purge_removes_posts_comments_versions_and_cursors(storage: Storage) -> None:
    group, other = -1002, -1003
    storage.upsert_messages(
        [
            make_message(1),
            make_message(1, chat_id=other),
            make_message(
                9, chat_id=group, kind="comment", parent_chat_id=CHANNEL_ID, parent_message_id=1
            ),
        ]
    )
    storage.upsert_messages([make_message(1, text="edited")])
    storage.set_thread_cursor(CHANNEL_ID, 1, 9)
    assert storage.purge_source_data(CHANNEL_ID) == 2
    assert storage.count_messages() == 1
    assert storage.list_versions(CHANNEL_ID, 1) == []
    assert storage.threads_to_fetch(CHANNEL_ID) == []
    assert storage.table_counts()["thread_cursors"] == 0


def test_new_sqlite_files_use_wal_and_large_pages(sqlite_url: str) -> None:
    with open_storage(sqlite_url) as store:
        assert store._query("PRAGMA page_size")[0][0] == 16_384
        assert store._query("PRAGMA journal_mode")[0][0] == "wal"
        assert store._query("PRAGMA foreign_keys")[0][0] == 1
        assert store._query("PRAGMA busy_timeout")[0][0] == 30_000


def test_nul_characters_are_stored_the_same_on_both_backends(storage: Storage) -> None:
    # PostgreSQL cannot store U+0000 in text or jsonb: both backends replace it with U+FFFD,
    # and a literal backslash-u0000 written by a user stays as it is.
    storage.upsert_messages(
        [make_message(1, text="a\x00b", raw={"message": "a\x00b", "literal": "\\u0000"})]
    )
    got = storage.get_message(CHANNEL_ID, 1)
    assert got["text"] == "a\ufffdb"
    assert got["raw"] == {"message": "a\ufffdb", "literal": "\\u0000"}


def test_a_stream_left_early_keeps_what_the_reader_wrote(storage: Storage) -> None:
    storage.upsert_messages([make_message(i) for i in range(1, 6)])
    for row in storage.iter_messages(batch_size=2):
        storage.upsert_messages([make_message(row["message_id"] + 100)])
        with storage.transaction():
            storage.upsert_messages([make_message(row["message_id"] + 200)])
        if row["message_id"] == 2:
            break
    assert storage.message_ids(CHANNEL_ID) == [1, 2, 3, 4, 5, 101, 102, 201, 202]


def test_a_comment_stays_linked_when_its_group_is_ingested_as_a_source(storage: Storage) -> None:
    group = -1002
    comment = make_message(
        9, chat_id=group, kind="comment", parent_chat_id=CHANNEL_ID, parent_message_id=1
    )
    storage.upsert_messages([comment])
    # The same message seen in the group's own history: no parent known there.
    as_group_message = {
        **comment,
        "kind": "message",
        "parent_chat_id": None,
        "parent_message_id": None,
        "views": 5,
    }
    result = storage.upsert_messages([as_group_message])
    assert result.updated == 1  # the views changed; the link did not
    got = storage.get_message(group, 9)
    assert (got["kind"], got["parent_chat_id"], got["parent_message_id"]) == (
        "comment",
        CHANNEL_ID,
        1,
    )
    assert got["views"] == 5


def test_purge_keeps_a_followed_groups_own_messages(storage: Storage) -> None:
    group = -1002
    storage.upsert_messages(
        [
            make_message(1),
            make_message(
                9, chat_id=group, kind="comment", parent_chat_id=CHANNEL_ID, parent_message_id=1
            ),
            make_message(10, chat_id=group, kind="message"),
        ]
    )
    storage.upsert_messages([make_message(10, chat_id=group, kind="message", text="edited")])
    assert storage.purge_source_data(CHANNEL_ID) == 2
    assert storage.message_ids(group) == [10]
    assert [v["text"] for v in storage.list_versions(group, 10)] == ["post number 10"]


def test_interrupted_runs_are_closed(storage: Storage) -> None:
    storage.upsert_source(make_source())
    crashed = storage.start_run(CHANNEL_ID)
    assert storage.close_interrupted_runs(CHANNEL_ID) == 1
    (run,) = storage.list_runs()
    assert run["id"] == crashed
    assert run["status"] == "failed"
    assert run["error"].startswith("interrupted")
    assert run["finished_at"] is not None


def _ensure_schema(url: str) -> int:
    with open_storage(url) as store:
        store.ensure_schema()
        return store.schema_state().version


def test_processes_racing_to_create_a_fresh_schema(db_url: str) -> None:
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(4) as pool:
        versions = pool.map(_ensure_schema, [db_url] * 4)
    assert versions == [latest_version("sqlite")] * 4
    with open_storage(db_url) as store:
        assert store.table_counts()["schema_migrations"] == len(load_migrations(store.dialect))


def test_lock_decisions_wait_for_a_writer_of_the_same_chat(storage: Storage, db_url: str) -> None:
    """Two runs must never both see a source's lock as free: the check waits for any open
    transaction that writes the same chat (the write lock on SQLite, an advisory lock on
    PostgreSQL). Without that wait, both overlapping cron runs would work the source."""
    storage.upsert_source(make_source())
    ttl = timedelta(minutes=5)
    outcome: dict[str, bool] = {}

    def other_run() -> None:
        with open_storage(db_url) as other:
            outcome["acquired"] = other.acquire_lock(CHANNEL_ID, "other-run", ttl)

    with storage.transaction():
        storage._lock_chats([CHANNEL_ID])  # as upsert_messages and acquire_lock do
        thread = threading.Thread(target=other_run)
        thread.start()
        thread.join(0.5)
        assert thread.is_alive(), "the other run decided without waiting"
        assert storage.acquire_lock(CHANNEL_ID, "this-run", ttl)
    thread.join(30)
    assert outcome == {"acquired": False}
    assert storage.get_lock(CHANNEL_ID)["owner"] == "this-run"
