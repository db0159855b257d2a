"""How a run ends when it does not finish its work: failed, cancelled, no longer allowed, or
its worker lost. Each records the ending (RunContext.finish) and says it in the tracking
comment, or a reply, whatever else failed.
"""

from __future__ import annotations

from typing import Any

from redis.exceptions import RedisError
from rq.exceptions import AbandonedJobError
from rq.job import Job

from core.errors import Cancelled, GitHubUnreachable, RunError, WorkerLost
from core.places import schedule_refresh
from core.runs import Status
from jobs.context import RunContext
from jobs.github import report
from jobs.github.calls import out_of_reach

GENERIC_FAILURE = "something unexpected went wrong inside Orca (the operators can see the run's log)."


def cancelled(ctx: RunContext, exc: Cancelled) -> None:
    ctx.log("cancelled: %s", exc)
    ctx.finish(Status.CANCELLED, str(exc))
    ctx.finish_comment_or_log(report.cancelled(ctx.run_id, str(exc), pushed=None))


def no_longer_allowed(ctx: RunContext, why: str) -> None:
    ctx.finish(Status.REJECTED, why)
    ctx.finish_comment_or_log(report.no_longer_allowed(ctx.run_id, ctx.trigger.requester, why))


def named(exc: Exception) -> Exception:
    """A failure Orca can name, as the RunError that says it to people; others as they are."""
    return GitHubUnreachable() if out_of_reach(exc) else exc


def failed(ctx: RunContext, exc: Exception) -> None:
    """Record the failure and say so on the issue; never raises."""
    reason = ctx.redactor.text(str(exc)) if isinstance(exc, RunError) else GENERIC_FAILURE
    hint = exc.retry_hint if isinstance(exc, RunError) else RunError.retry_hint
    ctx.log("failed: %r", exc)
    try:
        ctx.finish(Status.FAILED, reason, event={"reason": reason, "error": repr(exc)})
    except RedisError as record_error:  # Redis is away: the issue must hear it all the same
        ctx.log("could not record the failure: %r", record_error)
    ctx.finish_comment_or_log(report.failed(ctx.run_id, reason, hint))


def on_run_failure(job: Job, connection: Any, kind: type, value: BaseException,
                   traceback: Any) -> None:
    """RQ's failure callback for a run: a dead worker is reported, with the retry if any."""
    if not isinstance(value, AbandonedJobError):
        return  # execute itself reported it
    schedule_refresh(connection)  # RQ requeued it, or gave up: the lines moved
    ctx = RunContext.load(job.kwargs["run_id"], job.kwargs["trigger"])
    if job.retries_left:
        ctx.store.requeue(ctx.run_id, "its worker stopped; retrying once")
        ctx.finish_comment_or_log(report.retrying(ctx.run_id, ctx.trigger.requester))
        return
    ctx.emit("worker_lost", {"retrying": False})
    failed(ctx, WorkerLost("the worker running it stopped unexpectedly, twice"))
