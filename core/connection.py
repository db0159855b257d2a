"""Orca's Redis connection, and how it rides out a restart of Redis.

A client made with `redis.Redis.from_url` retries nothing (redis-py's default retry policy
applies only to `Redis(host=...)`), so a Redis restart, even a sub-second one, failed whatever
command a run, a worker or the webhook view sent in that moment: the worker quit and its run
was left half-done until RQ found it abandoned. These clients retry a refused or lost
connection with backoff for two and a half seconds. A run rides out a restart, and while
Redis stays away a webhook still gets its 503 well inside GitHub's 10 seconds, though it
waits twice (to claim the delivery, then to count the answer for /metrics):
https://docs.github.com/en/webhooks/using-webhooks/best-practices-for-using-webhooks
"""

from __future__ import annotations

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

# Waits of 0.1, 0.2, 0.4, 0.8 and 1 s: 2.5 s in all, then the error.
RETRIES = 5
BACKOFF_BASE, BACKOFF_CAP = 0.05, 1.0


def connect(url: str) -> redis.Redis:
    """A client for the Redis at `url` that retries a lost connection (see above)."""
    retry = Retry(ExponentialBackoff(cap=BACKOFF_CAP, base=BACKOFF_BASE), RETRIES)
    return redis.Redis.from_url(url, retry=retry,
                                retry_on_error=[redis.ConnectionError, redis.TimeoutError])
