"""The budget as the loop keeps it: checked before each request, the output capped by what is
left, and one note near the end (core/budget.py; the loop against the fake model)."""

import pytest

from core.budget import Budget, Forecast, Spent, before_call, near_end, output_room
from core.pricing import Usage
from tests.fakes.model import reply, text, tool_use
from tests.test_agent import RecordingTools, run

WRAP_UP = "run the tests and wrap up."
# Usage the fake reports for every answer: 5,000 new input tokens and 100 of output.
FLAT = {"input_tokens": 5000, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
        "output_tokens": 100}


def spent(turns=0, tokens=0, dollars=0.0, minutes=0.0):
    return Spent(turns, Usage(input_tokens=tokens), dollars, minutes)


@pytest.mark.parametrize(("budget", "used", "expected"), [
    (Budget(150), spent(), None),
    (Budget(150, max_tokens=10_000), spent(tokens=3000), (5000, "the token budget (10,000 tokens)")),
    (Budget(150, max_dollars=1.0), spent(dollars=0.5), (24_500, "the dollar budget ($1.00)")),
    (Budget(150, max_tokens=10**6, max_dollars=1.0), spent(dollars=0.999),
     (-450, "the dollar budget ($1.00)")),
])
def test_output_room_is_what_the_tightest_budget_leaves_after_the_next_input(budget, used, expected):
    # The next input: 2,000 tokens costing $0.01; output at $20 per million tokens.
    assert output_room(budget, used, Forecast(2000, 0.01, 20 / 1e6)) == expected


def test_no_price_leaves_the_dollar_budget_out_of_the_room():
    assert output_room(Budget(150, max_dollars=1.0), spent(), Forecast(2000, 0.0, None)) is None


@pytest.mark.parametrize(("used", "expected"), [
    (spent(turns=149), None),
    (spent(turns=150), "the turn limit (150)"),
    (spent(tokens=7000), None),
    (spent(tokens=7001), "the token budget (10,000 tokens)"),  # 999 tokens of answer at most
])
def test_before_call_refuses_a_request_the_budget_cannot_pay_for(used, expected):
    budget = Budget(150, max_tokens=10_000)
    assert before_call(budget, used, Forecast(2000), least_output=1000) == expected


@pytest.mark.parametrize(("used", "expected"), [
    (spent(turns=144), None),
    (spent(turns=145), "5 turns left"),
    (spent(turns=149), "1 turn left"),
    (spent(turns=150, minutes=44), None),
    (spent(minutes=40.4), None),
    (spent(minutes=41), "4 minutes left"),
    (spent(dollars=9.05), "$0.95 of the dollar budget left"),
    (spent(tokens=950_000), "50,000 tokens left"),
])
def test_near_end_names_what_little_is_left(used, expected):
    budget = Budget(150, max_tokens=1_000_000, max_dollars=10.0, max_minutes=45)
    assert near_end(budget, used) == expected


def test_a_run_at_its_turn_limit_makes_no_further_request(fake_model):
    fake_model.script(*[reply(tool_use("bash", {"command": "true"})) for _ in range(4)])
    result, _ = run(fake_model, RecordingTools(), max_turns=3)
    assert result.stopped_by == "the turn limit (3)"
    assert len(fake_model.requests) == 3 and fake_model.remaining == 1


def test_each_request_asks_for_no_more_output_than_the_token_budget_has_left(fake_model):
    fake_model.script(*[reply(tool_use("bash", {"command": "true"}), usage=FLAT) for _ in range(3)])
    result, events = run(fake_model, RecordingTools(), budget=Budget(10, max_tokens=12_000))
    # First request: nothing known of its input, the whole budget (under the 16,000 default).
    # Second: 12,000 - 5,100 used - 5,000 of input like the last = 1,900. A third would leave
    # none, so it is never made: the run stops at its budget instead of passing it.
    assert [r["max_tokens"] for r in fake_model.requests] == [12_000, 1900]
    assert result.turns == 2 and result.stopped_by == "the token budget (12,000 tokens)"
    assert result.usage.total == 10_200 and fake_model.remaining == 1
    assert [d["max_tokens"] for k, d in events if k == "model"] == [12_000, 1900]


