"""A running run's ear for "stop": a thread that polls the run record and raises a flag.

The flag is a `threading.Event` that the agent loop checks between turns and the sandbox
checks while a command runs (it kills the command's processes at once), so a stop takes
effect within a poll interval even in the middle of a long `make`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import redis

from app.runs import RunStore

log = logging.getLogger("orca.stop")
# Half a second: quick enough for a person watching, cheap for Redis (one HGET).
POLL_SECONDS = 0.5


@dataclass
class StopSignal:
    """Set once someone asks the run to stop; carries who, why, and whether to push."""

    event: threading.Event = field(default_factory=threading.Event)
    request: dict[str, Any] | None = None

    def set(self, request: dict[str, Any]) -> None:
        self.request = request
        self.event.set()

    def is_set(self) -> bool:
        return self.event.is_set()

    @property
    def reason(self) -> str:
        return (self.request or {}).get("reason", "a stop request")

    @property
    def push(self) -> bool:
        return bool((self.request or {}).get("push"))


@contextmanager
def watching(store: RunStore, run_id: str, interval: float = POLL_SECONDS) -> Iterator[StopSignal]:
    """A StopSignal kept in step with the run record until the block ends."""
    signal, done = StopSignal(), threading.Event()
    first = store.stop_request(run_id)
    if first:
        signal.set(first)

    def poll() -> None:
        while not signal.is_set() and not done.wait(interval):
            try:
                request = store.stop_request(run_id)
            except redis.RedisError as exc:
                # Redis away for longer than the client's own retries: keep listening, or a
                # restart of Redis would leave the run deaf to "stop" for the rest of it.
                log.warning("run %s: cannot read stop requests (%s); still listening", run_id, exc)
                continue
            if request:
                signal.set(request)

    thread = threading.Thread(target=poll, name=f"stop-watch-{run_id}", daemon=True)
    thread.start()
    try:
        yield signal
    finally:
        done.set()
        thread.join(timeout=interval * 4)
