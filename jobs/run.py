"""A run's two jobs, composed from the steps: `acknowledge` (fast queue) and `execute`.

acknowledge: gate → checks on the PR → 👀 → tracking comment → queue the run (behind any
             earlier run on the same issue or PR).
execute:     gate again → workspace → agent → publish → report (jobs.solve).

These are the only places that catch `RunError`: whatever happens, the tracking
comment (or a reply) ends the run with what happened and how to retry.
"""

from __future__ import annotations

from typing import Any

from github import Github
from github.GithubException import GithubException
from github.PullRequest import PullRequest
from redis.exceptions import RedisError
from rq import Callback, Queue, Retry, get_current_job
from rq.exceptions import AbandonedJobError
from rq.job import Dependency, Job

from app import keys
from app.queues import RUNS_QUEUE
from app.runs import ACTIVE, Status
from app.triggers import Trigger
from jobs import accounting, report
from jobs.context import RunContext, TrackingComment, react_to_comment
from jobs.errors import Cancelled, NotAllowed, RunError, WorkerLost
from jobs.gate import require_write
from jobs.lease import holding
from jobs.places import (
    installation_slots,
    place_in_line,
    release_slot_early,
    schedule_refresh,
    show_place,
)
from jobs.solve import solve
from jobs.stop import watching
from jobs.tasks import ForkPull, check_same_repository
from jobs.threads import nothing_asked

GENERIC_FAILURE = "something unexpected went wrong inside Orca (the operators can see the run's log)."


def acknowledge(run_id: str, trigger: dict[str, Any]) -> None:
    """Check the requester, react 👀, post the tracking comment, queue the run."""
    ctx = RunContext.load(run_id, trigger)
    try:
        _acknowledge(ctx)
    except NotAllowed as exc:
        ctx.store.finish(run_id, Status.REJECTED, str(exc))
        ctx.log("rejected: %s", exc)
    except Exception as exc:
        _fail(ctx, exc, comment_id=None)
        if not isinstance(exc, RunError):
            raise


def _acknowledge(ctx: RunContext) -> None:
    t = ctx.trigger
    client = ctx.client_for_replies()
    permission = require_write(ctx, client)
    accounting.refuse_when_over_budget(ctx, client)
    if t.is_pull_request:
        _check_pull(ctx, client)
    issue = client.get_repo(t.repository).get_issue(t.number)  # lazy: no request
    if t.comment_id:
        react_to_comment(client, t.repository, t.comment_id, t.on_diff)
    elif t.kind == "label":
        issue.create_reaction("eyes")
    ahead = _run_ahead(ctx)
    body = (report.waiting(ctx.run_id, t.requester, ahead) if ahead
            else report.working(ctx.run_id, t.requester))
    comment = issue.create_comment(body)
    ctx.store.update(ctx.run_id, tracking_comment_id=comment.id, permission=permission,
                     waited_for=ahead)
    ctx.emit("acknowledged", {"comment_id": comment.id, "permission": permission, "after": ahead})
    settings = ctx.settings
    Queue(RUNS_QUEUE, connection=ctx.redis).enqueue(
        "jobs.run.execute",
        kwargs={"run_id": ctx.run_id, "trigger": t.to_dict()},
        job_id=keys.run_job(ctx.run_id),
        job_timeout=settings.run_timeout,
        description=f"run {t.target}",
        depends_on=Dependency(jobs=[keys.run_job(ahead)], allow_failure=True) if ahead else None,
        # A run whose worker died (RQ finds it abandoned) gets one more try; the callback
        # says so on the issue either way.
        retry=Retry(max=1),
        on_failure=Callback(on_run_failure),
        rate_limit=installation_slots(t.installation_id, settings.max_runs_per_installation),
    )
    ctx.log("acknowledged; queued%s", f" behind {ahead}" if ahead else "")
    if not ahead:
        try:
            show_place(ctx, client, comment.id, place_in_line(ctx.redis, ctx.run_id))
        except (GithubException, RunError, OSError) as exc:  # queued all the same
            ctx.log("could not show its place in line: %r", exc)


def _check_pull(ctx: RunContext, client: Github) -> None:
    """A PR's branch must be in this repository; a review must be on Orca's own PR, within
    the round cap."""
    t = ctx.trigger
    pull = client.get_repo(t.repository).get_pull(t.number)
    try:
        check_same_repository(pull, t.repository)
    except ForkPull as exc:
        ctx.reply(client, report.refused(str(exc), exc.retry_hint))
        raise NotAllowed("the pull request's branch is in a fork") from exc
    if t.kind != "review":
        return
    orca = ctx.app.identity(client, ctx.redis).login
    if pull.user.login != orca:
        raise NotAllowed("a review on a pull request Orca did not open")
    if why := _nothing_asked(pull, t, orca):
        raise NotAllowed(why)  # recorded, and no round counted
    rounds = ctx.store.count_round(t.target)
    if rounds > ctx.settings.max_review_rounds:
        ctx.reply(client, report.rounds_capped(t.requester, rounds - 1))
        raise NotAllowed(f"review round {rounds} is past the cap")


def _nothing_asked(pull: PullRequest, t: Trigger, orca: str) -> str | None:
    """Why a review is only a reply in a conversation (jobs.threads.nothing_asked), or None.
    The PR's other comments are read only when every comment of the review is a reply."""
    if t.request.strip():
        return None
    comments = [(c.body, c.in_reply_to_id) for c in pull.get_single_review_comments(t.review_id)]
    if not comments or any(thread is None for _, thread in comments):
        return None
    answered = {c.in_reply_to_id or c.id for c in pull.get_review_comments()
                if c.user.login == orca}
    return nothing_asked(t.request, comments, answered)


