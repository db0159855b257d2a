"""Webhook answers and timings, tallied in each web process and added to Redis once a second.

Counting each delivery in Redis as it was answered cost a round trip per delivery, as much as
queueing it. A tally per process turns that into one round trip per second at most, whatever
the load: an answer given a second or more after the last addition adds the tally, itself
included. The rest waits for the process's next request of any kind (a health check will
do) or its next /metrics scrape, which adds it before reading. No timer thread: nothing is
written behind the back of the request that caused it. A process that ends loses what it
still holds, at most a second of counts; the deliveries themselves are unaffected.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable

import redis

from core.metrics_store import WEBHOOK_BUCKETS, WEBHOOKS_KEY, bucket_of

log = logging.getLogger(__name__)

# Prometheus scrapes every 15 s or more; a second's delay is invisible there.
FLUSH_SECONDS = 1.0


class WebhookTally:
    """This process's counts since they were last added to Redis."""

    def __init__(self, connection: redis.Redis, interval: float = FLUSH_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.connection = connection
        self.interval = interval
        self.clock = clock
        self.lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self.seconds = 0.0
        self.flushed = clock()

    def observe(self, status: int, seconds: float) -> None:
        """Count one answer and its time; add the tally to Redis if it is due."""
        with self.lock:
            self.counts[f"answers:{status}"] += 1
            self.counts[f"in:{bucket_of(seconds, WEBHOOK_BUCKETS)}"] += 1
            self.seconds += seconds
        self.flush_if_due()

    def flush_if_due(self) -> None:
        """Add the tally to Redis if the last addition was a second ago or more."""
        if self.clock() - self.flushed >= self.interval:
            self.flush()

    def flush(self) -> None:
        """Add the tally to Redis. Never raises: a Redis hiccup must not fail a webhook."""
        with self.lock:
            counts, seconds = self.counts, self.seconds
            self.counts, self.seconds, self.flushed = Counter(), 0.0, self.clock()
        if not counts:
            return
        try:
            pipe = self.connection.pipeline(transaction=False)
            for field, count in counts.items():
                pipe.hincrby(WEBHOOKS_KEY, field, count)
            pipe.hincrbyfloat(WEBHOOKS_KEY, "sum", seconds)
            pipe.execute()
        except redis.RedisError as exc:  # dropped, as a failed HINCRBY would be
            log.debug("could not add webhook timings: %r", exc)
