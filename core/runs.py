"""Run records and run events in Redis, shared by the web app and the workers.

A run is one typed record (`Run`): what was asked (its trigger, as signed) and where the run
is (`Status`). It moves only through RunStore's transitions (create, acknowledge, start,
requeue, finish), each of which writes the record and the event that says so in one
transaction. In Redis a record is a hash `orca:run:<id>` of JSON values (`decode` reads one);
its events are a stream `orca:run:<id>:events`.
Both expire after `KEEP_SECONDS` so Redis does not grow without bound; the indexes that list
runs (`orca:runs`, and `orca:target:<target>` per issue or PR) are sorted sets by creation
time, pruned of runs older than their records can be each time a run is added.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from enum import StrEnum
from typing import Any

import redis

from core import keys
from core.triggers import Trigger

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


# The event each way a run ends writes.
_ENDINGS = {Status.DONE: "finished", Status.FAILED: "failed", Status.CANCELLED: "cancelled",
            Status.REJECTED: "rejected"}


@dataclass(frozen=True)
class StopRequest:
    """Someone asked the run to stop: who, why, and whether to push the work so far."""

    by: str
    reason: str
    push: bool = False


@dataclass(frozen=True)
class Run:
    """A run record: the request that started it and where the run is."""

    id: str
    trigger: Trigger
    status: Status
    created_at: float
    delivery_id: str = ""
    """The webhook delivery that started it (`retry:<run>` for a retry)."""
    tracking_comment_id: int | None = None
    """The comment the run edits from start to finish, once acknowledged."""
    permission: str | None = None
    waited_for: str | None = None
    """The earlier run on the same target it was queued behind."""
    place: str | None = None
    """The words its comment shows for its place in line, while it waits."""
    stop: StopRequest | None = None
    started_at: float | None = None
    finished_at: float | None = None
    reason: str | None = None
    """Why it failed, was cancelled or rejected."""
    # What a finished run did (jobs.github.pull_request):
    turns: int | None = None
    tokens: int | None = None
    cost: float | None = None
    model: str | None = None
    commit: str | None = None
    branch: str | None = None
    pr_url: str | None = None
    pr_number: int | None = None
    review_url: str | None = None
    """A review of a pull request (jobs.run.review): the review it posted."""
    findings: int | None = None
    ci: str | None = None
    """CI on the commit the run pushed, as last read (jobs.steer.ci): pending, passed, failed."""

    @property
    def target(self) -> str:
        return self.trigger.target

    @classmethod
    def from_fields(cls, found: Mapping[str, Any]) -> Run:
        """A record from its decoded fields (the trigger's are kept beside the others)."""
        known = {f.name for f in fields(cls)} - {"trigger", "stop", "status"}
        stop = found.get("stop")
        return cls(trigger=Trigger.from_dict(found), status=Status(found["status"]),
                   stop=StopRequest(**stop) if stop else None,
                   **{name: value for name, value in found.items() if name in known})


def ending_event(reason: str | None, outcome: Mapping[str, Any]) -> dict[str, Any]:
    """What a run's last event says when its caller gives none: why, or what it did."""
    return {"reason": reason} if reason is not None else dict(outcome)


def decode(raw: Mapping[bytes, bytes]) -> dict[str, Any]:
    """A run record's hash as Redis returns it (every value JSON), as named fields."""
    return {name.decode(): json.loads(value) for name, value in raw.items()}


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
        return self._count(keys.rounds(target))

    def mark_pushed(self, repository: str, sha: str, run_id: str) -> None:
        """Remember that `run_id` pushed `sha`, for as long as a pull request is open."""
        self.redis.set(keys.pushed(repository, sha), run_id, ex=ROUNDS_SECONDS)

    def record_ci(self, run_id: str, state: str, sha: str) -> bool:
        """CI's state on the commit `run_id` pushed, with its event; False when unchanged."""
        if (self.get(run_id) or {}).get("ci") == state:
            return False
        self._write(run_id, {"ci": state}, ("ci", {"state": state, "sha": sha}))
        return True

    def pusher(self, repository: str, sha: str) -> str | None:
        """The run that pushed `sha`, or None (a person pushed it, or long ago)."""
        raw = self.redis.get(keys.pushed(repository, sha))
        return raw.decode() if raw else None

    def claim_ci_round(self, repository: str, sha: str) -> str | None:
        """None once per commit: its one CI round is this caller's to start. Otherwise what
        was said of the round when it was decided (`said_of_ci_round`)."""
        key = keys.ci_round(repository, sha)
        if self.redis.set(key, "", nx=True, ex=ROUNDS_SECONDS):
            return None
        return (self.redis.get(key) or b"").decode()

    def said_of_ci_round(self, repository: str, sha: str, words: str) -> None:
        """What the commit's CI round came to, for later deliveries about the same commit."""
        self.redis.set(keys.ci_round(repository, sha), words, ex=ROUNDS_SECONDS)

    def claim_ci_rerun(self, repository: str, sha: str, what: str) -> str | None:
        """None once per commit: its one re-run of failing jobs is this caller's, recorded as
        `what`. Otherwise what the caller that claimed it recorded."""
        key = keys.ci_rerun(repository, sha)
        if self.redis.set(key, what, nx=True, ex=ROUNDS_SECONDS):
            return None
        return (self.redis.get(key) or b"").decode()

    def record_ci_rerun(self, repository: str, sha: str, what: str) -> None:
        """What the commit's re-run came to (the jobs whose re-run started)."""
        self.redis.set(keys.ci_rerun(repository, sha), what, ex=ROUNDS_SECONDS)

    def ci_rerun(self, repository: str, sha: str) -> str | None:
        """What was recorded of the commit's re-run, or None if there was none."""
        raw = self.redis.get(keys.ci_rerun(repository, sha))
        return raw.decode() if raw is not None else None

    def count_ci_round(self, target: str) -> int:
        """Count one more CI round on a pull request; returns the new count."""
        return self._count(keys.ci_rounds(target))

    def _count(self, key: str) -> int:
        """One more on a pull request's counter, kept as long as a pull request is open."""
        pipe = self.redis.pipeline()
        pipe.incr(key)
        pipe.expire(key, ROUNDS_SECONDS)
        return int(pipe.execute()[0])

    def request_stop(self, run_id: str, by: str, reason: str, push: bool = False) -> None:
        """Ask a run to stop; its job (or the worker about to start it) sees this and ends."""
        self._write(run_id, {"stop": {"by": by, "reason": reason, "push": push}},
                    ("stop_requested", {"by": by, "reason": reason, "push": push}))

    def stop_request(self, run_id: str) -> StopRequest | None:
        """The stop asked for, if any."""
        raw = self.redis.hget(keys.run(run_id), "stop")
        return StopRequest(**json.loads(raw)) if raw else None

    # -- transitions: each writes the record and its event together --------------------------
    def acknowledge(self, run_id: str, comment_id: int, permission: str,
                    waited_for: str | None) -> None:
        """queued, now with its tracking comment (and the run it waits behind, if any)."""
        self._write(run_id, {"tracking_comment_id": comment_id, "permission": permission,
                             "waited_for": waited_for},
                    ("acknowledged", {"comment_id": comment_id, "permission": permission,
                                      "after": waited_for}))

    def show_place(self, run_id: str, words: str, event: dict[str, Any]) -> None:
        """A waiting run's place in line, as its comment now says it."""
        self._write(run_id, {"place": words}, ("place", event))

    def start(self, run_id: str, event: dict[str, Any] | None = None) -> None:
        """queued → running."""
        self._write(run_id, {"status": Status.RUNNING, "started_at": self.clock()},
                    ("started", event or {}))

    def requeue(self, run_id: str, reason: str) -> None:
        """running → queued again: its worker died and RQ retries it."""
        self._write(run_id, {"status": Status.QUEUED, "reason": reason},
                    ("worker_lost", {"retrying": True}))

    def finish(self, run_id: str, status: Status, reason: str | None = None,
               event: dict[str, Any] | None = None, **outcome: Any) -> None:
        """→ done, failed, cancelled or rejected, with why (for all but done) and the
        outcome's fields. Its event is `event`, or else the reason (or the outcome)."""
        if status not in FINISHED:
            raise ValueError(f"{status} is not where a run ends")
        written = {"status": status, "finished_at": self.clock(), **outcome}
        if reason is not None:
            written["reason"] = reason
        if event is None:
            event = ending_event(reason, outcome)
        self._write(run_id, written, (_ENDINGS[status], event))

    def update(self, run_id: str, **values: Any) -> None:
        """Write fields as given, with no event: for test scenes and repairs by hand. Orca's
        own code moves a run only through the transitions above."""
        self._write(run_id, values)

    def _write(self, run_id: str, values: dict[str, Any],
               event: tuple[str, dict[str, Any]] | None = None) -> None:
        key = keys.run(run_id)
        pipe = self.redis.pipeline()  # MULTI/EXEC: the record and its event, or neither
        pipe.hset(key, mapping={name: json.dumps(value) for name, value in values.items()})
        pipe.expire(key, KEEP_SECONDS)
        if event is not None:
            self._queue_event(pipe, run_id, *event)
        pipe.execute()

    def get(self, run_id: str) -> dict[str, Any] | None:
        """The record's fields as stored (mission control's pages read these)."""
        raw = self.redis.hgetall(keys.run(run_id))
        return decode(raw) if raw else None

    def load(self, run_id: str) -> Run | None:
        """The record, typed."""
        found = self.get(run_id)
        return Run.from_fields(found) if found else None

    def add_event(self, run_id: str, kind: str, data: dict[str, Any]) -> None:
        """Append one event to the run's transcript (the caller redacts secrets)."""
        pipe = self.redis.pipeline()
        self._queue_event(pipe, run_id, kind, data)
        pipe.execute()

    def _queue_event(self, pipe: redis.client.Pipeline, run_id: str, kind: str,
                     data: dict[str, Any]) -> None:
        key = keys.run_events(run_id)
        entry = {"kind": kind, "at": time.time(), "data": json.dumps(data, default=str)}
        pipe.xadd(key, entry, maxlen=MAX_EVENTS, approximate=True)
        pipe.expire(key, KEEP_SECONDS)

    def events(self, run_id: str) -> list[dict[str, Any]]:
        """Every event of a run, oldest first."""
        out = []
        for _id, entry in self.redis.xrange(keys.run_events(run_id)):
            item = {name.decode(): value.decode() for name, value in entry.items()}
            out.append({"kind": item["kind"], "at": float(item["at"]), "data": json.loads(item["data"])})
        return out
