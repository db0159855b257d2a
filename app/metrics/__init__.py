"""`/metrics` for Prometheus, and the timing of webhook deliveries (tallied: app.metrics.webhooks).

Everything is read from Redis at scrape time by one custom collector, so any web process can
answer for the whole fleet: runs (app.metrics.runs), the two queues, GitHub API calls and rate
limits (counted by every process that calls GitHub), and webhook handling times (recorded
below, around the webhook view). The page carries no repository or person names; with
ORCA_METRICS_TOKEN set, only a scrape that sends it as a bearer token gets it.
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Callable, Iterator
from datetime import UTC

import redis
from flask import Blueprint, Response, current_app, g, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job

from app.metrics.runs import run_families
from app.metrics.webhooks import WebhookTally
from core.metrics_store import (
    GITHUB_KEY,
    WEBHOOK_BUCKETS,
    WEBHOOKS_KEY,
    histogram,
    read_hash,
)
from core.queues import FAST_QUEUE, RUNS_QUEUE

log = logging.getLogger(__name__)
blueprint = Blueprint("metrics", __name__)
WEBHOOK_ENDPOINT = "webhooks.receive"


class OrcaCollector:
    """Reads every Orca metric from Redis when Prometheus scrapes."""

    def __init__(self, connection: redis.Redis, clock: Callable[[], float] = time.time) -> None:
        self.connection = connection
        self.clock = clock

    def collect(self) -> Iterator[Metric]:
        now = self.clock()
        yield from run_families(self.connection, now)
        yield from self._queues(now)
        yield from self._github()
        yield from self._webhooks()

    def _queues(self, now: float) -> Iterator[Metric]:
        depth = GaugeMetricFamily("orca_queue_jobs", "Jobs waiting in each queue.",
                                  labels=["queue"])
        oldest = GaugeMetricFamily("orca_queue_oldest_job_age_seconds",
                                   "How long the job at the head of each queue has waited.",
                                   labels=["queue"])
        for name in (FAST_QUEUE, RUNS_QUEUE):
            queue = Queue(name, connection=self.connection)
            depth.add_metric([name], queue.count)
            oldest.add_metric([name], self._head_age(queue, now))
        yield depth
        yield oldest

    def _head_age(self, queue: Queue, now: float) -> float:
        head = self.connection.lindex(queue.key, 0)
        if head is None:
            return 0.0
        try:
            enqueued = Job.fetch(head.decode(), connection=self.connection).enqueued_at
        except NoSuchJobError:
            return 0.0
        if enqueued is None:
            return 0.0
        if enqueued.tzinfo is None:  # RQ stores UTC, without saying so in some versions
            enqueued = enqueued.replace(tzinfo=UTC)
        return max(0.0, now - enqueued.timestamp())

    def _github(self) -> Iterator[Metric]:
        fields = read_hash(self.connection, GITHUB_KEY)
        calls = CounterMetricFamily("orca_github_api_calls", "Answers from GitHub's API, by status.",
                                    labels=["status"])
        remaining = GaugeMetricFamily("orca_github_rate_limit_remaining",
                                      "Requests left in the rate limit GitHub last reported.",
                                      labels=["resource"])
        limit = GaugeMetricFamily("orca_github_rate_limit", "The rate limit GitHub last reported.",
                                  labels=["resource"])
        for name, value in sorted(fields.items()):
            kind, _, label = name.partition(":")
            family = {"calls": calls, "remaining": remaining, "limit": limit}.get(kind)
            if family is not None:
                family.add_metric([label], float(value))
        yield from (calls, remaining, limit)

    def _webhooks(self) -> Iterator[Metric]:
        fields = read_hash(self.connection, WEBHOOKS_KEY)
        answers = CounterMetricFamily("orca_webhook_deliveries", "Webhook deliveries, by answer.",
                                      labels=["status"])
        for name, value in sorted(fields.items()):
            if name.startswith("answers:"):
                answers.add_metric([name.partition(":")[2]], float(value))
        yield answers
        yield histogram("orca_webhook_duration_seconds", "Time to answer a webhook delivery.",
                        fields, WEBHOOK_BUCKETS)

    def describe(self) -> list[Metric]:
        return []  # computed at scrape time; nothing to describe up front


@blueprint.get("/metrics")
def metrics():
    if not bearer_ok(current_app.extensions["orca"].settings.metrics_token,
                     request.headers.get("Authorization")):
        return Response("ORCA_METRICS_TOKEN is set: send Authorization: Bearer <token>\n",
                        status=401, mimetype="text/plain",
                        headers={"WWW-Authenticate": 'Bearer realm="orca metrics"'})
    _tally().flush()  # this process's latest answers count too
    registry = CollectorRegistry(auto_describe=False)
    registry.register(OrcaCollector(current_app.extensions["orca"].redis))
    try:
        body = generate_latest(registry)
    except redis.RedisError:
        log.exception("metrics: Redis unavailable")
        return Response("# Redis unavailable\n", status=503, mimetype="text/plain")
    return Response(body, content_type=CONTENT_TYPE_LATEST)


def bearer_ok(token: str, authorization: str | None) -> bool:
    """True when no token is required, or `authorization` is `Bearer <token>` (the scheme's
    case does not matter, RFC 7235; the token is compared in constant time)."""
    if not token:
        return True
    scheme, _, sent = (authorization or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(sent.encode(), token.encode())


@blueprint.before_app_request
def _start_clock() -> None:
    if request.endpoint == WEBHOOK_ENDPOINT:
        g.orca_started = time.perf_counter()


@blueprint.after_app_request
def _time_webhook(response: Response) -> Response:
    started = g.pop("orca_started", None)
    if started is not None:
        _tally().observe(response.status_code, time.perf_counter() - started)
    elif "orca_webhook_tally" in current_app.extensions:
        _tally().flush_if_due()  # any request adds the last second's answers
    return response


def _tally() -> WebhookTally:
    """The app's webhook tally, made in the process that first needs it (after gunicorn forks)."""
    tally = current_app.extensions.get("orca_webhook_tally")
    if tally is None:  # setdefault: two threads racing here end up sharing one
        tally = current_app.extensions.setdefault(
            "orca_webhook_tally", WebhookTally(current_app.extensions["orca"].redis))
    return tally