def _run_ahead(ctx: RunContext) -> str | None:
    """The newest earlier run on the same target whose job is still to finish, if any."""
    for run_id in ctx.store.active_on(ctx.trigger.target):
        if run_id != ctx.run_id and Job.exists(keys.run_job(run_id), connection=ctx.redis):
            return run_id
    return None


def execute(run_id: str, trigger: dict[str, Any]) -> None:
    """Run the agent and publish its work; always ends with a report. However it ends, its
    installation's slot goes to the next run and the runs still waiting see their places."""
    ctx = RunContext.load(run_id, trigger)
    try:
        _execute(ctx)
    finally:
        release_slot_early(ctx.redis, get_current_job())
        schedule_refresh(ctx.redis)


def _execute(ctx: RunContext) -> None:
    # One process at a time per run: a retry waits for a still-working first attempt (its
    # worker's parent was killed, not its work horse), then finds the run ended (jobs.lease).
    with holding(ctx.redis, ctx.run_id):
        _execute_held(ctx)


def _execute_held(ctx: RunContext) -> None:
    run_id = ctx.run_id
    record = ctx.store.get(run_id) or {}
    comment_id = record.get("tracking_comment_id")
    if record.get("status") not in ACTIVE:
        # Ended already, and said so: stopped while queued (jobs.control), or failed and now
        # retried by RQ, whose Retry serves dead workers but cannot tell them from errors.
        return
    if stop_request := ctx.store.stop_request(run_id):
        _cancelled(ctx, Cancelled(stop_request["reason"]), comment_id)
        return
    if accounting.refused_at_start(ctx, comment_id):
        return
    _start(ctx, comment_id)
    try:
        with watching(ctx.store, run_id) as stop:
            outcome = solve(ctx, comment_id, stop)
    except Cancelled as exc:
        _cancelled(ctx, exc, comment_id)
        return
    except NotAllowed as exc:
        ctx.store.finish(run_id, Status.REJECTED, str(exc))
        ctx.finish_comment_or_log(comment_id, report.no_longer_allowed(ctx.run_id, ctx.trigger.requester, str(exc)))
        return
    except Exception as exc:
        _fail(ctx, exc, comment_id)
        if not isinstance(exc, RunError):
            raise
        return
    ctx.store.finish(run_id, Status.DONE, **outcome)
    ctx.emit("finished", outcome)


def _start(ctx: RunContext, comment_id: int | None) -> None:
    """Mark the run running; a comment that said it was waiting now says it is working.

    The edit is made under the comment's lock after the status changed, so a place being
    shown at the same moment cannot land after it."""
    ctx.store.start(ctx.run_id)
    ctx.emit("started", {"installation": ctx.trigger.installation_id})
    schedule_refresh(ctx.redis)  # the runs behind it moved up
    if not comment_id:
        return
    with ctx.comment_lock():
        record = ctx.store.get(ctx.run_id) or {}
        if record.get("waited_for") or record.get("place"):
            TrackingComment(ctx.client_for_replies(), ctx.trigger.repository, comment_id).edit(
                report.working(ctx.run_id, ctx.trigger.requester))


def on_run_failure(job: Job, connection: Any, kind: type, value: BaseException,
                   traceback: Any) -> None:
    """RQ's failure callback for a run: a dead worker is reported, with the retry if any."""
    if not isinstance(value, AbandonedJobError):
        return  # execute itself reported it
    schedule_refresh(connection)  # RQ requeued it, or gave up: the lines moved
    ctx = RunContext.load(job.kwargs["run_id"], job.kwargs["trigger"])
    comment_id = (ctx.store.get(ctx.run_id) or {}).get("tracking_comment_id")
    if job.retries_left:
        ctx.store.requeue(ctx.run_id, "its worker stopped; retrying once")
        ctx.emit("worker_lost", {"retrying": True})
        ctx.finish_comment_or_log(comment_id, report.retrying(ctx.run_id, ctx.trigger.requester))
        return
    ctx.emit("worker_lost", {"retrying": False})
    _fail(ctx, WorkerLost("the worker running it stopped unexpectedly, twice"), comment_id)


def _cancelled(ctx: RunContext, exc: Cancelled, comment_id: int | None) -> None:
    ctx.log("cancelled: %s", exc)
    ctx.store.finish(ctx.run_id, Status.CANCELLED, str(exc))
    ctx.emit("cancelled", {"reason": str(exc)})
    ctx.finish_comment_or_log(comment_id, report.cancelled(ctx.run_id, str(exc), pushed=None))


def _fail(ctx: RunContext, exc: Exception, comment_id: int | None) -> None:
    """Record the failure and say so on the issue; never raises."""
    reason = str(exc) if isinstance(exc, RunError) else GENERIC_FAILURE
    hint = exc.retry_hint if isinstance(exc, RunError) else RunError.retry_hint
    ctx.log("failed: %r", exc)
    try:
        ctx.store.finish(ctx.run_id, Status.FAILED, reason)
        ctx.emit("failed", {"reason": reason, "error": ctx.redactor.text(repr(exc))})
    except RedisError as record_error:  # Redis is away: the issue must hear it all the same
        ctx.log("could not record the failure: %r", record_error)
    ctx.finish_comment_or_log(comment_id, report.failed(ctx.run_id, reason, hint))
