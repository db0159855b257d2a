"""The home view: what needs the signed-in person first, then the runs under way, then the
runs that ended.

"Needs you", in this order: Orca's pull requests ready for review (with what Orca's own test
run and CI said), plans waiting for `/agent go`, plans that asked questions instead, failed
runs, and runs stopped by a budget. A run leaves "needs you" once a newer run works on the same
issue or pull request (a retry, an answer, `go`), or on the same pull request.

`read_home` reads a bounded window of Redis (the newest `HOME_SCAN` run records, a few events
of each of the newest `TAIL_READS` ended runs, the plans of the planning runs among them);
`sort_runs` sorts it, pure.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import redis

from app import viewer
from core import keys, outcomes
from core.plans import Plan
from core.runs import decode
from core.triggers import AGENT_BRANCH_PREFIX

# The newest runs the view looks at (a week of a busy installation is a few hundred).
HOME_SCAN = 500
# An ended run's last events hold how it stopped and its tests: the loop's `stopped`, then
# the final test run, the phase's end and the run's end, with a CI event or two after them.
TAIL_EVENTS = 16
TAIL_READS = 150
# Ended runs the view lists; the rest are on /runs.
FINISHED_SHOWN = 25
# How core.budget.exhausted and output_room name the budget that stopped a run, and how
# jobs.run.spending says the installation's daily budget refused one.
BUDGET_WORDS = ("the token budget", "the dollar budget", "the time limit", "the turn limit")
DAILY_BUDGET_WORDS = "daily budget"
NEEDS_YOU = ("review", "plans", "questions", "failed", "budget")


@dataclass(frozen=True)
class HomeFilters:
    """The home view's filters, from the query string; empty means "any"."""

    repository: str = ""
    installation: int | None = None
    person: str = ""
    """Who asked for the run (its requester's login)."""

    @classmethod
    def parse(cls, args: Any) -> HomeFilters:
        return cls(args.get("repository", "").strip(), args.get("installation", type=int),
                   args.get("person", "").strip().lstrip("@"))

    def match(self, run: dict[str, Any]) -> bool:
        if self.repository and str(run.get("repository", "")).lower() != self.repository.lower():
            return False
        if self.person and str(run.get("requester", "")).lower() != self.person.lower():
            return False
        return self.installation is None or run.get("installation_id") == self.installation

    @property
    def any(self) -> bool:
        return bool(self.repository or self.person or self.installation is not None)


@dataclass(frozen=True)
class Tail:
    """What an ended run's last events say."""

    stopped_by: str | None = None
    """The limit or request that ended the agent's loop (its `stopped` event)."""
    tests: dict[str, Any] | None = None
    """Orca's last run of the repository's tests on the change (`tests`, after or final)."""
    error: str | None = None
    """The failure's cause (the `failed` event's exception), read for operators only."""


@dataclass(frozen=True)
class PlanState:
    """A planning run's plan as Redis keeps it for its issue."""

    plan: Plan | None
    started: bool
    """`go` opened its sub-issues (a fleet)."""

    def waiting(self, run_id: str) -> Plan | None:
        """The plan, if `run_id` made it (no newer plan replaced it) and `go` has not started
        its sub-issues."""
        if self.plan is None or self.started or self.plan.run_id != run_id:
            return None
        return self.plan


@dataclass
class Entry:
    """One run on the home view and the words that say where it stands."""

    run: dict[str, Any]
    said: str = ""
    verification: str | None = None
    ci: str | None = None
    cause: str | None = None


@dataclass
class Home:
    """The view's sections, each newest first."""

    sections: dict[str, list[Entry]] = field(
        default_factory=lambda: {name: [] for name in (*NEEDS_YOU, "running", "queued",
                                                       "finished")})
    more_finished: bool = False

    @property
    def needs_you(self) -> int:
        return sum(len(self.sections[name]) for name in NEEDS_YOU)


def budget_stop(words: str | None) -> bool:
    """Whether a `stopped` event's words name one of the run's budgets."""
    return bool(words) and str(words).startswith(BUDGET_WORDS)


