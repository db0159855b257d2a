"""Counters and histograms kept in Redis, so every web process and worker adds to the same ones.

Prometheus scrapes one web process; the events it should count happen in all of them and in
the workers. Each is a Redis hash. A histogram keeps one count per bucket (`in:<bound>`,
`in:+Inf`) and `sum`, so an observation is two commands, not one per bucket; the cumulative
buckets and the count the text format wants are added up at scrape time. Writing a metric
never raises: a Redis hiccup must not fail a webhook or a GitHub call.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

import redis
from prometheus_client.core import HistogramMetricFamily

from core import keys

log = logging.getLogger(__name__)

GITHUB_KEY = keys.METRICS_GITHUB
WEBHOOKS_KEY = keys.METRICS_WEBHOOKS
# Webhook handling should take milliseconds; GitHub gives up at 10 s.
WEBHOOK_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def observe(pipe: Any, key: str, value: float, buckets: Iterable[float],
            prefix: str = "") -> None:
    """Add one observation to the histogram in hash `key` (fields `<prefix>in:<bound>`...)."""
    pipe.hincrby(key, f"{prefix}in:{bucket_of(value, buckets)}", 1)
    pipe.hincrbyfloat(key, f"{prefix}sum", value)


def bucket_of(value: float, buckets: Iterable[float]) -> float | str:
    """The smallest bound at or above `value`, or `+Inf`."""
    return next((bound for bound in buckets if value <= bound), "+Inf")


def histogram(name: str, documentation: str, fields: Mapping[str, str],
              buckets: Iterable[float], prefix: str = "") -> HistogramMetricFamily:
    """The histogram stored by `observe`, read back from the hash's decoded `fields`."""
    cumulative, count = [], 0.0
    for bound in [*buckets, "+Inf"]:
        count += float(fields.get(f"{prefix}in:{bound}", 0))
        cumulative.append((_bound(bound), count))
    return HistogramMetricFamily(name, documentation, buckets=cumulative,
                                 sum_value=float(fields.get(f"{prefix}sum", 0)))


def _bound(value: float | str) -> str:
    return value if isinstance(value, str) else repr(float(value))


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
