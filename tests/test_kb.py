"""`tgparser export kb`: a knowledge base folder a RAG system can load as it is.

An archive with a public channel (posts, comments in its discussion group, an ad, noise, a
duplicate, an unprocessed post, an LLM-processed one), a private channel and a service
message; exported through the real CLI on SQLite and PostgreSQL.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jsonschema
import pytest
from click.testing import CliRunner, Result

from tests.factories import BASE_DATE, CHANNEL_ID, make_message, make_source
from tgparser.cli import main
from tgparser.kb import PAUSE_ENV, SCHEMA_FILES, topic_file_name
from tgparser.storage import Storage, open_storage
from tgparser.telegram.refs import parse_ref

GROUP_ID = -1009876543210
PRIVATE_ID = -1005555555555
SCHEMAS = Path(__file__).resolve().parent.parent / "tgparser" / "kb_schemas"


def schema(name: str) -> dict[str, Any]:
    from importlib.resources import files

    return json.loads((files("tgparser") / "kb_schemas" / name).read_text(encoding="utf-8"))


def put_document(storage: Storage, chat_id: int, message_id: int, **fields: Any) -> None:
    """A `documents` row made from the message's current content unless told otherwise."""
    message = storage.get_message(chat_id, message_id)
    assert message is not None
    row: dict[str, Any] = {
        "chat_id": chat_id,
        "message_id": message_id,
        "processor": "builtin",
        "processor_version": "1.0",
        "model": "",
        "prompt_id": "",
        "content_hash": message["content_hash"],
        "text_clean": message["text"].strip(),
        "language": "en",
        "is_ad": False,
        "is_noise": False,
        "keywords": ["postgres"],
        "summary": "",
        "entities": None,
        "processed_at": BASE_DATE,
    }
    row.update(fields)
    types = {
        **dict.fromkeys(("processor", "processor_version", "model", "prompt_id"), "text"),
        **dict.fromkeys(("content_hash", "text_clean", "language", "summary"), "text"),
        "noise_reason": "text",
        "is_ad": "bool",
        "is_noise": "bool",
        "keywords": "json",
        "entities": "json",
        "processed_at": "timestamp",
    }
    columns = list(row)
    values = [storage._encode(types.get(c, "int"), row[c]) for c in columns]
    marks = ", ".join([storage.placeholder] * len(columns))
    storage._execute(f"INSERT INTO documents ({', '.join(columns)}) VALUES ({marks})", values)


def build_archive(storage: Storage) -> None:
    storage.upsert_source(make_source(linked_chat_id=GROUP_ID))
    storage.upsert_source(
        make_source(PRIVATE_ID, username=None, title="Private notes", linked_chat_id=None)
    )
    posts = {
        1: "PostgreSQL replication, step by step",
        2: "Buy our course now, 50% off!",
        3: "ok",
        4: "PostgreSQL replication, step by step (repost)",
        5: "Never processed: vacuum tuning",
        6: "LLM-processed: connection pooling with pgbouncer",
        7: "Edited after processing: indexes",
    }
    storage.upsert_messages(
        [
            make_message(
                i,
                text=text,
                post_author="Jane" if i == 1 else None,
                reactions=[{"reaction": "👍", "count": 3}, {"reaction": "🔥", "count": 2}]
                if i == 1
                else None,
                replies=2 if i == 1 else 0,
            )
            for i, text in posts.items()
        ]
        + [
            make_message(
                i,
                GROUP_ID,
                kind="comment",
                text=f"comment {i} on replication",
                sender_name="Ann Lee",
                parent_chat_id=CHANNEL_ID,
                parent_message_id=1,
                date=BASE_DATE + timedelta(hours=i),
            )
            for i in (11, 10)
        ]
        + [
            make_message(1, PRIVATE_ID, text="Private diary about sqlite"),
            make_message(8, kind="service", text="", action="MessageActionPinMessage"),
        ]
    )
    put_document(storage, CHANNEL_ID, 1, keywords=["postgresql", "replication"])
    put_document(storage, CHANNEL_ID, 2, is_ad=True)
    put_document(storage, CHANNEL_ID, 3, is_noise=True, noise_reason="too short")
    put_document(storage, CHANNEL_ID, 4, duplicate_of_chat_id=CHANNEL_ID, duplicate_of_message_id=1)
    put_document(storage, CHANNEL_ID, 6)
    put_document(
        storage,
        CHANNEL_ID,
        6,
        processor="llm",
        processor_version="1.0",
        model="qwen2.5-7b-instruct",
        prompt_id="summarize-v2",
        summary="How to pool connections with pgbouncer.",
        language="en",
        entities=[{"value": "pgbouncer", "confidence": 0.9, "type": "software"}],
    )
    put_document(storage, CHANNEL_ID, 7)
    put_document(
        storage,
        CHANNEL_ID,
        7,
        processor="llm",
        model="old-model",
        prompt_id="p1",
        content_hash="made-from-an-older-text",
        summary="stale",
    )
    for message_id in (10, 11):
        put_document(storage, GROUP_ID, message_id)
    put_document(storage, PRIVATE_ID, 1, language="ru")


