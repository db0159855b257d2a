"""A session's scratch directory: the whole output of commands whose output was cut.

The model sees a command's output cut in the middle (head and tail); the whole of it, up to
KEEP_BYTES, goes into a file here, which the agent's later commands can read in parts. Each
command's /tmp is a fresh tmpfs, so it cannot be there, and it must not be in the worktree,
where it would be committed. So Orca makes this directory on the host, outside the worktree,
when the first command runs, and every command of the session sees it read-only at SEEN_AT.

Hostile ground: the sandbox cannot write here (a read-only bind), and Orca only ever creates
files here and deletes the directory when the session ends; it never reads them.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from jobs.sandbox.process import CommandResult
from jobs.sandbox.user import SANDBOX_GID, switches_user

SEEN_AT = "/orca-scratch"
"""Where sandboxed commands see the directory (its host path is private to Orca)."""
# 10 MB of log is far more than any reading of it needs; past it the head is kept.
KEEP_BYTES = 10 * 1024 * 1024


class Scratch:
    """The directory, made on first use and removed by `remove()`."""

    def __init__(self, parent: Path | None = None) -> None:
        self._parent = parent
        self._path: Path | None = None
        self._count = 0

    @property
    def path(self) -> Path:
        """The host directory, created the first time it is asked for."""
        if self._path is None:
            self._path = Path(tempfile.mkdtemp(prefix="orca-scratch-", dir=self._parent))
            _share(os.open(self._path, os.O_RDONLY | os.O_DIRECTORY), 0o750)
        return self._path

    def keep(self, data: bytes) -> str:
        """Writes `data` to a new file and returns its name."""
        self._count += 1
        name = f"output-{self._count}.txt"
        fd = os.open(self.path / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        _share(os.dup(fd), 0o640)
        with os.fdopen(fd, "wb") as file:
            file.write(data)
        return name

    def remove(self) -> None:
        """Deletes the directory and everything in it, if it was made."""
        if self._path is not None:
            shutil.rmtree(self._path, ignore_errors=True)
            self._path = None


def _share(fd: int, mode: int) -> None:
    """Only Orca's user can read what is private to it (0700, 0600: output of a private
    repository, on a shared host); when commands run as nobody (Orca is root), nobody's group
    may also read (0750, 0640), and never write. Closes `fd`."""
    try:
        if switches_user():
            os.fchown(fd, -1, SANDBOX_GID)
            os.fchmod(fd, mode)
    finally:
        os.close(fd)


def keep_whole(result: CommandResult, scratch: Scratch | None, seen_at: str) -> None:
    """Moves a cut command's whole output into the scratch directory, setting `result.kept` to
    where commands see it (`seen_at` is the directory as they see it)."""
    if scratch is not None and result.whole is not None:
        result.kept = f"{seen_at}/{scratch.keep(result.whole)}"
    result.whole = None
