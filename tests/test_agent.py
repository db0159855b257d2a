"""The agent loop against the fake model server, with a recording toolbox."""

import pytest

from core.budget import Budget
from core.errors import ModelUnavailable
from jobs.agent.loop import CLEARED, clear_old_tool_results, run_agent
from jobs.agent.tools import ToolResult
from tests.fakes.model import error, reply, text, tool_use


class RecordingTools:
    """A toolbox that answers every call with a fixed text and remembers it."""

    def __init__(self):
        self.calls = []

    def run(self, name, tool_input):
        self.calls.append((name, tool_input))
        return ToolResult(f"ran {name}")


def breakpoints(request):
    """Where cache_control markers sit: 'system', and (message index, block index)."""
    found = [("system", i) for i, b in enumerate(request["system"]) if "cache_control" in b]
    for m, message in enumerate(request["messages"]):
        content = message["content"]
        if isinstance(content, list):
            found += [(m, b) for b, block in enumerate(content) if "cache_control" in block]
    return found


def run(fake, tools, max_turns=10, **options):
    events = []
    budget = options.pop("budget", Budget(max_turns))
    client = options.pop("client", None) or fake.client()
    result = run_agent(client, model="claude-sonnet-5-5", system="sys", task="do it",
                       tools=tools, budget=budget, emit=lambda k, d: events.append((k, d)), **options)
    return result, events


class Clock:
    """A clock that moves `step` seconds each time it is read."""

    def __init__(self, step):
        self.now, self.step = 0.0, step

    def __call__(self):
        self.now += self.step
        return self.now


def test_loop_runs_tools_until_the_model_answers(fake_model):
    fake_model.script(
        reply(tool_use("bash", {"command": "ls"}), tool_use("bash", {"command": "pwd"})),
        reply(text("Looking."), tool_use("str_replace_based_edit_tool", {"command": "view", "path": "/workspace"})),
        reply(text("Fixed the bug.")),
    )
    tools = RecordingTools()
    result, events = run(fake_model, tools)
    assert result.summary == "Fixed the bug."
    assert result.turns == 3 and result.stopped_by is None
    assert [name for name, _ in tools.calls] == ["bash", "bash", "str_replace_based_edit_tool"]
    assert fake_model.remaining == 0 and fake_model.violations == []
    assert [k for k, _ in events].count("model") == 3 and [k for k, _ in events].count("tool") == 3
    assert result.usage.output_tokens > 0


def test_cache_breakpoints_after_system_and_on_the_newest_message(fake_model):
    fake_model.script(reply(tool_use("bash", {"command": "ls"})), reply(text("done")))
    run(fake_model, RecordingTools())
    first, second = fake_model.requests
    assert first["tools"][0]["type"] == "text_editor_20250728"
    assert first["tools"][1] == {"type": "bash_20250124", "name": "bash"}
    assert breakpoints(first) == [("system", 0), (0, 0)]
    # Turn 2: history is append-only; only the newest message carries the moving breakpoint.
    assert breakpoints(second) == [("system", 0), (2, 0)]
    assert second["messages"][0]["content"] == [{"type": "text", "text": "do it"}]
    assert fake_model.usage_log[1]["cache_read_input_tokens"] > 0


def test_turn_limit_stops_the_loop(fake_model):
    fake_model.script(*[reply(tool_use("bash", {"command": "true"})) for _ in range(3)])
    result, _ = run(fake_model, RecordingTools(), max_turns=3)
    assert result.turns == 3
    assert result.stopped_by == "the turn limit (3)"
    assert fake_model.remaining == 0


def test_model_overloaded_on_every_attempt_is_model_unavailable(fake_model):
    fake_model.fail_always(529)
    with pytest.raises(ModelUnavailable, match="529"):
        run(fake_model, RecordingTools())
    assert len(fake_model.requests) == 3  # the SDK's two retries


def test_model_overloaded_once_is_retried(fake_model):
    fake_model.script(error(529), reply(text("done")))
    result, _ = run(fake_model, RecordingTools())
    assert result.summary == "done"


def test_token_budget_stops_the_loop(fake_model):
    fake_model.script(*[reply(tool_use("bash", {"command": "true"}), usage={"output_tokens": 2000})
                        for _ in range(3)])
    result, events = run(fake_model, RecordingTools(), budget=Budget(10, max_tokens=2500))
    assert result.turns == 1 and result.stopped_by == "the token budget (2,500 tokens)"
    assert ("stopped", {"by": result.stopped_by, **events[-1][1]}) == events[-1]


def test_a_token_budget_too_small_for_one_answer_makes_no_request(fake_model):
    result, events = run(fake_model, RecordingTools(), budget=Budget(10, max_tokens=1))
    assert result.turns == 0 and result.stopped_by == "the token budget (1 tokens)"
    assert fake_model.requests == [] and events[-1][0] == "stopped"