def verification(tests: dict[str, Any] | None) -> str:
    """Orca's test run on the change in a few words."""
    if tests is None:
        return "no tests run by Orca"
    counts = f": {tests['counts']}" if tests.get("counts") else ""
    if tests.get("regressed"):
        return f"a regression{counts}"
    if tests.get("timed_out"):
        return "tests timed out"
    if tests.get("passed"):
        return f"tests pass{counts}"
    return f"tests fail, as at the base{counts}"


def pull_request_of(run: dict[str, Any], orcas: set[str]) -> str | None:
    """The pull request a run worked for (`owner/name#n`), if it is one of Orca's: the one an
    issue's run opened, or the one a run on an Orca pull request pushed to."""
    if run.get("pr_number"):
        return f"{run.get('repository')}#{run['pr_number']}"
    if not run.get("is_pull_request") or run.get("kind") == "pr_review":
        return None
    key = f"{run.get('repository')}#{run.get('number')}"
    pushed_to_ours = str(run.get("branch") or "").startswith(AGENT_BRANCH_PREFIX)
    return key if key in orcas or pushed_to_ours else None


def sort_runs(runs: list[dict[str, Any]], tails: dict[str, Tail], plans: dict[str, PlanState],
              filters: HomeFilters = HomeFilters(),
              ended: dict[str, outcomes.State] | None = None) -> Home:
    """The runs (newest first, all visible to the viewer) in the view's sections. Which run
    is the newest on its issue or pull request is decided before the filters, so a retry by
    someone else still takes a failure out of "needs you". `ended`: Orca's pull requests
    (`owner/name#n`) that were merged or closed, which no longer wait for a review."""
    newest = _newest_on_target(runs)
    pulls = _pull_requests(runs, tails)
    for key, state in (ended or {}).items():
        if key in pulls:
            pulls[key].ended = state
    home = Home()
    for run in runs:
        if not filters.match(run):
            continue
        section, entry = _place(run, run["id"] in newest, pulls, tails.get(run["id"], Tail()),
                                plans.get(run["id"]))
        if section == "finished" and len(home.sections["finished"]) == FINISHED_SHOWN:
            home.more_finished = True
            continue
        home.sections[section].append(entry)
    return home


def _newest_on_target(runs: Iterable[dict[str, Any]]) -> set[str]:
    seen: set[str] = set()
    newest = set()
    for run in runs:
        if run.get("target") not in seen:
            seen.add(run.get("target"))
            newest.add(run["id"])
    return newest


@dataclass
class _Pull:
    newest: str
    tests: dict[str, Any] | None = None
    ci: str | None = None
    ended: outcomes.State | None = None
    """Merged or closed unmerged (pull_request.closed), else None."""


def _pull_requests(runs: list[dict[str, Any]], tails: dict[str, Tail]) -> dict[str, _Pull]:
    """Orca's pull requests among the runs: the newest run on each, the newest test run and
    CI state any of its runs recorded (CI is recorded on the run that pushed the commit)."""
    orcas = {f"{run.get('repository')}#{run['pr_number']}" for run in runs if run.get("pr_number")}
    found: dict[str, _Pull] = {}
    for run in runs:
        key = pull_request_of(run, orcas)
        if key is None:
            continue
        pull = found.setdefault(key, _Pull(run["id"]))
        tail = tails.get(run["id"])
        pull.tests = pull.tests or (tail.tests if tail else None)
        pull.ci = pull.ci or run.get("ci")
    return found


def _place(run: dict[str, Any], newest: bool, pulls: dict[str, _Pull], tail: Tail,
           plan: PlanState | None) -> tuple[str, Entry]:
    status = run.get("status")
    if status in ("running", "queued"):
        return str(status), Entry(run)
    if not newest:
        return "finished", Entry(run, "a newer run followed it")
    if status == "failed":
        return "failed", Entry(run, str(run.get("reason") or "failed"), cause=tail.error)
    if status == "rejected" and DAILY_BUDGET_WORDS in str(run.get("reason") or ""):
        return "budget", Entry(run, f"refused: {run['reason']}")
    if status != "done":
        return "finished", Entry(run, str(run.get("reason") or ""))
    if budget_stop(tail.stopped_by):
        return "budget", Entry(run, f"stopped by {tail.stopped_by}")
    if plan is not None and (waiting := plan.waiting(run["id"])):
        return _planned(run, waiting)
    pull = pulls.get(pull_request_of(run, set(pulls)) or "")
    if pull is not None and pull.newest == run["id"]:
        if pull.ended is not None:
            return "finished", Entry(run, f"its pull request was {pull.ended.value}")
        return "review", Entry(run, "", verification(pull.tests), pull.ci or "none")
    return "finished", Entry(run)


