"""The llm processor: any OpenAI-compatible Chat Completions server (OpenAI, Ollama, vLLM,
LM Studio, llama.cpp's server) adds a summary, keywords and entities beside the builtin
fields.

Synchronous httpx in worker threads (no asyncio). The reply is asked for as JSON matching
`ITEM_SCHEMA` (through `response_format` with a JSON schema where the server takes it) and is
always validated here, with one repair request when it is not valid. 429, 5xx and timeouts are
retried with backoff, honouring Retry-After. Replies are cached by (model, prompt id, input
hash), so the same text is never paid for twice.
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import math
import os
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from tgparser.errors import ConfigError, TgparserError

PROMPT_VERSION = "1"
SYSTEM_PROMPT = """\
You turn Telegram channel posts and comments into knowledge-base records.
The user sends JSON: {"messages": [{"id": "...", "text": "...", "context": "..."}]}, where
context, when present, is the channel post a comment answers (for understanding only).
Answer with JSON only, no prose: {"items": [one item per message, same ids]}. Each item:
- "id": the message's id, as given;
- "summary": one or two sentences in the message's own language, at most 280 characters,
  stating only what the message says;
- "keywords": up to 10 key terms of the message, most important first;
- "entities": named things the message mentions: {"type": one of person, organization,
  product, technology, location, event, other; "value": as written; "confidence": 0 to 1};
- "language": the ISO 639-1 code of the message's language;
- "is_ad": true only when the message is paid promotion or advertising;
- "ad_reason": the evidence for is_ad in a few words, or "" when it is false.
"""
ENTITY_TYPES = ("person", "organization", "product", "technology", "location", "event", "other")
ITEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "summary": {"type": "string"},
        "keywords": {"type": "array", "items": {"type": "string"}},
        "entities": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "type": {"type": "string", "enum": list(ENTITY_TYPES)},
                    "value": {"type": "string"},
                    "confidence": {"type": "number"},
                },
                "required": ["type", "value", "confidence"],
                "additionalProperties": False,
            },
        },
        "language": {"type": "string"},
        "is_ad": {"type": "boolean"},
        "ad_reason": {"type": "string"},
    },
    "required": ["id", "summary", "keywords", "entities", "language", "is_ad", "ad_reason"],
    "additionalProperties": False,
}
REPLY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"items": {"type": "array", "items": ITEM_SCHEMA}},
    "required": ["items"],
    "additionalProperties": False,
}
# The identity of the prompt: a new template or schema is a new prompt id, so its documents
# are redone and its replies cached apart.
PROMPT_ID = hashlib.sha256(
    (PROMPT_VERSION + SYSTEM_PROMPT + json.dumps(REPLY_SCHEMA, sort_keys=True)).encode()
).hexdigest()[:16]
VERSION = "1"  # of this module's handling of replies (validation, merging)

DEFAULT_BACKOFF = 1.0  # seconds before the first retry; doubles each time
MAX_ATTEMPTS = 4  # per request: the first try and three retries of 429/5xx/timeouts
MAX_RETRY_AFTER = 120.0  # seconds: a longer Retry-After is a failure, not a wait
OUTPUT_TOKENS_PER_ITEM = 400  # max_tokens asked for, per message in a request
CONTEXT_CHARS = 1000  # of a comment's post, given as context
MAX_INPUT_CHARS = 12000  # of one message's text (longer texts are cut)
BATCH_CHARS = 600  # messages up to this long may share a request
_RETRIED = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
_FENCE = re.compile(r"^\s*```(?:json)?\s*|\s*```\s*$")
_LANGUAGE = re.compile(r"^[a-z]{2,3}$")


class LLMError(Exception):
    """A request that failed for good; `attempts` were made."""

    def __init__(self, message: str, attempts: int = 1) -> None:
        super().__init__(message)
        self.attempts = attempts


class InvalidReply(ValueError):
    """A reply that is not JSON of the schema."""


@dataclass(frozen=True)
class Prices:
    """USD per million tokens, in and out."""

    input: float
    output: float

    def cost(self, tokens_in: int, tokens_out: int) -> float:
        return (tokens_in * self.input + tokens_out * self.output) / 1_000_000


def parse_prices(text: str | None) -> dict[str, Prices]:
    """`model=IN/OUT;model2=IN/OUT` (USD per 1M tokens) into prices by model."""
    prices: dict[str, Prices] = {}
    for part in (text or "").replace(",", ";").split(";"):
        if not part.strip():
            continue
        try:
            model, values = part.rsplit("=", 1)
            price_in, price_out = values.split("/")
            prices[model.strip()] = Prices(float(price_in), float(price_out))
        except ValueError:
            raise ConfigError(
                f"bad llm_prices entry {part.strip()!r}: use model=IN/OUT, USD per 1M tokens"
            ) from None
    return prices


@dataclass
class LLMConfig:
    url: str
    model: str
    api_key: str | None = None
    prices: Prices | None = None  # None: unknown (cost counted as 0)
    batch: int = 8
    timeout: float = 60.0
    backoff: float = DEFAULT_BACKOFF
    max_retry_after: float = MAX_RETRY_AFTER


def config_from_settings(
    settings: Any, *, url: str | None = None, model: str | None = None
) -> LLMConfig:
    """The LLM configuration from flags and settings; a one-line error when incomplete."""
    base = url or settings.llm_url
    name = model or settings.llm_model
    if not base:
        raise ConfigError(
            "--processor llm needs a server: --llm-url or TGPARSER_LLM_URL "
            "(e.g. http://localhost:11434/v1 for Ollama)",
            exit_code=2,
        )
    if not re.match(r"^https?://[^/\s]+", base):
        raise ConfigError(f"--llm-url {base!r} is not an http(s) URL", exit_code=2)
    if not name:
        raise ConfigError(
            "--processor llm needs a model: --model or TGPARSER_LLM_MODEL", exit_code=2
        )
    key = settings.llm_api_key or os.environ.get("OPENAI_API_KEY") or None
    prices = parse_prices(settings.llm_prices).get(name)
    batch = settings.llm_batch if settings.llm_batch is not None else 8
    timeout = settings.llm_timeout if settings.llm_timeout is not None else 60
    if batch < 1 or timeout < 1:
        raise ConfigError("llm_batch and llm_timeout must be at least 1", exit_code=2)
    return LLMConfig(
        base.rstrip("/"), name, key, prices, batch, float(timeout), backoff=DEFAULT_BACKOFF
    )


def estimate_tokens(text: str) -> int:
    """A deliberately generous token count: UTF-8 bytes / 3 (Cyrillic takes two bytes a
    letter and tokenises worse than English), so budgets are not overrun."""
    return math.ceil(len(text.encode("utf-8")) / 3) + 4


def input_hash(text: str, context: str | None) -> str:
    """What the cache keys a message's reply by, with the model and prompt id."""
    data = json.dumps({"text": text, "context": context or ""}, ensure_ascii=False)
    return hashlib.sha256(data.encode()).hexdigest()