def test_each_request_asks_for_no_more_output_than_the_dollar_budget_has_left(fake_model):
    fake_model.script(*[reply(tool_use("bash", {"command": "true"}), usage=FLAT) for _ in range(3)])
    # $10 per million input tokens, $100 per million output tokens: each turn's input costs
    # $0.05 and its output $0.01.
    prices = {"claude-sonnet-5": (10.0, 100.0)}
    result, _ = run(fake_model, RecordingTools(), budget=Budget(10, max_dollars=0.25), prices=prices)
    # $0.25 → 2,500 tokens; then $0.25 - $0.06 - $0.05 → 1,400; then $0.08 → 800, too few.
    assert [r["max_tokens"] for r in fake_model.requests] == [2500, 1400]
    assert result.stopped_by == "the dollar budget ($0.25)" and result.cost <= 0.25


def wrap_up_notes(request):
    """(message index, note) of each wrap-up note: the end of a tool result, or a text block."""
    found = []
    for m, message in enumerate(request["messages"]):
        for block in message["content"] if message["role"] == "user" else []:
            said = block.get("text") if block["type"] == "text" else block.get("content")
            if isinstance(said, str) and said.endswith(WRAP_UP + ("]" if block["type"] == "tool_result" else "")):
                found.append((m, said.rsplit("\n", 1)[-1]))
    return found


def test_the_model_is_told_once_when_few_turns_are_left(fake_model):
    fake_model.script(*[reply(tool_use("bash", {"command": f"step {n}"})) for n in range(7)],
                      reply(text("Done.")))
    result, events = run(fake_model, RecordingTools(), max_turns=8)
    assert result.summary == "Done." and result.stopped_by is None
    # After the third turn five are left: the note rides on that turn's tool results.
    assert wrap_up_notes(fake_model.requests[2]) == []
    # It ends that turn's (last) tool result: text after tool results teaches the model to stop.
    assert wrap_up_notes(fake_model.requests[3]) == [(6, "[5 turns left: " + WRAP_UP + "]")]
    [result] = fake_model.requests[3]["messages"][6]["content"]
    assert result["content"] == "ran bash\n\n[5 turns left: " + WRAP_UP + "]"
    assert wrap_up_notes(fake_model.requests[-1]) == [(6, "[5 turns left: " + WRAP_UP + "]")]
    assert [d for k, d in events if k == "near_end"] == [{"left": "5 turns left"}]
    assert fake_model.violations == []


class MinuteTools(RecordingTools):
    """Every tool call takes a minute of a clock the loop reads."""

    def __init__(self):
        super().__init__()
        self.now = 0.0

    def clock(self):
        return self.now

    def run(self, name, tool_input):
        self.now += 60
        return super().run(name, tool_input)


def test_the_model_is_told_once_when_little_time_is_left(fake_model):
    fake_model.script(*[reply(tool_use("bash", {"command": f"step {n}"})) for n in range(25)])
    tools = MinuteTools()
    result, _ = run(fake_model, tools, budget=Budget(100, max_minutes=20), clock=tools.clock)
    assert result.stopped_by == "the time limit (20 minutes)" and result.turns == 20
    # After the 18th minute, a tenth of the time is left.
    assert wrap_up_notes(fake_model.requests[17]) == []
    notes = wrap_up_notes(fake_model.requests[-1])
    assert notes == [(36, "[2 minutes left: " + WRAP_UP + "]")]


def test_after_a_text_message_the_note_is_a_text_block_of_its_own(fake_model):
    fake_model.script(reply(tool_use("bash", {"command": "true"})), reply(text("Done.")),
                      reply(text("Checked.")))
    run(fake_model, RecordingTools(), max_turns=7, review=lambda ask: "check your diff")
    # Turn 1 leaves 6; turn 2 (the first answer) leaves 5: the review carries the note.
    assert fake_model.requests[2]["messages"][-1]["content"] == [
        {"type": "text", "text": "check your diff"},
        {"type": "text", "text": "5 turns left: " + WRAP_UP, "cache_control": {"type": "ephemeral"}}]