def put_topic(
    storage: Storage, topic_id: str, members: list[tuple[int, int, str, float]], **fields: Any
) -> None:
    """A topic with its members: (chat_id, message_id, role, score)."""
    from tgparser.storage.columns import TABLE_COLUMNS

    row: dict[str, Any] = {
        "id": topic_id,
        "space": f"chat:{CHANNEL_ID}",
        "type": "cluster",
        "status": "active",
        "title": "PostgreSQL replication",
        "summary": "Setting up and tuning streaming replication.",
        "scope_in": ["streaming replication", "failover"],
        "scope_out": ["MySQL"],
        "keywords": ["replication", "postgresql"],
        "tags": [],
        "related_topics": [],
        "anchors": [
            {"chat_id": c, "message_id": m} for c, m, role, _ in members if role == "anchor"
        ],
        "size": len(members),
        "first_date": BASE_DATE,
        "last_date": BASE_DATE + timedelta(hours=11),
        "centroid": {"replication": 0.7},
        "member_hash": "",
        "lineage": [],
        "builder_version": "topics-1",
        "model": "",
        "prompt_id": "",
        "created_at": BASE_DATE,
        "updated_at": BASE_DATE,
        **fields,
    }
    columns = [c for c in TABLE_COLUMNS["topics"] if c in row]
    marks = ", ".join([storage.placeholder] * len(columns))
    storage._execute(
        f"INSERT INTO topics ({', '.join(columns)}) VALUES ({marks})",
        storage._encode_row("topics", row, columns),
    )
    member_columns = list(TABLE_COLUMNS["topic_members"])
    marks = ", ".join([storage.placeholder] * len(member_columns))
    for chat_id, message_id, role, score in members:
        member = {
            "space": row["space"],
            "topic_id": topic_id,
            "chat_id": chat_id,
            "message_id": message_id,
            "role": role,
            "kind": "comment"
            if chat_id == GROUP_ID
            else "duplicate"
            if message_id == 4
            else "post",
            "score": score,
            "justification": f"shares {role} terms",
            "added_at": BASE_DATE,
        }
        storage._execute(
            f"INSERT INTO topic_members ({', '.join(member_columns)}) VALUES ({marks})",
            storage._encode_row("topic_members", member, member_columns),
        )


TOPIC_ID = f"{CHANNEL_ID}:1"


