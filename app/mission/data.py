"""What mission control reads from Redis: pages of runs, their live figures, their events.

Read-only: the web process never changes a run here (the Stop button goes through
`jobs.steer.control.request_stop`). Every read is bounded, so a week of runs or a run with ten
thousand events cannot make a page slow.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import redis
from rq import Worker

from core import keys
from core.places import waiting_places
from core.plans import PlanStore
from core.queues import fast_queue, queues
from core.runs import STATUSES, RunStore

# A page of the list; and how many records one request may look at to fill it, so a person
# who can see one repository among thousands of runs still gets an answer quickly.
PAGE_SIZE = 50
MAX_SCAN = 2000
SCAN_BATCH = 200
# The run page shows the newest events; older ones stay in Redis (10,000 at most).
SHOWN_EVENTS = 500
# A model event comes every turn, tool events in between: this many back finds the latest.
SPENT_LOOKBACK = 200


@dataclass(frozen=True)
class Filters:
    """The list's filters, from the query string; empty means "any"."""

    status: str = ""
    repository: str = ""
    installation: int | None = None

    @classmethod
    def parse(cls, args: Any) -> Filters:
        status = args.get("status", "")
        return cls(status if status in STATUSES else "", args.get("repository", "").strip(),
                   args.get("installation", type=int))

    def match(self, run: dict[str, Any]) -> bool:
        if self.status and run.get("status") != self.status:
            return False
        if self.repository and str(run.get("repository", "")).lower() != self.repository.lower():
            return False
        return self.installation is None or run.get("installation_id") == self.installation


def decode(raw: dict[bytes, bytes]) -> dict[str, Any]:
    """A run record hash as RunStore writes it: every value is JSON."""
    return {name.decode(): json.loads(value) for name, value in raw.items()}


def page_of_runs(connection: redis.Redis, visible: Any, filters: Filters,
                 before: float | None = None) -> tuple[list[dict[str, Any]], float | None]:
    """Runs newest first that `visible(run)` allows and the filters match, created before
    `before`; and the cursor for the next page (None when the list has ended)."""
    found: list[dict[str, Any]] = []
    upper = f"({before!r}" if before is not None else "+inf"
    scanned = 0
    while scanned < MAX_SCAN:
        batch = connection.zrevrangebyscore(keys.RUNS, upper, "-inf", start=0, num=SCAN_BATCH,
                                            withscores=True)
        if not batch:
            return found, None
        pipe = connection.pipeline()
        for run_id, _score in batch:
            pipe.hgetall(keys.run(run_id.decode()))
        for (_run_id, score), raw in zip(batch, pipe.execute()):
            scanned += 1
            upper = f"({score!r}"
            run = decode(raw) if raw else None  # records expire; the index keeps their ids
            if run and visible(run) and filters.match(run):
                found.append(run)
                if len(found) == PAGE_SIZE:
                    return found, score
    return found, float(upper[1:])


def queue_positions(connection: redis.Redis, runs: list[dict[str, Any]]) -> dict[str, str]:
    """Where each queued run waits, 1-based: to be acknowledged, for a run worker, or for
    one of its installation's slots (the lines of `jobs.steer.place_comments`)."""
    queued = [run["id"] for run in runs if run.get("status") == "queued"]
    if not queued:
        return {}
    places = waiting_places(connection)
    fast = fast_queue(connection)
    pipe = connection.pipeline()
    for run_id in queued:
        pipe.lpos(fast.key, keys.ack_job(run_id))
    positions = {}
    for run_id, in_fast in zip(queued, pipe.execute()):
        if place := places.get(run_id):
            positions[run_id] = (f"#{place.position} for a worker" if place.line == "workers"
                                 else f"#{place.position} for an installation slot")
        elif in_fast is not None:
            positions[run_id] = f"#{in_fast + 1} to be acknowledged"
    return positions


def unserved_queues(connection: redis.Redis) -> list[tuple[str, int]]:
    """Queues with jobs waiting that no worker takes from, as `orca worker --queues` names them
    (`fast`, `runs`), with how many wait. RQ's worker registry forgets a worker whose
    heartbeat stopped (Worker.all drops workers whose record expired)."""
    unserved = []
    for name, queue in zip(("fast", "runs"), queues(connection), strict=True):
        waiting = queue.count
        if waiting and not Worker.all(connection=connection, queue=queue):
            unserved.append((name, waiting))
    return unserved


