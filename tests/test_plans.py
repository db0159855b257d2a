"""Table tests for core/plans.py: the checks a plan passes, the go comment's edits, what starts;
and the words of a child's line in the parent's checklist (jobs.steer.fleets)."""

from __future__ import annotations

import pytest

from core.plans import (
    Child,
    Edits,
    Plan,
    PlanRefused,
    Subtask,
    apply_edits,
    check,
    cycle,
    parse_edits,
    ready,
)
from core.runs import Run
from jobs.steer.fleets import _state


def tasks(*afters: tuple[int, ...]) -> tuple[Subtask, ...]:
    return tuple(Subtask(n, f"task {n}", f"scope {n}", "check", after)
                 for n, after in enumerate(afters, 1))


@pytest.mark.parametrize(("afters", "found"), [
    ((), None),
    (((), (1,), (1, 2)), None),
    (((2,), (1,)), [1, 2, 1]),
    (((3,), (), (1,)), [1, 3, 1]),
    (((), (3,), (4,), (2,)), [2, 3, 4, 2]),
    (((1,),), [1, 1]),
])
def test_cycle(afters, found):
    assert cycle(tasks(*afters)) == found


@pytest.mark.parametrize(("plan", "most", "why"), [
    (Plan("a", subtasks=tasks((), (1,))), 8, None),
    (Plan("a", subtasks=tasks((), (), ())), 2, "it has 3 sub-tasks, and a plan takes at most 2"),
    (Plan("a", questions=("why?",), subtasks=tasks(())), 8, "asks questions first"),
    (Plan("a", subtasks=tasks((5,))), 8, "sub-task 1 waits for 5, which is not a sub-task"),
    (Plan("a", subtasks=tasks((1,))), 8, "sub-task 1 waits for 1, which is itself"),
    (Plan("a", subtasks=tasks((2,), (1,))), 8, "in a cycle: 1 → 2 → 1"),
])
def test_check(plan, most, why):
    if why is None:
        check(plan, most)
        return
    with pytest.raises(PlanRefused, match=why):
        check(plan, most)


@pytest.mark.parametrize(("text", "edits"), [
    ("", Edits()),
    ("drop 3", Edits(drop=(3,))),
    ("- Drop #2.\n1: also the docs\n\nplease hurry", Edits((2,), ((1, "also the docs"),), ("please hurry",))),
    ("#4:  keep it small ", Edits(add=((4, "keep it small"),))),
])
def test_parse_edits(text, edits):
    assert parse_edits(text) == edits


def test_edits_drop_a_task_and_its_waits_and_add_to_a_scope():
    plan = Plan("a", subtasks=tasks((), (1,), (1, 2)))
    edited = apply_edits(plan, Edits(drop=(1,), add=((3, "and the docs"),)))
    assert [s.number for s in edited.subtasks] == [2, 3]
    assert edited.task(2).after == () and edited.task(3).after == (2,)
    assert edited.task(3).scope == "scope 3\n\nand the docs"
    with pytest.raises(PlanRefused, match="sub-task 7"):
        apply_edits(plan, Edits(drop=(7,)))


@pytest.mark.parametrize(("opened", "started", "now"), [
    (set(), set(), [1, 2]),
    (set(), {1, 2}, []),
    ({1}, {1, 2}, [3]),
    ({1, 2}, {1, 2, 3}, [4]),
])
def test_ready(opened, started, now):
    plan = Plan("a", subtasks=tasks((), (), (1,), (1, 2)))
    assert ready(plan, opened, started) == now


def test_a_plan_round_trips_through_its_record():
    plan = Plan("a", ("x.py",), ("r",), (), tasks((), (1,)), "run-1")
    assert Plan.from_dict(plan.to_dict()) == plan


class _Runs:
    """The two RunStore reads a child's state needs, over one record."""

    def __init__(self, **fields):
        base = {"kind": "label", "installation_id": 7, "repository": "o/r", "repository_id": 1,
                "number": 2, "requester": "octocat", "requester_id": 1, "created_at": 0.0}
        self.run = Run.from_fields({**base, **fields})

    def runs_on(self, target):
        return [self.run.id]

    def load(self, run_id):
        return self.run


@pytest.mark.parametrize("ci, said", [
    (None, "PR #5 open"), ("pending", "PR #5 open, CI running"),
    ("failed", "PR #5 open, CI failing"), ("passed", "PR #5 open, CI passed"),
])
def test_a_childs_line_says_ci_on_its_pull_request(ci, said):
    runs = _Runs(id="r1", status="done", pr_number=5, ci=ci)
    assert _state(runs, "o/r", Child(task=1, issue=2, linked=True)) == said
