"""The RQ queues and the one function that puts a trigger on them.

Two queues, so an acknowledgement never waits behind a long agent run: `orca-fast` for
the gate, the 👀 and the tracking comment; `orca-runs` for the agent itself.
"""

from __future__ import annotations

import redis
from rq import Queue

from app.installations import InstallationChange
from app.runs import RunStore, new_run_id
from app.triggers import Trigger

FAST_QUEUE = "orca-fast"
RUNS_QUEUE = "orca-runs"
# An acknowledgement is a handful of API calls; anything longer is stuck.
ACK_TIMEOUT = 120


def queues(connection: redis.Redis) -> tuple[Queue, Queue]:
    """The fast queue and the runs queue, fast first (workers listen in this order)."""
    return Queue(FAST_QUEUE, connection=connection), Queue(RUNS_QUEUE, connection=connection)


def enqueue_trigger(connection: redis.Redis, trigger: Trigger, delivery_id: str) -> tuple[str, bool]:
    """Queue what the trigger asks for. Returns (run or control id, newly created).

    A run gets a record and an acknowledgement job; a stop, retry, help or cancel gets one
    fast job. The delivery id makes this idempotent: a redelivered webhook finds what it
    started the first time and enqueues nothing.
    """
    store = RunStore(connection)
    job_key = new_run_id() if trigger.starts_run else f"{trigger.kind}-{new_run_id()}"
    existing = store.claim_delivery(delivery_id, job_key)
    if existing is not None:
        return existing, False
    try:
        if trigger.starts_run:
            start_run(connection, job_key, trigger, delivery_id)
        else:
            queues(connection)[0].enqueue(
                "jobs.control.handle", kwargs={"trigger": trigger.to_dict()},
                job_id=job_key, job_timeout=ACK_TIMEOUT,
                description=f"{trigger.kind} {trigger.target}")
    except Exception:  # whatever failed, a redelivery must be able to try again
        store.release_delivery(delivery_id)
        raise
    return job_key, True


def start_run(connection: redis.Redis, run_id: str, trigger: Trigger, delivery_id: str) -> None:
    """Record a queued run and queue its acknowledgement."""
    RunStore(connection).create(run_id, {**trigger.to_dict(), "delivery_id": delivery_id},
                                trigger.target)
    queues(connection)[0].enqueue(
        "jobs.run.acknowledge",
        kwargs={"run_id": run_id, "trigger": trigger.to_dict()},
        job_id=f"ack-{run_id}",
        job_timeout=ACK_TIMEOUT,
        description=f"acknowledge {trigger.target}",
    )


def enqueue_installation_change(connection: redis.Redis, change: InstallationChange,
                                delivery_id: str) -> bool:
    """Queue the recording of an installation change once per delivery; True if new."""
    store = RunStore(connection)
    if store.claim_delivery(delivery_id, f"installation:{change.installation_id}") is not None:
        return False
    try:
        fast, _ = queues(connection)
        fast.enqueue("jobs.installations.apply_change", kwargs={"change": change.to_dict()},
                     job_id=f"installation-{delivery_id}", job_timeout=ACK_TIMEOUT,
                     description=f"installation {change.installation_id} {change.action}")
    except Exception:  # whatever failed, a redelivery must be able to try again
        store.release_delivery(delivery_id)
        raise
    return True
