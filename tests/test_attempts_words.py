"""The choice between attempts in words: the judge's answer read, the table, the progress lines."""

import pytest

from app.pages import event_summary
from jobs.attempts.judge import Candidate, read, smallest
from jobs.attempts.words import Row, progress, table


@pytest.mark.parametrize("answer, chosen, reason", [
    ("WINNER: 2\nIt handles the empty list.", [2], "It handles the empty list."),
    ("**Winner: 3**", [3], ""),
    ("TIE: 1, 3\nBoth are fine.", [1, 3], "Both are fine."),
    ("tie: 1 and 2", [1, 2], ""),
    ("WINNER: 7\nNo such attempt.", [1, 2, 3], ""),   # not a candidate: every one stays
    ("I like the second one.", [1, 2, 3], ""),         # not the asked-for form
    ("", [1, 2, 3], ""),
])
def test_the_judges_answer_is_read_only_in_the_asked_for_form(answer, chosen, reason):
    assert read(answer, [1, 2, 3]) == (chosen, reason)


def test_ties_go_to_the_smaller_diff_then_the_lower_number():
    candidates = [Candidate(1, "", "", 40), Candidate(2, "", "", 3), Candidate(3, "", "", 3)]
    assert smallest(candidates, [1, 2, 3]).number == 2
    assert smallest(candidates, [1, 3]).number == 3


def test_the_table_marks_the_winner_and_says_each_ones_evidence():
    rows = [Row(1, "failed", error="The model API answered 529"),
            Row(2, "done", None, True, 3, 1, 0.12, "agent/attempts/7/2"),
            Row(3, "done", None, False, 30, 0, 0.2, "agent/attempts/7/3")]
    said = table(rows, 2, "The judge preferred it.")
    assert said.startswith("## Attempts\n\n3 attempts from the same base commit; attempt 2 is "
                           "this pull request. The judge preferred it.\n\n| attempt |")
    assert "| 1 | failed: `The model API answered 529` | — | — | — |" in said
    assert ("| **2** (this pull request) | not run (the attempt ended first) | +3 −1 | $0.12 | "
            "`agent/attempts/7/2` |") in said
    assert "| 3 | not run (no test command) | +30 −0 | $0.20 |" in said
    assert said.endswith("`/agent use attempt <k>` moves this pull request to attempt k with a new commit.")


def test_progress_lists_each_attempts_state():
    said = progress("octocat", [Row(1, "running"), Row(2, "failed", error="boom")], "Run `x`")
    assert "- attempt 1: running\n- attempt 2: failed: `boom`" in said and said.endswith("Run `x`")


def test_mission_control_says_whose_attempt_an_event_is():
    assert event_summary({"kind": "stopped", "data": {"by": "a stop request", "attempt": 2}}) == \
        "attempt 2 · stopped by a stop request"
    picked = {"kind": "attempts", "data": {"winner": 3, "how": "The smaller diff won.",
                                           "attempts": [{}, {}, {}]}}
    assert event_summary(picked) == "attempt 3 of 3 picked: The smaller diff won."
