"""Topic storage for speed: packed centroids (migration 0008), the daily build's early exit
when nothing changed, and `db copy` / `db verify` of a topics archive."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tests.factories import CHANNEL_ID
from tests.topics_helpers import add_posts, assignment, fixture_archive
from tgparser.cli import main
from tgparser.storage import Storage, open_storage
from tgparser.storage.topics import pack_weights, unpack_weights
from tgparser.topics.build import build

SPACE = f"chat:{CHANNEL_ID}"
BOEING = [
    (1, "Boeing machinists in Seattle voted to strike after rejecting a 25% pay offer."),
    (2, "Boeing machinists strike in Seattle: 33,000 walk off, 737 MAX output halted."),
    (3, "Seattle Boeing strike enters second week as machinists hold out for pensions."),
]
# floats that a short decimal does not hold, tiny and exact ones, terms in several scripts
AWKWARD = {
    "boeing": 0.1 + 0.2,
    "жк": 1e-05,
    "2024": 1 / 3,
    "c++": 0.5,
    "o'brien": 2.220446049250313e-16,
    "3.3": 0.30000000000000004,
    "strike": 1.0,
}


def test_packed_weights_read_back_exactly_in_their_order() -> None:
    text = pack_weights(AWKWARD)
    assert text.count("\n") == 1
    back = unpack_weights(text)
    assert list(back.items()) == list(AWKWARD.items())
    assert pack_weights({}) == "" and unpack_weights("") == {}
    assert pack_weights(text) == text  # packed text (a copy between backends) passes through
    for bad in ({"two words": 0.5}, {"": 0.5}, {"line\nbreak": 0.1}):
        with pytest.raises(ValueError, match="whitespace"):
            pack_weights(bad)


def _insert_json_topic(storage: Storage, topic_id: str, centroid_json: str) -> None:
    """A topics row as migration 0007 stores it (centroid as JSON text / jsonb)."""
    p = storage.placeholder
    cast = "::jsonb" if storage.dialect == "postgresql" else ""
    stamp = "2024-03-01T12:00:00.000000Z" if storage.dialect == "sqlite" else "2024-03-01 12:00Z"
    storage._execute(
        "INSERT INTO topics (id, space, type, centroid, created_at, updated_at) "
        f"VALUES ({p}, 'chat:1', 'cluster', {p}{cast}, {p}, {p})",
        (topic_id, centroid_json, stamp, stamp),
    )


def test_migration_0008_converts_stored_centroids_losslessly(db_url: str) -> None:
    with open_storage(db_url) as storage:
        storage.migrate(up_to=7)
        _insert_json_topic(storage, "1:1", json.dumps(AWKWARD, ensure_ascii=False))
        _insert_json_topic(storage, "1:2", "{}")
        _insert_json_topic(storage, "1:3", '{"one": 1, "half": 0.5}')  # an integer weight
        [applied] = storage.migrate(up_to=8)  # 0008 alone (0009 is not about topics)
        assert applied.version == 8
        first = storage.get_topic("1:1")
        assert first is not None
        assert first["centroid"] == AWKWARD
        for term, weight in AWKWARD.items():  # the same floats, bit for bit
            assert first["centroid"][term].hex() == weight.hex()
        if storage.dialect == "sqlite":  # JSON text keeps its order; jsonb has its own
            assert list(first["centroid"]) == list(AWKWARD)
        assert storage.get_topic("1:2")["centroid"] == {}  # type: ignore[index]
        assert storage.get_topic("1:3")["centroid"] == {"one": 1.0, "half": 0.5}  # type: ignore[index]
        # the stored text is the packed form, the same as a build writes
        [(stored,)] = storage._query("SELECT centroid FROM topics WHERE id = '1:3'")
        assert unpack_weights(stored) == {"one": 1.0, "half": 0.5}
        assert pack_weights(unpack_weights(stored)).split("\n")[0] == stored.split("\n")[0]


def test_a_build_after_the_migration_keeps_ids_and_members(db_url: str) -> None:
    """An archive built before 0008 (centroids converted) places a new post as one built
    after it would: the centroids read back are the ones written."""
    with open_storage(db_url) as storage:
        storage.migrate()
        fixture_archive(storage)
        build(storage, [CHANNEL_ID])
        before = {t["id"]: t["centroid"] for t in storage.list_topics(spaces=[SPACE])}
        placed = assignment(storage, SPACE)
        add_posts(storage, [(900, BOEING[0][1] + " Talks resume on Monday.")])
        [report] = build(storage, [CHANNEL_ID])
        assert report.assigned == 1
        after = assignment(storage, SPACE)
        assert {k: v for k, v in after.items() if k != (CHANNEL_ID, 900)} == placed
        unchanged = {t["id"]: t["centroid"] for t in storage.list_topics(spaces=[SPACE])}
        grown = after[(CHANNEL_ID, 900)]
        assert {k: v for k, v in unchanged.items() if k != grown} == {
            k: v for k, v in before.items() if k != grown
        }


def _spy(storage: Storage, monkeypatch: pytest.MonkeyPatch, names: list[str]) -> list[str]:
    calls: list[str] = []
    for name in names:
        method = getattr(storage, name)

        def spy(*args: Any, _name: str = name, _method: Any = method, **kwargs: Any) -> Any:
            calls.append(_name)
            return _method(*args, **kwargs)

        monkeypatch.setattr(storage, name, spy)
    return calls


READS_AND_WRITES = [
    "topic_candidates",
    "topic_heads",
    "topic_space_doc_freq",
    "space_member_keys",
    "save_topic_space",
    "document_texts",
]


def test_nothing_new_stops_before_reading_centroids_or_writing(
    storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    fixture_archive(storage)
    [first] = build(storage, [CHANNEL_ID])
    rows = storage.list_topics(spaces=[SPACE])
    members = storage.space_members(SPACE)
    space = storage.get_topic_space(SPACE)
    calls = _spy(storage, monkeypatch, READS_AND_WRITES)
    [again] = build(storage, [CHANNEL_ID])
    assert calls == []
    assert (again.posts, again.topics) == (first.posts, first.topics)
    assert again.assigned == again.new_topics == again.grown_topics == 0
    assert storage.list_topics(spaces=[SPACE]) == rows
    assert storage.space_members(SPACE) == members
    assert storage.get_topic_space(SPACE) == space


def test_a_new_post_or_changed_parameters_still_build(
    storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tgparser.topics.cluster import Params

    add_posts(storage, BOEING)
    build(storage, [CHANNEL_ID])
    calls = _spy(storage, monkeypatch, ["save_topic_space"])
    add_posts(storage, [(900, BOEING[0][1] + " Talks resume on Monday.")])
    [report] = build(storage, [CHANNEL_ID])
    assert report.assigned == 1 and calls == ["save_topic_space"]
    build(storage, [CHANNEL_ID])  # nothing new again
    assert calls == ["save_topic_space"]
    build(storage, [CHANNEL_ID], params=Params(assign_min=Params().assign_min + 0.01))
    assert calls == ["save_topic_space"] * 2


def test_a_post_that_left_is_noticed(storage: Storage) -> None:
    """A post deleted from the archive changes the candidates' count: not 'nothing new'."""
    add_posts(storage, BOEING)
    build(storage, [CHANNEL_ID])
    message_id = BOEING[-1][0]
    storage._execute(
        f"DELETE FROM documents WHERE chat_id = {storage.placeholder} AND message_id = "
        f"{storage.placeholder}",
        (CHANNEL_ID, message_id),
    )
    build(storage, [CHANNEL_ID])
    assert (CHANNEL_ID, message_id) not in assignment(storage, SPACE)


def _run(*args: str) -> Any:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_db_copy_of_a_topics_archive_verifies_both_ways(
    sqlite_url: str, pg_url: str, tmp_path: Path
) -> None:
    with open_storage(sqlite_url) as storage:
        storage.migrate()
        fixture_archive(storage)
        build(storage, [CHANNEL_ID])
        topics = storage.list_topics(spaces=[SPACE])
    assert any(len(t["centroid"]) > 10 for t in topics)
    there = _run("--db", sqlite_url, "db", "copy", "--to", pg_url, "--verify", "--json")
    assert there.exit_code == 0, there.stderr
    assert json.loads(there.stdout)["ok"] is True
    back_url = f"sqlite:///{tmp_path / 'back.db'}"
    back = _run("--db", pg_url, "db", "copy", "--to", back_url, "--verify", "--json")
    assert back.exit_code == 0, back.stderr
    assert json.loads(back.stdout)["ok"] is True
    for url in (pg_url, back_url):
        with open_storage(url) as copy:
            assert copy.list_topics(spaces=[SPACE]) == topics
    verify = _run("--db", sqlite_url, "db", "verify", "--against", back_url, "--json")
    assert verify.exit_code == 0, verify.stderr
