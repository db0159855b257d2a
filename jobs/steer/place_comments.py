"""Keeping each waiting run's tracking comment saying its place in line (core.places).

`refresh` is the fast job that core.places.schedule_refresh queues when a run starts or ends.
"""

from __future__ import annotations

import logging

from github import Github
from github.GithubException import GithubException
from rq import get_current_job

from core.errors import RunError
from core.places import (
    Place,
    idle_run_workers,
    refresh_begun,
    waiting_places,
    worth_showing,
)
from core.runs import RunStore, Status
from jobs.context import RunContext
from jobs.github import report

log = logging.getLogger("orca.places")


def show_place(ctx: RunContext, client: Github, place: Place | None) -> bool:
    """Edit a waiting run's tracking comment to its place, unless it started meanwhile or
    the comment already says so. True if it edited."""
    with ctx.comment_lock():
        run = ctx.store.load(ctx.run_id)
        if run is None or run.status != Status.QUEUED or place is None:
            return False
        account = ctx.trigger.repository.partition("/")[0]
        text = report.queued(ctx.run_id, ctx.trigger.requester, account, place.line,
                             place.position, place.slots)
        if run.place == text or not ctx.tracking_comment_id:
            return False
        ctx.tracking_comment(client).edit(text)
        ctx.store.show_place(ctx.run_id, text, place.as_event())
        return True


def refresh() -> None:
    """The fast job: edit each waiting run's comment whose place changed."""
    connection = get_current_job().connection
    refresh_begun(connection)
    store = RunStore(connection)
    clients: dict[str, Github] = {}
    idle = idle_run_workers(connection)
    for run_id, place in waiting_places(connection).items():
        if not worth_showing(place, idle):
            continue
        run = store.load(run_id)
        if run is None or run.status != Status.QUEUED or not run.tracking_comment_id:
            continue
        ctx = RunContext.load(run_id, run.trigger.to_dict())
        try:
            client = clients.get(ctx.trigger.repository) or ctx.client_for_replies()
            clients[ctx.trigger.repository] = client
            show_place(ctx, client, place)
        except (GithubException, RunError, OSError) as exc:  # one refused edit must not stop the rest
            log.warning("could not show run %s its place: %r", run_id, exc)