def build_topics(storage: Storage) -> None:
    put_topic(
        storage,
        TOPIC_ID,
        [
            (CHANNEL_ID, 1, "anchor", 0.93),
            (CHANNEL_ID, 4, "supporting", 1.0),
            (CHANNEL_ID, 7, "supporting", 0.41),
            (GROUP_ID, 10, "supporting", 0.62),
        ],
        related_topics=[f"{PRIVATE_ID}:1"],
    )
    put_topic(
        storage,
        f"{PRIVATE_ID}:1",
        [(PRIVATE_ID, 1, "anchor", 0.8)],
        space=f"chat:{PRIVATE_ID}",
        type="singleton",
        title="SQLite diary",
        summary="",
        scope_in=[],
        scope_out=[],
        model="qwen2.5-7b-instruct",
        prompt_id="topic-card-v1",
        lineage=[{"event": "created", "at": "2025-03-01T12:00:00+00:00"}],
    )
    put_topic(storage, "k9", [(CHANNEL_ID, 6, "anchor", 0.5)], status="merged", title="old")


@pytest.fixture
def archive(db_url: str) -> str:
    with open_storage(db_url) as storage:
        storage.migrate()
        build_archive(storage)
        build_topics(storage)
    return db_url


def run(db_url: str, *args: str, expect: int | None = 0) -> Result:
    result = CliRunner().invoke(main, ["--db", db_url, *args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    if expect is not None:
        assert result.exit_code == expect, (result.exit_code, result.stdout, result.stderr)
    return result


def listing(folder: Path) -> list[str]:
    """What a folder holds, the test's SQLite archive aside."""
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("archive.db"))


def read_entries(folder: Path) -> list[dict[str, Any]]:
    lines = (folder / "kb_entries.ndjson").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def messages_by_id(folder: Path) -> dict[str, dict[str, Any]]:
    return {e["id"]: e for e in read_entries(folder) if e["type"] == "message"}


def validate_folder(folder: Path) -> None:
    """Every file of the KB against its shipped schema."""
    validators = {
        name: jsonschema.Draft202012Validator(schema(file)) for name, file in SCHEMA_FILES.items()
    }
    for entry in read_entries(folder):
        validators["kb_entries.ndjson"].validate(entry)
    for name in ("topics.json", "manifest.json"):
        validators[name].validate(json.loads((folder / name).read_text()))
    for path in folder.glob("topic_*.json"):
        validators["topic_*.json"].validate(json.loads(path.read_text()))


# -- what it writes ----------------------------------------------------------------------------


def test_schemas_are_valid_and_shipped() -> None:
    for name in SCHEMA_FILES.values():
        jsonschema.Draft202012Validator.check_schema(schema(name))
    # a schema catches what it must: a message entry without a date is invalid
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(
            {"type": "message", "id": "tg:1:2"}, schema(SCHEMA_FILES["kb_entries.ndjson"])
        )


def test_message_entries_are_self_sufficient(archive: str, tmp_path: Path) -> None:
    out = tmp_path / "kb"
    result = run(archive, "export", "kb", "--out", str(out))
    assert result.stdout == ""
    assert f"to {out}" in result.stderr
    validate_folder(out)
    entries = messages_by_id(out)
    post = entries[f"tg:{CHANNEL_ID}:1"]
    assert post == {
        "type": "message",
        "id": f"tg:{CHANNEL_ID}:1",
        "chat_id": CHANNEL_ID,
        "message_id": 1,
        "source_chat_id": CHANNEL_ID,
        "source_username": "expert_channel",
        "source_title": "Expert channel",
        "kind": "post",
        "date": "2025-03-01T12:01:00.000000Z",
        "edit_date": None,
        "url": "https://t.me/expert_channel/1",
        "author": "Jane",
        "text_clean": "PostgreSQL replication, step by step",
        "summary": None,
        "language": "en",
        "keywords": ["postgresql", "replication"],
        "entities": None,
        "topic_ids": [TOPIC_ID],
        "views": 10,
        "forwards": None,
        "replies": 2,
        "reactions": 5,
        "post_id": None,
        "comment_ids": [f"tg:{GROUP_ID}:10", f"tg:{GROUP_ID}:11"],
        "comment_count": 2,
        "is_ad": False,
        "is_noise": False,
        "duplicate_of": None,
        "processed": True,
        "provenance": {
            "processor": "builtin",
            "processor_version": "1.0",
            "model": None,
            "prompt_id": None,
            "content_hash": hashlib.sha256(b"PostgreSQL replication, step by step").hexdigest(),
        },
    }
    comment = entries[f"tg:{GROUP_ID}:10"]
    assert comment["kind"] == "comment"
    assert comment["source_chat_id"] == CHANNEL_ID
    assert comment["source_username"] == "expert_channel"
    assert comment["post_id"] == f"tg:{CHANNEL_ID}:1"
    assert comment["url"] == "https://t.me/expert_channel/1?comment=10"
    assert comment["author"] == "Ann Lee"
    assert comment["comment_ids"] == []
    private = entries[f"tg:{PRIVATE_ID}:1"]
    assert private["url"] == "https://t.me/c/5555555555/1"
    assert private["source_username"] is None
    assert private["source_title"] == "Private notes"
    assert private["language"] == "ru"


def test_every_message_has_a_date_and_a_url_that_round_trips(archive: str, tmp_path: Path) -> None:
    run(archive, "export", "kb", "--out", str(tmp_path / "kb"))
    entries = list(messages_by_id(tmp_path / "kb").values())
    assert entries
    with open_storage(archive) as storage:
        usernames = {s["username"]: s["chat_id"] for s in storage.list_sources() if s["username"]}
        for entry in entries:
            assert datetime.fromisoformat(entry["date"].replace("Z", "+00:00")).tzinfo
            ref = parse_ref(entry["url"])
            chat = usernames[ref.username] if ref.username else ref.chat_id
            comment = parse_qs(urlsplit(entry["url"]).query).get("comment")
            if comment:  # t.me/<channel>/<post>?comment=<id>: the comment under its post
                stored = storage.get_message(entry["chat_id"], int(comment[0]))
                assert stored is not None
                assert (stored["parent_chat_id"], stored["parent_message_id"]) == (
                    chat,
                    ref.post_id,
                )
            else:
                stored = storage.get_message(chat, ref.post_id)
                assert stored is not None
            assert (stored["chat_id"], stored["message_id"]) == (
                entry["chat_id"],
                entry["message_id"],
            )
            stored_date = stored["date"].astimezone(UTC).isoformat(timespec="microseconds")
            assert entry["date"] == stored_date.replace("+00:00", "Z")


def test_ads_noise_and_service_left_out_unless_asked(archive: str, tmp_path: Path) -> None:
    run(archive, "export", "kb", "--out", str(tmp_path / "kb"))
    entries = messages_by_id(tmp_path / "kb")
    assert f"tg:{CHANNEL_ID}:2" not in entries  # the ad
    assert f"tg:{CHANNEL_ID}:3" not in entries  # noise
    assert f"tg:{CHANNEL_ID}:8" not in entries  # service message
    assert entries[f"tg:{CHANNEL_ID}:4"]["duplicate_of"] == f"tg:{CHANNEL_ID}:1"
    manifest = json.loads((tmp_path / "kb" / "manifest.json").read_text())
    assert manifest["counts"]["ads_left_out"] == 1
    assert manifest["counts"]["noise_left_out"] == 1

    run(archive, "export", "kb", "--out", str(tmp_path / "all"), "--with-ads", "--with-noise")
    entries = messages_by_id(tmp_path / "all")
    assert entries[f"tg:{CHANNEL_ID}:2"]["is_ad"] is True
    assert entries[f"tg:{CHANNEL_ID}:3"]["is_noise"] is True
    assert f"tg:{CHANNEL_ID}:8" not in entries


def test_current_document_and_provenance(archive: str, tmp_path: Path) -> None:
    result = run(archive, "export", "kb", "--out", str(tmp_path / "kb"))
    entries = messages_by_id(tmp_path / "kb")
    llm = entries[f"tg:{CHANNEL_ID}:6"]
    assert llm["provenance"]["processor"] == "llm"
    assert llm["provenance"]["model"] == "qwen2.5-7b-instruct"
    assert llm["provenance"]["prompt_id"] == "summarize-v2"
    assert llm["summary"] == "How to pool connections with pgbouncer."
    assert llm["entities"] == [{"type": "software", "value": "pgbouncer", "confidence": 0.9}]
    # an LLM document of an older text is not the current one: the builtin one is
    stale = entries[f"tg:{CHANNEL_ID}:7"]
    assert stale["provenance"]["processor"] == "builtin"
    assert stale["summary"] is None
    raw = entries[f"tg:{CHANNEL_ID}:5"]
    assert raw["processed"] is False
    assert raw["text_clean"] == "Never processed: vacuum tuning"
    assert raw["provenance"]["processor"] is None
    assert "Warning: 1 messages are not processed" in result.stderr
    manifest = json.loads((tmp_path / "kb" / "manifest.json").read_text())
    assert manifest["counts"]["unprocessed"] == 1
    producers = {
        (p["processor"], p["model"], p["prompt_id"])
        for p in manifest["producers"]
        if p["what"] == "documents"
    }
    assert producers == {("builtin", None, None), ("llm", "qwen2.5-7b-instruct", "summarize-v2")}

    failed = run(
        archive, "export", "kb", "--out", str(tmp_path / "strict"), "--require-processed", expect=1
    )
    assert "1 selected messages are not processed" in failed.stderr
    assert not (tmp_path / "strict").exists()


def test_filters_refs_dates_and_comments(archive: str, tmp_path: Path) -> None:
    run(archive, "export", "kb", "--out", str(tmp_path / "a"), str(PRIVATE_ID))
    assert list(messages_by_id(tmp_path / "a")) == [f"tg:{PRIVATE_ID}:1"]
    run(archive, "export", "kb", "--out", str(tmp_path / "b"), "@expert_channel", "--no-comments")
    kinds = {e["kind"] for e in messages_by_id(tmp_path / "b").values()}
    assert kinds == {"post"}
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert manifest["filters"]["sources"] == [CHANNEL_ID]
    assert manifest["filters"]["with_comments"] is False
    run(archive, "export", "kb", "--out", str(tmp_path / "c"), "--since", "2025-03-01T20:00")
    assert set(messages_by_id(tmp_path / "c")) == {f"tg:{GROUP_ID}:10", f"tg:{GROUP_ID}:11"}


def test_manifest_hashes_and_counts_match_the_files(archive: str, tmp_path: Path) -> None:
    out = tmp_path / "kb"
    result = run(archive, "--json", "export", "kb", "--out", str(out))
    summary = json.loads(result.stdout)
    manifest = json.loads((out / "manifest.json").read_text())
    assert summary["counts"] == manifest["counts"]
    assert manifest["format"] == "tgparser-kb"
    written = sorted(p.name for p in out.iterdir() if p.name != "manifest.json")
    assert sorted(manifest["files"]) == written
    for name, info in manifest["files"].items():
        data = (out / name).read_bytes()
        assert info["sha256"] == hashlib.sha256(data).hexdigest()
        assert info["bytes"] == len(data)
    lines = (out / "kb_entries.ndjson").read_text().splitlines()
    assert manifest["files"]["kb_entries.ndjson"]["records"] == len(lines)
    assert manifest["counts"]["entries"] == len(lines)
    by_source = {s["chat_id"]: s for s in manifest["sources"]}
    assert by_source[CHANNEL_ID]["comments"] == 2
    assert by_source[CHANNEL_ID]["posts"] == 5  # 1, 4, 5, 6, 7: not the ad, not noise
    assert by_source[PRIVATE_ID]["posts"] == 1


def test_topics_resolve_every_member(archive: str, tmp_path: Path) -> None:
    out = tmp_path / "kb"
    run(archive, "export", "kb", "--out", str(out))
    validate_folder(out)
    index = json.loads((out / "topics.json").read_text())["topics"]
    assert [t["id"] for t in index] == [TOPIC_ID, f"{PRIVATE_ID}:1"]  # biggest first; no merged
    assert index[0] == {
        "id": TOPIC_ID,
        "file": f"topic_{CHANNEL_ID}_1.json",
        "title": "PostgreSQL replication",
        "type": "cluster",
        "status": "active",
        "size": 4,
        "first_date": "2025-03-01T12:00:00.000000Z",
        "last_date": "2025-03-01T23:00:00.000000Z",
        "keywords": ["replication", "postgresql"],
    }
    topic = json.loads((out / index[0]["file"]).read_text())
    with open_storage(archive) as storage:
        members = storage._query(
            f"SELECT chat_id, message_id FROM topic_members WHERE topic_id = {storage.placeholder}",
            (TOPIC_ID,),
        )
        assert sorted((i["chat_id"], i["message_id"]) for i in topic["bundle"]) == sorted(members)
        for item in topic["bundle"]:
            message = storage.get_message(item["chat_id"], item["message_id"])
            assert message is not None
            assert item["id"] == f"tg:{item['chat_id']}:{item['message_id']}"
            assert item["date"].startswith(message["date"].strftime("%Y-%m-%dT%H:%M"))
            assert item["url"].startswith("https://t.me/expert_channel/")
            assert item["excerpt"]
            assert item["justification"]
    first = topic["bundle"][0]
    assert (first["role"], first["score"], first["kind"]) == ("anchor", 0.93, "post")
    assert first["excerpt"] == "PostgreSQL replication, step by step"
    assert [i["score"] for i in topic["bundle"][1:]] == [1.0, 0.62, 0.41]
    comment = next(i for i in topic["bundle"] if i["kind"] == "comment")
    assert comment["url"] == "https://t.me/expert_channel/1?comment=10"
    card = topic["card"]
    assert card["anchors"] == [
        {k: first[k] for k in ("id", "chat_id", "message_id", "date", "url", "excerpt")}
    ]
    assert card["sources"] == [
        {"chat_id": CHANNEL_ID, "message_id": 1, "url": "https://t.me/expert_channel/1"}
    ]
    assert card["source_chats"] == [
        {
            "chat_id": CHANNEL_ID,
            "username": "expert_channel",
            "title": "Expert channel",
            "url": "https://t.me/expert_channel",
            "items": 4,
        }
    ]
    assert card["related_topic_ids"] == [f"{PRIVATE_ID}:1"]
    # the topic's entry carries the same card and a text to embed
    entries = {e["id"]: e for e in read_entries(out) if e["type"] == "topic"}
    entry = entries[f"topic:{TOPIC_ID}"]
    assert entry["card"] == card
    assert entry["file"] == index[0]["file"]
    assert entry["text"] == (
        "PostgreSQL replication\n\nSetting up and tuning streaming replication.\n\n"
        "In scope: streaming replication; failover\n\nOut of scope: MySQL"
    )
    private = entries[f"topic:{PRIVATE_ID}:1"]["card"]
    assert private["anchors"][0]["url"] == "https://t.me/c/5555555555/1"
    assert private["source_chats"][0]["url"] == "https://t.me/c/5555555555"
    assert private["lineage"] == [{"at": "2025-03-01T12:00:00+00:00", "event": "created"}]
    # messages name their topics
    messages = messages_by_id(out)
    assert messages[f"tg:{CHANNEL_ID}:1"]["topic_ids"] == [TOPIC_ID]
    assert messages[f"tg:{GROUP_ID}:10"]["topic_ids"] == [TOPIC_ID]
    assert messages[f"tg:{CHANNEL_ID}:6"]["topic_ids"] == []  # its topic was merged away
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"]["topics"] == 2
    assert manifest["files"][index[0]["file"]]["records"] == 4
    topic_producers = [p for p in manifest["producers"] if p["what"] == "topics"]
    assert [(p["model"], p["entries"]) for p in topic_producers] == [
        (None, 1),
        ("qwen2.5-7b-instruct", 1),
    ]
    # a KB of one chat holds only the topics with members in it
    run(archive, "export", "kb", "--out", str(tmp_path / "private"), str(PRIVATE_ID))
    index = json.loads((tmp_path / "private" / "topics.json").read_text())["topics"]
    assert [t["id"] for t in index] == [f"{PRIVATE_ID}:1"]


def test_topic_card_schema_is_the_same_in_both_files() -> None:
    entry_card = schema(SCHEMA_FILES["kb_entries.ndjson"])["$defs"]["card"]
    assert entry_card == schema(SCHEMA_FILES["topic_*.json"])["$defs"]["card"]


def test_topic_file_names_are_safe() -> None:
    assert topic_file_name("-1001234567890:42") == "topic_-1001234567890_42.json"
    assert topic_file_name("k1") == "topic_k1.json"
    assert topic_file_name("../x y") == "topic____x_y.json"


# -- how it behaves ------------------------------------------------------------------------------


def test_rerun_replaces_the_kb_whole(archive: str, tmp_path: Path) -> None:
    out = tmp_path / "kb"
    run(archive, "export", "kb", "--out", str(out))
    (out / "topic_stale.json").write_text("{}")
    run(archive, "export", "kb", "--out", str(out), str(PRIVATE_ID))
    assert not (out / "topic_stale.json").exists()
    assert list(messages_by_id(out)) == [f"tg:{PRIVATE_ID}:1"]
    assert listing(tmp_path) == ["kb"]  # nothing left beside it


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("@nosuchchannel",), "@nosuchchannel: not a followed chat"),
        (("--since", "soon"), "'soon' is not a date"),
        (("--since", "2025-03-05", "--until", "2025-03-01"), "--until must be after --since"),
        (("--since", "2030-01-01"), "no messages match"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(
    archive: str, tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    out = tmp_path / "kb"
    result = run(archive, "export", "kb", "--out", str(out), *args, expect=None)
    assert result.exit_code != 0
    assert message in result.stderr
    assert len([line for line in result.stderr.splitlines() if "Error" in line]) == 1
    assert "Traceback" not in result.stderr
    assert listing(tmp_path) == []


def test_refuses_a_folder_that_is_not_a_kb(archive: str, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "notes.txt").write_text("mine")
    result = run(archive, "export", "kb", "--out", str(home), expect=1)
    assert "is not a tgparser knowledge base" in result.stderr
    assert (home / "notes.txt").read_text() == "mine"
    assert listing(tmp_path) == ["home"]
    # a file, a missing parent, an unwritable parent
    (tmp_path / "file").write_text("x")
    assert (
        "not a folder"
        in run(archive, "export", "kb", "--out", str(tmp_path / "file"), expect=1).stderr
    )
    missing = run(archive, "export", "kb", "--out", str(tmp_path / "no" / "kb"), expect=1)
    assert "does not exist" in missing.stderr
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        assert (
            "cannot write"
            in run(archive, "export", "kb", "--out", str(locked / "kb"), expect=1).stderr
        )
    # an empty folder is fine
    empty = tmp_path / "empty"
    empty.mkdir()
    run(archive, "export", "kb", "--out", str(empty))
    assert (empty / "manifest.json").exists()


def test_empty_archive_is_an_error(db_url: str, tmp_path: Path) -> None:
    with open_storage(db_url) as storage:
        storage.migrate()
    result = run(db_url, "export", "kb", "--out", str(tmp_path / "kb"), expect=1)
    assert "the archive holds no messages" in result.stderr
    assert not (tmp_path / "kb").exists()


def test_a_missing_archive_is_not_created(tmp_path: Path) -> None:
    missing = tmp_path / "none.db"
    result = run(str(missing), "export", "kb", "--out", str(tmp_path / "kb"), expect=1)
    assert "no archive at" in result.stderr
    assert listing(tmp_path) == []


def _export_process(db_url: str, out: Path, pause: Path | None) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TGPARSER_")}
    if pause is not None:
        env[PAUSE_ENV] = str(pause)
    return subprocess.Popen(
        [sys.executable, "-m", "tgparser", "--db", db_url, "export", "kb", "--out", str(out)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def test_kill_9_mid_write_leaves_the_previous_kb(archive: str, tmp_path: Path) -> None:
    out = tmp_path / "kb"
    run(archive, "export", "kb", "--out", str(out), str(PRIVATE_ID))
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    pause = tmp_path / "paused"
    process = _export_process(archive, out, pause)
    try:
        deadline = time.monotonic() + 60
        while not pause.exists():
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the export never reached its pause"
            time.sleep(0.05)
        half = [p for p in tmp_path.iterdir() if p.name.startswith(".kb.tmp-")]
        assert len(half) == 1 and (half[0] / "kb_entries.ndjson").stat().st_size > 0
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # untouched
    # the next run cleans up the half-written folder and replaces the KB
    again = _export_process(archive, out, None)
    _, stderr = again.communicate(timeout=120)
    assert again.returncode == 0, stderr
    assert listing(tmp_path) == ["kb", "paused"]
    assert f"tg:{CHANNEL_ID}:1" in messages_by_id(out)


def test_two_exports_at_once_one_waits_its_turn(archive: str, tmp_path: Path) -> None:
    out = tmp_path / "kb"
    pause = tmp_path / "paused"
    process = _export_process(archive, out, pause)
    try:
        deadline = time.monotonic() + 60
        while not pause.exists():
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the export never reached its pause"
            time.sleep(0.05)
        second = run(archive, "export", "kb", "--out", str(out), expect=75)
        assert "another `tgparser export kb` is writing" in second.stderr
    finally:
        process.kill()
        process.wait()
    assert not out.exists()


def test_a_full_disk_is_one_line_and_keeps_the_previous_kb(
    archive: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    from tgparser import kb

    out = tmp_path / "kb"
    run(archive, "export", "kb", "--out", str(out), str(PRIVATE_ID))
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def full(self: kb.HashedFile, text: str) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(kb.HashedFile, "write", full)
    result = run(archive, "export", "kb", "--out", str(out), expect=1)
    assert (
        result.stderr == f"Error: cannot write the knowledge base {out}: No space left on device\n"
    )
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert listing(tmp_path) == ["kb"]


def test_a_killed_swap_is_recovered(archive: str, tmp_path: Path) -> None:
    """Killed between "old aside" and "new in": the next run puts the old KB back first."""
    out = tmp_path / "kb"
    run(archive, "export", "kb", "--out", str(out), str(PRIVATE_ID))
    out.rename(tmp_path / ".kb.old-abc123")
    (tmp_path / ".kb.tmp-def456").mkdir()
    run(archive, "export", "kb", "--out", str(out), "--since", "2030-01-01", expect=1)
    assert list(messages_by_id(out)) == [f"tg:{PRIVATE_ID}:1"]  # back in place
    assert listing(tmp_path) == ["kb"]


def test_sqlite_and_postgresql_give_identical_files(
    sqlite_url: str, pg_url: str, tmp_path: Path
) -> None:
    folders = []
    for name, url in (("sqlite", sqlite_url), ("postgresql", pg_url)):
        with open_storage(url) as storage:
            storage.migrate()
            build_archive(storage)
            build_topics(storage)
        out = tmp_path / name
        run(url, "export", "kb", "--out", str(out), "--with-ads")
        folders.append(out)
    first, second = folders
    assert sorted(p.name for p in first.iterdir()) == sorted(p.name for p in second.iterdir())
    for path in first.iterdir():
        a, b = path.read_bytes(), (second / path.name).read_bytes()
        if path.name == "manifest.json":
            a_json, b_json = json.loads(a), json.loads(b)
            assert a_json.pop("created_at") and b_json.pop("created_at")
            assert a_json == b_json
        else:
            assert a == b, path.name