def test_dollar_budget_stops_the_loop_at_the_configured_price(fake_model):
    fake_model.script(*[reply(tool_use("bash", {"command": "true"}), usage={"output_tokens": 1000})
                        for _ in range(3)])
    # $1000 per million output tokens: each turn costs $1 or a little more.
    prices = {"claude-sonnet-5": (0.0, 1000.0)}
    result, _ = run(fake_model, RecordingTools(), budget=Budget(10, max_dollars=2), prices=prices)
    assert result.turns == 2 and result.stopped_by == "the dollar budget ($2.00)"
    assert result.cost == 2.0


def test_time_budget_stops_the_loop(fake_model):
    fake_model.script(*[reply(tool_use("bash", {"command": "true"})) for _ in range(3)])
    result, _ = run(fake_model, RecordingTools(), budget=Budget(10, max_minutes=1), clock=Clock(40))
    assert result.turns == 1 and result.stopped_by == "the time limit (1 minutes)"


def test_every_response_is_recorded_with_running_figures(fake_model):
    fake_model.script(reply(tool_use("bash", {"command": "ls"})), reply(text("done")))
    _, events = run(fake_model, RecordingTools())
    assert events[0] == ("budget", {"max_turns": 10, "max_tokens": None, "max_dollars": None,
                                    "max_minutes": None})
    models = [data for kind, data in events if kind == "model"]
    assert [m["spent"]["turns"] for m in models] == [1, 2]
    assert models[1]["spent"]["tokens"] > models[0]["spent"]["tokens"] > 0
    assert models[1]["usage"]["cache_read_input_tokens"] > 0


def test_diff_review_is_shown_once_then_the_final_answer_is_accepted(fake_model):
    fake_model.script(reply(text("All done.")), reply(tool_use("bash", {"command": "rm scratch.txt"})),
                      reply(text("Removed a scratch file; fixed the bug.")))
    reviews = []
    result, _ = run(fake_model, RecordingTools(),
                    review=lambda ask: reviews.append(1) or "<diff>\n+fix\n</diff> Checklist")
    assert reviews == [1] and result.turns == 3
    assert result.summary == "Removed a scratch file; fixed the bug."
    second = fake_model.requests[1]["messages"]
    assert second[-1]["content"][0]["text"] == "<diff>\n+fix\n</diff> Checklist"
    assert fake_model.violations == []


def test_no_diff_means_no_review(fake_model):
    fake_model.script(reply(text("Nothing to change.")))
    result, _ = run(fake_model, RecordingTools(), review=lambda ask: None)
    assert result.summary == "Nothing to change." and result.turns == 1


def test_a_used_up_budget_skips_the_review(fake_model):
    fake_model.script(reply(tool_use("bash", {"command": "true"})), reply(text("Done.")))
    result, _ = run(fake_model, RecordingTools(), max_turns=2, review=lambda ask: "check it")
    assert result.summary == "Done." and result.stopped_by is None and fake_model.remaining == 0


class BigTools(RecordingTools):
    def run(self, name, tool_input):
        super().run(name, tool_input)
        return ToolResult("x" * 8000)


def test_old_tool_output_is_cleared_near_the_context_window(fake_model):
    fake_model.script(*[reply(tool_use("bash", {"command": f"cat big{i}"})) for i in range(8)],
                      reply(text("done")))
    # Each result is about 2,000 emulated tokens; a 10k window clears past 8k.
    result, events = run(fake_model, BigTools(), max_turns=20, context_window=10_000)
    assert result.summary == "done" and fake_model.violations == []
    cleared = [data for kind, data in events if kind == "context"]
    assert cleared and cleared[0]["cleared"] >= 1
    last = fake_model.requests[-1]["messages"]
    contents = [b["content"] for m in last if m["role"] == "user" for b in m["content"]
                if b["type"] == "tool_result"]
    assert contents[0] == CLEARED and contents[-1] == "x" * 8000
    assert all(len(c) == 8000 for c in contents[-4:])
    # Clearing broke the cache prefix once; the next turn reads from the cache again.
    assert fake_model.usage_log[-1]["cache_read_input_tokens"] > 0


def test_clearing_keeps_the_newest_results_and_skips_short_ones():
    def result_message(content):
        return {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": content}]}

    messages = [result_message("a" * 100), result_message("ok"), *[result_message("b" * 100) for _ in range(4)]]
    assert clear_old_tool_results(messages, keep=4) == 1
    assert [m["content"][0]["content"][:1] for m in messages] == ["[", "o", "b", "b", "b", "b"]
    assert clear_old_tool_results(messages, keep=4) == 0
