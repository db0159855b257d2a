"""The fresh-context check: how its answer is read, and its request beside the conversation."""

import pytest

from core.budget import Budget
from core.errors import ModelUnavailable
from jobs.agent.fresh_check import (
    CHECK_MAX_TOKENS,
    MAX_DEFECTS,
    SYSTEM,
    FreshCheck,
    judge,
    prompt,
    run_check,
)
from jobs.agent.loop import Asked, run_agent
from tests.fakes.model import defects, error, looks_right, reply, text, tool_use
from tests.test_agent import RecordingTools


@pytest.mark.parametrize("answer", ["LOOKS RIGHT", "looks right.", "**LOOKS RIGHT**", "`LOOKS RIGHT`",
                                    "\n  Looks right!\n"])
def test_looks_right_however_it_is_dressed(answer):
    assert judge(answer) == ("looks right", ())


def test_list_items_are_the_defects_and_other_lines_are_not():
    answer = ("Two problems:\n- `calc.py:3` divides by zero when n == 0\n* the docs are not updated\n"
              "1. scratch file repro.py left behind\nThanks.")
    assert judge(answer) == ("defects", ("`calc.py:3` divides by zero when n == 0",
                                         "the docs are not updated",
                                         "scratch file repro.py left behind"))


@pytest.mark.parametrize("answer", ["", "Done.", "It mostly looks right, but I am unsure.",
                                    "LOOKS RIGHT? not really"])
def test_anything_else_is_unclear_and_never_a_defect(answer):
    assert judge(answer) == ("unclear", ())


def test_defects_are_capped_in_number_and_length():
    outcome, found = judge("\n".join(f"- defect {i} " + "x" * 1000 for i in range(30)))
    assert outcome == "defects" and len(found) == MAX_DEFECTS
    assert all(len(defect) <= 600 and defect.endswith("…") for defect in found)


def test_the_prompt_holds_the_request_the_diff_and_the_end_of_the_test_output():
    said = prompt("Fix the greeting", "+return 'hello'", "x" * 10_000 + "1 passed")
    assert "<request>\nFix the greeting\n</request>" in said and "+return 'hello'" in said
    assert said.endswith("1 passed\n</tests>") and len(said) < 6_200


def recorder():
    events = []
    return events, lambda kind, data: events.append((kind, data))


def test_an_empty_change_is_not_checked():
    events, emit = recorder()
    check = FreshCheck()
    run_check(check, lambda *a: pytest.fail("asked"), "req", "  \n", "tests", emit)
    assert check.outcome == "skipped: the change is empty" and events == []


def test_a_check_that_cannot_reach_the_model_is_said_and_sends_nothing_back():
    def ask(*args):
        raise ModelUnavailable("The model API answered 500 (InternalServerError) after retries.")

    events, emit = recorder()
    check = FreshCheck()
    run_check(check, ask, "req", "+x", "tests", emit)
    assert check.for_agent() is None
    assert check.words() == ("The fresh-context check did not run: The model API answered 500 "
                             "(InternalServerError) after retries.")
    assert events[0][1]["outcome"].startswith("failed: The model API answered 500")


def test_defects_go_to_the_agent_and_into_the_verification_words():
    events, emit = recorder()
    check = FreshCheck()
    run_check(check, lambda system, message, cap: Asked("- greet() still returns `helo`", 900, 0.004),
              "req", "+x", "tests", emit)
    assert check.outcome == "defects"
    assert "- greet() still returns `helo`" in check.for_agent()
    check.asked_again = True
    assert check.words() == (
        "A fresh-context check (a separate model call that saw only the request, the diff and the "
        "test output, under $0.01) found 1 defect; the agent had one round to fix them:\n"
        "- `` greet() still returns `helo` ``")
    assert events == [("fresh_check", {"outcome": "defects", "defects": ["greet() still returns `helo`"],
                                       "tokens": 900, "cost": 0.004})]


def run_with_check(fake, budget, found, clock=None, before=lambda: None):
    """A loop whose follow-up asks the check once, recording what it got back."""
    events = []

    def follow_up(ask):
        if found:
            return None
        before()
        found.append(ask(SYSTEM, "<request>x</request>", CHECK_MAX_TOKENS))
        return None

    result = run_agent(fake.client(), model="claude-sonnet-5-5", system="sys", task="do it",
                       tools=RecordingTools(), budget=budget, review=[follow_up],
                       emit=lambda k, d: events.append((k, d)), **({"clock": clock} if clock else {}))
    return result, events


def test_the_check_is_a_request_of_its_own_counted_in_the_run_but_not_a_turn(fake_model):
    fake_model.script(reply(tool_use("bash", {"command": "ls"})), reply(text("Done.")),
                      defects("a bug"))
    found = []
    result, events = run_with_check(fake_model, Budget(10), found)
    [asked] = found
    assert asked.text == "- a bug" and asked.tokens > 0 and asked.cost > 0
    check = fake_model.requests[2]
    assert "tools" not in check and check["max_tokens"] <= CHECK_MAX_TOKENS
    assert check["messages"] == [{"role": "user", "content": [{"type": "text",
                                                               "text": "<request>x</request>"}]}]
    assert check["system"] == SYSTEM  # nothing marked for the cache: it is never read again
    assert result.turns == 2  # the check is no turn of the agent's
    models = [d for k, d in events if k == "model"]
    assert [m.get("purpose") for m in models] == [None, None, "check"] and models[2]["turn"] == 0
    assert result.usage.output_tokens == sum(m["usage"]["output_tokens"] for m in models)
    assert result.cost == pytest.approx(models[2]["spent"]["dollars"], abs=1e-4)  # rounded there


def test_a_run_whose_budget_ran_out_before_the_check_makes_no_check_request(fake_model):
    fake_model.script(reply(tool_use("bash", {"command": "ls"})), reply(text("Done.")),
                      looks_right())
    now = [0.0]

    def tests_take_the_time_left():  # Orca's test run, between the agent's answer and the check
        now[0] = 11 * 60

    found = []
    run_with_check(fake_model, Budget(10, max_minutes=10), found, clock=lambda: now[0],
                   before=tests_take_the_time_left)
    assert found == [None] and fake_model.remaining == 1 and len(fake_model.requests) == 2


def test_a_failed_check_request_raises_model_unavailable_for_run_check_to_say(fake_model):
    fake_model.script(reply(text("Done.")), error(400, message="prompt is too long"))
    found = []
    with pytest.raises(ModelUnavailable):
        run_with_check(fake_model, Budget(10), found)
