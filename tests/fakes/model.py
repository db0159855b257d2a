"""A fake Anthropic model: a real HTTP server on loopback speaking the Messages API.

Tests script its answers, point the real `anthropic` client at `base_url`, and afterwards read
what it received:

    fake_model.script(reply(tool_use("bash", {"command": "ls"})), reply(text("done")))
    client = fake_model.client()
    ...
    assert not fake_model.violations

It refuses what the real API refuses (400 invalid_request_error, recorded in `violations`),
answers scripted errors in Anthropic's error shape, streams like the real API, and emulates
prompt-caching usage (see `model_usage`).
"""

from __future__ import annotations

import json
import secrets
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Iterator
from urllib.parse import urlsplit

import anthropic
import pytest

from tests.fakes.model_checks import check_request
from tests.fakes.model_script import (
    ErrorReply,
    Reply,
    as_scripted,
    defects,
    error,
    looks_right,
    reply,
    text,
    tool_use,
)
from tests.fakes.model_usage import PromptCache, count_input_tokens, estimate_tokens
from tests.fakes import model_wire
from tests.serving import Background

__all__ = ["FakeModel", "Reply", "ErrorReply", "defects", "error", "fake_model", "looks_right", "reply",
           "text", "tool_use"]

MESSAGES_PATH = "/v1/messages"
COUNT_TOKENS_PATH = "/v1/messages/count_tokens"
NO_REPLY_LEFT = "fake model: no scripted reply left"
# Answers a request from its body (see FakeModel.respond_with).
Responder = Callable[[dict[str, Any]], Reply | ErrorReply | str | dict[str, Any]]


@dataclass
class Answer:
    """An HTTP answer from the fake: status, body and extra headers."""

    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    stall: float = 0.0
    """Seconds to stop after the headers and half the body (see `Reply.stall`)."""


def _json_answer(status: int, value: Any, headers: dict[str, str] | None = None) -> Answer:
    return Answer(status, json.dumps(value).encode(), {"content-type": "application/json", **(headers or {})})


def _error_answer(failure: ErrorReply) -> Answer:
    return _json_answer(failure.status, failure.body(), failure.headers)


