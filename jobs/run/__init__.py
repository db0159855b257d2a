"""A run's two jobs, by the names RQ stores in queued jobs (core.queues):

acknowledge (fast queue): jobs.run.intake — gate → 👀 → tracking comment → queued.
execute (runs queue):     jobs.run.pipeline — the run's steps, in order.

Whatever happens, the run ends with its tracking comment (or a reply) saying what happened
and how to retry (jobs.run.endings); however `execute` ends, its installation's slot goes to
the next run and the runs still waiting see their places.
"""

from __future__ import annotations

from typing import Any

from rq import get_current_job

from core.errors import NotAllowed, RunError
from core.places import release_slot_early, schedule_refresh
from core.runs import Status
from jobs.context import RunContext
from jobs.run import endings, intake, pipeline
from jobs.run.endings import on_run_failure
from jobs.steer.fleets import moved

__all__ = ["acknowledge", "execute", "on_run_failure"]


def acknowledge(run_id: str, trigger: dict[str, Any], held_from: float | None = None) -> None:
    """The fast job: from a trigger to a queued run, or a record of why not. `held_from`: when
    the write slots an earlier try held are due (jobs.run.intake)."""
    ctx = RunContext.load(run_id, trigger)
    try:
        intake.acknowledge_run(ctx, held_from)
    except NotAllowed as exc:
        ctx.finish(Status.REJECTED, str(exc))
        ctx.log("rejected: %s", exc)
        moved(ctx.redis, ctx.trigger.target)
    except Exception as exc:
        known = endings.named(exc)
        endings.failed(ctx, known)
        moved(ctx.redis, ctx.trigger.target)
        if not isinstance(known, RunError):
            raise


def execute(run_id: str, trigger: dict[str, Any]) -> None:
    """The run job: its steps (jobs.run.pipeline), then the lines move up."""
    ctx = RunContext.load(run_id, trigger)
    try:
        pipeline.run_steps(ctx)
    finally:
        release_slot_early(ctx.redis, get_current_job())
        schedule_refresh(ctx.redis)
        moved(ctx.redis, ctx.trigger.target)  # a sub-issue's run: its parent's checklist
