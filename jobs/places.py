"""Where each waiting run stands, and keeping its tracking comment saying so.

Two lines, both RQ's own: a run whose installation is at its cap
(ORCA_MAX_RUNS_PER_INSTALLATION) waits in that installation's RQ `RateLimit` set; a run
with a slot waits in the `orca-runs` queue for a free run worker (ORCA_MAX_RUNS of them).
A run behind another run on the same issue or PR waits on an RQ dependency and is in
neither line until that run ends (its comment names the run it waits for).

Places change when a run starts (the queue moves up) and when one ends (its slot goes to
the installation's next run). Each of those queues one `refresh` on the fast queue, which
reads both lines in one snapshot and edits the comments whose place changed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import redis
from github import Github
from github.GithubException import GithubException
from rq import Queue, Worker, get_current_job
from rq.job import Job
from rq.rate_limit import RateLimit, RateLimitRegistry
from rq.worker import WorkerStatus

from app import keys
from app.queues import FAST_QUEUE, RUNS_QUEUE
from app.runs import RunStore
from jobs import report
from jobs.context import RunContext, TrackingComment
from jobs.errors import RunError

log = logging.getLogger("orca.places")
_SLOTS_PREFIX = "orca-installation-"
# Set while a refresh is queued, so a burst of starts and ends queues one refresh.
_PENDING = keys.PLACES_PENDING
_PENDING_SECONDS = 120


def installation_slots(installation_id: int, cap: int) -> RateLimit:
    """The RQ rate limit that holds an installation to `cap` runs queued or running."""
    return RateLimit(f"{_SLOTS_PREFIX}{installation_id}", cap)


@dataclass(frozen=True)
class Place:
    """A waiting run's place: 1-based `position` among `waiting` in `line`."""

    line: str  # "workers" (the runs queue) or "installation" (its slots are all taken)
    position: int
    waiting: int
    slots: int = 0  # the installation's cap, in its line

    def as_event(self) -> dict[str, Any]:
        return {"line": self.line, "position": self.position, "waiting": self.waiting}


def waiting_places(connection: redis.Redis) -> dict[str, Place]:
    """Every waiting run's place, read from both lines in one transaction."""
    registries = [r for r in RateLimitRegistry.all(connection) if r.key.startswith(_SLOTS_PREFIX)]
    pipe = connection.pipeline(transaction=True)
    pipe.lrange(Queue(RUNS_QUEUE, connection=connection).key, 0, -1)
    for registry in registries:
        pipe.zrange(registry.rate_limited_key, 0, -1)
        pipe.hget(registry.config_key, "concurrency")
    queued, *per_installation = pipe.execute()
    places = {}
    in_queue = [_run_id(job_id) for job_id in queued]
    for index, run_id in enumerate(in_queue):
        if run_id:
            places[run_id] = Place("workers", index + 1, len(in_queue))
    for held, cap in zip(per_installation[::2], per_installation[1::2]):
        for index, job_id in enumerate(held):
            if run_id := _run_id(job_id):
                places[run_id] = Place("installation", index + 1, len(held), int(cap or 0))
    return places


def place_in_line(connection: redis.Redis, run_id: str) -> Place | None:
    """The run's place, or None if it is not waiting in a line or a worker is free for it."""
    place = waiting_places(connection).get(run_id)
    return place if place is None or worth_showing(place, idle_run_workers(connection)) else None


def worth_showing(place: Place, idle_workers: int) -> bool:
    """A place in the workers' line that an idle worker takes at once is not worth a comment."""
    return place.line == "installation" or place.position > idle_workers


def idle_run_workers(connection: redis.Redis) -> int:
    """Run workers free for a run now (RQ's own registry of workers and their states): idle,
    or, for a worker on both queues, busy with a fast job such as this acknowledgement."""
    return sum(1 for worker in Worker.all(queue=Queue(RUNS_QUEUE, connection=connection))
               if worker.get_state() == WorkerStatus.IDLE or _on_fast_job(worker))


def _on_fast_job(worker: Worker) -> bool:
    job = worker.get_current_job()
    return job is not None and job.origin == FAST_QUEUE


def _run_id(job_id: bytes) -> str | None:
    name = job_id.decode()
    return keys.run_of_job(name)


def show_place(ctx: RunContext, client: Github, comment_id: int, place: Place | None) -> bool:
    """Edit a waiting run's tracking comment to its place, unless it started meanwhile or
    the comment already says so. True if it edited."""
    with ctx.comment_lock():
        record = ctx.store.get(ctx.run_id) or {}
        if record.get("status") != "queued" or place is None:
            return False
        account = ctx.trigger.repository.partition("/")[0]
        text = report.queued(ctx.run_id, ctx.trigger.requester, account, place.line,
                             place.position, place.slots)
        if record.get("place") == text:
            return False
        TrackingComment(client, ctx.trigger.repository, comment_id).edit(text)
        ctx.store.update(ctx.run_id, place=text)
        ctx.emit("place", place.as_event())
        return True


def schedule_refresh(connection: redis.Redis) -> None:
    """Queue one refresh of every waiting run's place, unless one is queued already."""
    if not connection.set(_PENDING, "1", nx=True, ex=_PENDING_SECONDS):
        return
    try:
        Queue(FAST_QUEUE, connection=connection).enqueue(
            "jobs.places.refresh", job_timeout=300, description="refresh places in line")
    except Exception:  # not queued after all: the next start or end must be able to try
        connection.delete(_PENDING)
        raise


def release_slot_early(connection: redis.Redis, job: Job | None) -> None:
    """Give the installation's slot to its next run now that this run's work is done.

    RQ would do it only after the job's bookkeeping; the refresh that follows must see the
    next run promoted."""
    if job is not None and job.has_rate_limit:
        RateLimitRegistry.from_job(job).release_and_enqueue(job.id)


def refresh() -> None:
    """The fast job: edit each waiting run's comment whose place changed."""
    connection = get_current_job().connection
    connection.delete(_PENDING)  # changes from now on queue another refresh
    store = RunStore(connection)
    clients: dict[str, Github] = {}
    idle = idle_run_workers(connection)
    for run_id, place in waiting_places(connection).items():
        if not worth_showing(place, idle):
            continue
        record = store.get(run_id)
        if not record or record.get("status") != "queued" or not record.get("tracking_comment_id"):
            continue
        ctx = RunContext.load(run_id, record)
        try:
            client = clients.get(ctx.trigger.repository) or ctx.client_for_replies()
            clients[ctx.trigger.repository] = client
            show_place(ctx, client, record["tracking_comment_id"], place)
        except (GithubException, RunError, OSError) as exc:  # one refused edit must not stop the rest
            log.warning("could not show run %s its place: %r", run_id, exc)