def no_worker_note(unserved: list[tuple[str, int]]) -> str | None:
    """What the list says when queued work has no worker to take it. Pure."""
    if not unserved:
        return None
    waiting = sum(count for _name, count in unserved)
    jobs = f"{waiting} job waits" if waiting == 1 else f"{waiting} jobs wait"
    if len(unserved) == 2:
        return (f"No worker is running: {jobs} in the queues, and queued runs will not start "
                "until one does. Start one with `orca worker` (or everything with `orca up`).")
    name = unserved[0][0]
    return (f"No worker takes from the {name} queue, where {jobs}: start one with "
            f"`orca worker --queues {name}` (or `--queues all`).")


def _event(entry_id: bytes, fields: dict[bytes, bytes]) -> dict[str, Any]:
    item = {name.decode(): value.decode() for name, value in fields.items()}
    return {"id": entry_id.decode(), "kind": item.get("kind", "?"), "at": float(item.get("at", 0)),
            "data": json.loads(item.get("data", "{}"))}


# A stream entry as the pages read it (app.mission.stream reads them with XREAD).
event_of = _event


def events_key(run_id: str) -> str:
    return keys.run_events(run_id)


def latest_events(connection: redis.Redis, run_id: str,
                  count: int = SHOWN_EVENTS) -> tuple[list[dict[str, Any]], int]:
    """The newest `count` events, oldest first, and how many the run has in all."""
    newest = connection.xrevrange(events_key(run_id), count=count)
    return [_event(i, f) for i, f in reversed(newest)], connection.xlen(events_key(run_id))


def events_after(connection: redis.Redis, run_id: str, after: str) -> list[dict[str, Any]]:
    """Events newer than stream id `after` ("0" for all), oldest first, a page at most."""
    start = f"({after}" if after and after != "0" else "-"
    return [_event(i, f) for i, f in
            connection.xrange(events_key(run_id), min=start, count=SHOWN_EVENTS)]


def failure_cause(connection: redis.Redis, run_id: str) -> str | None:
    """The exception behind the run's failure (its type and redacted message), for operators:
    the comment and everyone else read the failure in words."""
    for entry_id, fields in connection.xrevrange(events_key(run_id), count=SPENT_LOOKBACK):
        event = _event(entry_id, fields)
        if event["kind"] == "failed":
            return event["data"].get("error")
    return None


def for_viewer(events: list[dict[str, Any]], operator: bool) -> list[dict[str, Any]]:
    """The events as this viewer may read them: a failure's cause is Orca's inside, for
    operators; everyone else keeps its words."""
    if operator:
        return events
    return [{**e, "data": {k: v for k, v in e["data"].items() if k != "error"}}
            if e["kind"] == "failed" and isinstance(e.get("data"), dict) else e for e in events]


def latest_spent(connection: redis.Redis, run_id: str) -> dict[str, Any] | None:
    """The running figures (turns, tokens, dollars, minutes) of the run's newest model event."""
    for entry_id, fields in connection.xrevrange(events_key(run_id), count=SPENT_LOOKBACK):
        event = _event(entry_id, fields)
        if event["kind"] == "model":
            return event["data"].get("spent")
    return None


def first_event(connection: redis.Redis, run_id: str, kind: str) -> dict[str, Any] | None:
    """The run's first event of `kind` (`budget`, `workspace`: both come early)."""
    for entry_id, fields in connection.xrange(events_key(run_id), count=SPENT_LOOKBACK):
        event = _event(entry_id, fields)
        if event["kind"] == kind:
            return event
    return None


def with_live_figures(connection: redis.Redis, runs: list[dict[str, Any]]) -> None:
    """Fill turns, tokens and cost from the newest model event where the record has none yet
    (running runs, and runs that ended without a report of their figures)."""
    for run in runs:
        if run.get("turns") is None and run.get("status") not in ("queued", "rejected"):
            spent = latest_spent(connection, run["id"])
            if spent:
                run.update(turns=spent.get("turns"), tokens=spent.get("tokens"),
                           cost=spent.get("dollars"), live=True)


def fleet_of(connection: redis.Redis, repository: str, number: int) -> dict[str, Any]:
    """A plan's parent and children around an issue: `parent` (its number, for a sub-issue)
    and `children` (for a parent: each sub-task's issue, title, newest run and its status)."""
    plans, runs = PlanStore(connection), RunStore(connection)
    parent = plans.parent_of(f"{repository}#{number}")
    fleet = plans.fleet(f"{repository}#{number}")
    children = []
    for child in fleet.children if fleet else ():
        task = fleet.plan.task(child.task)
        newest = next(iter(runs.runs_on(f"{repository}#{child.issue}")), None)
        record = runs.get(newest) if newest else None
        children.append({"task": child.task, "issue": child.issue,
                         "title": task.title if task else "", "run_id": newest,
                         "status": (record or {}).get("status", "waiting"),
                         "pr_url": (record or {}).get("pr_url")})
    return {"parent": int(parent.rsplit("#", 1)[1]) if parent else None, "children": children}
