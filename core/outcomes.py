"""How the pull requests Orca opened ended: still open, merged, or closed without merging.

A run that opens a pull request records it here (jobs.github.pull_request); GitHub's
`pull_request` `closed` delivery for it records how it ended, from the signed payload's
`merged` and `closed_at` (core.triggers carries them; jobs.steer.control writes them), and a
`reopened` one makes it open again, as of the pull request's `updated_at`. Deliveries may come
in any order: of a closing and a reopening, the later by GitHub's times decides. A pull
request Orca did not open has no record, so closing it records nothing. Each record is a hash
`orca:pull-outcome:<owner/repo>#<n>` (run, installation, opened, state, closed) that Redis
forgets KEEP_SECONDS after its last write. Mission control's insights read them
(app/mission/insights.py).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import redis

from core import keys, ledger

# The ledger's five weeks: an outcome outlives the week its run's record is kept, and a
# month's pictures can count it.
KEEP_SECONDS = ledger.KEEP_SECONDS


class State(StrEnum):
    """Where one of Orca's pull requests is."""

    OPEN = "open"
    MERGED = "merged"
    CLOSED = "closed unmerged"


@dataclass(frozen=True)
class Outcome:
    """One pull request Orca opened, and how it ended."""

    run_id: str
    installation_id: int
    opened_at: float
    state: State = State.OPEN
    closed_at: float | None = None


def opened(connection: redis.Redis, repository: str, number: int, run_id: str,
           installation_id: int, now: float) -> None:
    """A run opened (or updated) pull request `number`: the first run to do so is kept."""
    key = keys.pull_outcome(repository, number)
    pipe = connection.pipeline()  # MULTI/EXEC
    pipe.hsetnx(key, "run_id", run_id)
    pipe.hsetnx(key, "installation_id", installation_id)
    pipe.hsetnx(key, "opened_at", now)
    pipe.expire(key, KEEP_SECONDS)
    pipe.execute()


def closed(connection: redis.Redis, repository: str, number: int, merged: bool,
           closed_at: str) -> bool:
    """Pull request `number` was closed (`closed_at`: GitHub's ISO 8601 time; empty in a job
    queued before triggers carried it: now), merged or not. False, and nothing written, when
    Orca did not open it (or opened it too long ago)."""
    state = State.MERGED if merged else State.CLOSED
    when = _seconds(closed_at) if closed_at else time.time()
    return _moved(connection, keys.pull_outcome(repository, number), when, "reopened_at",
                  {"state": state.value, "closed_at": when}, forget="reopened_at")


def reopened(connection: redis.Redis, repository: str, number: int, at: str) -> bool:
    """Pull request `number` was reopened (`at`: its `updated_at` then): open again, unless it
    was closed after that. False, and nothing written, when Orca did not open it or a later
    closing is recorded."""
    when = _seconds(at) if at else time.time()
    return _moved(connection, keys.pull_outcome(repository, number), when, "closed_at",
                  {"state": State.OPEN.value, "reopened_at": when}, forget="closed_at")


def _moved(connection: redis.Redis, key: str, when: float, other: str, fields: dict,
           forget: str) -> bool:
    """Writes `fields` (and drops `forget`) at `key` if the record exists and its `other`
    time is not later than `when`; atomically (WATCH), so a closing and a reopening handled at
    once end as their times say."""
    written = []

    def move(pipe: redis.client.Pipeline) -> None:
        written.clear()  # called again when the key changed meanwhile
        if not pipe.exists(key):
            return
        later = pipe.hget(key, other)
        if later is not None and float(later) > when:
            return
        pipe.multi()
        pipe.hset(key, mapping=fields)
        pipe.hdel(key, forget)
        pipe.expire(key, KEEP_SECONDS)
        written.append(True)

    connection.transaction(move, key)
    return bool(written)


def _seconds(iso: str) -> float:
    """`2019-05-15T15:21:18Z` as Unix seconds."""
    return datetime.fromisoformat(iso).timestamp()


def read(connection: redis.Redis,
         pulls: Iterable[tuple[str, int]]) -> dict[tuple[str, int], Outcome]:
    """The outcomes recorded for these pull requests (`(owner/repo, number)`), in one round
    trip; a pull request with none is left out."""
    wanted = list(dict.fromkeys(pulls))
    pipe = connection.pipeline(transaction=False)
    for repository, number in wanted:
        pipe.hgetall(keys.pull_outcome(repository, number))
    found = {}
    for pull, raw in zip(wanted, pipe.execute(), strict=True):
        if raw:
            found[pull] = _outcome({k.decode(): v.decode() for k, v in raw.items()})
    return found


def _outcome(raw: dict[str, str]) -> Outcome:
    closed_at = raw.get("closed_at")
    return Outcome(raw.get("run_id", ""), int(raw.get("installation_id", 0)),
                   float(raw.get("opened_at", 0)), State(raw.get("state", State.OPEN)),
                   float(closed_at) if closed_at else None)