@dataclass
class Item:
    """One message to send: `key` is (chat_id, message_id), `id` its id in the request."""

    key: tuple[int, int]
    id: str
    text: str
    context: str | None
    hash: str


@dataclass
class Reply:
    """What a request brought back: valid items by id, tokens and cost, or an error."""

    items: dict[str, dict[str, Any]] = field(default_factory=dict)
    tokens_in: int = 0
    tokens_out: int = 0
    cost: float = 0.0
    error: str | None = None
    attempts: int = 1


class LLMClient:
    """A thread-safe client of one server and model."""

    def __init__(self, config: LLMConfig) -> None:
        import httpx

        self.config = config
        headers = {"Content-Type": "application/json"}
        if config.api_key:
            headers["Authorization"] = f"Bearer {config.api_key}"
        self.http = httpx.Client(
            base_url=config.url,
            headers=headers,
            timeout=httpx.Timeout(config.timeout, connect=min(config.timeout, 10.0)),
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=64),
        )
        self._lock = threading.Lock()
        # What the server takes as response_format: json_schema, else json_object, else none.
        self.format_mode = "json_schema"

    def close(self) -> None:
        self.http.close()

    # -- before any work -------------------------------------------------------------------

    def check(self) -> None:
        """One request to the server's model list: a clear error before any work starts when
        the server is unreachable, refuses the key, or does not serve the model."""
        import httpx

        where = self.config.url
        try:
            response = self.http.get("/models")
        except httpx.TimeoutException:
            raise TgparserError(
                f"the LLM server at {where} did not answer in time", exit_code=75
            ) from None
        except httpx.HTTPError as exc:
            reason = " ".join(str(exc).split()) or type(exc).__name__
            raise TgparserError(
                f"cannot reach the LLM server at {where}: {reason}", exit_code=75
            ) from None
        if response.status_code in (401, 403):
            raise TgparserError(
                f"the LLM server at {where} refused the API key (HTTP {response.status_code}): "
                "set TGPARSER_LLM_API_KEY"
            )
        if response.status_code != 200:
            return  # some servers have no model list; the first request will tell
        try:
            served = [str(m.get("id")) for m in response.json().get("data", [])]
        except (ValueError, AttributeError):
            return
        model = self.config.model
        if served and not any(s == model or s.split(":")[0] == model for s in served):
            shown = ", ".join(served[:8]) + (", …" if len(served) > 8 else "")
            raise TgparserError(
                f"the LLM server at {where} does not serve model {model!r} ({shown})"
            )

    # -- requests --------------------------------------------------------------------------

    def complete(self, items: list[Item]) -> Reply:
        """Ask for the records of `items` in one request; validate; repair once."""
        payload = {
            "messages": [
                {"id": i.id, "text": i.text, **({"context": i.context} if i.context else {})}
                for i in items
            ]
        }
        ids = [i.id for i in items]
        answer, reply = self.complete_json(
            SYSTEM_PROMPT,
            payload,
            lambda content: validate_reply(content, ids),
            len(items),
            schema=REPLY_SCHEMA,
            name="documents",
            repair_detail=", one item per message id",
        )
        if answer is not None:
            reply.items = answer
        return reply

    def complete_json(
        self,
        system: str,
        payload: dict[str, Any],
        validate: Any,
        count: int,
        *,
        schema: dict[str, Any],
        name: str,
        repair_detail: str = "",
    ) -> tuple[Any, Reply]:
        """One request with retries, format fallbacks, one repair request and cost
        accounting, for any prompt and reply schema (documents, topic cards).
        `validate(content)` returns the parsed answer or raises InvalidReply."""
        messages = [
            {"role": "system", "content": system},
            {"role": "user", "content": json.dumps(payload, ensure_ascii=False)},
        ]
        reply = Reply(attempts=0)
        answer = None
        try:
            content = self._chat(messages, count, reply, schema=schema, name=name)
            try:
                answer = validate(content)
            except InvalidReply as exc:
                messages += [
                    {"role": "assistant", "content": content},
                    {
                        "role": "user",
                        "content": f"That reply is not valid: {exc}. Answer again with JSON "
                        f"only, exactly as the instructions say{repair_detail}.",
                    },
                ]
                content = self._chat(messages, count, reply, schema=schema, name=name)
                answer = validate(content)
        except InvalidReply as exc:
            reply.error = f"invalid reply after a repair request: {exc}"
        except LLMError as exc:
            reply.error = str(exc)
        if self.config.prices is not None:
            reply.cost = self.config.prices.cost(reply.tokens_in, reply.tokens_out)
        return answer, reply

    def _chat(
        self,
        messages: list[dict[str, str]],
        count: int,
        reply: Reply,
        *,
        schema: dict[str, Any] | None = None,
        name: str = "documents",
    ) -> str:
        import httpx

        body: dict[str, Any] = {
            "model": self.config.model,
            "messages": messages,
            "temperature": 0,
            "max_tokens": OUTPUT_TOKENS_PER_ITEM * count,
        }
        attempt = 0
        while True:
            attempt += 1
            reply.attempts += 1
            mode = self.format_mode
            if mode == "json_schema":
                body["response_format"] = {
                    "type": "json_schema",
                    "json_schema": {"name": name, "strict": True, "schema": schema or REPLY_SCHEMA},
                }
            elif mode == "json_object":
                body["response_format"] = {"type": "json_object"}
            else:
                body.pop("response_format", None)
            wait: float | None = None
            try:
                response = self.http.post("/chat/completions", json=body)
            except httpx.TimeoutException:
                error, wait = f"no reply within {self.config.timeout:g} s", None
            except httpx.HTTPError as exc:
                error = f"request failed: {' '.join(str(exc).split()) or type(exc).__name__}"
            else:
                status = response.status_code
                if status == 200:
                    return self._content(response, reply)
                detail = _error_detail(response)
                if status == 400 and mode != "none" and "response_format" in detail.lower():
                    with self._lock:  # the server does not take this response_format
                        self.format_mode = "json_object" if mode == "json_schema" else "none"
                    attempt -= 1
                    continue
                error = f"HTTP {status}: {detail}" if detail else f"HTTP {status}"
                if status not in _RETRIED:
                    raise LLMError(error, reply.attempts)
                wait = _retry_after(response)
                if wait is not None and wait > self.config.max_retry_after:
                    raise LLMError(f"{error} (Retry-After {wait:g} s is too long)", reply.attempts)
            if attempt >= MAX_ATTEMPTS:
                raise LLMError(f"{error} (after {attempt} attempts)", reply.attempts)
            time.sleep(wait if wait is not None else self.config.backoff * 2 ** (attempt - 1))

    def _content(self, response: Any, reply: Reply) -> str:
        try:
            data = response.json()
            choice = data["choices"][0]
            message = choice["message"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise LLMError("the server's answer is not a chat completion", reply.attempts) from None
        usage = data.get("usage") or {}
        content = message.get("content") or ""
        tokens_in = usage.get("prompt_tokens")
        tokens_out = usage.get("completion_tokens")
        # Servers that report no usage: count the request's estimate, so budgets still hold.
        reply.tokens_in += int(tokens_in) if isinstance(tokens_in, int) else 0
        reply.tokens_out += (
            int(tokens_out) if isinstance(tokens_out, int) else estimate_tokens(content)
        )
        if message.get("refusal"):
            raise LLMError(f"refused: {' '.join(str(message['refusal']).split())[:200]}")
        return content


def validate_reply(content: str, ids: list[str]) -> dict[str, dict[str, Any]]:
    """The items of a reply by id, each checked against ITEM_SCHEMA and normalised; raises
    InvalidReply naming the first problem."""
    text = _FENCE.sub("", content.strip())
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise InvalidReply(f"not JSON ({exc.msg} at character {exc.pos})") from None
    if isinstance(data, dict) and "items" not in data and len(ids) == 1 and "summary" in data:
        data = {"items": [{"id": ids[0], **data}]}  # one bare item for one message
    if not isinstance(data, dict) or not isinstance(data.get("items"), list):
        raise InvalidReply('the top level must be an object with an "items" array')
    out: dict[str, dict[str, Any]] = {}
    for position, item in enumerate(data["items"]):
        if not isinstance(item, dict):
            raise InvalidReply(f"items[{position}] is not an object")
        item_id = str(item.get("id", ids[position] if len(ids) == 1 else ""))
        if item_id not in ids:
            raise InvalidReply(f"items[{position}] has an unknown id {item_id!r}")
        out[item_id] = _check_item(item, f"items[{position}]")
    missing = [i for i in ids if i not in out]
    if missing:
        raise InvalidReply(f"no item for id {missing[0]!r}")
    return out


def _check_item(item: dict[str, Any], where: str) -> dict[str, Any]:
    def need(name: str, kind: type | tuple[type, ...], label: str) -> Any:
        if name not in item:
            raise InvalidReply(f"{where} lacks {name!r}")
        value = item[name]
        if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
            raise InvalidReply(f"{where}.{name} must be {label}")
        return value

    summary = need("summary", str, "a string").strip()
    keywords = need("keywords", list, "an array of strings")
    if not all(isinstance(k, str) for k in keywords):
        raise InvalidReply(f"{where}.keywords must be an array of strings")
    entities = need("entities", list, "an array of objects")
    checked = []
    for n, entity in enumerate(entities):
        if not isinstance(entity, dict):
            raise InvalidReply(f"{where}.entities[{n}] is not an object")
        kind, value = entity.get("type"), entity.get("value")
        confidence = entity.get("confidence")
        if not isinstance(kind, str) or not isinstance(value, str) or not value.strip():
            raise InvalidReply(f"{where}.entities[{n}] needs a string type and value")
        if isinstance(confidence, bool) or not isinstance(confidence, (int, float)):
            raise InvalidReply(f"{where}.entities[{n}].confidence must be a number")
        if not 0 <= confidence <= 1:
            raise InvalidReply(f"{where}.entities[{n}].confidence must be between 0 and 1")
        kind = kind.strip().lower()
        checked.append(
            {
                "type": kind if kind in ENTITY_TYPES else "other",
                "value": value.strip(),
                "confidence": round(float(confidence), 3),
            }
        )
    language = need("language", str, "a string").strip().lower()
    is_ad = need("is_ad", bool, "true or false")
    reason = need("ad_reason", str, "a string").strip()
    return {
        "summary": summary,
        "keywords": list(dict.fromkeys(k.strip() for k in keywords if k.strip()))[:10],
        "entities": checked,
        "language": language if _LANGUAGE.match(language) else "und",
        "is_ad": is_ad,
        "ad_reason": reason,
    }


def _error_detail(response: Any) -> str:
    try:
        data = response.json()
        error = data.get("error", data)
        message = error.get("message") if isinstance(error, dict) else error
        return " ".join(str(message).split())[:200]
    except (ValueError, AttributeError):
        return " ".join(response.text.split())[:200]


def _retry_after(response: Any) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class LLMProcessor:
    """The `llm` processor: builtin fields for every message, and the model's summary,
    keywords and entities for every message that is not noise."""

    def __init__(self, config: LLMConfig, *, concurrency: int = 4) -> None:
        from tgparser.storage.documents import ProcessorIdentity

        self.config = config
        self.client = LLMClient(config)
        self.identity = ProcessorIdentity("llm", VERSION, config.model, PROMPT_ID)
        self.concurrency = max(1, concurrency)
        from concurrent.futures import ThreadPoolExecutor

        self.pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="tgparser-llm")

    def check(self) -> None:
        self.client.check()

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.client.close()

    # -- what to ask ---------------------------------------------------------------------------

    def _prepare(
        self, storage: Any, messages: list[dict[str, Any]]
    ) -> tuple[list[dict[str, Any]], dict[tuple[int, int], Item]]:
        from tgparser.process.builtin import builtin_fields
        from tgparser.process.clean import clean_message

        fields = [builtin_fields(m) for m in messages]
        parents = {
            (m["parent_chat_id"], m["parent_message_id"])
            for m in messages
            if m.get("parent_chat_id") is not None and m.get("parent_message_id") is not None
        }
        context: dict[tuple[int, int], str] = {}
        for key, (text, entities) in storage.message_texts(parents).items():
            context[key] = clean_message(text, entities).text[:CONTEXT_CHARS]
        items: dict[tuple[int, int], Item] = {}
        for message, base in zip(messages, fields, strict=True):
            if base["is_noise"] or not base["text_clean"]:
                continue
            key = (message["chat_id"], message["message_id"])
            text = base["text_clean"][:MAX_INPUT_CHARS]
            parent = (message.get("parent_chat_id"), message.get("parent_message_id"))
            ctx = context.get(parent) if message["kind"] == "comment" else None  # type: ignore[arg-type]
            items[key] = Item(key, str(message["message_id"]), text, ctx, input_hash(text, ctx))
        return fields, items

    def _requests(self, items: list[Item]) -> list[list[Item]]:
        """Short messages share a request (up to `batch` of them); long ones go alone."""
        requests: list[list[Item]] = []
        short: list[Item] = []
        for item in items:
            if len(item.text) > BATCH_CHARS or self.config.batch <= 1:
                requests.append([item])
                continue
            short.append(item)
            if len(short) >= self.config.batch:
                requests.append(short)
                short = []
        if short:
            requests.append(short)
        return requests

    def _bound(self, request: list[Item]) -> tuple[int, int, float]:
        """A request's worst case: estimated input tokens, max output tokens, their cost."""
        text = SYSTEM_PROMPT + "".join(i.text + (i.context or "") for i in request)
        tokens_in = estimate_tokens(text) + 20 * len(request)
        tokens_out = OUTPUT_TOKENS_PER_ITEM * len(request)
        prices = self.config.prices
        return tokens_in, tokens_out, prices.cost(tokens_in, tokens_out) if prices else 0.0

    def _unique_misses(self, storage: Any, items: dict[tuple[int, int], Item]) -> tuple[dict, list]:
        cached = storage.cached_responses(
            self.config.model, PROMPT_ID, [i.hash for i in items.values()]
        )
        misses: dict[str, Item] = {}
        for item in items.values():
            if item.hash not in cached and item.hash not in misses:
                misses[item.hash] = item
        return cached, list(misses.values())

    # -- dry run -------------------------------------------------------------------------------

    def estimate(self, storage: Any, messages: list[dict[str, Any]]) -> Any:
        from tgparser.process.run import Estimate

        _, items = self._prepare(storage, messages)
        _, misses = self._unique_misses(storage, items)
        estimate = Estimate(messages=len(messages), to_send=len(misses))
        for request in self._requests(misses):
            tokens_in, tokens_out, cost = self._bound(request)
            estimate.tokens_in += tokens_in
            estimate.tokens_out += tokens_out
            estimate.cost += cost
        return estimate

    # -- the work ------------------------------------------------------------------------------

    def process(self, storage: Any, messages: list[dict[str, Any]], budget: Any) -> Any:
        from tgparser.process.run import Outcome
        from tgparser.storage.base import utcnow

        fields, items = self._prepare(storage, messages)
        cached, misses = self._unique_misses(storage, items)
        outcome = Outcome()
        answers: dict[str, dict[str, Any]] = {h: r for h, r in cached.items()}
        errors: dict[str, tuple[str, int]] = {}
        unsent: set[str] = set()
        futures = []
        for request in self._requests(misses):
            _, _, bound = self._bound(request)
            if not budget.reserve(bound):
                unsent.update(i.hash for i in request)
                continue
            futures.append((request, bound, self.pool.submit(self.client.complete, request)))
        new_cache = []
        for request, bound, future in futures:
            reply: Reply = future.result()
            budget.settle(bound, reply.cost)
            outcome.tokens_in += reply.tokens_in
            outcome.tokens_out += reply.tokens_out
            outcome.cost += reply.cost
            if reply.error is not None:
                for item in request:
                    errors[item.hash] = (reply.error, reply.attempts)
                continue
            # Tokens and cost of a shared request, split by the length of each message.
            total = sum(len(i.text) for i in request) or 1
            for item in request:
                share = len(item.text) / total
                row = {
                    "model": self.config.model,
                    "prompt_id": PROMPT_ID,
                    "input_hash": item.hash,
                    "response": reply.items[item.id],
                    "tokens_in": round(reply.tokens_in * share),
                    "tokens_out": round(reply.tokens_out * share),
                    "cost": reply.cost * share,
                    "created_at": utcnow(),
                }
                answers[item.hash] = row
                new_cache.append(row)
        storage.cache_responses(new_cache)
        paid = {row["input_hash"] for row in new_cache}
        for message, base in zip(messages, fields, strict=True):
            key = (message["chat_id"], message["message_id"])
            item = items.get(key)
            document = {
                **base,
                "processor": "llm",
                "processor_version": VERSION,
                "model": self.config.model,
                "prompt_id": PROMPT_ID,
                "tokens_in": 0,
                "tokens_out": 0,
                "cost": 0.0,
            }
            if item is None:  # noise: the builtin fields say all there is
                document["entities"] = []
                outcome.documents.append(document)
                continue
            if item.hash in unsent:
                outcome.skipped += 1
                continue
            if item.hash in errors:
                error, attempts = errors[item.hash]
                outcome.failures.append((message, error, attempts))
                continue
            row = answers[item.hash]
            if item.hash not in paid:
                outcome.cached += 1
            merge_reply(document, row["response"])
            document["tokens_in"] = row["tokens_in"]
            document["tokens_out"] = row["tokens_out"]
            document["cost"] = row["cost"]
            outcome.documents.append(document)
        return outcome


def merge_reply(document: dict[str, Any], answer: dict[str, Any]) -> None:
    """The model's fields beside the builtin ones: its summary, keywords and entities; its
    language only where the builtin one could not tell; its ad verdict added as a reason."""
    document["summary"] = answer.get("summary") or document["summary"]
    document["keywords"] = list(answer.get("keywords") or document["keywords"])
    document["entities"] = list(answer.get("entities") or [])
    if document["language"] == "und" and answer.get("language") not in (None, "", "und"):
        document["language"] = answer["language"]
    if answer.get("is_ad"):
        reason = answer.get("ad_reason") or "the model says so"
        document["ad_reasons"] = [*document["ad_reasons"], f"model: {reason}"]
        document["is_ad"] = True
