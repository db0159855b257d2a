"""What /insights reads from Redis, per installation, for one viewer. Read-only and bounded.

- Runs and dollars per UTC day over the last DAYS days, from the spend ledger (core.ledger):
  an installation's figures are shown to operators and to people who can read one of the
  repositories that spent (the rule of /runs's spend table).
- Outcomes of the runs mission control keeps (core.runs keeps records a week) in the
  repositories the viewer can read: each pull request those runs opened, merged, open or
  closed unmerged as recorded (core.outcomes), and the runs that failed.
- The time from a request to its pull request: the run that opened it, from its record's
  `created_at` (the request) to the outcome's `opened_at`.
"""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import redis

from app import viewer
from core import keys, ledger, outcomes
from core.runs import decode

DAYS = 30
# Run records read at most, newest first: a busy week stays one quick page.
MAX_RUNS = 2000
# The outcomes, in the order the chart and the table show them.
OUTCOMES = ("merged", "open", "closed unmerged", "failed")


@dataclass
class Insight:
    """One installation's figures."""

    installation_id: int
    days: list[ledger.DayTotals]
    """One per day of the last DAYS, oldest first (zeros for a day with no spending)."""
    outcomes: Counter[str] = field(default_factory=Counter)
    to_pull: list[float] = field(default_factory=list)
    """Seconds from each request to the pull request its run opened."""
    repositories: set[str] = field(default_factory=set)
    """The repositories of its runs the viewer can read."""

    @property
    def median_to_pull(self) -> float | None:
        return statistics.median(self.to_pull) if self.to_pull else None


def last_days(now: float, days: int = DAYS) -> list[str]:
    """The UTC days (`2026-12-04`) ending today, oldest first."""
    return [ledger.day_of(now - back * 86400) for back in range(days - 1, -1, -1)]


def gather(connection: redis.Redis, who: viewer.Viewer, now: float) -> list[Insight]:
    """Every installation the viewer may see something of, by id."""
    days = last_days(now)
    found = {i: Insight(i, totals) for i, totals in _spend(connection, who, days).items()}
    runs = _runs(connection, who, now - DAYS * 86400)
    for run in runs:
        installation = run.get("installation_id")
        if isinstance(installation, int):
            found.setdefault(installation, Insight(installation, _zeros(installation, days)))
            found[installation].repositories.add(str(run.get("repository", "")))
    _count_outcomes(connection, runs, found)
    return [found[i] for i in sorted(found)]


def _zeros(installation_id: int, days: list[str]) -> list[ledger.DayTotals]:
    return [ledger.DayTotals(installation_id, day) for day in days]


def _spend(connection: redis.Redis, who: viewer.Viewer,
           days: list[str]) -> dict[int, list[ledger.DayTotals]]:
    """Each visible installation's days, from the ledger."""
    by_installation: dict[int, dict[str, ledger.DayTotals]] = {}
    for day in days:
        for totals in ledger.spent_on(connection, day):
            by_installation.setdefault(totals.installation_id, {})[day] = totals
    visible = {}
    for installation, by_day in by_installation.items():
        repositories = set().union(*(t.repository_ids for t in by_day.values()))
        if who.can_see_installation(repositories):
            visible[installation] = [by_day.get(day) or ledger.DayTotals(installation, day)
                                     for day in days]
    return visible


def _runs(connection: redis.Redis, who: viewer.Viewer, since: float) -> list[dict[str, Any]]:
    """The kept run records created since `since` that the viewer can see, newest first."""
    ids = connection.zrevrangebyscore(keys.RUNS, "+inf", since, start=0, num=MAX_RUNS)
    pipe = connection.pipeline(transaction=False)
    for run_id in ids:
        pipe.hgetall(keys.run(run_id.decode()))
    runs = [decode(raw) for raw in pipe.execute() if raw]  # records expire before their ids
    return [run for run in runs if who.can_see(run)]


def _count_outcomes(connection: redis.Redis, runs: list[dict[str, Any]],
                    found: dict[int, Insight]) -> None:
    """Each pull request once, as recorded; each failed run; each opening's wait."""
    pulls = [(run.get("repository"), run["pr_number"]) for run in runs if run.get("pr_number")]
    recorded = outcomes.read(connection, pulls)
    counted: set[tuple[Any, Any]] = set()
    for run in runs:
        insight = found.get(run.get("installation_id", 0))
        if insight is None:
            continue
        if run.get("status") == "failed":
            insight.outcomes["failed"] += 1
        pull = (run.get("repository"), run.get("pr_number"))
        outcome = recorded.get(pull)
        if outcome is None:
            continue
        if pull not in counted:
            counted.add(pull)
            insight.outcomes[outcome.state.value] += 1
        if outcome.run_id == run.get("id") and isinstance(run.get("created_at"), (int, float)):
            insight.to_pull.append(max(0.0, outcome.opened_at - run["created_at"]))
