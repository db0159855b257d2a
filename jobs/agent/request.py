"""One request to the Messages API: the cache breakpoints, and its failures as RunErrors.

The prefix order is tools → system → messages; tools and system carry a fixed breakpoint and
the newest message a moving one, so every turn reads the history before it from the cache.
"""

from __future__ import annotations

import copy
from typing import Any

import anthropic

from core.errors import ModelUnavailable
from jobs.agent.tools import tool_definitions

# Room for a long final summary or a large file written in one call.
MAX_OUTPUT_TOKENS = 16_000
EPHEMERAL = {"type": "ephemeral"}


def _with_breakpoints(messages: list[dict]) -> list[dict]:
    """A copy of the history with a cache breakpoint on the newest block.

    Tools and system carry their own breakpoint; this moving one makes the next turn
    read everything before it from the cache. Only the request copy is marked, so at
    most two breakpoints are ever sent (the API allows four).
    """
    marked = copy.copy(messages)
    last = copy.deepcopy(marked[-1])
    last["content"][-1]["cache_control"] = EPHEMERAL
    marked[-1] = last
    return marked


def as_param(block: Any) -> dict:
    """A response block as the request param the API takes back (only what it needs)."""
    if block.type == "tool_use":
        return {"type": "tool_use", "id": block.id, "name": block.name, "input": block.input}
    if block.type == "text":
        return {"type": "text", "text": block.text}
    return block.model_dump(exclude_none=True)


def request(client: anthropic.Anthropic, model: str, system: str, messages: list[dict],
            max_tokens: int = MAX_OUTPUT_TOKENS, one_off: bool = False,
            tools: list[dict] | None = None) -> Any:
    """The model's answer to the history; ModelUnavailable if none came. `tools` defaults to
    the editor and bash. A `one_off` request (the fresh-context check, the judge of attempts)
    is offered no tools and marks nothing for the cache: it is never read again, and a cache
    write costs more than plain input. (With ORCA_STRICT_MODEL_RESPONSES, an answer that does
    not match the SDK's types raises the SDK's APIResponseValidationError: a test's setting,
    and a failure Orca has no name for.)"""
    try:
        if one_off:
            return client.messages.create(model=model, max_tokens=max_tokens, system=system,
                                          messages=messages)
        return client.messages.create(
            model=model, max_tokens=max_tokens,
            tools=tools if tools is not None else tool_definitions(),
            system=[{"type": "text", "text": system, "cache_control": EPHEMERAL}],
            messages=_with_breakpoints(messages),
        )
    except anthropic.APIStatusError as exc:
        raise ModelUnavailable(f"The model API answered {exc.status_code} "
                               f"({type(exc).__name__}) after retries.") from exc
    except anthropic.APITimeoutError as exc:
        raise ModelUnavailable(f"The model API did not answer within {_read_timeout(client)}, "
                               f"{client.max_retries + 1} times in a row.") from exc
    except anthropic.APIConnectionError as exc:
        raise ModelUnavailable("The model API could not be reached after retries.") from exc


def _read_timeout(client: anthropic.Anthropic) -> str:
    """How long one request may wait for the answer (ORCA_MODEL_TIMEOUT), for the user."""
    seconds = getattr(client.timeout, "read", client.timeout)
    return f"{seconds:g} s" if isinstance(seconds, (int, float)) else "its time limit"