class FakeModel:
    """A scripted Messages API server on a free 127.0.0.1 port.

    `delay` is added before every answer (on top of a reply's own delay); `min_cache_tokens`
    emulates the real minimum cacheable prefix (0: everything caches).
    """

    def __init__(self, delay: float = 0.0, *, api_key: str = "test-model-key", min_cache_tokens: int = 0) -> None:
        self.delay = delay
        self.api_key = api_key
        self.requests: list[dict[str, Any]] = []
        """Every JSON body received on /v1/messages, refused and failed ones included."""
        self.request_headers: list[dict[str, str]] = []
        """The headers (lower-cased names) of each entry of `requests`."""
        self.count_tokens_requests: list[dict[str, Any]] = []
        self.violations: list[str] = []
        """Requests the real API would refuse, and requests past the end of the script."""
        self.usage_log: list[dict[str, int]] = []
        """The usage of every successful answer, in order."""
        self.cache = PromptCache(min_cache_tokens)
        self._script: deque[Reply | ErrorReply] = deque()
        self._failure: ErrorReply | None = None
        self._responder: Responder | None = None
        self._lock = threading.Lock()
        self._serving: Background | None = None
        self.stopped = threading.Event()
        """Set by `stop()`: ends any stalled answer at once."""

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> FakeModel:
        """Listen on a free loopback port and serve in a background thread."""
        self.stopped.clear()
        self._serving = Background(_Server(("127.0.0.1", 0), _Handler, self), "fake-model")
        return self

    def stop(self) -> None:
        """Stop serving and release the port."""
        self.stopped.set()
        if self._serving is not None:
            self._serving.stop()
            self._serving = None

    def __enter__(self) -> FakeModel:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """Where to point the client: `Anthropic(base_url=fake.base_url)`."""
        if self._serving is None:
            raise RuntimeError("FakeModel is not started")
        return self._serving.url

    def client(self, **options: Any) -> anthropic.Anthropic:
        """A real client bound to this fake, validating every response strictly unless
        `_strict_response_validation=False` is given (as with ORCA_STRICT_MODEL_RESPONSES off)."""
        options.setdefault("api_key", self.api_key)
        options.setdefault("_strict_response_validation", True)
        return anthropic.Anthropic(base_url=self.base_url, **options)

    # -- scripting ---------------------------------------------------------------------------

    def script(self, *entries: Reply | ErrorReply | str | dict[str, Any]) -> None:
        """Append answers, consumed one per POST /v1/messages (a str is a text reply)."""
        with self._lock:
            self._script.extend(as_scripted(entry) for entry in entries)

    @property
    def remaining(self) -> int:
        """Scripted answers not yet consumed."""
        with self._lock:
            return len(self._script)

    def respond_with(self, responder: Responder | None) -> None:
        """Answer each request with `responder(body)` instead of the script (None: the script
        again). For many runs at once, whose requests interleave: the body tells them apart."""
        with self._lock:
            self._responder = responder

    def fail_always(self, status: int | None, type: str | None = None, message: str | None = None,
                    headers: dict[str, str] | None = None) -> None:
        """Answer every valid request with this error, leaving the script alone; None clears it."""
        failure = None if status is None else error(status, type, message, headers)
        with self._lock:
            self._failure = failure

    # -- serving -----------------------------------------------------------------------------

    def handle(self, method: str, path: str, headers: dict[str, str], raw: bytes) -> Answer:
        """Answer one HTTP request (called from the server's handler threads)."""
        answer = self._route(method, path, headers, raw)
        # The SDK exposes this as `_request_id` and puts it in error messages.
        answer.headers.setdefault("request-id", f"req_{secrets.token_hex(12)}")
        return answer

    def _route(self, method: str, path: str, headers: dict[str, str], raw: bytes) -> Answer:
        route = urlsplit(path).path.rstrip("/")
        if method != "POST" or route not in (MESSAGES_PATH, COUNT_TOKENS_PATH):
            return _json_answer(404, error(404, message=f"fake model: no route {method} {route}").body())
        try:
            body = json.loads(raw or b"null")
        except ValueError:
            return self._refuse(route, [f"body is not JSON: {raw[:80]!r}"])
        if route == COUNT_TOKENS_PATH:
            return self._count_tokens(headers, body)
        return self._messages(headers, body)

    def _count_tokens(self, headers: dict[str, str], body: Any) -> Answer:
        with self._lock:
            self.count_tokens_requests.append(body)
        refusal = self._refusal(COUNT_TOKENS_PATH, headers, body, needs_max_tokens=False)
        return refusal or _json_answer(200, {"input_tokens": count_input_tokens(body)})

    def _messages(self, headers: dict[str, str], body: Any) -> Answer:
        with self._lock:
            self.requests.append(body)
            self.request_headers.append(headers)
        refusal = self._refusal(MESSAGES_PATH, headers, body, needs_max_tokens=True)
        if refusal is not None:
            return self._after(self.delay, refusal)
        entry = self._next_entry(body)
        with self._lock:
            if entry is None:
                self.violations.append(f"POST {MESSAGES_PATH}: {NO_REPLY_LEFT}")
        if entry is None:
            # Not retried: a test past the end of its script should fail at once, not three times.
            failure = error(500, "api_error", NO_REPLY_LEFT, {"x-should-retry": "false"})
            return self._after(self.delay, _error_answer(failure))
        if isinstance(entry, ErrorReply):
            return self._after(self.delay + entry.delay, _error_answer(entry))
        answer = self._success(body, entry)
        answer.stall = entry.stall
        return self._after(self.delay + entry.delay, answer)

    def _next_entry(self, body: dict[str, Any]) -> Reply | ErrorReply | None:
        """The standing failure, else the responder's answer, else the script's next."""
        with self._lock:
            if self._failure is not None:
                return self._failure
            responder = self._responder
            if responder is None:
                return self._script.popleft() if self._script else None
        return as_scripted(responder(body))

    def _refusal(self, route: str, headers: dict[str, str], body: Any, *, needs_max_tokens: bool) -> Answer | None:
        """401 for a wrong key, 400 (and violations) for what the real API refuses, else None."""
        if not self._authorized(headers):
            failure = error(401, "authentication_error", "invalid x-api-key")
            return _json_answer(401, failure.body())
        problems = [] if headers.get("anthropic-version") else ["anthropic-version: header is required"]
        problems += check_request(body, needs_max_tokens=needs_max_tokens)
        return self._refuse(route, problems) if problems else None

    def _refuse(self, route: str, problems: list[str]) -> Answer:
        with self._lock:
            self.violations.extend(f"POST {route}: {problem}" for problem in problems)
        return _json_answer(400, error(400, "invalid_request_error", "; ".join(problems)).body())

    def _authorized(self, headers: dict[str, str]) -> bool:
        """The key may come as `x-api-key` or as the SDK's `Authorization: Bearer`."""
        bearer = headers.get("authorization", "")
        given = headers.get("x-api-key") or (bearer[len("Bearer ") :] if bearer.startswith("Bearer ") else "")
        return secrets.compare_digest(given.encode(), self.api_key.encode())

    def _success(self, body: dict[str, Any], entry: Reply) -> Answer:
        usage = {**self.cache.usage_for(body), "output_tokens": estimate_tokens(entry.content)}
        usage.update(entry.usage or {})
        with self._lock:
            self.usage_log.append(usage)
        final = model_wire.message(body["model"], entry.content, entry.stop_reason, usage)
        if body.get("stream") is True:
            events = model_wire.sse(model_wire.stream_events(final))
            return Answer(200, events, {"content-type": "text/event-stream", "cache-control": "no-cache"})
        return _json_answer(200, final)

    def _after(self, seconds: float, answer: Answer) -> Answer:
        """Wait `seconds` (emulated model latency; cut short by `stop()`), then give the answer."""
        if seconds > 0:
            self.stopped.wait(seconds)
        return answer


