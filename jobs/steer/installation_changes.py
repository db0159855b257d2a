"""The fast job that records an installation change and stops what it makes impossible.

A deleted or suspended installation can no longer be reached with a token, so its
queued runs are cancelled (and their records say why) instead of failing one by one.
No comment is posted: GitHub would refuse it.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from rq import get_current_job
from rq.job import Job

from core.installations import InstallationChange, InstallationStore
from core.queues import queues
from core.runs import RunStore, Status

log = logging.getLogger("orca.installations")


def apply_change(change: dict[str, Any]) -> int:
    """Record the change; cancel queued runs when it stops them. Returns how many."""
    connection = get_current_job().connection
    found = InstallationChange(**change)
    InstallationStore(connection).apply(found, time.time())
    if not found.stops_runs:
        return 0
    cancelled = cancel_queued_runs(connection, found.installation_id,
                                   f"the installation was {found.status}")
    log.info("installation %s %s: %d queued runs cancelled", found.installation_id,
             found.status, cancelled)
    return cancelled


def cancel_queued_runs(connection: Any, installation_id: int, reason: str) -> int:
    """Cancel every queued acknowledgement or run of one installation."""
    store, count = RunStore(connection), 0
    for queue in queues(connection):
        for job in Job.fetch_many(queue.job_ids, connection=connection):
            kwargs = (job.kwargs or {}) if job else {}
            trigger, run_id = kwargs.get("trigger"), kwargs.get("run_id")
            if not trigger or not run_id or trigger.get("installation_id") != installation_id:
                continue  # stop, retry and help jobs have no run to cancel
            job.cancel()
            store.finish(run_id, Status.CANCELLED, reason)
            count += 1
    return count
