"""A fake OpenAI-compatible Chat Completions server on loopback, for the llm processor's tests.

Standard library only (`http.server` in a thread). It checks what it receives — the route, the
model, a system and a user message, the user message's JSON, the response_format — and answers
as scripted: each request takes the next behaviour from `script`, then `default`:

- "valid": a valid reply for every message id in the request;
- "invalid_json": text that is not JSON;
- "bad_schema": JSON that breaks the schema (keywords is a string, no entities);
- ("429", seconds): HTTP 429 with Retry-After;
- "500": HTTP 500;
- ("slow", seconds): a valid reply after that long (longer than a client's timeout);
- "refuse": a refusal;
- "no_json_schema": HTTP 400 naming response_format when json_schema is asked for.

`delay` delays every reply (for the throughput benchmark). Everything received is in
`requests`; anything wrong with a request is in `problems` (a test asserts it stays empty).
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class FakeLLM:
    def __init__(self, model: str = "fake-model", *, api_key: str | None = None) -> None:
        self.model = model
        self.api_key = api_key
        self.script: deque[Any] = deque()
        self.default: Any = "valid"
        self.delay = 0.0
        self.requests: list[dict[str, Any]] = []
        self.problems: list[str] = []
        self.lock = threading.Lock()
        self.active = 0
        self.max_active = 0  # the most requests in flight at once
        self.ad_words = ("купите",)  # texts with these are called ads by the fake model
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                if not fake._authorised(self):
                    return
                if self.path != "/v1/models":
                    self._send(404, {"error": {"message": "not found"}})
                    return
                self._send(200, {"object": "list", "data": [{"id": fake.model}]})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                if not fake._authorised(self):
                    return
                if self.path != "/v1/chat/completions":
                    fake._problem(f"POST to {self.path}")
                    self._send(404, {"error": {"message": "not found"}})
                    return
                try:
                    body = json.loads(raw)
                except ValueError:
                    fake._problem("request body is not JSON")
                    self._send(400, {"error": {"message": "bad JSON"}})
                    return
                with fake.lock:
                    fake.active += 1
                    fake.max_active = max(fake.max_active, fake.active)
                try:
                    status, payload, headers, wait = fake._answer(body)
                    if wait:
                        time.sleep(wait)
                    self._send(status, payload, headers)
                finally:
                    with fake.lock:
                        fake.active -= 1

            def _send(self, status: int, payload: Any, headers: dict | None = None) -> None:
                data = json.dumps(payload, ensure_ascii=False).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for name, value in (headers or {}).items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __enter__(self) -> FakeLLM:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    # -- what was received ---------------------------------------------------------------------

    def sent_texts(self) -> list[str]:
        """The message texts of every chat request, in order received."""
        out = []
        for body in self.requests:
            user = next(m for m in body["messages"] if m["role"] == "user")
            out += [m["text"] for m in json.loads(user["content"])["messages"]]
        return out

    def _problem(self, text: str) -> None:
        with self.lock:
            self.problems.append(text)

    def _authorised(self, handler: BaseHTTPRequestHandler) -> bool:
        if self.api_key is None:
            return True
        if handler.headers.get("Authorization") == f"Bearer {self.api_key}":
            return True
        handler._send(401, {"error": {"message": "bad key"}})  # type: ignore[attr-defined]
        return False

    def _check(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        """The messages the request asks about; problems noted."""
        if body.get("model") != self.model:
            self._problem(f"model {body.get('model')!r}")
        messages = body.get("messages") or []
        roles = [m.get("role") for m in messages]
        if roles[:2] != ["system", "user"]:
            self._problem(f"roles {roles}")
            return []
        if len(roles) > 2 and roles[2:] != ["assistant", "user"]:
            self._problem(f"repair roles {roles}")
        fmt = body.get("response_format")
        if fmt is not None and fmt.get("type") not in ("json_schema", "json_object"):
            self._problem(f"response_format {fmt}")
        if fmt and fmt["type"] == "json_schema" and "schema" not in fmt.get("json_schema", {}):
            self._problem("json_schema without a schema")
        try:
            data = json.loads(messages[1]["content"])
            asked = data["messages"] if "messages" in data else data["topics"]
        except (ValueError, KeyError, TypeError):
            self._problem("user message is not the documented JSON")
            return []
        for item in asked:
            text = item.get("text") if "posts" not in item else item.get("posts")
            if not isinstance(item.get("id"), str) or not isinstance(text, str | list):
                self._problem(f"bad message item {item}")
        return asked

    def _answer(self, body: dict[str, Any]) -> tuple[int, Any, dict, float]:
        with self.lock:
            self.requests.append(body)
            behaviour = self.script.popleft() if self.script else self.default
        asked = self._check(body)
        kind, arg = (behaviour, None) if isinstance(behaviour, str) else behaviour
        wait = self.delay
        if kind == "429":
            return 429, {"error": {"message": "rate limited"}}, {"Retry-After": str(arg)}, wait
        if kind == "500":
            return 500, {"error": {"message": "internal error"}}, {}, wait
        if kind == "no_json_schema":
            fmt = body.get("response_format") or {}
            if fmt.get("type") == "json_schema":
                message = "response_format json_schema is not supported"
                return 400, {"error": {"message": message}}, {}, wait
            kind = "valid"
        if kind == "slow":
            wait += float(arg)
            kind = "valid"
        if kind == "refuse":
            message = {"role": "assistant", "content": None, "refusal": "I can't help with that."}
            return 200, self._completion(message, body), {}, wait
        if kind == "invalid_json":
            content = "Sure! Here is the summary: it is about databases."
        elif kind == "bad_schema":
            content = json.dumps({"items": [{"id": a["id"], "keywords": "x"} for a in asked]})
        else:
            content = json.dumps({"items": [self._item(a) for a in asked]}, ensure_ascii=False)
        return 200, self._completion({"role": "assistant", "content": content}, body), {}, wait

    def _item(self, asked: dict[str, Any]) -> dict[str, Any]:
        if "posts" in asked:  # a topic card (`topics build --llm`)
            return {
                "id": asked["id"],
                "title": f"LLM title: {', '.join(asked['keywords'][:2])}",
                "summary": f"LLM summary of {len(asked['posts'])} posts",
                "scope_in": asked["keywords"][:2],
                "scope_out": ["everything else"],
            }
        text = asked["text"]
        words = [w.strip(".,!?") for w in text.split() if len(w) > 3]
        entities = []
        if "PostgreSQL" in text:
            entities.append({"type": "technology", "value": "PostgreSQL", "confidence": 0.95})
        is_ad = any(w in text.lower() for w in self.ad_words)
        return {
            "id": asked["id"],
            "summary": f"LLM summary: {text[:60]}",
            "keywords": words[:3],
            "entities": entities,
            "language": "ru",
            "is_ad": is_ad,
            "ad_reason": "asks to buy" if is_ad else "",
        }

    def _completion(self, message: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        prompt = sum(len(m.get("content") or "") for m in body.get("messages", []))
        completion = len(message.get("content") or "")
        return {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "model": self.model,
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            "usage": {
                "prompt_tokens": prompt // 4,
                "completion_tokens": completion // 4,
                "total_tokens": prompt // 4 + completion // 4,
            },
        }
