"""The agent loop: the model proposes tool calls, the sandbox runs them, until done.

Small on purpose (after mini-swe-agent): the limits are checked before every request, the few
ways a loop ends are named, and every request, tool call and result becomes an event.
History is append-only so every turn reads the prompt cache (jobs.agent.request).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Protocol

import anthropic

from core.budget import Budget, Forecast, Spent, before_call, near_end, output_room
from core.errors import UnexpectedAnswer
from core.pricing import Prices, Usage, cost, price_for
from jobs.agent.prompt import cut_note
from jobs.agent.request import MAX_OUTPUT_TOKENS, as_param, request
from jobs.agent.tools import ToolResult

log = logging.getLogger("orca.agent")

# Less room for the answer than this cannot hold a tool call with its reasoning, or a summary:
# the request's input would be paid for and the answer cut, so the run ends before it instead.
LEAST_OUTPUT_TOKENS = 1_000
# A reply cut at max_tokens is never the summary and its tool calls never run; the model is asked
# for a shorter one at most this many times in a row (a third cut reply ends the run), since
# the same request cut three times is not getting shorter.
MAX_CONTINUATIONS = 2
# Stop reasons (https://docs.anthropic.com/en/api/handling-stop-reasons). `stop_sequence` cannot
# happen (Orca sends none) but is a finished answer; `pause_turn` only comes with server tools,
# which Orca does not use, so it is unknown here like any reason added after this list.
ANSWERED = frozenset({"end_turn", "tool_use", "stop_sequence"})
ENDS_RUN = {
    "refusal": "the model declining to go on (stop reason `refusal`)",
    "model_context_window_exceeded": ("the model's context window (stop reason "
                                      "`model_context_window_exceeded`)"),
}

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
# What a model event keeps of the turn's words, as a tool event keeps of its output: enough
# to follow the run (mission control, `orca solve --transcript`) without storing it all.
TEXT_KEPT = 4000

Emit = Callable[[str, dict[str, Any]], None]


@dataclass(frozen=True)
class Asked:
    """The answer to a request made beside the conversation (jobs.agent.fresh_check)."""

    text: str
    tokens: int
    cost: float | None


Ask = Callable[[str, str, int], "Asked | None"]
"""(system, message, max output tokens) → a separate request with no history and no tools,
counted in the run's budgets; None when the budget has no room for it or a stop came."""
Review = Callable[[Ask], "str | None"]
"""Called when the model answers without a tool call: what it should read and act on before
it finishes (its diff, what Orca's tests or the fresh-context check found), or None."""


class Tools(Protocol):
    """Runs the model's tool calls. One with tools beyond the editor and bash also has
    `definitions()`, the list sent to the Messages API (jobs.review's report tool)."""

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


