"""A run's spending, as it happens: each model turn added to the installation's day
(core.ledger), and the daily dollar budget that refuses runs past it.

With ORCA_DAILY_DOLLARS set, an installation that has spent it is refused new runs until the
next UTC midnight: at acknowledgement, and again when a queued run is about to start. A run
already going is not stopped; its own ORCA_MAX_DOLLARS still bounds it.
"""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

from github import Github

from core.errors import NotAllowed
from core.ledger import (
    count_refused,
    day_of,
    next_midnight,
    past_budget,
    record_turn,
    totals,
)
from core.pricing import Usage, cost
from core.runs import Status
from jobs.agent.loop import Emit
from jobs.context import RunContext
from jobs.github import report


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
            record_turn(ctx.redis, t.installation_id, t.repository_id, int(data.get("turn") or 0),
                        usage, dollars, time.time())
    return emit


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


def refused_at_start(ctx: RunContext, now: float | None = None) -> bool:
    """Before a queued run starts: past the daily budget, record it as rejected, finish its
    tracking comment saying so, and return True (the run must not start)."""
    over = _over(ctx, time.time() if now is None else now)
    if over is None:
        return False
    ctx.log("refused: %s", over[0])
    ctx.finish(Status.REJECTED, over[0])
    ctx.finish_comment_or_log(over[1])
    return True
