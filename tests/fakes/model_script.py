"""Builders for the fake model's script: content blocks, replies and scripted errors.

A test scripts the fake with `FakeModel.script(reply(text("done")), error(529), ...)`; each
entry answers one POST /v1/messages, in order.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

# The stop reasons the SDK's `StopReason` literal accepts; anything else would fail strict
# response validation on the client, so it is refused when the script is written instead.
STOP_REASONS = frozenset(
    {
        "end_turn",
        "max_tokens",
        "stop_sequence",
        "tool_use",
        "pause_turn",
        "refusal",
        "model_context_window_exceeded",
    }
)

# Anthropic's error type for each status: https://docs.anthropic.com/en/api/errors
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


@dataclass(frozen=True)
class Reply:
    """One scripted successful answer: the content blocks of an assistant message."""

    content: list[dict[str, Any]]
    stop_reason: str
    usage: dict[str, int] | None = None
    """Overrides merged over the emulated usage (see `model_usage`)."""
    delay: float = 0.0
    """Seconds to wait before answering, on top of the fake's global delay."""
    stall: float = 0.0
    """Seconds the answer stops midway: the headers and half the body go out, then nothing
    for this long (a stalled connection), then the rest."""


@dataclass(frozen=True)
class ErrorReply:
    """One scripted failure, answered with Anthropic's error JSON shape."""

    status: int
    type: str
    message: str
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0

    def body(self) -> dict[str, Any]:
        """The JSON body the real API sends with an error status."""
        return {"type": "error", "error": {"type": self.type, "message": self.message}}


def text(value: str) -> dict[str, Any]:
    """A text content block."""
    return {"type": "text", "text": value}


def tool_use(name: str, input: dict[str, Any], id: str | None = None) -> dict[str, Any]:
    """A tool_use content block; the id is random ("toolu_...") unless given."""
    return {"type": "tool_use", "id": id or f"toolu_{secrets.token_hex(12)}", "name": name, "input": input}


def reply(
    *blocks: dict[str, Any],
    stop_reason: str | None = None,
    usage: dict[str, int] | None = None,
    delay: float = 0.0,
    stall: float = 0.0,
) -> Reply:
    """A successful answer made of `blocks` (`delay` and `stall`: see `Reply`).

    The stop reason defaults to "tool_use" when any block is a tool_use (what the real model
    does), else "end_turn".
    """
    if stop_reason is None:
        has_tool_use = any(block.get("type") == "tool_use" for block in blocks)
        stop_reason = "tool_use" if has_tool_use else "end_turn"
    if stop_reason not in STOP_REASONS:
        raise ValueError(f"unknown stop_reason {stop_reason!r}; expected one of {sorted(STOP_REASONS)}")
    return Reply(content=[dict(block) for block in blocks], stop_reason=stop_reason, usage=usage, delay=delay,
                 stall=stall)


def looks_right() -> Reply:
    """The fresh-context check's answer when it finds nothing (jobs.agent.fresh_check)."""
    return reply(text("LOOKS RIGHT"))


def defects(*found: str) -> Reply:
    """The fresh-context check's answer listing defects, one per line."""
    return reply(text("\n".join(f"- {defect}" for defect in found)))


def _retry_headers(headers: dict[str, str] | None) -> dict[str, str]:
    """Default retry hints unless the test sets its own.

    The SDK treats `retry-after: 0` as "no hint" and falls back to 0.5-8 s exponential backoff
    (anthropic/_base_client.py, `_calculate_retry_timeout` needs a value > 0), so a 1 ms
    `retry-after-ms` (which the SDK reads first) is what actually keeps retried tests fast.
    """
    given = dict(headers or {})
    if not any(name.lower() in ("retry-after", "retry-after-ms") for name in given):
        given = {"retry-after": "0", "retry-after-ms": "1", **given}
    return given


def error(
    status: int,
    type: str | None = None,
    message: str | None = None,
    headers: dict[str, str] | None = None,
    delay: float = 0.0,
) -> ErrorReply:
    """A scripted failure: 429 rate_limit_error, 529 overloaded_error, 500 api_error...

    Without `type` the usual type for the status is used (overloaded_error for unknown ones);
    without `message`, "Overloaded" for overloaded_error, else a message naming the type.
    """
    kind = type or ERROR_TYPES.get(status, "overloaded_error")
    text_ = message or ("Overloaded" if kind == "overloaded_error" else f"fake model: {kind}")
    return ErrorReply(status=status, type=kind, message=text_, headers=_retry_headers(headers), delay=delay)


def as_scripted(entry: Reply | ErrorReply | str | dict[str, Any]) -> Reply | ErrorReply:
    """Accept shorthands in `FakeModel.script`: a str is a text reply, a dict a one-block reply."""
    if isinstance(entry, (Reply, ErrorReply)):
        return entry
    if isinstance(entry, str):
        return reply(text(entry))
    if isinstance(entry, dict):
        return reply(entry)
    raise TypeError(f"cannot script {entry!r}: use reply(...), error(...), a str or a block dict")
