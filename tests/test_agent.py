"""The agent loop against the fake model server, with a recording toolbox."""

import pytest

from jobs.agent import run_agent
from jobs.errors import ModelUnavailable
from jobs.tools import ToolResult
from tests.fakes.model import error, fake_model, reply, text, tool_use  # noqa: F401


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


def run(fake, tools, max_turns=10):
    events = []
    result = run_agent(fake.client(), model="claude-sonnet-5-5", system="sys", task="do it",
                       tools=tools, max_turns=max_turns, emit=lambda k, d: events.append((k, d)))
    return result, events


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