class _Server(ThreadingHTTPServer):
    """A threading HTTP server that knows its FakeModel."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], fake: FakeModel) -> None:
        self.fake = fake
        super().__init__(address, handler)


class _Handler(BaseHTTPRequestHandler):
    """Reads a request, lets the FakeModel answer it, writes the answer."""

    # HTTP/1.1 keeps the SDK's connections alive across requests, as with the real API.
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_POST(self) -> None:
        self._serve("POST")

    def do_GET(self) -> None:
        self._serve("GET")

    def _serve(self, method: str) -> None:
        raw = self.rfile.read(int(self.headers.get("content-length") or 0))
        headers = {name.lower(): value for name, value in self.headers.items()}
        answer = self.server.fake.handle(method, self.path, headers, raw)
        self.send_response(answer.status)
        for name, value in answer.headers.items():
            self.send_header(name, value)
        self.send_header("content-length", str(len(answer.body)))
        self.end_headers()
        if answer.stall > 0:
            self._stall(answer)
        else:
            self.wfile.write(answer.body)

    def _stall(self, answer: Answer) -> None:
        """Half the body, a silence, then the rest (to a client that has usually gone)."""
        half = len(answer.body) // 2
        self.wfile.write(answer.body[:half])
        self.wfile.flush()
        self.server.fake.stopped.wait(answer.stall)
        try:
            self.wfile.write(answer.body[half:])
        except OSError:
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the per-request log lines; `FakeModel.requests` records them."""


@pytest.fixture
def fake_model() -> Iterator[FakeModel]:
    """A started FakeModel, stopped after the test."""
    fake = FakeModel().start()
    try:
        yield fake
    finally:
        fake.stop()
