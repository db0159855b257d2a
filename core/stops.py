"""Stop requests: asking (`/agent stop`, `/agent cancel`, mission control's Stop button) and
hearing them.

`request_stop` flags the run, takes a queued run off its queue at once (its comment is
finished by a fast job), and leaves a running one to its own watcher: `watching` is a thread
that polls the run record and raises a flag, a `threading.Event` that the agent loop checks
between turns and while the model answers, and the sandbox while a command runs (it kills
the command's processes at once). So a stop takes effect within a poll interval even in the
middle of a long `make`, and the run ends with a comment saying who stopped it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import redis
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job, JobStatus

from core import keys
from core.places import schedule_refresh
from core.queues import enqueue_cancelled_report
from core.runs import ACTIVE, RunStore, Status, StopRequest

log = logging.getLogger("orca.stop")
# Jobs that have not started yet can simply be taken off their queue.
_NOT_STARTED = (JobStatus.QUEUED, JobStatus.DEFERRED, JobStatus.SCHEDULED, JobStatus.RATE_LIMITED)
# Half a second: quick enough for a person watching, cheap for Redis (one HGET).
POLL_SECONDS = 0.5


def request_stop(connection: redis.Redis, run_id: str, requested_by: str,
                 reason: str | None = None, push: bool = False) -> bool:
    """Ask a queued or running run to stop; False if it had already ended."""
    store = RunStore(connection)
    run = store.get(run_id)
    if run is None or run.get("status") not in ACTIVE:
        return False
    why = reason or f"@{requested_by} asked it to stop"
    store.request_stop(run_id, requested_by, why, push)
    if run["status"] == Status.QUEUED and _dequeue(connection, run_id):
        store.finish(run_id, Status.CANCELLED, why)
        enqueue_cancelled_report(connection, run_id)
        schedule_refresh(connection)  # the runs behind it moved up
    log.info("stop requested for run %s by %s: %s", run_id, requested_by, why)
    return True


def _dequeue(connection: redis.Redis, run_id: str) -> bool:
    """Cancel the run's jobs that have not started; True if none of them is running."""
    running = False
    for job_id in (keys.ack_job(run_id), keys.held_ack_job(run_id), keys.run_job(run_id)):
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


@dataclass
class StopSignal:
    """Set once someone asks the run to stop; carries who, why, and whether to push."""

    event: threading.Event = field(default_factory=threading.Event)
    request: StopRequest | None = None

    def set(self, request: StopRequest) -> None:
        self.request = request
        self.event.set()

    def is_set(self) -> bool:
        return self.event.is_set()

    @property
    def reason(self) -> str:
        return self.request.reason if self.request else "a stop request"

    @property
    def push(self) -> bool:
        return bool(self.request and self.request.push)


@contextmanager
def watching(store: RunStore, run_id: str, interval: float = POLL_SECONDS) -> Iterator[StopSignal]:
    """A StopSignal kept in step with the run record until the block ends."""
    signal, done = StopSignal(), threading.Event()
    first = store.stop_request(run_id)
    if first:
        signal.set(first)

    def poll() -> None:
        while not signal.is_set() and not done.wait(interval):
            try:
                request = store.stop_request(run_id)
            except redis.RedisError as exc:
                # Redis away for longer than the client's own retries: keep listening, or a
                # restart of Redis would leave the run deaf to "stop" for the rest of it.
                log.warning("run %s: cannot read stop requests (%s); still listening", run_id, exc)
                continue
            if request:
                signal.set(request)

    thread = threading.Thread(target=poll, name=f"stop-watch-{run_id}", daemon=True)
    thread.start()
    try:
        yield signal
    finally:
        done.set()
        thread.join(timeout=interval * 4)
