"""Counters and histograms kept in Redis, so every web process and worker adds to the same ones.

Prometheus scrapes one web process; the events it should count happen in all of them and in
the workers. Each is a Redis hash: histogram buckets are stored cumulatively (`le:<bound>`)
with `sum` and `count`, exactly as the text format wants them. Writing a metric never
raises: a Redis hiccup must not fail a webhook or a GitHub call.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

import redis
from prometheus_client.core import HistogramMetricFamily

log = logging.getLogger(__name__)

GITHUB_KEY = "orca:metrics:github"
WEBHOOKS_KEY = "orca:metrics:webhooks"
# Webhook handling should take milliseconds; GitHub gives up at 10 s.
WEBHOOK_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def observe(pipe: Any, key: str, value: float, buckets: Iterable[float],
            prefix: str = "") -> None:
    """Add one observation to the histogram in hash `key` (fields `<prefix>le:<bound>`...)."""
    for bound in buckets:
        if value <= bound:
            pipe.hincrby(key, f"{prefix}le:{bound}", 1)
    pipe.hincrbyfloat(key, f"{prefix}sum", value)
    pipe.hincrby(key, f"{prefix}count", 1)


def histogram(name: str, documentation: str, fields: Mapping[str, str],
              buckets: Iterable[float], prefix: str = "") -> HistogramMetricFamily:
    """The histogram stored by `observe`, read back from the hash's decoded `fields`."""
    cumulative = [(_bound(b), float(fields.get(f"{prefix}le:{b}", 0))) for b in buckets]
    count = float(fields.get(f"{prefix}count", 0))
    return HistogramMetricFamily(name, documentation, buckets=cumulative + [("+Inf", count)],
                                 sum_value=float(fields.get(f"{prefix}sum", 0)))


def _bound(value: float) -> str:
    return repr(float(value))


def read_hash(connection: redis.Redis, key: str) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in connection.hgetall(key).items()}


def count_github_response(connection: redis.Redis, status: int, headers: Mapping[str, Any]) -> None:
    """Count one answer from GitHub's API and remember the rate limit it reported."""
    lower = {str(k).lower(): v for k, v in headers.items()}
    try:
        pipe = connection.pipeline(transaction=False)
        pipe.hincrby(GITHUB_KEY, f"calls:{status}", 1)
        if "x-ratelimit-remaining" in lower:
            resource = lower.get("x-ratelimit-resource", "core")
            pipe.hset(GITHUB_KEY, mapping={
                f"remaining:{resource}": lower["x-ratelimit-remaining"],
                f"limit:{resource}": lower.get("x-ratelimit-limit", "0")})
        pipe.execute()
    except redis.RedisError as exc:
        log.debug("could not count a GitHub call: %r", exc)


def observe_webhook(connection: redis.Redis, status: int, seconds: float) -> None:
    """Count one webhook delivery handled, by answer, and how long the answer took."""
    try:
        pipe = connection.pipeline(transaction=False)
        pipe.hincrby(WEBHOOKS_KEY, f"answers:{status}", 1)
        observe(pipe, WEBHOOKS_KEY, seconds, WEBHOOK_BUCKETS)
        pipe.execute()
    except redis.RedisError as exc:
        log.debug("could not time a webhook: %r", exc)
