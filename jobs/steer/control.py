"""Commands that steer runs instead of starting one: stop, retry, help, cancel, `go` (a plan's
start, jobs.steer.plans), CI news, and pull request activity (which may start an automatic
review).

`handle` is the fast-queue job for each; a stop goes through core.stops, as mission
control's Stop button does.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from rq import get_current_job

from core import keys, outcomes
from core.commands import HELP, reserved_use
from core.errors import NotAllowed
from core.queues import start_run
from core.runs import RunStore, new_run_id
from core.stops import request_stop
from core.triggers import Kind, Trigger
from jobs.context import RunContext, react_to_comment
from jobs.github import report
from jobs.github.branches import delete_attempt_branches
from jobs.steer import auto_review, ci, fleets, plans
from jobs.task.gate import require_write


def report_cancelled(run_id: str) -> None:
    """Finish the tracking comment (or reply) of a run stopped before it started."""
    run = RunStore(get_current_job().connection).load(run_id)
    if run is None:
        return  # its record expired: nobody is waiting for the words
    ctx = RunContext.load(run_id, run.trigger.to_dict())
    ctx.finish_comment(report.cancelled(run_id, run.reason or "it was stopped", pushed=None))


def handle(trigger: dict[str, Any]) -> None:
    """The fast job for stop, retry, help, go, cancel and a reopened pull request."""
    t = Trigger.from_dict(trigger)
    ctx = RunContext.load(keys.control_job(t.kind, "control"), trigger)
    if t.kind == Kind.CANCEL:
        for run_id in ctx.store.active_on(t.target):
            request_stop(ctx.redis, run_id, t.requester, t.request)
        if t.is_pull_request:
            # before any GitHub call: the outcome is in the signed payload (core.outcomes)
            outcomes.closed(ctx.redis, t.repository, t.number, t.merged, t.at)
            _delete_attempts(ctx)
            fleets.moved(ctx.redis, t.target)  # a sub-task's pull request closed, or merged
        return
    if t.kind == Kind.REOPENED:  # Orca's pull request open again (core.outcomes); no GitHub call
        outcomes.reopened(ctx.redis, t.repository, t.number, t.at)
        return
    if t.kind == Kind.CI:  # CI's sender starts nothing itself: jobs.steer.ci decides
        ci.check(ctx)
        return
    if t.kind == Kind.PULL_ACTIVITY:  # the base branch's config decides (jobs.steer.auto_review)
        auto_review.check(ctx)
        return
    client = ctx.client_for_replies()
    try:
        require_write(t, client)
    except NotAllowed as exc:
        ctx.log("%s ignored: %s", t.kind, exc)
        return
    react_to_comment(client, t.repository, t.comment_id, t.on_diff)
    body = {Kind.STOP: _stop, Kind.RETRY: _retry, Kind.HELP: _help, Kind.GO: plans.go}[t.kind](ctx)
    ctx.reply(client, body)


def _delete_attempts(ctx: RunContext) -> None:
    """A closed (or merged) pull request made from attempts: its kept attempts go."""
    t = ctx.trigger
    repo = ctx.client(ctx.mint({"contents": "write", "pull_requests": "read"})).get_repo(t.repository)
    head = repo.get_pull(t.number).head.ref
    if deleted := delete_attempt_branches(repo, head):
        ctx.log("deleted the attempts of %s: %s", head, ", ".join(deleted))


def _stop(ctx: RunContext) -> str:
    t = ctx.trigger
    stopped = [run_id for run_id in ctx.store.active_on(t.target)
               if request_stop(ctx.redis, run_id, t.requester, push=t.push)]
    stopped += plans.stop_children(ctx)  # a parent's stop is its sub-issues' too
    return report.stopping(t.requester, stopped, t.push)


def _retry(ctx: RunContext) -> str | None:
    """Start the target's last request again, asked for by whoever said retry."""
    t = ctx.trigger
    for run_id in ctx.store.runs_on(t.target):
        previous = ctx.store.load(run_id)
        if previous is None:
            continue
        again = replace(previous.trigger, requester=t.requester, requester_id=t.requester_id)
        start_run(ctx.redis, new_run_id(), again, f"retry:{previous.id}")
        return None  # the new run's tracking comment is the answer
    return report.nothing_to_retry(t.requester)


def _help(ctx: RunContext) -> str:
    unknown = ctx.trigger.request
    reserved = reserved_use(unknown) if unknown else None
    if reserved:
        head = (f"`{reserved}` is reserved for something Orca does not do yet, so I did not act on "
                f"`/agent {_first_line(unknown)}`. To ask for a change in those words, write "
                "`/agent do <your request>`.\n\n")
    else:
        head = f"`/agent {unknown}` is not a command I know.\n\n" if unknown else ""
    return head + HELP


def _first_line(text: str) -> str:
    line = text.strip().splitlines()[0]
    return line if len(line) <= 80 else line[:79] + "…"
