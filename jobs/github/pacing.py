"""GitHub write pacing per installation, shared by every worker through Redis.

GitHub asks integrators to leave about a second between requests that create content
(https://docs.github.com/en/rest/using-the-rest-api/best-practices-for-using-the-rest-api)
and answers a burst with its secondary rate limit. PyGithub's own spacing is per client,
and a fleet has one client per run: ten runs of one organisation would still write ten
times a second. Here each write first reserves the installation's next free slot in Redis,
on Redis's clock, and sleeps until it.

A job that must not sleep long in its worker (an acknowledgement: jobs.run.intake) holds the
slots for its next writes at once instead (`hold`), and comes back when they are due.
"""

from __future__ import annotations

import time

import redis
from github import Github
from github.Requester import Requester

from core import keys

# KEYS[1]: the installation's next free write slot, in ms on Redis's clock.
# ARGV[1]: the interval in ms; ARGV[2]: how many slots in a row. Returns how many ms the
# caller waits for the first.
_RESERVE = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000 + math.floor(tonumber(now_parts[2]) / 1000)
local interval = tonumber(ARGV[1])
local slot = math.max(now, tonumber(redis.call('GET', KEYS[1]) or '0'))
local after = slot + interval * tonumber(ARGV[2])
redis.call('SET', KEYS[1], after, 'PX', after - now + 1000)
return slot - now
"""
# KEYS[1] as above. Returns how many ms until the installation's next free slot.
_DUE = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000 + math.floor(tonumber(now_parts[2]) / 1000)
return math.max(0, tonumber(redis.call('GET', KEYS[1]) or '0') - now)
"""
_READS = ("GET", "HEAD")
# PyGithub spaces each request through this method (Requester.__deferRequest); a pacer
# takes its place on one client's requester. tests/test_pacing.py fails if it is renamed.
DEFER_HOOK = "_Requester__deferRequest"


class WritePacer:
    """Spaces one installation's writes `interval` seconds apart across processes."""

    def __init__(self, connection: redis.Redis, installation_id: int, interval: float) -> None:
        self.key = keys.pace(installation_id)
        self.interval_ms = round(interval * 1000)
        self._reserve = connection.register_script(_RESERVE)
        self._due = connection.register_script(_DUE)
        self._held: list[float] = []
        """When the next writes go (epoch seconds), for slots held ahead."""
        self._last = 0.0
        """When this pacer's last held write went: a late one keeps the interval after it."""

    def wait_turn(self, verb: str) -> float:
        """Before a request: a write sleeps until its slot. Returns the seconds slept."""
        if verb.upper() in _READS or self.interval_ms <= 0:
            return 0.0
        if self._held:
            due = max(self._held.pop(0), self._last + self.interval_ms / 1000)
            wait = max(0.0, due - time.time())
            self._last = time.time() + wait
        else:
            wait = int(self._reserve(keys=[self.key], args=[self.interval_ms, 1])) / 1000
        if wait > 0:
            time.sleep(wait)
        return wait

    def due(self) -> float:
        """Seconds until the installation's next free write slot; reserves nothing."""
        if self.interval_ms <= 0:
            return 0.0
        return int(self._due(keys=[self.key])) / 1000

    def hold(self, writes: int) -> float:
        """Holds the installation's next `writes` slots in a row, without waiting for them:
        this pacer's next writes go then. Returns the seconds until the first."""
        if self.interval_ms <= 0:
            return 0.0
        wait = int(self._reserve(keys=[self.key], args=[self.interval_ms, writes])) / 1000
        self.held_from(time.time() + wait, writes)
        return wait

    def held_from(self, first: float, writes: int) -> None:
        """This pacer's next `writes` writes go at `first` (epoch seconds) and an interval
        apart: slots an earlier `hold` took, maybe in another process."""
        if self.interval_ms > 0:
            self._held = [first + k * self.interval_ms / 1000 for k in range(writes)]

    def pace(self, client: Github) -> Github:
        """Make every write `client` sends wait its turn; returns the client."""
        assert hasattr(Requester, DEFER_HOOK), "PyGithub renamed its request-spacing method"
        setattr(client.requester, DEFER_HOOK, self.wait_turn)
        return client
