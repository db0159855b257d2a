"""The agent loop: the model proposes tool calls, the sandbox runs them, until done.

Small on purpose (after mini-swe-agent): the limits are checked every turn, the few
ways a loop ends are named, and every request, tool call and result becomes an event.
History is append-only so every turn reads the prompt cache; see `_with_breakpoints`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

import anthropic

from jobs.errors import ModelUnavailable
from jobs.pricing import Usage
from jobs.tools import ToolResult, tool_definitions

# Room for a long final summary or a large file written in one call.
MAX_OUTPUT_TOKENS = 16_000
EPHEMERAL = {"type": "ephemeral"}

Emit = Callable[[str, dict[str, Any]], None]


class Tools(Protocol):
    def run(self, name: str, tool_input: dict) -> ToolResult: ...


@dataclass
class AgentResult:
    """How the loop ended. `stopped_by` names the limit that ended it, if one did."""

    summary: str
    turns: int
    usage: Usage = field(default_factory=Usage)
    stopped_by: str | None = None


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


def _as_param(block: Any) -> dict:
    """A response block as the request param the API takes back (only what it needs)."""
    if block.type == "tool_use":
        return {"type": "tool_use", "id": block.id, "name": block.name, "input": block.input}
    if block.type == "text":
        return {"type": "text", "text": block.text}
    return block.model_dump(exclude_none=True)


def _request(client: anthropic.Anthropic, model: str, system: str, messages: list[dict]):
    tools = tool_definitions()
    try:
        return client.messages.create(
            model=model, max_tokens=MAX_OUTPUT_TOKENS, tools=tools,
            system=[{"type": "text", "text": system, "cache_control": EPHEMERAL}],
            messages=_with_breakpoints(messages),
        )
    except anthropic.APIStatusError as exc:
        raise ModelUnavailable(f"The model API answered {exc.status_code} "
                               f"({type(exc).__name__}) after retries.") from exc
    except anthropic.APIConnectionError as exc:
        raise ModelUnavailable("The model API could not be reached after retries.") from exc


def _run_tools(content: list, tools: Tools, emit: Emit) -> list[dict]:
    results = []
    for block in content:
        if block.type != "tool_use":
            continue
        result = tools.run(block.name, dict(block.input))
        emit("tool", {"name": block.name, "input": block.input, "is_error": result.is_error,
                      "output": result.content[:4000]})
        results.append({"type": "tool_result", "tool_use_id": block.id,
                        "content": result.content, "is_error": result.is_error})
    return results


def run_agent(client: anthropic.Anthropic, *, model: str, system: str, task: str,
              tools: Tools, max_turns: int, emit: Emit) -> AgentResult:
    """Run the loop until the model answers without a tool call, or a limit is hit."""
    messages: list[dict] = [{"role": "user", "content": [{"type": "text", "text": task}]}]
    result = AgentResult(summary="", turns=0)
    while result.turns < max_turns:
        response = _request(client, model, system, messages)
        result.turns += 1
        result.usage.add(response.usage)
        emit("model", {"turn": result.turns, "stop_reason": response.stop_reason,
                       "usage": response.usage.model_dump()})
        messages.append({"role": "assistant", "content": [_as_param(b) for b in response.content]})
        text = "\n".join(b.text for b in response.content if b.type == "text").strip()
        if response.stop_reason != "tool_use":
            result.summary = text
            return result
        messages.append({"role": "user", "content": _run_tools(response.content, tools, emit)})
    result.stopped_by = f"the turn limit ({max_turns})"
    return result
