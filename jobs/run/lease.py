"""One working process per run, even when a worker dies oddly.

RQ retries a run whose worker it finds dead (`Retry(max=1)`, jobs.run). Killing only a worker's
parent leaves its work horse going, and RQ's retry would then run the same run a second time
beside it: two agents on one issue, two pushes. So the process doing a run holds a lease in
Redis, `orca:run:<id>:lease`, renewed while it works. A retry waits while another process
holds it; when the holder finishes it releases the lease, and the retry finds the run ended;
when the holder dies, the lease lapses within LEASE_SECONDS and the retry takes over.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import redis
from redis.commands.core import Script

from core import keys

log = logging.getLogger(__name__)

# Long enough that a busy machine renews in time (every RENEW_SECONDS), short enough that a
# retry of a run whose worker died outright waits a quarter of a minute at most.
LEASE_SECONDS = 15
RENEW_SECONDS = 5
WAIT_SECONDS = 1.0
_RENEW = Script(None, b"""
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
""")
_RELEASE = Script(None, b"""
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
""")


@contextmanager
def holding(connection: redis.Redis, run_id: str, seconds: float = LEASE_SECONDS,
            renew_every: float = RENEW_SECONDS, wait: float = WAIT_SECONDS) -> Iterator[None]:
    """Hold the run's lease for the block, waiting first while another process holds it."""
    key, token = keys.run_lease(run_id), uuid.uuid4().hex
    milliseconds = int(seconds * 1000)
    while not connection.set(key, token, nx=True, px=milliseconds):
        time.sleep(wait)
    done = threading.Event()

    def renew() -> None:
        while not done.wait(renew_every):
            try:
                if not _RENEW(keys=[key], args=[token, milliseconds], client=connection):
                    log.warning("run %s: its lease was lost", run_id)
            except redis.RedisError as exc:  # Redis away: keep trying, the lease may hold
                log.warning("run %s: cannot renew its lease (%s)", run_id, exc)

    thread = threading.Thread(target=renew, name=f"lease-{run_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join(timeout=1)
        try:
            _RELEASE(keys=[key], args=[token], client=connection)
        except redis.RedisError:  # it lapses by itself
            pass
