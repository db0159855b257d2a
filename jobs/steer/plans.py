"""`/agent go` and the fleets it starts: the fast jobs between a recorded plan and its runs.

- `go`: the plan Orca recorded (core.plans), with the edits in the `go` comment, checked again.
  Without sub-tasks it starts one run on the issue that follows it; with sub-tasks it opens one
  issue per sub-task, links each to the parent with GitHub's sub-issues API (where that API is
  missing, as on older Enterprise Servers, the issue's "Part of #n" is the link), and posts the
  parent's tracking comment: the checklist.
- `step`: after `go` and after each child run moves, it reads every child's newest run, starts
  the sub-tasks whose waits are over (on behalf of the writer who said go) and edits the
  checklist. It runs under the fleet's lock, so two steps never start a child twice.
- `stop_children`: `/agent stop` on the parent stops every child run and starts no more.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

from github import Github
from github.GithubException import GithubException
from rq import get_current_job

from core import keys
from core.plans import (
    Child,
    Fleet,
    Plan,
    PlanRefused,
    PlanStore,
    apply_edits,
    check,
    parse_edits,
    ready,
)
from core.queues import enqueue_fleet_step, start_run
from core.runs import Run, RunStore, Status, new_run_id
from core.stops import request_stop
from core.triggers import Kind, Trigger
from jobs.context import RunContext, TrackingComment
from jobs.plans import words

FLEET_PERMISSIONS = {"issues": "write"}
# A child in one of these states may still open its pull request.
_MOVING = ("queued", "running", "waiting")


def go(ctx: RunContext) -> str | None:
    """Start the issue's plan; the reply when it cannot be started (None: nothing to say)."""
    t, store = ctx.trigger, PlanStore(ctx.redis)
    plan = store.plan(t.target)
    if plan is None:
        return words.NO_PLAN_TO_START
    if plan.questions:
        return words.QUESTIONS_OPEN
    edits = parse_edits(t.request)
    try:
        plan = apply_edits(plan, edits)
        check(plan, ctx.settings.max_subtasks)
        if plan.subtasks and edits.unread:
            raise PlanRefused("these lines of the `go` comment are not edits Orca reads "
                              "(`drop N` or `N: words to add`): "
                              + "; ".join(f"“{line}”" for line in edits.unread))
    except PlanRefused as exc:
        return words.go_refused(str(exc))
    if not plan.subtasks:
        guided = replace(t, kind=Kind.COMMAND, comment_id=None,
                         request=words.guide_request(plan, "\n".join(edits.unread)))
        start_run(ctx.redis, new_run_id(), guided, f"go:{t.comment_id}")
        return None
    with store.lock(t.target):
        if store.fleet(t.target) is not None:
            return ("This plan was started already: its sub-issues are in the checklist above. "
                    "Say `/agent plan` for a new plan.")
        _open_fleet(ctx, store, plan)
    step(t.target)
    return None


def _open_fleet(ctx: RunContext, store: PlanStore, plan: Plan) -> None:
    """The checklist comment first (so a failure part-way is seen), then one issue per
    sub-task, linked; the fleet is saved after each, so nothing opened is forgotten."""
    t = ctx.trigger
    client = ctx.client(ctx.mint(FLEET_PERMISSIONS))
    repo = client.get_repo(t.repository)
    fleet = Fleet(plan, t.to_dict())
    comment = repo.get_issue(t.number).create_comment(
        words.checklist(t.number, plan, {s.number: "opening its issue" for s in plan.subtasks}, {}))
    fleet.comment_id = comment.id
    for task in plan.subtasks:
        issue = repo.create_issue(title=task.title, body=words.child_body(t.number, task, plan))
        linked = _link(client, t, issue.id)
        fleet.children.append(Child(task.number, issue.number, linked))
        store.save_fleet(t.target, fleet)
        ctx.log("sub-task %d is #%d (%s)", task.number, issue.number,
                "linked" if linked else "Part of, no sub-issues API")


def _link(client: Github, t: Trigger, child_id: int) -> bool:
    """Link the child as a sub-issue of the parent; False where the API is missing (404)."""
    try:
        client.requester.requestJsonAndCheck(
            "POST", f"/repos/{t.repository}/issues/{t.number}/sub_issues",
            input={"sub_issue_id": child_id})
    except GithubException as exc:
        if exc.status != 404:
            raise
        return False
    return True


def step(parent: str) -> None:
    """The fast job after `go` and after each child run moves (see the module's doc)."""
    store = PlanStore(get_current_job().connection)
    fleet = store.fleet(parent)
    if fleet is None:
        return
    ctx = RunContext.load(keys.control_job("fleet", "step"), fleet.trigger)
    with store.lock(parent):
        fleet = store.fleet(parent) or fleet
        states = _advance(ctx, fleet)
        store.save_fleet(parent, fleet)
        _show(ctx, fleet, states)


