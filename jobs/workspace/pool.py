"""Which kept worktree a run may use: a few numbered slots per repository, one run per slot.

A slot is three paths in the repository's pool folder: `slot-<n>/` (the worktree),
`slot-<n>.lock` and `slot-<n>.index` (Orca's own copy of the worktree's git index, kept where
the sandbox cannot write it). A run holds a slot by holding an exclusive `flock` on its lock
file. The kernel drops that lock when the file is closed or the holder's process ends, however
it ends, so a worker killed mid-run leaves no slot locked and its retry simply takes a free one.
flock locks belong to the open file, not the process: two threads of one process that each
open the lock file exclude each other as two processes do. Lock files are never deleted, so
two runs can never hold locks on two different files for one slot.
"""

from __future__ import annotations

import fcntl
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from core.snapshot import index_copy_of

_SLOT = re.compile(r"slot-(\d+)\.lock")


@dataclass
class Slot:
    """One kept worktree's place in the pool, locked by whoever holds this object."""

    path: Path
    handle: IO[str]

    @property
    def index_copy(self) -> Path:
        """Orca's copy of the index as it was after the last reset (see jobs.workspace)."""
        return index_copy_of(self.path)

    def release(self) -> None:
        """Give the slot back; closing the lock file drops the lock."""
        self.handle.close()


def claim(pool: Path, size: int) -> Slot | None:
    """A free slot among the first `size`, locked; slots holding a worktree are tried first.

    None when all `size` slots are held (or `size` is 0): the caller makes a worktree of its own.
    """
    if size < 1:
        return None
    pool.mkdir(parents=True, exist_ok=True)
    paths = [pool / f"slot-{n}" for n in range(size)]
    paths.sort(key=lambda path: not path.is_dir())  # stable: a kept worktree before an empty slot
    for path in paths:
        slot = _try_lock(path)
        if slot is not None:
            return slot
    return None


def surplus(pool: Path, size: int) -> Iterator[Slot]:
    """Free slots numbered `size` or more (the cap was lowered), locked, for deleting."""
    if not pool.is_dir():
        return
    for lock in sorted(pool.iterdir()):
        found = _SLOT.fullmatch(lock.name)
        if found and int(found[1]) >= size:
            slot = _try_lock(pool / f"slot-{found[1]}")
            if slot is not None:
                yield slot


def _try_lock(path: Path) -> Slot | None:
    handle = open(path.with_name(f"{path.name}.lock"), "a")  # noqa: SIM115 (held until release)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:  # another run holds it
        handle.close()
        return None
    return Slot(path, handle)
