"""The file descriptors one sandboxed command's bwrap inherits, and what Orca does with its
ends: the wrapper's /tmp report, the files bound from data (/etc/resolv.conf, /etc/gitconfig)
and, with the network, the egress handshake (jobs.sandbox.network). Each fd is closed once:
numbers get reused by other threads as soon as they are free."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any

from core.errors import SandboxUnavailable
from jobs.sandbox.argv import CommandFds, tmp_free
from jobs.sandbox.bounds import Measures
from jobs.sandbox.cgroup import CommandCgroup
from jobs.sandbox.network import RESOLV_CONF, Egress, EgressFailed
from jobs.sandbox.user import GITCONFIG

log = logging.getLogger("orca.sandbox")


class Plumbing:
    """The file descriptors one command's bwrap inherits, and what Orca does with its ends:
    the /tmp report, the files bound from data, and the egress (jobs.sandbox.network)."""

    def __init__(self, *, network: bool, gitconfig: bool) -> None:
        self._report, report = os.pipe()
        self.egress = Egress() if network else None
        resolv = _data_fd(RESOLV_CONF) if network else None
        config = _data_fd(GITCONFIG) if gitconfig else None
        egress = self.egress
        self.fds = CommandFds(report=report, resolv=resolv, gitconfig=config,
                              status=egress.status_fd if egress else None,
                              block=egress.block_fd if egress else None)
        self._ends = [fd for fd in (report, resolv, config) if fd is not None]
        self._owned = [self._report, *self._ends]  # each closed once: numbers get reused
        self.child_fds = [*self._ends, *(egress.child_fds() if egress else [])]

    def renumbered(self, first: int) -> CommandFds:
        """The fds as a command finds them when `child_fds` are passed on at `first`, `first`
        + 1, ... in order (jobs.sandbox.launcher)."""
        place = {fd: first + index for index, fd in enumerate(self.child_fds)}
        return CommandFds(**{name: None if fd is None else place[fd]
                             for name, fd in vars(self.fds).items()})

    def started(self, proc: Any) -> None:
        """bwrap has its ends: close ours, then give it its network if it is to have one."""
        _close(self._owned, self._ends)
        if self.egress is None:
            return
        try:
            self.egress.started(proc)
        except EgressFailed as error:
            raise SandboxUnavailable(
                f"the sandbox's network could not be set up for a command: {error}") from error
        log.debug("sandbox network ready in %.3f s", self.egress.seconds)

    def measures(self, exit_code: int | None, cgroup: CommandCgroup | None) -> Measures:
        """What the finished command's exit, cgroup and /tmp report show."""
        oom_kills, fork_refusals = cgroup.counters() if cgroup else (0, 0)
        return Measures(exit_code, oom_kills, fork_refusals, tmp_free(_read_all(self._report)))

    def close(self) -> None:
        _close(self._owned, list(self._owned))
        if self.egress is not None:
            self.egress.close()


def _data_fd(text: str) -> int:
    """A pipe's read end already holding `text` (small: it must fit the pipe's buffer)."""
    read, write = os.pipe()
    os.write(write, text.encode())
    os.close(write)
    return read


def _read_all(fd: int) -> str:
    """What is in a pipe whose writers are all gone (the command's processes are dead)."""
    os.set_blocking(fd, False)
    chunks = []
    try:
        while chunk := os.read(fd, 4096):
            chunks.append(chunk)
    except BlockingIOError:  # a writer survived somewhere; what arrived is enough
        pass
    return b"".join(chunks).decode("utf-8", "replace")


def _close(owned: list[int], fds: Sequence[int]) -> None:
    """Closes those of `fds` still in `owned`, and forgets them."""
    for fd in fds:
        if fd in owned:
            owned.remove(fd)
            os.close(fd)
