"""Missed deliveries: GitHub does not retry a failed webhook delivery by itself.

Every few minutes (and when a worker starts) Orca lists the App's recent deliveries,
finds the failed ones it never handled, and asks GitHub to send them again, as GitHub
recommends: https://docs.github.com/en/webhooks/using-webhooks/handling-failed-webhook-deliveries
"""

from __future__ import annotations

import logging
import re
from typing import Any

import redis
from rq import get_current_job

from core import keys
from core.queues import SWEEP_SECONDS, schedule_sweep
from core.runs import DELIVERY_SECONDS
from core.settings import Settings, load_settings
from jobs.github import GitHubApp

log = logging.getLogger("orca.redeliver")
# A sweep reads at most this many pages of 100: a busy App's last few hours.
MAX_PAGES = 10
_NEXT = re.compile(r'<([^>]+)>;\s*rel="next"')


def missed(deliveries: list[dict[str, Any]], handled: set[str]) -> list[dict[str, Any]]:
    """The newest failed attempt of each guid that never succeeded and Orca never handled."""
    succeeded = {d["guid"] for d in deliveries if 200 <= (d.get("status_code") or 0) < 400}
    newest: dict[str, dict[str, Any]] = {}
    for item in deliveries:
        guid = item["guid"]
        if guid in succeeded or guid in handled:
            continue
        if guid not in newest or item["id"] > newest[guid]["id"]:
            newest[guid] = item
    return sorted(newest.values(), key=lambda d: d["id"])


def _list_deliveries(app: GitHubApp) -> list[dict[str, Any]]:
    requester, url = app.integration.requester, "/app/hook/deliveries"
    params: dict[str, Any] | None = {"per_page": 100}
    found: list[dict[str, Any]] = []
    for _ in range(MAX_PAGES):
        headers, page = requester.requestJsonAndCheck("GET", url, parameters=params)
        found.extend(page)
        link = _NEXT.search(headers.get("link", ""))
        if not link:
            break
        url, params = link.group(1), None
    return found


def redeliver_missed(settings: Settings, connection: redis.Redis) -> list[str]:
    """Ask GitHub to redeliver what Orca missed; returns the guids asked for."""
    app = GitHubApp(settings)
    deliveries = _list_deliveries(app)
    guids = {d["guid"] for d in deliveries}
    handled = {g for g in guids
               if connection.exists(keys.delivery(g), keys.redelivery(g))}
    asked = []
    for item in missed(deliveries, handled):
        # Remember the request first: two sweeps never ask twice for one delivery.
        if not connection.set(keys.redelivery(item["guid"]), item["id"], nx=True,
                              ex=DELIVERY_SECONDS):
            continue
        app.integration.requester.requestJsonAndCheck(
            "POST", f"/app/hook/deliveries/{item['id']}/attempts")
        asked.append(item["guid"])
    if asked:
        log.info("asked GitHub to redeliver %d missed deliveries: %s", len(asked), asked)
    return asked


def sweep() -> None:
    """The periodic job: redeliver, then schedule the next sweep whatever happened."""
    connection = get_current_job().connection
    connection.delete(keys.REDELIVER_SCHEDULED)
    try:
        redeliver_missed(load_settings(), connection)
    finally:
        schedule_sweep(connection, SWEEP_SECONDS)
