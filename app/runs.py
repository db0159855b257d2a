"""Run records and run events in Redis, shared by the web app and the workers.

A run record is a hash `orca:run:<id>`; its events are a stream `orca:run:<id>:events`.
Both expire after `KEEP_SECONDS` so Redis does not grow without bound; the indexes that list
runs (`orca:runs`, and `orca:target:<target>` per issue or PR) are sorted sets by creation
time, pruned of runs older than their records can be each time a run is added.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from enum import StrEnum
from typing import Any

import redis

from app import keys

# Transcripts are kept for a week: long enough to debug a run reported days later.
KEEP_SECONDS = 7 * 24 * 3600
# Redeliveries of one delivery can come for 3 days (GitHub's redelivery window).
DELIVERY_SECONDS = 3 * 24 * 3600
# Review rounds are counted per PR for as long as a PR is typically open.
ROUNDS_SECONDS = 90 * 24 * 3600
# A record lives KEEP_SECONDS past its last update, and a run's last update comes at most a
# job timeout after its creation (hours): a day more is when its index entry surely points
# at nothing.
INDEX_SECONDS = KEEP_SECONDS + 24 * 3600
# Cap a stream so a runaway run cannot fill Redis; approximate trimming is cheap.
MAX_EVENTS = 10_000



class Status(StrEnum):
    """Where a run is. Written only through RunStore's transitions: create (queued), start,
    requeue and finish."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"
    REJECTED = "rejected"


STATUSES = tuple(Status)
ACTIVE = (Status.QUEUED, Status.RUNNING)
FINISHED = (Status.DONE, Status.FAILED, Status.CANCELLED, Status.REJECTED)


def new_run_id() -> str:
    """A short, unique, URL-safe run id."""
    return uuid.uuid4().hex[:12]


class RunStore:
    """Run records and events; `redis` is a client created with decode_responses=False."""

    def __init__(self, connection: redis.Redis, clock: Callable[[], float] = time.time) -> None:
        self.redis = connection
        self.clock = clock

    def create(self, run_id: str, fields: dict[str, Any], target: str,
               pipe: redis.client.Pipeline | None = None) -> None:
        """A queued run; `target` (`owner/repo#n`) indexes it for stop, retry and follow-ups.

        With `pipe`, the writes are queued on it for the caller to send."""
        record = {**fields, "id": run_id, "status": Status.QUEUED, "created_at": self.clock(),
                  "target": target}
        stale = record["created_at"] - INDEX_SECONDS
        own = pipe is None
        pipe = self.redis.pipeline() if pipe is None else pipe
        key = keys.run(run_id)
        pipe.hset(key, mapping={name: json.dumps(value) for name, value in record.items()})
        pipe.expire(key, KEEP_SECONDS)
        for index in (keys.RUNS, keys.target(target)):
            pipe.zadd(index, {run_id: record["created_at"]})
            pipe.zremrangebyscore(index, "-inf", stale)
        pipe.expire(keys.target(target), INDEX_SECONDS)
        if own:
            pipe.execute()

    def runs_on(self, target: str) -> list[str]:
        """The ids of every kept run on an issue or PR, newest first."""
        return [raw.decode() for raw in self.redis.zrevrange(keys.target(target), 0, -1)]

    def active_on(self, target: str) -> list[str]:
        """The target's queued and running runs, newest first."""
        return [run_id for run_id in self.runs_on(target)
                if (self.get(run_id) or {}).get("status") in ACTIVE]

    def count_round(self, target: str) -> int:
        """Count one more review round on a pull request; returns the new count."""
        key = keys.rounds(target)
        pipe = self.redis.pipeline()
        pipe.incr(key)
        pipe.expire(key, ROUNDS_SECONDS)
        return int(pipe.execute()[0])

    def request_stop(self, run_id: str, by: str, reason: str, push: bool = False) -> None:
        """Ask a run to stop; its job (or the worker about to start it) sees this and ends."""
        self.update(run_id, stop={"by": by, "reason": reason, "push": push})

    def stop_request(self, run_id: str) -> dict[str, Any] | None:
        """The stop asked for, if any: {by, reason, push}."""
        raw = self.redis.hget(keys.run(run_id), "stop")
        return json.loads(raw) if raw else None

    def start(self, run_id: str) -> None:
        """queued → running."""
        self.update(run_id, status=Status.RUNNING, started_at=self.clock())

    def requeue(self, run_id: str, reason: str) -> None:
        """running → queued again: its worker died and RQ retries it."""
        self.update(run_id, status=Status.QUEUED, reason=reason)

    def finish(self, run_id: str, status: Status, reason: str | None = None,
               **fields: Any) -> None:
        """→ done, failed, cancelled or rejected, with why (for all but done) and the
        outcome's fields."""
        if status not in FINISHED:
            raise ValueError(f"{status} is not where a run ends")
        if reason is not None:
            fields["reason"] = reason
        self.update(run_id, status=status, finished_at=self.clock(), **fields)

    def update(self, run_id: str, **fields: Any) -> None:
        key = keys.run(run_id)
        encoded = {name: json.dumps(value) for name, value in fields.items()}
        pipe = self.redis.pipeline()
        pipe.hset(key, mapping=encoded)
        pipe.expire(key, KEEP_SECONDS)
        pipe.execute()

    def get(self, run_id: str) -> dict[str, Any] | None:
        raw = self.redis.hgetall(keys.run(run_id))
        if not raw:
            return None
        return {name.decode(): json.loads(value) for name, value in raw.items()}

    def add_event(self, run_id: str, kind: str, data: dict[str, Any]) -> None:
        """Append one event to the run's transcript (the caller redacts secrets)."""
        key = keys.run_events(run_id)
        entry = {"kind": kind, "at": time.time(), "data": json.dumps(data, default=str)}
        pipe = self.redis.pipeline()
        pipe.xadd(key, entry, maxlen=MAX_EVENTS, approximate=True)
        pipe.expire(key, KEEP_SECONDS)
        pipe.execute()

    def events(self, run_id: str) -> list[dict[str, Any]]:
        """Every event of a run, oldest first."""
        out = []
        for _id, fields in self.redis.xrange(keys.run_events(run_id)):
            item = {name.decode(): value.decode() for name, value in fields.items()}
            out.append({"kind": item["kind"], "at": float(item["at"]), "data": json.loads(item["data"])})
        return out
