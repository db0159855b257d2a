"""What a run's page says of Orca's own test runs: the `tests` events that jobs.verify.checks
writes (at the base commit, on the agent's result, once more after a repair round; at the
pull request's head for a review), read back into a few lines of words.

`lines` is pure (one test run in words is app.pages.tests_outcome, as in the events' lines);
`tests_of` reads the events, a bounded number from each end of the stream: the base's comes
before the agent starts, the result's near the end.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

import redis

from app.mission import data
from app.pages import tests_outcome
from core import keys
from core.runs import MAX_EVENTS

# Events looked at from each end of the run's stream when it is first read here.
LOOKBACK = data.SHOWN_EVENTS
# Where a result was measured (not the base): on the change, again after a repair round, or
# at a pull request's head (a review).
RESULTS = ("after", "final", "head")
# Runs whose reading this process keeps, the least recently read forgotten first.
REMEMBERED = 256

# Where a web app keeps its Readings.
READINGS = "orca.verification"

Figures = dict[str, Any]
Reading = tuple[str, Figures | None, Figures | None]


class Readings:
    """What this process has read of runs' `tests` events: per run (and winning attempt), the
    newest stream id read, the base's figures and the result's."""

    def __init__(self) -> None:
        self.runs: OrderedDict[tuple[str, Any], Reading] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, memo: tuple[str, Any]) -> Reading | None:
        with self.lock:
            return self.runs.get(memo)

    def keep(self, memo: tuple[str, Any], reading: Reading) -> None:
        with self.lock:
            self.runs[memo] = reading
            self.runs.move_to_end(memo)
            while len(self.runs) > REMEMBERED:
                self.runs.popitem(last=False)


def install(state: Any) -> None:
    """This process's Readings, in `app.extensions[READINGS]`, when mission control is
    registered."""
    state.app.extensions[READINGS] = Readings()


def tests_of(connection: redis.Redis, run: dict[str, Any],
             readings: Readings) -> tuple[Figures | None, Figures | None]:
    """The run's `tests` event at the base and its newest result (their data), either None;
    of the attempt that won when there were several. A page's summary is rendered every two
    seconds while it is open: after the first reading, only the events since are read."""
    key, attempt = keys.run_events(run["id"]), run.get("winner") if run.get("attempts") else None
    memo = (run["id"], attempt)
    last, base, result = readings.get(memo) or _from_both_ends(connection, key, attempt)
    for _page in range(MAX_EVENTS // LOOKBACK):
        news = connection.xrange(key, min=f"({last}", count=LOOKBACK)
        for figures in _tests(news, attempt):
            if figures.get("at") == "base" and base is None:
                base = figures
            elif figures.get("at") in RESULTS:
                result = figures
        last = news[-1][0].decode() if news else last
        if len(news) < LOOKBACK:
            break
    readings.keep(memo, (last, base, result))
    return base, result


def _from_both_ends(connection: redis.Redis, key: str, attempt: Any) -> Reading:
    """A first reading: the base among the oldest events, the result among the newest."""
    oldest = _tests(connection.xrange(key, count=LOOKBACK), attempt)
    newest = connection.xrevrange(key, count=LOOKBACK)
    results = [f for f in _tests(newest, attempt) if f.get("at") in RESULTS]
    return (newest[0][0].decode() if newest else "0",
            next((f for f in oldest if f.get("at") == "base"), None),
            results[0] if results else None)


def _tests(entries: list, attempt: Any) -> list[Figures]:
    """The data of the `tests` events among stream entries, in their order; of `attempt`'s
    and the run's own when `attempt` is set."""
    found = []
    for entry_id, fields in entries:
        event = data.event_of(entry_id, fields)
        if event["kind"] == "tests" and (attempt is None
                                         or event["data"].get("attempt") in (None, attempt)):
            found.append(event["data"])
    return found


def lines(base: dict[str, Any] | None, result: dict[str, Any] | None,
          ended: bool) -> tuple[str | None, list[str]]:
    """The command Orca ran and the Verification lines of a run's page; nothing while nothing
    ran and the run goes on. Pure."""
    if base is None and result is None:
        return None, ["Orca ran no tests of its own on this run."] if ended else []
    said = []
    if base is not None:
        kept = " (kept from an earlier run on the same commit)" if base.get("cached") else ""
        said.append(f"At the base commit: {tests_outcome(base)}{kept}.")
    command = (result or base or {}).get("command")
    if result is None:
        said.append("The run ended before Orca ran them on the change." if ended else
                    "Not yet run on the change.")
        return command, said
    where = "At the pull request's head" if result.get("at") == "head" else "On the change"
    said.append(f"{where}: {tests_outcome(result)}.")
    if "regressed" in result and base is not None:
        said.append("A regression against the base: what passed there fails now."
                    if result["regressed"] else "No regression against the base.")
    return command, said
