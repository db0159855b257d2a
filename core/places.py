"""Where each waiting run stands in line.

Two lines, both RQ's own: a run whose installation is at its cap
(ORCA_MAX_RUNS_PER_INSTALLATION) waits in that installation's RQ `RateLimit` set; a run
with a slot waits in the `orca-runs` queue for a free run worker (ORCA_MAX_RUNS of them).
A run behind another run on the same issue or PR waits on an RQ dependency and is in
neither line until that run ends (its comment names the run it waits for).

Places change when a run starts (the queue moves up) and when one ends (its slot goes to
the installation's next run). Each of those queues one `refresh` on the fast queue, which
reads both lines in one snapshot and edits the comments whose place changed
(jobs.steer.place_comments).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import redis
from rq import Worker
from rq.job import Job
from rq.rate_limit import RateLimitRegistry
from rq.worker import WorkerStatus

from core import keys
from core.keys import SLOTS_PREFIX
from core.queues import FAST_QUEUE, enqueue_places_refresh, runs_queue

# Set while a refresh is queued, so a burst of starts and ends queues one refresh.
_PENDING = keys.PLACES_PENDING
_PENDING_SECONDS = 120


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
    registries = [r for r in RateLimitRegistry.all(connection) if r.key.startswith(SLOTS_PREFIX)]
    pipe = connection.pipeline(transaction=True)
    pipe.lrange(runs_queue(connection).key, 0, -1)
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
    return sum(1 for worker in Worker.all(queue=runs_queue(connection))
               if worker.get_state() == WorkerStatus.IDLE or _on_fast_job(worker))


def _on_fast_job(worker: Worker) -> bool:
    job = worker.get_current_job()
    return job is not None and job.origin == FAST_QUEUE


def _run_id(job_id: bytes) -> str | None:
    name = job_id.decode()
    return keys.run_of_job(name)


def schedule_refresh(connection: redis.Redis) -> None:
    """Queue one refresh of every waiting run's place, unless one is queued already."""
    if not connection.set(_PENDING, "1", nx=True, ex=_PENDING_SECONDS):
        return
    try:
        enqueue_places_refresh(connection)
    except Exception:  # not queued after all: the next start or end must be able to try
        connection.delete(_PENDING)
        raise


def refresh_begun(connection: redis.Redis) -> None:
    """A refresh has begun reading the lines: changes from now on queue another."""
    connection.delete(_PENDING)


def release_slot_early(connection: redis.Redis, job: Job | None) -> None:
    """Give the installation's slot to its next run now that this run's work is done.

    RQ would do it only after the job's bookkeeping; the refresh that follows must see the
    next run promoted."""
    if job is not None and job.has_rate_limit:
        RateLimitRegistry.from_job(job).release_and_enqueue(job.id)
