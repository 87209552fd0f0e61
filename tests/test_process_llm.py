"""`tgparser process --processor llm` against a fake OpenAI-compatible server on loopback
(tests/fakellm.py), on SQLite and PostgreSQL. No network."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from click.testing import CliRunner, Result

from tests.factories import CHANNEL_ID
from tests.fakellm import FakeLLM
from tests.test_process_run import GROUP_ID, OTHER_ID, fill, message
from tgparser.cli import main
from tgparser.process import llm
from tgparser.storage import open_storage

MODEL = "fake-model"
PRICES = f"{MODEL}=1000/2000"  # USD per 1M tokens: dear, so budgets bite in a small test


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeLLM]:
    monkeypatch.setattr(llm, "DEFAULT_BACKOFF", 0.01)
    with FakeLLM(MODEL) as server:
        monkeypatch.setenv("TGPARSER_LLM_URL", server.url)
        monkeypatch.setenv("TGPARSER_LLM_MODEL", MODEL)
        monkeypatch.setenv("TGPARSER_LLM_PRICES", PRICES)
        yield server
        assert server.problems == []  # every request was well-formed


def run(db_url: str, *args: str) -> Result:
    return CliRunner().invoke(main, ["--db", db_url, *args], catch_exceptions=False)


def process(db_url: str, *args: str, code: int = 0) -> dict:
    result = run(db_url, "process", "--processor", "llm", "--json", *args)
    assert result.exit_code == code, result.output
    return json.loads(result.stdout)


def docs(db_url: str) -> dict[tuple[int, int], dict]:
    lines = run(db_url, "export", "documents").stdout.splitlines()
    return {(d["chat_id"], d["message_id"]): d for d in map(json.loads, lines)}


def test_llm_documents_sit_beside_the_builtin_fields(db_url: str, fake: FakeLLM) -> None:
    fill(db_url)
    fake.ad_words = ("скидкой",)
    summary = process(db_url)
    assert summary["processed"] == 9 and summary["failed"] == 0
    assert summary["tokens"]["in"] > 0 and summary["tokens"]["out"] > 0
    assert summary["cost"] == pytest.approx(
        (summary["tokens"]["in"] * 1000 + summary["tokens"]["out"] * 2000) / 1e6
    )
    sent = fake.sent_texts()
    # Noise (the service message, "+1") is not paid for; the other seven are.
    assert len(sent) == 7 and "+1" not in sent
    assert len(fake.requests) < len(sent)  # short messages share requests
    # A comment goes with its post as context.
    comment = next(
        m
        for body in fake.requests
        for m in json.loads(body["messages"][1]["content"])["messages"]
        if m["text"].startswith("А где почитать")
    )
    assert comment["context"].startswith("Вышла новая версия PostgreSQL 17")
    assert fake.requests[0]["response_format"]["type"] == "json_schema"

    found = docs(db_url)
    post = found[(CHANNEL_ID, 1)]
    assert post["processor"] == "llm" and post["model"] == MODEL and post["prompt_id"]
    assert post["summary"].startswith("LLM summary: Вышла новая версия")
    assert post["entities"] == [{"type": "technology", "value": "PostgreSQL", "confidence": 0.95}]
    assert post["language"] == "ru" and post["tokens_in"] > 0 and post["cost"] > 0
    ad = found[(CHANNEL_ID, 2)]
    assert ad["is_ad"] is True
    assert "erid token 2VtzqwHxk9A in the text" in ad["ad_reasons"]  # the builtin evidence
    assert "model: asks to buy" in ad["ad_reasons"]
    assert found[(GROUP_ID, 5)]["noise_reason"] == "too short"
    with open_storage(db_url) as store:  # the builtin documents are untouched
        assert store.count_documents("builtin") == 0
        assert store.get_message(CHANNEL_ID, 1)["text"].startswith("Вышла новая версия")

    requests = len(fake.requests)
    assert process(db_url)["processed"] == 0
    assert len(fake.requests) == requests


def test_the_same_text_is_never_paid_for_twice(db_url: str, fake: FakeLLM) -> None:
    fill(db_url)
    process(db_url)
    paid = len(fake.sent_texts())
    with open_storage(db_url) as store:  # the same text posted in another chat
        text = "Вышла новая версия PostgreSQL 17: ускорили VACUUM и репликацию."
        store.upsert_messages([message(99, OTHER_ID, text=text)])
    again = process(db_url)
    assert again["processed"] == 1 and again["cached"] == 1 and again["cost"] == 0
    assert len(fake.sent_texts()) == paid
    # Reprocessing reads everything from the cache.
    assert process(db_url, "--reprocess")["cost"] == 0
    assert len(fake.sent_texts()) == paid


def test_an_invalid_reply_is_repaired_once(db_url: str, fake: FakeLLM) -> None:
    fill(db_url)
    fake.script.extend(["invalid_json"])
    with open_storage(db_url) as store:
        store.execute_sql = None
    result = process(db_url, "@other")
    assert result["processed"] == 1 and result["failed"] == 0
    repair = fake.requests[1]["messages"]
    assert [m["role"] for m in repair] == ["system", "user", "assistant", "user"]
    assert "not valid: not JSON" in repair[3]["content"]


def test_failures_are_journaled_and_retried(db_url: str, fake: FakeLLM) -> None:
    fill(db_url)
    fake.script.extend(["bad_schema", "bad_schema"])  # the reply and its repair
    result = run(db_url, "process", "--processor", "llm", "@other")
    assert result.exit_code == 1
    assert "1 message(s) failed" in result.stderr
    with open_storage(db_url) as store:
        [failure] = store.list_failures("llm")
    assert failure["message_id"] == 10 and failure["attempts"] == 1
    assert "invalid reply after a repair request" in failure["error"]
    assert "items[0] lacks 'summary'" in failure["error"]
    # A normal run leaves it for --retry-failed; the retry does just that one.
    assert process(db_url, "@other")["processed"] == 0
    retried = process(db_url, "--retry-failed")
    assert retried["processed"] == 1 and retried["failed"] == 0
    with open_storage(db_url) as store:
        assert store.list_failures() == []


def test_429_500_and_slow_replies(db_url: str, fake: FakeLLM, monkeypatch) -> None:
    fill(db_url)
    fake.script.extend([("429", 1), "500"])
    started = time.monotonic()
    assert process(db_url, "@other")["processed"] == 1
    assert time.monotonic() - started >= 1  # Retry-After honoured
    assert len(fake.requests) == 3

    monkeypatch.setenv("TGPARSER_LLM_TIMEOUT", "1")
    monkeypatch.setattr(llm, "MAX_ATTEMPTS", 2)
    fake.script.extend([("slow", 2), ("slow", 2)])
    result = process(db_url, "@expert_channel", "--limit", "1", code=1)
    assert result["failed"] == 1
    with open_storage(db_url) as store:
        [failure] = store.list_failures("llm")
    assert "no reply within 1 s (after 2 attempts)" in failure["error"]


def test_refusals_and_servers_without_json_schema(db_url: str, fake: FakeLLM) -> None:
    fill(db_url)
    fake.script.append("refuse")
    result = process(db_url, "@other", code=1)
    assert result["failed"] == 1
    with open_storage(db_url) as store:
        assert store.list_failures("llm")[0]["error"].startswith("refused: I can't help")
    fake.default = "no_json_schema"
    assert process(db_url, "--retry-failed")["processed"] == 1
    assert [r.get("response_format", {}).get("type") for r in fake.requests[-2:]] == [
        "json_schema",
        "json_object",
    ]


def test_max_cost_stops_before_the_budget_is_exceeded(db_url: str, fake: FakeLLM) -> None:
    fill(db_url)
    estimate = process(db_url, "--dry-run")["estimate"]
    assert fake.requests == []  # a dry run calls nothing
    assert estimate["messages"] == 9 and estimate["to_send"] == 7
    assert estimate["tokens"]["in"] > 0 and estimate["cost"] > 0
    budget = estimate["cost"] / 3
    first = process(db_url, "--max-cost", f"{budget:.6f}")
    assert first["stopped"] == "max-cost"
    assert 0 < first["cost"] <= budget
    assert first["processed"] < 9
    # Later runs finish the work.
    rest = process(db_url)
    assert first["processed"] + rest["processed"] == 9


def test_concurrency_and_one_message_per_request(db_url: str, fake: FakeLLM, monkeypatch) -> None:
    fill(db_url)
    monkeypatch.setenv("TGPARSER_LLM_BATCH", "1")
    fake.delay = 0.2
    assert process(db_url, "--concurrency", "4")["processed"] == 9
    assert len(fake.requests) == 7
    assert fake.max_active > 1


def test_server_problems_are_one_line_before_any_work(db_url: str, fake: FakeLLM, monkeypatch):
    fill(db_url)
    cases = [
        ({"TGPARSER_LLM_URL": "http://127.0.0.1:9/v1"}, 75, "cannot reach the LLM server"),
        ({"TGPARSER_LLM_MODEL": "other-model"}, 1, "does not serve model 'other-model'"),
        ({"TGPARSER_LLM_PRICES": "nonsense"}, 1, "bad llm_prices entry"),
    ]
    for env, code, fragment in cases:
        with monkeypatch.context() as patch:
            for name, value in env.items():
                patch.setenv(name, value)
            result = run(db_url, "process", "--processor", "llm")
        assert result.exit_code == code, result.output
        assert result.stdout == ""
        assert len(result.stderr.strip().splitlines()) == 1 and fragment in result.stderr
    monkeypatch.delenv("TGPARSER_LLM_PRICES")
    result = run(db_url, "process", "--processor", "llm", "--max-cost", "1")
    assert result.exit_code == 2 and "needs the price" in result.stderr
    assert fake.requests == []
    with open_storage(db_url) as store:
        assert store.count_documents() == 0


def test_the_api_key_is_sent_and_never_printed(db_url: str, monkeypatch) -> None:
    fill(db_url)
    with FakeLLM(MODEL, api_key="sk-secret-123") as server:
        monkeypatch.setenv("TGPARSER_LLM_URL", server.url)
        monkeypatch.setenv("TGPARSER_LLM_MODEL", MODEL)
        result = run(db_url, "process", "--processor", "llm")
        assert result.exit_code == 1 and "refused the API key" in result.stderr
        monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-123")
        result = run(db_url, "-v", "process", "--processor", "llm", "--json")
        assert result.exit_code == 0, result.output
        assert "sk-secret" not in result.output
        shown = run(db_url, "config", "show", "--json")
        monkeypatch.setenv("TGPARSER_LLM_API_KEY", "sk-secret-456")
        shown = run(db_url, "config", "show", "--json")
        assert "sk-secret" not in shown.stdout
        assert json.loads(shown.stdout)["settings"]["llm_api_key"] == "***"
        assert server.problems == []


def test_reply_validation_names_the_first_problem() -> None:
    good = {
        "id": "1",
        "summary": " s ",
        "keywords": ["a", "a", " b "],
        "entities": [{"type": "Company", "value": "X", "confidence": 1}],
        "language": "RU",
        "is_ad": False,
        "ad_reason": "",
    }
    items = llm.validate_reply("```json\n" + json.dumps({"items": [good]}) + "\n```", ["1"])
    assert items["1"] == {
        "summary": "s",
        "keywords": ["a", "b"],
        "entities": [{"type": "other", "value": "X", "confidence": 1.0}],
        "language": "ru",
        "is_ad": False,
        "ad_reason": "",
    }
    bare = {k: v for k, v in good.items() if k != "id"}
    assert llm.validate_reply(json.dumps(bare), ["1"])["1"]["summary"] == "s"
    for reply, problem in [
        ("nope", "not JSON"),
        ("[]", '"items" array'),
        (json.dumps({"items": [{**good, "id": "9"}]}), "unknown id '9'"),
        (json.dumps({"items": []}), "no item for id '1'"),
        (json.dumps({"items": [{**good, "is_ad": "no"}]}), "is_ad must be true or false"),
        (json.dumps({"items": [{**good, "keywords": [1]}]}), "keywords must be an array"),
        (
            json.dumps(
                {"items": [{**good, "entities": [{**good["entities"][0], "confidence": 2}]}]}
            ),
            "between 0 and 1",
        ),
    ]:
        with pytest.raises(llm.InvalidReply, match=problem):
            llm.validate_reply(reply, ["1"])


def test_prices_and_estimates() -> None:
    prices = llm.parse_prices("gpt-4o-mini=0.15/0.60; local = 0/0")
    assert prices["gpt-4o-mini"].cost(1_000_000, 1_000_000) == pytest.approx(0.75)
    assert prices["local"].cost(5, 5) == 0
    with pytest.raises(llm.ConfigError, match="bad llm_prices entry"):
        llm.parse_prices("gpt=cheap")
    # Generous: Cyrillic takes two bytes a letter.
    assert llm.estimate_tokens("привет") > llm.estimate_tokens("hello!")
