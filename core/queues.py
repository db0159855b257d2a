"""The RQ queues, and every place Orca puts a job on them.

Two queues, so an acknowledgement never waits behind a long agent run: `orca-fast` for
the gate, the 👀 and the tracking comment, and for the jobs that steer runs; `orca-runs`
for the agent itself. The jobs' functions are named here by their dotted paths, which
queued jobs store: renaming one of them strands the jobs already queued under the old name.

A delivery costs one Redis round trip: its writes (the run record, RQ's job) are queued on a
redis-py pipeline, which RQ's enqueue accepts, and are sent to a Lua script that makes them
only if neither the delivery id nor its body is claimed yet, then claims both. A script runs
atomically, so a redelivery racing its original finds it claimed and enqueues nothing; a
write that fails stops the script before the claims, so GitHub's redelivery can try again.
The body's claim turns away a replay: the same signed body under another delivery id
(core/replay.py).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import redis
from redis.client import Pipeline
from redis.commands.core import Script
from rq import Callback, Queue, Retry, SimpleWorker, Worker
from rq.job import Dependency
from rq.rate_limit import RateLimit

from core import keys
from core.installations import InstallationChange
from core.replay import Delivery, ReplayedDelivery
from core.runs import DELIVERY_SECONDS, RunStore, new_run_id
from core.triggers import Trigger

FAST_QUEUE = "orca-fast"
RUNS_QUEUE = "orca-runs"
# An acknowledgement is a handful of API calls; anything longer is stuck.
ACK_TIMEOUT = 120
# A refresh of places edits a comment per waiting run.
REFRESH_TIMEOUT = 300
# Missed deliveries are looked for every five minutes.
SWEEP_SECONDS = 300

# The jobs' functions (jobs.run, jobs.steer).
ACKNOWLEDGE = "jobs.run.acknowledge"
EXECUTE = "jobs.run.execute"
ON_RUN_FAILURE = "jobs.run.on_run_failure"
CONTROL = "jobs.steer.control.handle"
REPORT_CANCELLED = "jobs.steer.control.report_cancelled"
REFRESH_PLACES = "jobs.steer.place_comments.refresh"
INSTALLATION_CHANGE = "jobs.steer.installation_changes.apply_change"
SWEEP = "jobs.steer.redeliver.sweep"
FLEET_STEP = "jobs.steer.fleets.step"
ENTRY_POINTS = (ACKNOWLEDGE, EXECUTE, ON_RUN_FAILURE, CONTROL, REPORT_CANCELLED, REFRESH_PLACES,
                INSTALLATION_CHANGE, SWEEP, FLEET_STEP)

# KEYS[1] is the delivery id's claim, KEYS[2] the body's; KEYS[i > 2] the key of the (i-2)th
# write. ARGV: the id's claim and lifetime, the body's claim (the delivery id) and lifetime,
# then per write its number of arguments after the key, its name, them. A claimed id answers
# with its claim (a redelivery, as ever); a claimed body under a new id with {first id}.
_ONCE = """
local claimed = redis.call('GET', KEYS[1])
if claimed then return claimed end
local first = redis.call('GET', KEYS[2])
if first then return {first} end
local at = 5
for i = 3, #KEYS do
  local count = tonumber(ARGV[at])
  redis.call(ARGV[at + 1], KEYS[i], unpack(ARGV, at + 2, at + 1 + count))
  at = at + 2 + count
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
redis.call('SET', KEYS[2], ARGV[3], 'EX', ARGV[4])
return false
"""
_ONCE_SCRIPT = Script(None, _ONCE.encode())  # EVALSHA, loading it the first time per server


def queues(connection: redis.Redis) -> tuple[Queue, Queue]:
    """The fast queue and the runs queue, fast first (workers listen in this order)."""
    return fast_queue(connection), runs_queue(connection)


def fast_queue(connection: redis.Redis) -> Queue:
    return Queue(FAST_QUEUE, connection=connection)


def runs_queue(connection: redis.Redis) -> Queue:
    return Queue(RUNS_QUEUE, connection=connection)


def installation_slots(installation_id: int, cap: int) -> RateLimit:
    """The RQ rate limit that holds an installation to `cap` runs queued or running."""
    return RateLimit(keys.slots(installation_id), cap)


def enqueue_trigger(connection: redis.Redis, trigger: Trigger,
                    delivery: Delivery) -> tuple[str, bool]:
    """Queue what the trigger asks for. Returns (run or control id, newly created).

    A run gets a record and an acknowledgement job; a stop, retry, help or cancel gets one
    fast job. The delivery id makes this idempotent: a redelivered webhook finds what it
    started the first time and enqueues nothing. ReplayedDelivery: its body came before.
    """
    job_key = new_run_id() if trigger.starts_run else keys.control_job(trigger.kind, new_run_id())

    def writes(pipe: Pipeline) -> None:
        if trigger.starts_run:
            start_run(connection, job_key, trigger, delivery.id, pipe)
        else:
            queues(connection)[0].enqueue_call(
                CONTROL, kwargs={"trigger": trigger.to_dict()},
                job_id=job_key, timeout=ACK_TIMEOUT,
                description=f"{trigger.kind} {trigger.target}", pipeline=pipe)

    existing = once_per_delivery(connection, delivery, job_key, writes)
    return (existing, False) if existing is not None else (job_key, True)


def start_run(connection: redis.Redis, run_id: str, trigger: Trigger, delivery_id: str,
              pipe: Pipeline | None = None) -> None:
    """Record a queued run and queue its acknowledgement, in one transaction (or on `pipe`)."""
    own = pipe is None
    pipe = pipe if pipe is not None else transaction(connection)
    fields = trigger.to_dict()
    RunStore(connection).create(run_id, {**fields, "delivery_id": delivery_id}, trigger.target,
                                pipe=pipe)
    queues(connection)[0].enqueue_call(
        ACKNOWLEDGE, kwargs={"run_id": run_id, "trigger": fields},
        job_id=keys.ack_job(run_id), timeout=ACK_TIMEOUT,
        description=f"acknowledge {trigger.target}", pipeline=pipe)
    if own:
        pipe.execute()


def acknowledge_later(connection: redis.Redis, trigger: Trigger, run_id: str, held_from: float,
                      at: float) -> None:
    """Queue a run's acknowledgement again, whose write slots are held from `held_from`
    (epoch seconds; jobs.run.intake): RQ's scheduler puts it on the fast queue once `at` has
    come (at the back, so that those due together keep their order)."""
    fast_queue(connection).enqueue_at(
        datetime.fromtimestamp(at, UTC), ACKNOWLEDGE,
        kwargs={"run_id": run_id, "trigger": trigger.to_dict(), "held_from": held_from},
        job_id=keys.held_ack_job(run_id), job_timeout=ACK_TIMEOUT,
        description=f"acknowledge {trigger.target} (write slots held)")


def enqueue_installation_change(connection: redis.Redis, change: InstallationChange,
                                delivery: Delivery) -> bool:
    """Queue the recording of an installation change once per delivery; True if new."""

    def writes(pipe: Pipeline) -> None:
        queues(connection)[0].enqueue_call(
            INSTALLATION_CHANGE, kwargs={"change": change.to_dict()},
            job_id=keys.installation_job(delivery.id), timeout=ACK_TIMEOUT,
            description=f"installation {change.installation_id} {change.action}", pipeline=pipe)

    claim = keys.installation_claim(change.installation_id, new_run_id())
    return once_per_delivery(connection, delivery, claim, writes) is None


def enqueue_run(connection: redis.Redis, trigger: Trigger, run_id: str, timeout: int,
                installation_cap: int, after: str | None) -> None:
    """Queue an acknowledged run on the runs queue: behind the run `after` on the same
    target (whatever way that ends), within its installation's cap. A run whose worker died
    (RQ finds it abandoned) gets one more try; the failure callback says so on the issue."""
    runs_queue(connection).enqueue(
        EXECUTE, kwargs={"run_id": run_id, "trigger": trigger.to_dict()},
        job_id=keys.run_job(run_id), job_timeout=timeout, description=f"run {trigger.target}",
        depends_on=Dependency(jobs=[keys.run_job(after)], allow_failure=True) if after else None,
        retry=Retry(max=1), on_failure=Callback(ON_RUN_FAILURE),
        rate_limit=installation_slots(trigger.installation_id, installation_cap))


def acknowledgements_pending(connection: redis.Redis) -> bool:
    """Whether the fast queue holds jobs or a worker is acknowledging a run, in one round trip."""
    fast = fast_queue(connection)
    pipe = connection.pipeline(transaction=False)
    pipe.llen(fast.key)
    pipe.zrange(fast.started_job_registry.key, 0, -1)
    queued, started = pipe.execute()
    return queued > 0 or any(job.startswith(b"ack-") for job in started)


def enqueue_cancelled_report(connection: redis.Redis, run_id: str) -> None:
    """Queue the final words of a run stopped before it started."""
    fast_queue(connection).enqueue(
        REPORT_CANCELLED, kwargs={"run_id": run_id}, job_id=keys.cancelled_job(run_id),
        description=f"report cancelled run {run_id}")


def enqueue_fleet_step(connection: redis.Redis, parent: str) -> None:
    """Queue one step of the fleet of sub-issues under `parent` (jobs.steer.fleets.step)."""
    fast_queue(connection).enqueue(FLEET_STEP, kwargs={"parent": parent}, job_timeout=ACK_TIMEOUT,
                                   description=f"fleet step {parent}")


def enqueue_places_refresh(connection: redis.Redis) -> None:
    """Queue one refresh of the waiting runs' comments (core.places.schedule_refresh)."""
    fast_queue(connection).enqueue(REFRESH_PLACES, job_timeout=REFRESH_TIMEOUT,
                                   description="refresh places in line")