def _advance(ctx: RunContext, fleet: Fleet) -> dict[int, str]:
    """Each child's state, after starting those whose waits are over."""
    runs = RunStore(ctx.redis)
    states = {c.task: _state(runs, ctx.trigger.repository, c) for c in fleet.children}
    opened = {c.task for c in fleet.children if c.pr is not None}
    started = {c.task for c in fleet.children if c.run_id is not None}
    for child in fleet.children:
        if child.run_id is None:
            states[child.task] = _waiting(fleet, child, opened, states)
    if fleet.stopped:
        return states
    for number in ready(fleet.plan, opened, started):
        child = fleet.child(number)
        if child is not None:
            child.run_id = _start_child(ctx, fleet, child)
            states[number] = "queued"
    return states


def _waiting(fleet: Fleet, child: Child, opened: set[int], states: dict[int, str]) -> str:
    """A child not started yet: stopped, blocked by a sub-task that ended without a pull
    request, or waiting."""
    if fleet.stopped:
        return f"stopped: {fleet.stopped}"
    task = fleet.plan.task(child.task)
    missing = [n for n in (task.after if task else ()) if n not in opened]
    ended = [n for n in missing if not states.get(n, "").startswith(_MOVING)]
    if ended:
        return f"blocked: {', '.join(map(str, ended))} ended without a pull request"
    return f"waiting for {', '.join(map(str, missing))}"


def _state(runs: RunStore, repository: str, child: Child) -> str:
    """A child's state from its newest run; a pull request once opened stays its news."""
    newest = next(iter(runs.runs_on(f"{repository}#{child.issue}")), None)
    run: Run | None = runs.load(newest) if newest else None
    if run is not None and run.pr_number:
        child.pr = run.pr_number
    if run is None:
        return "waiting"
    if run.status in (Status.QUEUED, Status.RUNNING):
        return f"{run.status.value}" + (f" (PR #{child.pr} open)" if child.pr else "")
    if child.pr is not None:
        return f"PR #{child.pr} open"
    return {Status.DONE: "done, no changes to propose", Status.FAILED: "failed",
            Status.CANCELLED: "stopped", Status.REJECTED: "refused"}[run.status]


def _start_child(ctx: RunContext, fleet: Fleet, child: Child) -> str:
    """A run on the child issue, on behalf of the writer who said go."""
    asked = Trigger.from_dict(fleet.trigger)
    task = fleet.plan.task(child.task)
    assert task is not None
    start_from = _branch_of(ctx, fleet, task.after[0]) if task.after else ""
    run_trigger = replace(asked, kind=Kind.COMMAND, number=child.issue, comment_id=None,
                          title=task.title, body=words.child_body(asked.number, task, fleet.plan),
                          request=words.child_request(asked.number, task, fleet.plan, start_from),
                          at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                          start_from=start_from)
    run_id = new_run_id()
    start_run(ctx.redis, run_id, run_trigger, f"plan:{asked.target}:{child.task}")
    ctx.log("sub-task %d started as run %s on #%d", child.task, run_id, child.issue)
    return run_id


def _branch_of(ctx: RunContext, fleet: Fleet, number: int) -> str:
    """The branch of the pull request sub-task `number` opened ("" if none is on record)."""
    child = fleet.child(number)
    runs = RunStore(ctx.redis)
    for run_id in runs.runs_on(f"{ctx.trigger.repository}#{child.issue}") if child else ():
        run = runs.load(run_id)
        if run is not None and run.pr_number and run.branch:
            return run.branch
    return ""


def _show(ctx: RunContext, fleet: Fleet, states: dict[int, str]) -> None:
    if fleet.comment_id is None:
        return
    number = Trigger.from_dict(fleet.trigger).number
    ended = all(c.pr is not None or not states[c.task].startswith(_MOVING)
                for c in fleet.children)
    summary = ""
    if ended:
        prs = sum(1 for c in fleet.children if c.pr is not None)
        summary = f"All done: {prs} of {len(fleet.children)} sub-tasks have a pull request."
    body = words.checklist(number, fleet.plan, states, {c.task: c.issue for c in fleet.children},
                           summary)
    client = ctx.client(ctx.mint(FLEET_PERMISSIONS))
    TrackingComment(client, ctx.trigger.repository, fleet.comment_id).edit(body)


def stop_children(ctx: RunContext) -> list[str]:
    """`/agent stop` on a parent: every child run stopped, no more started."""
    t, store = ctx.trigger, PlanStore(ctx.redis)
    with store.lock(t.target):
        fleet = store.fleet(t.target)
        if fleet is None:
            return []
        fleet.stopped = f"@{t.requester} stopped the plan"
        store.save_fleet(t.target, fleet)
    runs = RunStore(ctx.redis)
    stopped = [run_id for c in fleet.children
               for run_id in runs.active_on(f"{t.repository}#{c.issue}")
               if request_stop(ctx.redis, run_id, t.requester, fleet.stopped)]
    step(t.target)
    return stopped


def moved(connection: Any, target: str) -> None:
    """A run on `target` moved: when it is a child of a fleet, the fleet takes a step."""
    parent = PlanStore(connection).parent_of(target)
    if parent is not None:
        enqueue_fleet_step(connection, parent)
