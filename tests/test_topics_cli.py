"""`tgparser topics …` as a user runs it, on both backends."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner, Result

from tests.factories import CHANNEL_ID
from tests.topics_helpers import add_posts, assignment, fixture_archive
from tgparser.cli import main
from tgparser.storage import open_storage
from tgparser.storage.base import utcnow
from tgparser.topics.build import build

OTHER = -1002222222222
PIPELINE = [
    (1, "Gazprom halts Nord Stream gas flows for ten days citing Siemens turbine maintenance."),
    (2, "Nord Stream stopped: Gazprom announces Siemens turbine repairs, flows halted 10 days."),
    (3, "Germany calls the Nord Stream turbine repairs political; Siemens says it is ready."),
    (4, "Gazprom: Nord Stream turbine from Siemens still not returned, flows stay halted."),
]
QUAKE = [
    (11, "A magnitude 6.1 earthquake struck eastern Turkey near Malatya, damaging buildings."),
    (12, "Malatya earthquake: rescuers pulled 14 people from collapsed buildings overnight."),
    (13, "Aftershocks keep shaking Malatya after Tuesday's magnitude 6.1 earthquake in Turkey."),
]


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_build_list_show_json(db_url: str) -> None:
    with open_storage(db_url) as storage:
        storage.migrate()
        add_posts(storage, PIPELINE + QUAKE)
    result = run("--db", db_url, "topics", "build", "--json")
    assert result.exit_code == 0, result.stderr
    [report] = json.loads(result.stdout)
    assert report["space"] == f"chat:{CHANNEL_ID}" and report["topics"] == 2
    listed = json.loads(run("--db", db_url, "topics", "list", "--json").stdout)
    assert [t["size"] for t in listed] == [4, 3]
    pipeline = listed[0]
    assert pipeline["type"] == "cluster" and pipeline["status"] == "active"
    assert "nord" in " ".join(pipeline["keywords"]).lower()
    assert pipeline["provenance"] == {"builder": "builtin-3", "model": None, "prompt_id": None}
    shown = json.loads(run("--db", db_url, "topics", "show", pipeline["id"], "--json").stdout)
    assert shown["sources"][0]["url"].startswith("https://t.me/expert_channel/")
    roles = [i["role"] for i in shown["items"]]
    assert roles == ["anchor"] * 3 + ["supporting"]
    assert all(0 < i["score"] <= 1 and "cosine" in i["justification"] for i in shown["items"])
    limited = json.loads(
        run("--db", db_url, "topics", "show", pipeline["id"], "--limit", "2", "--json").stdout
    )
    assert len(limited["items"]) == 2
    table = run("--db", db_url, "topics", "list")
    assert pipeline["id"] in table.stdout and "cluster" in table.stdout
    shown_text = run("--db", db_url, "topics", "show", pipeline["id"])
    assert "anchor" in shown_text.stdout and "cosine" in shown_text.stdout


def test_known_topic_takes_the_posts_that_fit_with_scores(db_url: str) -> None:
    with open_storage(db_url) as storage:
        storage.migrate()
        add_posts(storage, PIPELINE + QUAKE)
    added = run(
        "--db", db_url, "topics", "add", "Earthquakes", "--keywords", "earthquake,aftershocks",
        "--description", "Earthquakes and their aftermath", "--json",
    )  # fmt: skip
    assert added.exit_code == 0, added.stderr
    assert json.loads(added.stdout)["id"] == "k1"
    assert run("--db", db_url, "topics", "build").exit_code == 0
    known = json.loads(run("--db", db_url, "topics", "show", "k1", "--json").stdout)
    assert known["type"] == "known" and known["title"] == "Earthquakes"
    assert sorted(i["message_id"] for i in known["items"]) == [11, 12, 13]
    assert all(i["score"] > 0.15 for i in known["items"])
    # the rest go to discovered topics; the known topic's posts do not found one
    listed = json.loads(run("--db", db_url, "topics", "list", "--json").stdout)
    discovered = [t for t in listed if t["type"] != "known"]
    assert [t["size"] for t in discovered] == [4]
    # a known topic added later makes the next build look at every post again
    run("--db", db_url, "topics", "add", "Gas", "--keywords", "gazprom,nord stream,turbine")
    assert run("--db", db_url, "topics", "build").exit_code == 0
    gas = json.loads(run("--db", db_url, "topics", "show", "k2", "--json").stdout)
    assert sorted(i["message_id"] for i in gas["items"]) == [1, 2, 3, 4]
    assert run("--db", db_url, "topics", "retire", "k1").exit_code == 0
    statuses = {t["id"]: t["status"] for t in json.loads(
        run("--db", db_url, "topics", "list", "--status", "all", "--json").stdout
    )}  # fmt: skip
    assert statuses["k1"] == "retired"


def test_all_sources_joins_the_same_story_from_two_channels(db_url: str) -> None:
    with open_storage(db_url) as storage:
        storage.migrate()
        add_posts(storage, PIPELINE[:2] + QUAKE[:2])
        add_posts(storage, PIPELINE[2:] + QUAKE[2:], chat_id=OTHER, username="other_channel")
    assert run("--db", db_url, "topics", "build", "--all-sources").exit_code == 0
    with open_storage(db_url) as storage:
        placed = assignment(storage, "all")
        pipeline = {placed[(CHANNEL_ID, 1)], placed[(CHANNEL_ID, 2)], placed[(OTHER, 3)]}
        assert len(pipeline) == 1 and pipeline.pop().startswith("all:")
        assert placed[(CHANNEL_ID, 11)] == placed[(OTHER, 13)] != placed[(OTHER, 3)]
    # per chat (the default) the spaces stay apart
    assert run("--db", db_url, "topics", "build").exit_code == 0
    with open_storage(db_url) as storage:
        spaces = {s["space"] for s in storage.list_topic_spaces()}
        assert spaces == {"all", f"chat:{CHANNEL_ID}", f"chat:{OTHER}"}


def test_a_rebuild_keeps_ids_and_records_a_merge(db_url: str) -> None:
    with open_storage(db_url) as storage:
        storage.migrate()
        add_posts(storage, PIPELINE + QUAKE)
        build(storage, [CHANNEL_ID])
        space = f"chat:{CHANNEL_ID}"
        placed = assignment(storage, space)
        pipeline_id = placed[(CHANNEL_ID, 1)]
        # a split the story did not deserve: posts 3 and 4 in a topic of their own
        row = dict(storage.get_topic(pipeline_id))
        row.update(id=f"{CHANNEL_ID}:3", size=2, created_at=utcnow())
        members = [m for m in storage.topic_members(pipeline_id) if m["message_id"] in (3, 4)]
        storage.save_topic_space(
            storage.get_topic_space(space),
            [row],
            [{**m, "topic_id": row["id"]} for m in members],
            [(space, pipeline_id, m["chat_id"], m["message_id"]) for m in members],
        )
        assert len({assignment(storage, space)[(CHANNEL_ID, i)] for i in (1, 2, 3, 4)}) == 2
        [report] = build(storage, [CHANNEL_ID], rebuild=True)
        assert report.merged == 1 and report.new_topics == 0
        after = assignment(storage, space)
        survivor = after[(CHANNEL_ID, 1)]
        assert {after[(CHANNEL_ID, i)] for i in (1, 2, 3, 4)} == {survivor}
        assert after[(CHANNEL_ID, 11)] == placed[(CHANNEL_ID, 11)]
        loser = ({pipeline_id, row["id"]} - {survivor}).pop()
        merged = storage.get_topic(loser)
        assert merged["status"] == "merged" and merged["merged_into"] == survivor
        assert merged["lineage"][-1]["event"] == "merged_into"


def test_bad_input_is_one_line(db_url: str) -> None:
    with open_storage(db_url) as storage:
        storage.migrate()  # an empty archive
    empty = run("--db", db_url, "topics", "build")
    assert empty.exit_code == 1 and "no sources" in empty.stderr
    assert len(empty.stderr.strip().splitlines()) == 1
    with open_storage(db_url) as storage:
        fixture_archive(storage)
        storage.upsert_source({"chat_id": OTHER, "username": "nodocs", "type": "channel"})
    unknown_ref = run("--db", db_url, "topics", "build", "@nobody_here")
    assert unknown_ref.exit_code == 1 and "not a followed chat" in unknown_ref.stderr
    for args in (("show", "1:999"), ("retire", "nope")):
        result = run("--db", db_url, "topics", *args)
        assert result.exit_code == 1 and "no such topic" in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    missing_title = run("--db", db_url, "topics", "add", " ")
    assert missing_title.exit_code == 2 and "title" in missing_title.stderr
    nothing = run("--db", db_url, "topics", "list")
    assert nothing.exit_code == 0 and "no topics" in nothing.stderr


def test_exports_and_search_know_topics(db_url: str) -> None:
    with open_storage(db_url) as storage:
        storage.migrate()
        add_posts(storage, PIPELINE + QUAKE)
        build(storage, [CHANNEL_ID])
        quake = assignment(storage, f"chat:{CHANNEL_ID}")[(CHANNEL_ID, 11)]
    docs = [
        json.loads(line) for line in run("--db", db_url, "export", "documents").stdout.splitlines()
    ]
    by_id = {d["message_id"]: d["topic_ids"] for d in docs}
    assert by_id[11] == by_id[12] == by_id[13] == [quake]
    assert len(by_id[1]) == 1 and by_id[1] != [quake]
    exported = run("--db", db_url, "export", "messages", "--topic", quake)
    assert exported.exit_code == 0, exported.stderr
    assert sorted(json.loads(line)["message_id"] for line in exported.stdout.splitlines()) == [
        11, 12, 13
    ]  # fmt: skip
    found = run("--db", db_url, "search", "Malatya", "--topic", quake, "--json")
    assert found.exit_code == 0, found.stderr
    assert {h["message_id"] for h in json.loads(found.stdout)} == {11, 12, 13}
    other = run("--db", db_url, "search", "Malatya", "--topic", by_id[1][0], "--json")
    assert json.loads(other.stdout or "[]") == []
    bad = run("--db", db_url, "export", "messages", "--topic", "nope")
    assert bad.exit_code == 1 and "no such topic" in bad.stderr


def test_db_copy_carries_topics_with_their_ids(db_url: str, tmp_path: Path) -> None:
    source = f"sqlite:///{tmp_path / 'source.db'}"
    with open_storage(source) as storage:
        storage.migrate()
        add_posts(storage, PIPELINE + QUAKE)
        build(storage, [CHANNEL_ID])
        run("--db", source, "topics", "add", "Quakes", "--keywords", "earthquake")
    result = run("--db", source, "db", "copy", "--to", db_url, "--verify", "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    copied = {t["table"]: t["target_rows"] for t in report["tables"]}
    assert copied["topics"] == 2 and copied["topic_members"] == 7 and copied["known_topics"] == 1
    assert all(t["ok"] for t in report["verify"])
    with open_storage(source) as a, open_storage(db_url) as b:
        assert b.list_topics() == a.list_topics()
        assert b.get_topic_space(f"chat:{CHANNEL_ID}") == a.get_topic_space(f"chat:{CHANNEL_ID}")
