"""`topics build --llm`: an LLM writes the title, summary, scope_in and scope_out of topics.

Only topics that are new or changed since the LLM last wrote them are sent, a few per request
(`chunk` topics, each as its keywords and the leads of its most central posts — never one
prompt per channel). Replies are validated JSON (one repair request, retries and format
fallbacks as in `process --processor llm`, through the same client) and cached in `llm_cache`
by (model, prompt id, hash of topic id + member set), so an unchanged topic is never paid for
twice. `max_cost` stops before a request would take the run over budget.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tgparser.storage import Storage
from tgparser.storage.base import Row, utcnow

PROMPT_ID = "topics-1"
SYSTEM_PROMPT = """\
You write short cards for topics found in Telegram channels.
The user sends JSON: {"topics": [{"id": "...", "keywords": [...], "posts": ["...", ...]}]},
where posts are the leads of the topic's most central posts.
Answer with JSON only, no prose: {"items": [one item per topic, same ids]}. Each item:
- "id": the topic's id, as given;
- "title": at most 80 characters, in the posts' language, naming the story;
- "summary": one to three sentences, at most 400 characters, stating only what the posts say;
- "scope_in": up to 5 short phrases: what belongs to this topic;
- "scope_out": up to 5 short phrases: near subjects that do not belong to it.
"""
ITEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "title": {"type": "string"},
        "summary": {"type": "string"},
        "scope_in": {"type": "array", "items": {"type": "string"}},
        "scope_out": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["id", "title", "summary", "scope_in", "scope_out"],
    "additionalProperties": False,
}
REPLY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"items": {"type": "array", "items": ITEM_SCHEMA}},
    "required": ["items"],
    "additionalProperties": False,
}
POSTS_PER_TOPIC = 5
LEAD_CHARS = 240
CHUNK = 8


@dataclass
class CardsReport:
    asked: int = 0  # topics sent to the LLM
    cached: int = 0  # topics written from the cache
    written: int = 0
    failed: int = 0
    requests: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    cost: float = 0.0
    stopped_at_budget: bool = False
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def card_hash(topic: Row) -> str:
    data = f"{topic['id']}|{topic['member_hash']}"
    return hashlib.sha256(data.encode()).hexdigest()


def validate_cards(content: str, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    from tgparser.process.llm import InvalidReply

    try:
        data = json.loads(content)
    except ValueError:
        raise InvalidReply("not JSON") from None
    items = data.get("items") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise InvalidReply("no items list")
    out: dict[str, dict[str, Any]] = {}
    for item in items:
        if not isinstance(item, dict) or item.get("id") not in ids:
            raise InvalidReply(f"an item with an unknown id: {str(item)[:80]}")
        for name in ("title", "summary"):
            if not isinstance(item.get(name), str) or not item[name].strip():
                raise InvalidReply(f"{item['id']}: {name} must be a non-empty string")
        for name in ("scope_in", "scope_out"):
            value = item.get(name)
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise InvalidReply(f"{item['id']}: {name} must be a list of strings")
        out[item["id"]] = {
            "title": item["title"].strip()[:120],
            "summary": item["summary"].strip()[:800],
            "scope_in": [v.strip() for v in item["scope_in"] if v.strip()][:5],
            "scope_out": [v.strip() for v in item["scope_out"] if v.strip()][:5],
        }
    missing = [i for i in ids if i not in out]
    if missing:
        raise InvalidReply(f"no item for topic(s) {', '.join(missing[:3])}")
    return out


def write_cards(
    storage: Storage,
    client: Any,
    spaces: Sequence[str],
    *,
    chunk: int = CHUNK,
    max_cost: float | None = None,
) -> CardsReport:
    """Have the LLM write the cards of the active topics of these spaces that it has not
    written for their current member set."""
    from tgparser.process.llm import estimate_tokens

    model = client.config.model
    report = CardsReport()
    # the builtin build clears model/prompt_id of a card whose member set changed
    todo = [
        t
        for t in storage.list_topics(spaces=list(spaces), statuses=["active"])
        if t["type"] != "known" and (t["model"], t["prompt_id"]) != (model, PROMPT_ID)
    ]
    if not todo:
        return report
    hashes = {t["id"]: card_hash(t) for t in todo}
    cached = storage.cached_responses(model, PROMPT_ID, hashes.values())
    misses = []
    for topic in todo:
        hit = cached.get(hashes[topic["id"]])
        if hit is not None:
            _apply(storage, topic, hit["response"], model)
            report.cached += 1
            report.written += 1
        else:
            misses.append(topic)
    for start in range(0, len(misses), chunk):
        batch = misses[start : start + chunk]
        payload = {"topics": [_digest(storage, t) for t in batch]}
        estimate = estimate_tokens(json.dumps(payload, ensure_ascii=False)) + 200 * len(batch)
        prices = client.config.prices
        if (
            max_cost is not None
            and prices is not None
            and report.cost + prices.cost(estimate, 200 * len(batch)) > max_cost
        ):
            report.stopped_at_budget = True
            break
        ids = [t["id"] for t in batch]
        answer, reply = client.complete_json(
            SYSTEM_PROMPT,
            payload,
            lambda content, ids=ids: validate_cards(content, ids),
            len(batch),
            schema=REPLY_SCHEMA,
            name="topic_cards",
        )
        report.requests += 1
        report.asked += len(batch)
        report.tokens_in += reply.tokens_in
        report.tokens_out += reply.tokens_out
        report.cost += reply.cost
        if answer is None:
            report.failed += len(batch)
            report.errors.append(reply.error or "no answer")
            continue
        now = utcnow()
        share = len(batch)
        storage.cache_responses(
            [
                {
                    "model": model,
                    "prompt_id": PROMPT_ID,
                    "input_hash": hashes[t["id"]],
                    "response": answer[t["id"]],
                    "tokens_in": reply.tokens_in // share,
                    "tokens_out": reply.tokens_out // share,
                    "cost": reply.cost / share,
                    "created_at": now,
                }
                for t in batch
            ]
        )
        for topic in batch:
            _apply(storage, topic, answer[topic["id"]], model)
            report.written += 1
    return report


def _digest(storage: Storage, topic: Row) -> dict[str, Any]:
    members = [
        m
        for m in storage.topic_members(topic["id"], limit=POSTS_PER_TOPIC * 2)
        if m["kind"] == "post"
    ][:POSTS_PER_TOPIC]
    texts = storage.document_texts(
        ((m["chat_id"], m["message_id"]), _processor(storage, m)) for m in members
    )
    posts = [
        " ".join(texts.get((m["chat_id"], m["message_id"]), "").split())[:LEAD_CHARS]
        for m in members
    ]
    return {"id": topic["id"], "keywords": topic["keywords"][:10], "posts": [p for p in posts if p]}


def _processor(storage: Storage, member: Row) -> str:
    document = storage.current_document(member["chat_id"], member["message_id"])
    return document["processor"] if document else "builtin"


def _apply(storage: Storage, topic: Row, card: dict[str, Any], model: str) -> None:
    storage.update_topic_card(
        topic["id"],
        {
            "title": card["title"],
            "summary": card["summary"],
            "scope_in": card["scope_in"],
            "scope_out": card["scope_out"],
            "model": model,
            "prompt_id": PROMPT_ID,
        },
    )
