"""A fleet's steps: the fast job after `/agent go` and after each child run moves.

A step reads every child's newest run (and, where the config says `plans: {wait_for:
merged}`, whether its pull request was merged), starts the sub-tasks whose waits are over on
behalf of the writer who said go, and edits the parent's checklist. It runs under the fleet's
lock, so two steps never start a child twice. A sub-task that waits for an opened pull request
starts from that pull request's branch, so it builds on its code; one that waits for a merge
starts from the default branch, which has it.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

from github.GithubException import GithubException
from rq import get_current_job

from core import keys
from core.plans import Child, Fleet, PlanStore, ready
from core.queues import enqueue_fleet_step, start_run
from core.runs import Run, RunStore, Status, new_run_id
from core.triggers import Kind, Trigger
from jobs.context import RunContext, TrackingComment
from jobs.plans import words

FLEET_PERMISSIONS = {"issues": "write", "pull_requests": "read"}
# A child in one of these states may still open (or merge) its pull request.
_MOVING = ("queued", "running", "waiting")


def step(parent: str) -> None:
    """One step of the fleet under `parent` (see the module's doc)."""
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


def moved(connection: Any, target: str) -> None:
    """A run on `target`, or a pull request, moved: a fleet it belongs to takes a step."""
    parent = PlanStore(connection).parent_of(target)
    if parent is not None:
        enqueue_fleet_step(connection, parent)


def _advance(ctx: RunContext, fleet: Fleet) -> dict[int, str]:
    """Each child's state, after starting those whose waits are over."""
    runs = RunStore(ctx.redis)
    states = {c.task: _state(runs, ctx.trigger.repository, c) for c in fleet.children}
    if fleet.wait_for == "merged":
        _read_merges(ctx, fleet, states)
    opened = {c.task for c in fleet.children
              if (c.merged if fleet.wait_for == "merged" else c.pr is not None)}
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


def _read_merges(ctx: RunContext, fleet: Fleet, states: dict[int, str]) -> None:
    """Whether each child's pull request was merged (or closed without it), asked of GitHub."""
    pending = [c for c in fleet.children if c.pr is not None and not c.merged and not c.closed]
    if pending:
        repo = ctx.client(ctx.mint(FLEET_PERMISSIONS)).get_repo(ctx.trigger.repository)
        for child in pending:
            try:
                pull = repo.get_pull(child.pr)
                child.merged, child.closed = pull.merged, pull.state == "closed"
            except GithubException as exc:  # asked again at the next step
                ctx.log("could not read pull request #%s: %r", child.pr, exc)
    for child in fleet.children:
        if child.merged:
            states[child.task] = f"PR #{child.pr} merged"
        elif child.closed:
            states[child.task] = f"PR #{child.pr} closed without merging"


def _waiting(fleet: Fleet, child: Child, opened: set[int], states: dict[int, str]) -> str:
    """A child not started yet: stopped, blocked by a sub-task that ended without what it
    waits for, or waiting."""
    if fleet.stopped:
        return f"stopped: {fleet.stopped}"
    task = fleet.plan.task(child.task)
    missing = [n for n in (task.after if task else ()) if n not in opened]
    ended = [n for n in missing if not _may_still(fleet, n, states)]
    what = "merged pull request" if fleet.wait_for == "merged" else "pull request"
    if ended:
        return f"blocked: {', '.join(map(str, ended))} ended without a {what}"
    merged = " (merged)" if fleet.wait_for == "merged" else ""
    return f"waiting for {', '.join(map(str, missing))}{merged}"


def _may_still(fleet: Fleet, number: int, states: dict[int, str]) -> bool:
    """Whether sub-task `number` may still give what the others wait for."""
    child = fleet.child(number)
    if child is not None and child.pr is not None:
        return not child.closed  # an open pull request may still be merged
    return states.get(number, "").startswith(_MOVING)


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
        ci = {"failed": ", CI failing", "passed": ", CI passed", "pending": ", CI running"}
        return f"PR #{child.pr} open{ci.get(run.ci or '', '')}"
    return {Status.DONE: "done, no changes to propose", Status.FAILED: "failed",
            Status.CANCELLED: "stopped", Status.REJECTED: "refused"}[run.status]


def _start_child(ctx: RunContext, fleet: Fleet, child: Child) -> str:
    """A run on the child issue, on behalf of the writer who said go."""
    asked = Trigger.from_dict(fleet.trigger)
    task = fleet.plan.task(child.task)
    assert task is not None
    start_from = (_branch_of(ctx, fleet, task.after[0])
                  if task.after and fleet.wait_for == "opened" else "")
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
    """The parent's checklist, edited; with a summary once no child can move any more."""
    if fleet.comment_id is None:
        return
    number = Trigger.from_dict(fleet.trigger).number
    # A `go` that failed part-way has sub-tasks with no issue yet: not done, whatever the rest.
    ended = len(fleet.children) == len(fleet.plan.subtasks) and all(
                not states[c.task].startswith(_MOVING)
                and not (fleet.wait_for == "merged" and c.pr and not c.merged and not c.closed)
                for c in fleet.children)
    summary = ""
    if ended:
        key = "merged" if fleet.wait_for == "merged" else "pr"
        count = sum(1 for c in fleet.children if (c.merged if key == "merged" else c.pr))
        what = "a merged pull request" if key == "merged" else "a pull request"
        summary = f"All done: {count} of {len(fleet.children)} sub-tasks have {what}."
    body = words.checklist(number, fleet.plan, states, {c.task: c.issue for c in fleet.children},
                           summary)
    client = ctx.client(ctx.mint(FLEET_PERMISSIONS))
    TrackingComment(client, ctx.trigger.repository, fleet.comment_id).edit(body)
