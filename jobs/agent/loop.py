"""The agent loop: the model proposes tool calls, the sandbox runs them, until done.

Small on purpose (after mini-swe-agent): the limits are checked every turn, the few
ways a loop ends are named, and every request, tool call and result becomes an event.
History is append-only so every turn reads the prompt cache; see `_with_breakpoints`.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

import anthropic

from core.budget import Budget, Spent, exhausted
from core.errors import ModelUnavailable
from core.pricing import Prices, Usage, cost
from jobs.agent.tools import ToolResult, tool_definitions

# Room for a long final summary or a large file written in one call.
MAX_OUTPUT_TOKENS = 16_000
EPHEMERAL = {"type": "ephemeral"}

# The context window of current Claude models (https://docs.anthropic.com/en/docs/about-claude/models);
# ORCA_CONTEXT_WINDOW overrides it for models with a larger one.
CONTEXT_WINDOW = 200_000
# Clear old tool output once a request fills 80% of the window: room for one more large
# result and the answer, and rare enough that the cache prefix breaks seldom.
CLEAR_AT = 0.8
# The newest tool results stay whole: the model is usually still working with them.
KEEP_RESULTS = 4
# How often a stop is looked for while the model's answer is awaited: "now" to a person.
STOP_POLL_SECONDS = 0.1
CLEARED = "[old tool output cleared to save context]"

Emit = Callable[[str, dict[str, Any]], None]
Review = Callable[[], "str | None"]
"""Called when the model first answers without a tool call: the text that asks it to check
its diff, or None when there is nothing to check (no changes)."""


class Tools(Protocol):
    def run(self, name: str, tool_input: dict) -> ToolResult: ...


@dataclass
class AgentResult:
    """How the loop ended. `stopped_by` names the limit that ended it, if one did."""

    summary: str
    turns: int
    usage: Usage = field(default_factory=Usage)
    stopped_by: str | None = None
    cost: float | None = 0.0
    """Dollars at the price table's rates; None for a model with no known price."""


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
    except anthropic.APITimeoutError as exc:
        raise ModelUnavailable(f"The model API did not answer within {_read_timeout(client)}, "
                               f"{client.max_retries + 1} times in a row.") from exc
    except anthropic.APIConnectionError as exc:
        raise ModelUnavailable("The model API could not be reached after retries.") from exc


def _read_timeout(client: anthropic.Anthropic) -> str:
    """How long one request may wait for the answer (ORCA_MODEL_TIMEOUT), for the user."""
    seconds = getattr(client.timeout, "read", client.timeout)
    return f"{seconds:g} s" if isinstance(seconds, (int, float)) else "its time limit"


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


def clear_old_tool_results(messages: list[dict], keep: int = KEEP_RESULTS) -> int:
    """Replace the content of all but the newest `keep` tool results with a short note.

    Oldest first, in place; returns how many were cleared. The tool_use blocks stay, so the
    model still sees what it ran and can run it again if it needs the output back.
    """
    results = [block for message in messages if message["role"] == "user"
               for block in message["content"] if block.get("type") == "tool_result"]
    cleared = 0
    for block in results[:max(0, len(results) - keep)]:
        if isinstance(block.get("content"), str) and len(block["content"]) > len(CLEARED):
            block["content"] = CLEARED
            cleared += 1
    return cleared


