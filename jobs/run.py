"""A run's two jobs, composed from the steps: `acknowledge` (fast queue) and `execute`.

acknowledge: gate → 👀 → tracking comment → queue the run.
execute:     workspace → agent → publish → report.

These are the only places that catch `RunError`: whatever happens, the tracking
comment (or a reply) ends the run with what happened and how to retry.
"""

from __future__ import annotations

import time
from typing import Any

from github.GithubException import GithubException
from rq import Queue

from app.queues import RUNS_QUEUE
from jobs import report
from jobs.context import RunContext, TrackingComment
from jobs.errors import NotAllowed, RunError
from jobs.github import ACK_PERMISSIONS
from jobs.solve import solve_issue

# collaborators/{user}/permission answers admin, write, read or none (maintain counts
# as write, triage as read): https://docs.github.com/en/rest/collaborators/collaborators
ALLOWED_PERMISSIONS = ("admin", "write")
GENERIC_FAILURE = "something unexpected went wrong inside Orca (the operators can see the run's log)."


def acknowledge(run_id: str, trigger: dict[str, Any]) -> None:
    """Check the requester, react 👀, post the tracking comment, queue the run."""
    ctx = RunContext.load(run_id, trigger)
    try:
        _acknowledge(ctx)
    except NotAllowed as exc:
        ctx.store.update(run_id, status="rejected", reason=str(exc), finished_at=time.time())
        ctx.log("rejected: %s", exc)
    except Exception as exc:
        _fail(ctx, exc, comment_id=None)
        if not isinstance(exc, RunError):
            raise


def _acknowledge(ctx: RunContext) -> None:
    t = ctx.trigger
    if t.requester.endswith("[bot]"):
        raise NotAllowed("bots do not start runs")
    client = ctx.app.client(ctx.mint(ACK_PERMISSIONS))
    repo = client.get_repo(t.repository)
    issue = repo.get_issue(t.number)
    permission = repo.get_collaborator_permission(t.requester)
    if permission not in ALLOWED_PERMISSIONS:
        issue.create_comment(report.rejected(t.requester, permission))
        raise NotAllowed(f"{t.requester} has {permission} access")
    issue.create_reaction("eyes")
    comment = issue.create_comment(report.working(ctx.run_id, t.requester))
    ctx.store.update(ctx.run_id, tracking_comment_id=comment.id, permission=permission)
    ctx.emit("acknowledged", {"comment_id": comment.id, "permission": permission})
    Queue(RUNS_QUEUE, connection=ctx.redis).enqueue(
        "jobs.run.execute",
        kwargs={"run_id": ctx.run_id, "trigger": t.to_dict()},
        job_id=f"run-{ctx.run_id}",
        job_timeout=ctx.settings.run_timeout,
        description=f"run {t.target}",
    )
    ctx.log("acknowledged; queued")


def execute(run_id: str, trigger: dict[str, Any]) -> None:
    """Run the agent on the issue and publish its work; always ends with a report."""
    ctx = RunContext.load(run_id, trigger)
    comment_id = (ctx.store.get(run_id) or {}).get("tracking_comment_id")
    ctx.store.update(run_id, status="running", started_at=time.time())
    try:
        outcome = solve_issue(ctx, comment_id)
    except Exception as exc:
        _fail(ctx, exc, comment_id)
        if not isinstance(exc, RunError):
            raise
        return
    ctx.store.update(run_id, status="done", finished_at=time.time(), **outcome)
    ctx.emit("finished", outcome)


def _fail(ctx: RunContext, exc: Exception, comment_id: int | None) -> None:
    """Record the failure and say so on the issue; never raises."""
    reason = str(exc) if isinstance(exc, RunError) else GENERIC_FAILURE
    hint = exc.retry_hint if isinstance(exc, RunError) else RunError.retry_hint
    ctx.log("failed: %r", exc)
    ctx.store.update(ctx.run_id, status="failed", reason=reason, finished_at=time.time())
    ctx.emit("failed", {"reason": reason, "error": ctx.redactor.text(repr(exc))})
    try:
        client = ctx.app.client(ctx.mint(ACK_PERMISSIONS))
        body = report.failed(ctx.run_id, reason, hint)
        if comment_id:
            TrackingComment(client, ctx.trigger.repository, comment_id).edit(body)
        else:
            repo = client.get_repo(ctx.trigger.repository)
            repo.get_issue(ctx.trigger.number).create_comment(body)
    except (GithubException, RunError, OSError) as report_error:
        # GitHub itself is down: the run record and the log still say what happened.
        ctx.log("could not report the failure: %r", report_error)
