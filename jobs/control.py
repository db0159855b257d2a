"""Commands that steer runs instead of starting one: stop, retry, help, and cancel.

`handle` is the fast-queue job for each. `request_stop` is shared with mission control's
Stop button: it flags the run, takes a queued run off its queue at once, and leaves a
running one to its own watcher (jobs.stop), which kills the sandbox's processes and ends
the run with a comment saying who stopped it.
"""

from __future__ import annotations

import logging
from typing import Any

import redis
from rq import Queue, get_current_job
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job, JobStatus

from app import keys
from app.commands import HELP, reserved_use
from app.queues import FAST_QUEUE, start_run
from app.runs import RunStore, Status, new_run_id
from app.triggers import Trigger
from jobs import report
from jobs.context import RunContext, react_to_comment
from jobs.errors import NotAllowed
from jobs.gate import require_write
from jobs.places import schedule_refresh

log = logging.getLogger("orca.control")
# Jobs that have not started yet can simply be taken off their queue.
_NOT_STARTED = (JobStatus.QUEUED, JobStatus.DEFERRED, JobStatus.SCHEDULED, JobStatus.RATE_LIMITED)


def request_stop(connection: redis.Redis, run_id: str, requested_by: str,
                 reason: str | None = None, push: bool = False) -> bool:
    """Ask a queued or running run to stop; False if it had already ended."""
    store = RunStore(connection)
    run = store.get(run_id)
    if run is None or run.get("status") not in ("queued", "running"):
        return False
    why = reason or f"@{requested_by} asked it to stop"
    store.request_stop(run_id, requested_by, why, push)
    if run["status"] == "queued" and _dequeue(connection, run_id):
        store.finish(run_id, Status.CANCELLED, why)
        Queue(FAST_QUEUE, connection=connection).enqueue(
            "jobs.control.report_cancelled", kwargs={"run_id": run_id},
            job_id=keys.cancelled_job(run_id), description=f"report cancelled run {run_id}")
        schedule_refresh(connection)  # the runs behind it moved up
    log.info("stop requested for run %s by %s: %s", run_id, requested_by, why)
    return True


def _dequeue(connection: redis.Redis, run_id: str) -> bool:
    """Cancel the run's jobs that have not started; True if none of them is running."""
    running = False
    for job_id in (keys.ack_job(run_id), keys.run_job(run_id)):
        try:
            job = Job.fetch(job_id, connection=connection)
        except NoSuchJobError:
            continue
        status = job.get_status()
        if status in _NOT_STARTED:
            try:
                job.cancel(enqueue_dependents=True)
            except InvalidJobOperation:
                running = True
        elif status == JobStatus.STARTED:
            running = True
    return not running


def report_cancelled(run_id: str) -> None:
    """Finish the tracking comment (or reply) of a run stopped before it started."""
    store = RunStore(get_current_job().connection)
    record = store.get(run_id) or {}
    ctx = RunContext.load(run_id, record)
    ctx.finish_comment(record.get("tracking_comment_id"),
                       report.cancelled(run_id, record.get("reason", "it was stopped"), pushed=None))


def handle(trigger: dict[str, Any]) -> None:
    """The fast job for stop, retry, help and cancel."""
    t = Trigger.from_dict(trigger)
    ctx = RunContext.load(f"{t.kind}-control", trigger)
    if t.kind == "cancel":
        for run_id in ctx.store.active_on(t.target):
            request_stop(ctx.redis, run_id, t.requester, t.request)
        return
    client = ctx.client_for_replies()
    try:
        require_write(ctx, client)
    except NotAllowed as exc:
        ctx.log("%s ignored: %s", t.kind, exc)
        return
    react_to_comment(client, t.repository, t.comment_id, t.on_diff)
    body = {"stop": _stop, "retry": _retry, "help": _help}[t.kind](ctx)
    ctx.reply(client, body)


def _stop(ctx: RunContext) -> str:
    t = ctx.trigger
    stopped = [run_id for run_id in ctx.store.active_on(t.target)
               if request_stop(ctx.redis, run_id, t.requester, push=t.push)]
    return report.stopping(t.requester, stopped, t.push)


def _retry(ctx: RunContext) -> str | None:
    """Start the target's last request again, asked for by whoever said retry."""
    t = ctx.trigger
    for run_id in ctx.store.runs_on(t.target):
        previous = ctx.store.get(run_id)
        if previous is None:
            continue
        again = Trigger.from_dict({**previous, "requester": t.requester,
                                   "requester_id": t.requester_id})
        start_run(ctx.redis, new_run_id(), again, f"retry:{previous['id']}")
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
