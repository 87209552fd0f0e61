"""`topics build --llm` against the fake OpenAI-compatible server, on both backends."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from click.testing import CliRunner, Result

from tests.fakellm import FakeLLM
from tests.topics_helpers import add_posts, fixture_archive
from tgparser.cli import main
from tgparser.storage import open_storage
from tgparser.topics.llm import CHUNK, PROMPT_ID

MODEL = "fake-model"


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeLLM]:
    with FakeLLM(MODEL) as server:
        monkeypatch.setenv("TGPARSER_LLM_URL", server.url)
        monkeypatch.setenv("TGPARSER_LLM_MODEL", MODEL)
        monkeypatch.setenv("TGPARSER_LLM_PRICES", f"{MODEL}=1000/2000")
        yield server
        assert server.problems == []


def run(db_url: str, *args: str) -> Result:
    return CliRunner().invoke(main, ["--db", db_url, *args], catch_exceptions=False)


def _chat_requests(fake: FakeLLM) -> list[list[dict]]:
    out = []
    for body in fake.requests:
        user = next(m for m in body["messages"] if m["role"] == "user")
        out.append(json.loads(user["content"]).get("topics", []))
    return out


def test_llm_writes_cards_in_chunks_and_the_cache_answers_the_second_run(
    db_url: str, fake: FakeLLM
) -> None:
    with open_storage(db_url) as storage:
        storage.migrate()
        fixture_archive(storage)
    first = run(db_url, "topics", "build", "--llm", "--json")
    assert first.exit_code == 0, first.stderr
    llm = json.loads(first.stdout)["llm"]
    topics = json.loads(run(db_url, "topics", "list", "--json").stdout)
    assert llm["written"] == len(topics) > CHUNK and llm["cached"] == 0 and llm["failed"] == 0
    sent = _chat_requests(fake)
    assert len(sent) == llm["requests"] >= 2
    assert all(1 <= len(chunk) <= CHUNK for chunk in sent)  # bounded chunks, never one prompt
    assert sorted(t["id"] for chunk in sent for t in chunk) == sorted(t["id"] for t in topics)
    assert all(t["posts"] and len(t["posts"]) <= 5 for chunk in sent for t in chunk)
    assert llm["cost"] > 0 and llm["tokens_in"] > 0
    card = topics[0]
    assert card["title"].startswith("LLM title:") and card["scope_out"] == ["everything else"]
    assert card["provenance"] == {"builder": "builtin-3", "model": MODEL, "prompt_id": PROMPT_ID}

    # nothing changed: no request at all, cards kept
    fake.requests.clear()
    again = json.loads(run(db_url, "topics", "build", "--llm", "--json").stdout)
    assert again["llm"]["written"] == 0 and fake.requests == []
    assert json.loads(run(db_url, "topics", "list", "--json").stdout) == topics

    # a rebuild without --llm writes builtin text only where members changed; a --rebuild
    # that keeps every member set changes nothing, and --llm is answered from the cache
    with open_storage(db_url) as storage:
        storage._execute("UPDATE topics SET model = '', prompt_id = ''")
    cached = json.loads(run(db_url, "topics", "build", "--llm", "--json").stdout)["llm"]
    assert cached["cached"] == len(topics) and cached["requests"] == 0 and fake.requests == []


def test_an_invalid_reply_is_repaired_and_a_changed_topic_is_sent_again(
    db_url: str, fake: FakeLLM
) -> None:
    with open_storage(db_url) as storage:
        storage.migrate()
        add_posts(
            storage,
            [
                (1, "Bitcoin tops $100,000 for the first time, traders cheer the record."),
                (2, "Bitcoin above $100,000: ETFs saw $1 billion inflows this week."),
            ],
        )
    fake.script.extend(["invalid_json"])
    result = run(db_url, "topics", "build", "--llm", "--json")
    assert result.exit_code == 0, result.stderr
    llm = json.loads(result.stdout)["llm"]
    assert llm["written"] == 1 and llm["failed"] == 0 and len(fake.requests) == 2
    repair = fake.requests[1]["messages"]
    assert [m["role"] for m in repair] == ["system", "user", "assistant", "user"]
    assert "not valid" in repair[-1]["content"]
    # a new post joins the topic: its card is for another member set, so it is asked again
    with open_storage(db_url) as storage:
        add_posts(storage, [(3, "Bitcoin record: $100,000 passed, ETFs inflows of $1 billion.")])
    fake.requests.clear()
    again = json.loads(run(db_url, "topics", "build", "--llm", "--json").stdout)
    assert again["spaces"][0]["assigned"] == 1
    assert again["llm"]["written"] == 1 and again["llm"]["cached"] == 0 and len(fake.requests) == 1


def test_a_reply_invalid_twice_keeps_the_builtin_card(db_url: str, fake: FakeLLM) -> None:
    with open_storage(db_url) as storage:
        storage.migrate()
        add_posts(
            storage,
            [
                (1, "Bitcoin tops $100,000 for the first time, traders cheer the record."),
                (2, "Bitcoin above $100,000: ETFs saw $1 billion inflows this week."),
            ],
        )
    fake.script.extend(["bad_schema", "bad_schema"])
    result = run(db_url, "topics", "build", "--llm")
    assert result.exit_code == 0, result.stderr
    assert "1 failed" in result.stderr and "invalid reply" in result.stderr
    [topic] = json.loads(run(db_url, "topics", "list", "--json").stdout)
    assert topic["title"].startswith("Bitcoin") and topic["provenance"]["model"] is None


def test_max_cost_stops_before_the_budget_and_flags_need_llm(db_url: str, fake: FakeLLM) -> None:
    with open_storage(db_url) as storage:
        storage.migrate()
        fixture_archive(storage)
    result = run(db_url, "topics", "build", "--llm", "--max-cost", "0.000001", "--json")
    assert result.exit_code == 0, result.stderr
    llm = json.loads(result.stdout)["llm"]
    assert llm["stopped_at_budget"] and llm["requests"] == 0 and fake.requests == []
    wrong = run(db_url, "topics", "build", "--model", "x")
    assert wrong.exit_code == 2 and "--llm" in wrong.stderr
