"""A run starts after the acknowledgements queued or under way, or after a bounded wait."""

from __future__ import annotations

import threading
import time

import redis

from core.queues import acknowledgements_pending, fast_queue
from jobs.run.pipeline import acknowledgements_first


def test_a_run_waits_for_the_fast_queue_to_empty_and_no_longer(redis_client: redis.Redis) -> None:
    assert not acknowledgements_pending(redis_client)
    assert acknowledgements_first(redis_client) < 0.05
    fast = fast_queue(redis_client)
    job = fast.enqueue("builtins.print", job_id="ack-r1")
    threading.Timer(0.3, lambda: fast.remove(job)).start()
    assert acknowledgements_pending(redis_client)
    assert 0.3 <= acknowledgements_first(redis_client) < 1.5
    fast.enqueue("builtins.print", job_id="ack-r2")
    started = time.monotonic()
    assert 0.5 <= acknowledgements_first(redis_client, most=0.5) < 1.0
    assert time.monotonic() - started < 1.0
    fast.empty()
    started_key = fast.started_job_registry.key  # RQ's entries: "<job id>:<execution id>"
    redis_client.zadd(started_key, {"ack-r3:e1": time.time() + 60})
    assert acknowledgements_pending(redis_client)  # a worker is acknowledging one
    redis_client.zadd(started_key, {"ack-r3:e1": 0})
    redis_client.zrem(started_key, "ack-r3:e1")
    redis_client.zadd(started_key, {"refresh:e2": time.time() + 60})
    assert not acknowledgements_pending(redis_client)  # other fast work under way: no wait