def _run_tools(content: list, tools: Tools, emit: Emit) -> list[dict]:
    results = []
    for block in content:
        if block.type != "tool_use":
            continue
        result = tools.run(block.name, dict(block.input))
        emit("tool", {"name": block.name, "input": block.input, "is_error": result.is_error,
                      "exit_code": result.exit_code, "output": result.content[:TEXT_KEPT]})
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
    result: AgentResult = field(default_factory=lambda: AgentResult(summary="", turns=0))
    started: float = 0.0
    last: Usage = field(default_factory=Usage)
    """The last response's usage: the next request's input is at least as large."""
    cap: int = MAX_OUTPUT_TOKENS
    """The last request's max_tokens."""
    cuts: int = 0
    """Replies cut at max_tokens in a row."""
    warned: bool = False
    """Whether the model has been told it is near the end of its budget."""

    def run(self, task: str) -> AgentResult:
        self.messages = [{"role": "user", "content": [{"type": "text", "text": task}]}]
        self.started = self.clock()
        self.emit("budget", self.budget.as_dict())
        while True:
            # Before every request, so a run at its budget makes no further one.
            spent = self._spent()
            self.result.stopped_by = ((self.stop and self.stop())
                                      or before_call(self.budget, spent, self._forecast(),
                                                     LEAST_OUTPUT_TOKENS))
            if self.result.stopped_by:
                return self._ended()
            self.cap = self._output_cap(spent)
            response = self._answer_unless_stopped()
            if response is None:  # stopped while the model was thinking
                self.result.stopped_by = self.stop() if self.stop else None
                return self._ended()
            self._account(response)
            if not self._go_on(response):
                return self.result
            self._trim_context(response.usage)

    def _go_on(self, response: Any) -> bool:
        """Act on the answer by its stop reason; False when the run ends with it."""
        reason = response.stop_reason
        if reason == "max_tokens":
            return self._continue_cut(response)
        self.cuts = 0
        if reason in ENDS_RUN:
            self.result.stopped_by = ENDS_RUN[reason]
            self._ended()
            return False
        if reason not in ANSWERED:
            log.warning("the model stopped for an unknown reason: %r", reason)
            self.emit("unknown_stop_reason", {"stop_reason": reason})
            raise UnexpectedAnswer(f"the model stopped for a reason Orca does not know "
                                   f"(stop reason `{reason}`), so Orca ended the run rather "
                                   "than take its answer as finished.")
        # An empty assistant turn would make the next request invalid.
        content = [as_param(b) for b in response.content] or [{"type": "text", "text": "(no answer)"}]
        self.messages.append({"role": "assistant", "content": content})
        if any(b["type"] == "tool_use" for b in content):
            self._say(_run_tools(response.content, self.tools, self.emit))
            return True
        self.result.summary = _text(response.content) or self.result.summary
        last_call = before_call(self.budget, self._spent(), self._forecast(), LEAST_OUTPUT_TOKENS)
        follow_up = None if last_call else self._review_once()
        if follow_up is None:
            return False
        self._say([{"type": "text", "text": follow_up}])
        return True

    def _continue_cut(self, response: Any) -> bool:
        """A reply cut at max_tokens: its text is kept as said, its tool calls are not run (the
        last one is incomplete), and the model is asked for a shorter reply, a bounded number
        of times in a row."""
        self.cuts += 1
        if self.cuts > MAX_CONTINUATIONS:
            self.result.stopped_by = (f"the output limit (the model's answer was cut off at "
                                      f"{self.cap:,} tokens {self.cuts} times in a row)")
            self._ended()
            return False
        said = [{"type": "text", "text": b.text} for b in response.content
                if b.type == "text" and b.text.strip()]
        self.messages.append({"role": "assistant", "content": said or [{"type": "text", "text": "(cut off)"}]})
        calls = [b.name for b in response.content if b.type == "tool_use"]
        self._say([{"type": "text", "text": cut_note(self.cap, calls)}])
        return True

    def _say(self, blocks: list[dict]) -> None:
        """The next user message; the first time the budget nears its end, with a note saying so.

        After tool results the note ends the last one rather than following as a text block:
        text right after tool results teaches the model to end its turn there
        (https://docs.anthropic.com/en/api/handling-stop-reasons, "Empty responses")."""
        left = None if self.warned else near_end(self.budget, self._spent())
        if left:
            self.warned = True
            self.emit("near_end", {"left": left})
            note, last = f"{left}: run the tests and wrap up.", blocks[-1]
            if last.get("type") == "tool_result":
                blocks[-1] = {**last, "content": f"{last['content']}\n\n[{note}]"}
            else:
                blocks = [*blocks, {"type": "text", "text": note}]
        self.messages.append({"role": "user", "content": blocks})

    def _spent(self) -> Spent:
        return Spent(self.result.turns, self.result.usage, self.result.cost,
                     (self.clock() - self.started) / 60)

    def _forecast(self) -> Forecast:
        """The next request's input, as large as the last one's, and the price of its output."""
        price = price_for(self.model, self.prices)
        inputs = replace(self.last, output_tokens=0)
        return Forecast(inputs.total_input, cost(self.model, inputs, self.prices) or 0.0,
                        price[1] / 1e6 if price else None)

    def _output_cap(self, spent: Spent) -> int:
        """max_tokens for the next request: room for a long answer, within what the budget has left."""
        room = output_room(self.budget, spent, self._forecast())
        return MAX_OUTPUT_TOKENS if room is None else max(1, min(MAX_OUTPUT_TOKENS, room[0]))

    def ask(self, system: str, message: str, max_tokens: int) -> Asked | None:
        """A request beside the conversation (the fresh-context check): checked against the
        budget first like every turn, and its usage counted in the run's, but not a turn and
        not in the history."""
        spent = self._spent()
        if self.stop and self.stop():
            return None
        if before_call(self.budget, spent, self._forecast(), LEAST_OUTPUT_TOKENS):
            return None
        cap = max(1, min(max_tokens, self._output_cap(spent)))
        response = self._answer_unless_stopped(
            system, [{"role": "user", "content": [{"type": "text", "text": message}]}], cap,
            one_off=True)
        if response is None:
            return None
        usage = Usage.of(response.usage)
        self.result.usage.add(response.usage)
        self.result.cost = cost(self.model, self.result.usage, self.prices)
        dollars = cost(self.model, usage, self.prices)
        self.emit("model", {"turn": 0, "purpose": "check", "stop_reason": response.stop_reason,
                            "max_tokens": cap, "usage": response.usage.model_dump(),
                            "spent": self._spent().figures(), "dollars": dollars})
        return Asked(_text(response.content), usage.total, dollars)

    def _answer_unless_stopped(self, system: str | None = None, messages: list[dict] | None = None,
                               cap: int | None = None, one_off: bool = False) -> Any | None:
        """The model's next answer (to the conversation unless other messages are given); None
        as soon as a stop is asked for while it is awaited.

        A request can take minutes (ORCA_MODEL_TIMEOUT), and a stop means now: the request
        goes in a thread of its own, and on a stop its client is closed and the answer left
        behind (the thread dies with the run's process at the latest)."""
        args = (self.client, self.model, system or self.system,
                self.messages if messages is None else messages, cap or self.cap, one_off,
                None if one_off else self._definitions())
        if self.stop is None:
            return request(*args)
        answer: dict[str, Any] = {}
        done = threading.Event()

        def call() -> None:
            try:
                answer["response"] = request(*args)
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

    def _definitions(self) -> list[dict] | None:
        """The tools' own list when they have one; None: the editor and bash."""
        definitions = getattr(self.tools, "definitions", None)
        return definitions() if callable(definitions) else None

    def _ended(self) -> AgentResult:
        """Record why the run stopped, with the running figures."""
        self.emit("stopped", {"by": self.result.stopped_by, **self._spent().figures()})
        return self.result

    def _account(self, response: Any) -> None:
        """Add the response's usage to the run's, record it with the running figures."""
        result = self.result
        result.turns += 1
        self.last = Usage.of(response.usage)
        result.usage.add(response.usage)
        result.cost = cost(self.model, result.usage, self.prices)
        said = "".join(block.text for block in response.content if block.type == "text")
        self.emit("model", {"turn": result.turns, "stop_reason": response.stop_reason,
                            "max_tokens": self.cap, "usage": response.usage.model_dump(),
                            "spent": self._spent().figures(), "text": said[:TEXT_KEPT],
                            "dollars": cost(self.model, self.last, self.prices)})

    def _review_once(self) -> str | None:
        reviews = [] if self.review is None else [self.review] if callable(self.review) else list(self.review)
        while reviews:
            said = reviews.pop(0)(self.ask)
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
