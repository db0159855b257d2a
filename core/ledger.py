"""The spend ledger: what each installation spends per UTC day.

Every model turn's usage is added as it arrives (jobs.run.spending wraps a run's emitter), so a
running run's spending counts at once, not when it ends. Redis keeps, per installation and
UTC day, a hash `orca:spend:<installation>:<YYYY-MM-DD>` (runs, tokens by kind, dollars, runs
refused), the set of repository ids that spent (`...:repos`: mission control shows an
installation's spend to people who can read one of them) and, per day, the set of
installations that spent (`orca:spend:<YYYY-MM-DD>`). Each turn's figures go in one MULTI/EXEC,
so concurrent runs of one installation never lose an increment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import redis

from core import keys

# Five weeks: a month of daily figures to look back on, then Redis forgets them.
KEEP_SECONDS = 35 * 24 * 3600
# The hash's token fields, and the usage fields of a model response they add up.
TOKEN_FIELDS = {"input_tokens": "input_tokens", "output_tokens": "output_tokens",
                "cache_read_tokens": "cache_read_input_tokens",
                "cache_write_tokens": "cache_creation_input_tokens"}


def day_of(now: float) -> str:
    """The UTC day of a timestamp, as the keys name it: `2025-06-01`."""
    return datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%d")


def next_midnight(now: float) -> datetime:
    """When the UTC day of `now` ends, and with it the day's budget."""
    today = datetime.fromtimestamp(now, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today + timedelta(days=1)


def _key(installation_id: int, day: str) -> str:
    return keys.spend(installation_id, day)


@dataclass(frozen=True)
class DayTotals:
    """One installation's figures for one UTC day."""

    installation_id: int
    day: str
    runs: int = 0
    """Runs that made their first model request that day."""
    refused: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    dollars: float = 0.0
    repository_ids: frozenset[int] = field(default_factory=frozenset)

    @property
    def tokens(self) -> int:
        """Every token, as the per-run token budget counts them."""
        return (self.input_tokens + self.output_tokens + self.cache_read_tokens
                + self.cache_write_tokens)


def record_turn(connection: redis.Redis, installation_id: int, repository_id: int,
                turn: int, usage: dict[str, Any], dollars: float | None, now: float) -> None:
    """Add one model response's usage and cost to its installation's day, atomically."""
    day = day_of(now)
    key = _key(installation_id, day)
    pipe = connection.pipeline()  # MULTI/EXEC: all of a turn's figures or none
    if turn == 1:
        pipe.hincrby(key, "runs", 1)
    for name, usage_name in TOKEN_FIELDS.items():
        pipe.hincrby(key, name, int(usage.get(usage_name) or 0))
    pipe.hincrbyfloat(key, "dollars", float(dollars or 0.0))
    pipe.sadd(f"{key}:repos", repository_id)
    pipe.sadd(keys.spenders(day), installation_id)
    for name in (key, f"{key}:repos", keys.spenders(day)):
        pipe.expire(name, KEEP_SECONDS)
    pipe.execute()


def count_refused(connection: redis.Redis, installation_id: int, now: float) -> None:
    day = day_of(now)
    key = _key(installation_id, day)
    pipe = connection.pipeline()
    pipe.hincrby(key, "refused", 1)
    pipe.sadd(keys.spenders(day), installation_id)
    for name in (key, keys.spenders(day)):
        pipe.expire(name, KEEP_SECONDS)
    pipe.execute()


def totals(connection: redis.Redis, installation_id: int, day: str) -> DayTotals:
    """The installation's figures for `day` (zeros when it spent nothing)."""
    key = _key(installation_id, day)
    raw = {k.decode(): v.decode() for k, v in connection.hgetall(key).items()}
    counts = {name: int(raw.get(name, 0)) for name in ("runs", "refused", *TOKEN_FIELDS)}
    repos = frozenset(int(r) for r in connection.smembers(f"{key}:repos"))
    return DayTotals(installation_id, day, dollars=float(raw.get("dollars", 0.0)),
                     repository_ids=repos, **counts)


def spent_on(connection: redis.Redis, day: str) -> list[DayTotals]:
    """Every installation that spent on `day`, by installation id."""
    ids = sorted(int(i) for i in connection.smembers(keys.spenders(day)))
    return [totals(connection, installation_id, day) for installation_id in ids]


def past_budget(spent: float, daily_dollars: float) -> bool:
    """Whether a day's spending has reached the daily budget (0 means there is none)."""
    return daily_dollars > 0 and spent >= daily_dollars
