"""What each installation spends per UTC day, and the daily dollar budget that refuses runs past it.

Every model turn's usage is added as it arrives (`metered` wraps a run's event emitter), so a
running run's spending counts at once, not when it ends. Redis keeps, per installation and
UTC day, a hash `orca:spend:<installation>:<YYYY-MM-DD>` (runs, tokens by kind, dollars, runs
refused), the set of repository ids that spent (`...:repos`: mission control shows an
installation's spend to people who can read one of them) and, per day, the set of
installations that spent (`orca:spend:<YYYY-MM-DD>`). Each turn's figures go in one MULTI/EXEC,
so concurrent runs of one installation never lose an increment.

With ORCA_DAILY_DOLLARS set, an installation that has spent it is refused new runs until the
next UTC midnight: at acknowledgement, and again when a queued run is about to start. A run
already going is not stopped; its own ORCA_MAX_DOLLARS still bounds it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import redis
from github import Github

from app import keys
from app.runs import Status
from jobs import report
from jobs.agent import Emit
from jobs.context import RunContext
from jobs.errors import NotAllowed
from jobs.pricing import Usage, cost

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


def metered(ctx: RunContext) -> Emit:
    """The run's emitter, adding each `model` event's usage to the installation's day.

    The `config` event comes first and names the model the repository chose, which prices
    the turns; the loop's own running total is priced the same way.
    """
    t, model = ctx.trigger, ctx.settings.model

    def emit(kind: str, data: dict[str, Any]) -> None:
        nonlocal model
        ctx.emit(kind, data)
        if kind == "config" and data.get("model"):
            model = data["model"]
        elif kind == "model":
            usage = data.get("usage") or {}
            # The event holds the response's usage as JSON: read it as the SDK's object.
            dollars = cost(model, Usage.of(SimpleNamespace(**usage)), ctx.settings.prices)
            record_turn(ctx.redis, t.installation_id, t.repository_id, int(data.get("turn", 0)),
                        usage, dollars, time.time())
    return emit


def past_budget(spent: float, daily_dollars: float) -> bool:
    """Whether a day's spending has reached the daily budget (0 means there is none)."""
    return daily_dollars > 0 and spent >= daily_dollars


def _over(ctx: RunContext, now: float) -> tuple[str, str] | None:
    """(why, comment body) when the installation has spent its daily budget, else None."""
    limit, t = ctx.settings.daily_dollars, ctx.trigger
    spent = totals(ctx.redis, t.installation_id, day_of(now)).dollars
    if not past_budget(spent, limit):
        return None
    count_refused(ctx.redis, t.installation_id, now)
    why = f"the installation has spent ${spent:.2f} of its ${limit:.2f} daily budget"
    return why, report.over_daily_budget(ctx.run_id, t.requester, spent, limit, next_midnight(now))


def refuse_when_over_budget(ctx: RunContext, client: Github, now: float | None = None) -> None:
    """At acknowledgement: past the daily budget, reply saying so and raise NotAllowed."""
    over = _over(ctx, time.time() if now is None else now)
    if over is None:
        return
    ctx.reply(client, over[1])
    raise NotAllowed(over[0])


def refused_at_start(ctx: RunContext, comment_id: int | None, now: float | None = None) -> bool:
    """Before a queued run starts: past the daily budget, record it as rejected, finish its
    tracking comment saying so, and return True (the run must not start)."""
    over = _over(ctx, time.time() if now is None else now)
    if over is None:
        return False
    ctx.log("refused: %s", over[0])
    ctx.store.finish(ctx.run_id, Status.REJECTED, over[0])
    ctx.emit("refused", {"reason": over[0]})
    ctx.finish_comment_or_log(comment_id, over[1])
    return True
