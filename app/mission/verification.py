"""What a run's page says of Orca's own test runs: the `tests` events that jobs.verify.checks
writes (at the base commit, on the agent's result, once more after a repair round; at the
pull request's head for a review), read back into a few lines of words.

`lines` is pure (one test run in words is app.pages.tests_outcome, as in the events' lines);
`tests_of` reads the events, a bounded number from each end of the stream: the base's comes
before the agent starts, the result's near the end.
"""

from __future__ import annotations

from typing import Any

import redis

from app.mission import data
from app.pages import tests_outcome
from core import keys

# Events looked at from each end of the run's stream.
LOOKBACK = data.SHOWN_EVENTS
# The result that counts, best first: after a repair round, on the result, a review's head.
RESULTS = ("final", "after", "head")


def tests_of(connection: redis.Redis, run: dict[str, Any]) -> tuple[dict | None, dict | None]:
    """The run's `tests` event at the base and its last result (their data), either None;
    of the attempt that won when there were several."""
    key = keys.run_events(run["id"])
    attempt = run.get("winner") if run.get("attempts") else None

    def found(entries: list, wanted: tuple[str, ...]) -> dict | None:
        for entry_id, fields in entries:
            event = data.event_of(entry_id, fields)
            figures = event["data"]
            if (event["kind"] == "tests" and figures.get("at") in wanted
                    and (attempt is None or figures.get("attempt") in (None, attempt))):
                return figures
        return None
    newest = connection.xrevrange(key, count=LOOKBACK)
    result = next((hit for at in RESULTS if (hit := found(newest, (at,)))), None)
    return found(connection.xrange(key, count=LOOKBACK), ("base",)), result


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
