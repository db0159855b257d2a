"""A pids cgroup per sandboxed command: the process limit that still holds when Orca runs as root.

Why this exists: RLIMIT_NPROC is not enforced for uid 0 (kernel/fork.c exempts INIT_USER), and
a user namespace does not help because bubblewrap started by root maps the sandbox user back to
uid 0. Running the command as an unprivileged uid would enforce it, but then the command could not
write the root-owned worktree. A cgroup's pids.max counts every task in the group whatever its
uid, so it stops a fork bomb from root too. As a non-root user (production) Orca relies on
RLIMIT_NPROC instead: there the sandbox runs as Orca's own uid, which the kernel does limit.
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from pathlib import Path

_CGROUP_MOUNT = Path("/sys/fs/cgroup")


class PidsCgroup:
    """One throw-away cgroup with pids.max set; create(), join from the child, then remove()."""

    def __init__(self, parent: Path, max_pids: int) -> None:
        self.path = parent / f"orca-sandbox-{uuid.uuid4().hex[:12]}"
        self.max_pids = max_pids

    def create(self) -> None:
        """Makes the group and sets its limit; OSError when the hierarchy is not writable."""
        self.path.mkdir()
        (self.path / "pids.max").write_text(str(self.max_pids))

    def join(self) -> None:
        """Moves the calling process into the group (called in the child before exec)."""
        with open(self.path / "cgroup.procs", "w") as procs:
            procs.write(str(os.getpid()))

    def kill_all(self) -> None:
        """SIGKILLs every task still in the group (processes outside our process group too)."""
        for _ in range(50):
            pids = self._pids()
            if not pids:
                return
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.02)

    def remove(self) -> None:
        """Kills leftovers and deletes the group; a group with live tasks cannot be removed."""
        self.kill_all()
        for _ in range(50):
            try:
                self.path.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError:
                time.sleep(0.02)  # killed tasks leave the group asynchronously

    def _pids(self) -> list[int]:
        try:
            text = (self.path / "cgroup.procs").read_text()
        except FileNotFoundError:
            return []
        return [int(line) for line in text.split()]


def pids_cgroup_parent() -> Path | None:
    """The cgroup directory under which Orca may create pids-limited groups, or None.

    Tries cgroup v1's pids hierarchy, then cgroup v2 where the pids controller is enabled for
    children of our own group. Each candidate is proven by creating and removing a probe group.
    """
    for candidate in (_v1_parent(), _v2_parent()):
        if candidate is not None and _can_create_under(candidate):
            return candidate
    return None


def _own_cgroup(controller: str) -> str | None:
    """Our group's path in the hierarchy holding `controller` ("" means the v2 unified one)."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        # "".split(",") == [""], so controller "" matches the v2 line "0::/path".
        if controller in controllers.split(","):
            return path
    return None


def _v1_parent() -> Path | None:
    path = _own_cgroup("pids")
    root = _CGROUP_MOUNT / "pids"
    if path is None or not root.is_dir():
        return None
    return root / path.lstrip("/")


def _v2_parent() -> Path | None:
    path = _own_cgroup("")
    if path is None:
        return None
    parent = _CGROUP_MOUNT / path.lstrip("/")
    try:
        enabled = (parent / "cgroup.subtree_control").read_text().split()
    except OSError:
        return None
    return parent if "pids" in enabled else None


def _can_create_under(parent: Path) -> bool:
    probe = PidsCgroup(parent, 1)
    try:
        probe.create()
    except OSError:
        try:
            probe.path.rmdir()
        except OSError:
            pass
        return False
    probe.remove()
    return True
