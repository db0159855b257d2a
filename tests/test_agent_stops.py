"""How the loop reads each stop reason, against the fake model server (tests/test_agent.py)."""

import logging

import anthropic
import pytest

from core.errors import UnexpectedAnswer
from jobs.agent.loop import ENDS_RUN
from tests.fakes.model import Reply, reply, text, tool_use
from tests.test_agent import RecordingTools, run


def last_user_text(request):
    return [b["text"] for b in request["messages"][-1]["content"] if b["type"] == "text"]


def test_a_cut_reply_is_not_the_summary_and_its_tool_call_is_not_run(fake_model):
    fake_model.script(
        reply(text("Writing the module."), tool_use("str_replace_based_edit_tool", {
            "command": "create", "path": "/workspace/big.py", "file_text": "x = [1,"}),
            stop_reason="max_tokens"),
        reply(tool_use("bash", {"command": "ls"})),
        reply(text("Done in parts.")),
    )
    tools = RecordingTools()
    result, _ = run(fake_model, tools)
    assert [name for name, _ in tools.calls] == ["bash"]
    assert result.summary == "Done in parts." and result.stopped_by is None
    second = fake_model.requests[1]
    # The cut text stays as said; the incomplete tool call is not in the history.
    assert second["messages"][1] == {"role": "assistant",
                                     "content": [{"type": "text", "text": "Writing the module."}]}
    [note] = last_user_text(second)
    assert note.startswith("Your last reply was cut off at the output limit (16,000 tokens). "
                           "Its call to `str_replace_based_edit_tool` was cut short")
    assert fake_model.violations == []


def test_cut_text_alone_is_not_taken_as_the_summary(fake_model):
    fake_model.script(reply(text("I changed the pars"), stop_reason="max_tokens"),
                      reply(text("I changed the parser.")))
    result, _ = run(fake_model, RecordingTools())
    assert result.summary == "I changed the parser." and result.turns == 2
    assert "Its call" not in last_user_text(fake_model.requests[1])[0]


def test_three_cut_replies_in_a_row_end_the_run_saying_so(fake_model):
    fake_model.script(reply(text("Step one."), tool_use("bash", {"command": "true"})),
                      *[reply(text(f"Long {n}"), stop_reason="max_tokens") for n in range(3)],
                      reply(text("never asked")))
    tools = RecordingTools()
    result, events = run(fake_model, tools)
    assert result.stopped_by == ("the output limit (the model's answer was cut off at 16,000 "
                                 "tokens 3 times in a row)")
    assert result.turns == 4 and result.summary == "" and len(tools.calls) == 1
    assert fake_model.remaining == 1 and events[-1] == ("stopped", {**events[-1][1], "by": result.stopped_by})


def test_cut_replies_are_counted_in_a_row_only(fake_model):
    cut = reply(text("Long"), stop_reason="max_tokens")
    fake_model.script(cut, cut, reply(tool_use("bash", {"command": "true"})), cut, cut,
                      reply(text("Done.")))
    result, _ = run(fake_model, RecordingTools())
    assert result.summary == "Done." and result.stopped_by is None and result.turns == 6


@pytest.mark.parametrize("reason", sorted(ENDS_RUN))
def test_a_refusal_or_a_full_context_window_ends_the_run_with_that_reason(fake_model, reason):
    fake_model.script(reply(tool_use("bash", {"command": "echo hi > a.txt"})),
                      reply(text("I can't"), tool_use("bash", {"command": "rm -rf x"}),
                            stop_reason=reason),
                      reply(text("never asked")))
    tools = RecordingTools()
    result, events = run(fake_model, tools, review=lambda ask: "check your diff")
    assert result.stopped_by == ENDS_RUN[reason] and f"`{reason}`" in result.stopped_by
    assert result.summary == "" and len(tools.calls) == 1 and fake_model.remaining == 1
    assert events[-1][0] == "stopped" and events[-1][1]["by"] == result.stopped_by


def test_an_unknown_stop_reason_is_logged_and_ends_the_run_as_an_error(fake_model, caplog):
    # The SDK's types reject a stop reason they do not list, so only a lenient client (the
    # default, ORCA_STRICT_MODEL_RESPONSES off) lets one through; reply() refuses to script it.
    fake_model.script(Reply([text("Done, I think.")], stop_reason="brand_new_reason"))
    client = fake_model.client(_strict_response_validation=False)
    with caplog.at_level(logging.WARNING, logger="orca.agent"):
        with pytest.raises(UnexpectedAnswer, match="stop reason `brand_new_reason`"):
            run(fake_model, RecordingTools(), client=client)
    assert "brand_new_reason" in caplog.text


def test_the_strict_client_rejects_an_unknown_stop_reason_before_the_loop_sees_it(fake_model):
    fake_model.script(Reply([text("Done.")], stop_reason="brand_new_reason"))
    with pytest.raises(anthropic.APIResponseValidationError):
        run(fake_model, RecordingTools())