def schedule_sweep(connection: redis.Redis, delay: int) -> bool:
    """Queue the next sweep for missed deliveries (jobs.steer.redeliver) in `delay` seconds,
    unless one is already scheduled; True if this call did."""
    if not connection.set(keys.REDELIVER_SCHEDULED, 1, nx=True, ex=delay + SWEEP_SECONDS):
        return False
    if delay:
        fast_queue(connection).enqueue_in(timedelta(seconds=delay), SWEEP)
    else:
        fast_queue(connection).enqueue(SWEEP)
    return True


def transaction(connection: redis.Redis) -> Pipeline:
    """A pipeline in MULTI mode, as RQ's enqueue wants it (nothing is sent yet)."""
    pipe = connection.pipeline()
    pipe.multi()
    return pipe


def once_per_delivery(connection: redis.Redis, delivery: Delivery, claim: str,
                      writes: Callable[[Pipeline], None]) -> str | None:
    """Make the writes `writes` queues on a pipeline and claim the delivery for `claim`, in one
    round trip, unless the delivery is claimed already: then write nothing and return its claim.
    Its body claimed under another delivery id: write nothing, raise ReplayedDelivery.

    `claim` must be unique to this attempt: when a lost answer makes the client send the
    script again, finding its own claim means the writes were made.
    """
    pipe = transaction(connection)
    writes(pipe)
    claims = [keys.delivery(delivery.id), keys.body(delivery.digest)]
    # The id outlives the body's claim, so a redelivery is never mistaken for a replay.
    args = [claim, max(DELIVERY_SECONDS, delivery.keep), delivery.id, delivery.keep]
    for command, _options in pipe.command_stack:
        name, key, *rest = command  # every write names its key first (HSET, RPUSH, ZADD...)
        claims.append(key)
        args += [len(rest), name, *rest]
    pipe.reset()
    claimed = _ONCE_SCRIPT(keys=claims, args=args, client=connection)
    if isinstance(claimed, list):
        raise ReplayedDelivery(f"replayed delivery: this signed body came as delivery "
                               f"{claimed[0].decode()} already; a new X-GitHub-Delivery id "
                               "does not make it new")
    return None if claimed is None or claimed.decode() == claim else claimed.decode()


class _QuickToStop:
    """A worker that stops in a second once its work is done.

    RQ's teardown unsubscribes from the worker's command channel, then waits without a bound
    for redis-py's listening thread, which by then waits up to 60 s for a subscription that
    will not come (RQ 3.0 with redis-py 8.2): one stop in three of `orca worker` took a
    minute, and so did every burst worker in the tests. The thread is a daemon and ends with
    the process.
    """

    pubsub: Any
    pubsub_thread: Any

    def unsubscribe(self) -> None:
        if self.pubsub_thread:
            self.pubsub.unsubscribe()
            self.pubsub_thread.stop(timeout=1)


class FastWorker(_QuickToStop, SimpleWorker):
    """Runs its jobs in its own process (fast-queue jobs, and the tests' burst workers)."""


class RunWorker(_QuickToStop, Worker):
    """Forks a work-horse per job (runs)."""