def _planned(run: dict[str, Any], plan: Plan) -> tuple[str, Entry]:
    if plan.questions:
        return "questions", Entry(run, " · ".join(plan.questions))
    tasks = len(plan.subtasks)
    what = (f"{tasks} sub-task{'s' if tasks != 1 else ''}" if tasks
            else "one pull request's work")
    return "plans", Entry(run, f"{what}; say `/agent go` on the issue to start it")


def read_home(connection: redis.Redis, who: viewer.Viewer, filters: HomeFilters) -> Home:
    """The home view of `who`: only runs they can see, from a bounded window of Redis."""
    runs = [run for run in latest_runs(connection) if who.can_see(run)]
    ended = [run["id"] for run in runs if run.get("status") in ("done", "failed")][:TAIL_READS]
    planned = [run for run in runs if run.get("kind") == "plan" and run.get("status") == "done"]
    return sort_runs(runs, tails(connection, ended, operator=who.admin),
                     plan_states(connection, planned[:TAIL_READS]), filters,
                     pulls_ended(connection, runs))


def pulls_ended(connection: redis.Redis,
                runs: list[dict[str, Any]]) -> dict[str, outcomes.State]:
    """Which of the runs' pull requests were merged or closed (core.outcomes), by
    `owner/name#n`, in one round trip."""
    pulls = [(str(run.get("repository")), int(run["pr_number"])) for run in runs
             if run.get("pr_number")]
    pulls += [(str(run.get("repository")), int(run["number"])) for run in runs
              if run.get("is_pull_request") and run.get("number")]
    return {f"{repository}#{number}": found.state
            for (repository, number), found in outcomes.read(connection, pulls).items()
            if found.state != outcomes.State.OPEN}


def latest_runs(connection: redis.Redis, most: int = HOME_SCAN) -> list[dict[str, Any]]:
    """The newest `most` run records, newest first (expired ones left out)."""
    ids = connection.zrevrange(keys.RUNS, 0, most - 1)
    pipe = connection.pipeline(transaction=False)
    for run_id in ids:
        pipe.hgetall(keys.run(run_id.decode()))
    return [decode(raw) for raw in pipe.execute() if raw]


def tails(connection: redis.Redis, run_ids: list[str], operator: bool) -> dict[str, Tail]:
    """What the last `TAIL_EVENTS` events of each run say; a failure's cause for operators."""
    pipe = connection.pipeline(transaction=False)
    for run_id in run_ids:
        pipe.xrevrange(keys.run_events(run_id), count=TAIL_EVENTS)
    return {run_id: _tail(entries, operator) for run_id, entries in zip(run_ids, pipe.execute())}


def _tail(entries: list[tuple[bytes, dict[bytes, bytes]]], operator: bool) -> Tail:
    stopped = tests = error = None
    for _entry_id, fields in entries:  # newest first: the first of each kind is the last
        kind = fields.get(b"kind", b"").decode()
        if kind not in ("stopped", "tests", "failed"):
            continue
        data = json.loads(fields.get(b"data", b"{}"))
        if kind == "stopped" and stopped is None:
            stopped = data.get("by")
        elif kind == "tests" and tests is None and data.get("at") in ("after", "final"):
            tests = data
        elif kind == "failed" and error is None and operator:
            error = data.get("error")
    return Tail(stopped, tests, error)


def plan_states(connection: redis.Redis, runs: list[dict[str, Any]]) -> dict[str, PlanState]:
    """The plan kept for each planning run's issue, and whether `go` opened its sub-issues."""
    pipe = connection.pipeline(transaction=False)
    for run in runs:
        pipe.get(keys.plan(str(run.get("target"))))
        pipe.exists(keys.fleet(str(run.get("target"))))
    found = pipe.execute()
    return {run["id"]: PlanState(Plan.from_dict(json.loads(raw)) if raw else None, bool(fleet))
            for run, raw, fleet in zip(runs, found[::2], found[1::2])}