@dataclass
class _Loop:
    """One conversation: the history, the budget, and what has been spent."""

    client: anthropic.Anthropic
    model: str
    system: str
    tools: Tools
    emit: Emit
    budget: Budget
    review: Review | Sequence[Review] | None
    """What the model reads when it says it is done, each once, in order (the diff review,
    then Orca's test run): the first that has something to say reopens the loop."""
    context_window: int
    prices: Prices | None
    clock: Callable[[], float]
    stop: Callable[[], str | None] | None = None
    messages: list[dict] = field(default_factory=list)

    def run(self, task: str) -> AgentResult:
        self.messages = [{"role": "user", "content": [{"type": "text", "text": task}]}]
        result, started = AgentResult(summary="", turns=0), self.clock()
        self.emit("budget", self.budget.as_dict())
        while True:
            response = self._answer_unless_stopped()
            if response is None:  # stopped while the model was thinking
                return self._stopped(result, started)
            spent = self._account(result, response, started)
            # An empty assistant turn would make the next request invalid.
            content = [_as_param(b) for b in response.content] or [{"type": "text", "text": "(no answer)"}]
            self.messages.append({"role": "assistant", "content": content})
            if any(b["type"] == "tool_use" for b in content):
                results = _run_tools(response.content, self.tools, self.emit)
                self.messages.append({"role": "user", "content": results})
            else:
                result.summary = _text(response.content) or result.summary
                follow_up = None if exhausted(self.budget, spent) else self._review_once()
                if follow_up is None:
                    return result
                self.messages.append({"role": "user", "content": [{"type": "text", "text": follow_up}]})
            self._trim_context(response.usage)
            spent.minutes = (self.clock() - started) / 60
            result.stopped_by = (self.stop and self.stop()) or exhausted(self.budget, spent)
            if result.stopped_by:
                self.emit("stopped", {"by": result.stopped_by, **spent.figures()})
                return result

    def _answer_unless_stopped(self) -> Any | None:
        """The model's next answer; None as soon as a stop is asked for while it is awaited.

        A request can take minutes (ORCA_MODEL_TIMEOUT), and a stop means now: the request
        goes in a thread of its own, and on a stop its client is closed and the answer left
        behind (the thread dies with the run's process at the latest)."""
        if self.stop is None:
            return _request(self.client, self.model, self.system, self.messages)
        answer: dict[str, Any] = {}
        done = threading.Event()

        def call() -> None:
            try:
                answer["response"] = _request(self.client, self.model, self.system, self.messages)
            except BaseException as exc:  # raised again in the loop's own thread
                answer["error"] = exc
            finally:
                done.set()

        threading.Thread(target=call, name="orca-model-request", daemon=True).start()
        while not done.wait(STOP_POLL_SECONDS):
            if self.stop():
                self.client.close()
                return None
        if "error" in answer:
            raise answer["error"]
        return answer["response"]

    def _stopped(self, result: AgentResult, started: float) -> AgentResult:
        result.stopped_by = self.stop() if self.stop else None
        spent = Spent(result.turns, result.usage, result.cost, (self.clock() - started) / 60)
        self.emit("stopped", {"by": result.stopped_by, **spent.figures()})
        return result

    def _account(self, result: AgentResult, response: Any, started: float) -> Spent:
        """Add the response's usage to the run's, record it with the running figures."""
        result.turns += 1
        result.usage.add(response.usage)
        result.cost = cost(self.model, result.usage, self.prices)
        spent = Spent(result.turns, result.usage, result.cost, (self.clock() - started) / 60)
        self.emit("model", {"turn": result.turns, "stop_reason": response.stop_reason,
                            "usage": response.usage.model_dump(), "spent": spent.figures()})
        return spent

    def _review_once(self) -> str | None:
        reviews = [] if self.review is None else [self.review] if callable(self.review) else list(self.review)
        while reviews:
            said = reviews.pop(0)()
            if said is not None:
                self.review = reviews
                return said
        self.review = None
        return None

    def _trim_context(self, usage: Any) -> None:
        """Clear old tool output when the last request neared the context window.

        Our own rather than the API's context-editing beta (clear_tool_uses_20250919): the same
        history is then what we send, count and record; it works on any endpoint that speaks
        the plain Messages API; and we decide when the cache prefix breaks (once per clearing,
        which frees most of the window, so it happens rarely).
        """
        size = Usage.of(usage).total_input
        if size < CLEAR_AT * self.context_window:
            return
        cleared = clear_old_tool_results(self.messages)
        self.emit("context", {"input_tokens": size, "window": self.context_window, "cleared": cleared})


def _text(content: list) -> str:
    return "\n".join(b.text for b in content if b.type == "text").strip()


def run_agent(client: anthropic.Anthropic, *, model: str, system: str, task: str, tools: Tools,
              emit: Emit, budget: Budget, review: Review | Sequence[Review] | None = None,
              context_window: int = CONTEXT_WINDOW, prices: Prices | None = None,
              clock: Callable[[], float] = time.monotonic,
              stop: Callable[[], str | None] | None = None) -> AgentResult:
    """Run the loop until the model is done (after its diff review, if `review` is given),
    a budget is used up, or `stop()` gives a reason; `stopped_by` then names it."""
    loop = _Loop(client, model, system, tools, emit, budget, review, context_window, prices,
                 clock, stop)
    return loop.run(task)
