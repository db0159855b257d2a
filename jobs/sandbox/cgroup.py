"""A cgroup per sandboxed command, or per session where a launcher starts its commands one at
a time (jobs.sandbox.launcher): its process and memory bounds, and what they stopped.

Why this exists: RLIMIT_NPROC is not enforced for uid 0 (kernel/fork.c exempts INIT_USER), and
RLIMIT_AS bounds each process's address space, not what a command's processes use together (ten
processes of 4 GiB each pass it, and a tmpfs's files are in no process's address space). A
cgroup's pids.max counts every task in the group whatever its uid, and its memory limit counts
every page the group's processes charge, /tmp's files included; the kernel counts what each
refused (pids.events, memory.oom_control or memory.events), which names the bound afterwards.

cgroup v1 keeps each controller in its own hierarchy (one directory per controller); v2 has one
directory for both. Orca makes groups only when it runs as root; as another user it relies on
the rlimits (jobs.sandbox.bounds.Limits says which applies where).
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

_CGROUP_MOUNT = Path("/sys/fs/cgroup")


@dataclass(frozen=True)
class CgroupLayout:
    """Where Orca may make groups: a parent with the pids controller, maybe one with memory."""

    pids: Path
    memory: Path | None
    """None when no writable memory controller was found: memory falls back to RLIMIT_AS."""
    version: int


class CommandCgroup:
    """One throw-away group: create(), joined by the command's first process (jobs.sandbox.argv),
    read counters(), then remove()."""

    def __init__(self, layout: CgroupLayout, max_pids: int, memory_bytes: int) -> None:
        name = f"orca-sandbox-{uuid.uuid4().hex[:12]}"
        self.version = layout.version
        self.pids = layout.pids / name
        self.memory = layout.memory / name if layout.memory is not None else None
        self.max_pids = max_pids
        self.memory_bytes = memory_bytes
        self.created = False
        self._marked = (0, 0)

    @property
    def dirs(self) -> list[Path]:
        """Each directory of the group: one on v2, one per controller on v1."""
        return list(dict.fromkeys(d for d in (self.pids, self.memory) if d is not None))

    def create(self) -> None:
        """Makes the group and sets its limits; OSError when a hierarchy is not writable."""
        for path in self.dirs:
            path.mkdir()
        self.created = True
        (self.pids / "pids.max").write_text(str(self.max_pids))
        if self.memory is None:
            return
        limit, swap = (("memory.limit_in_bytes", "memory.memsw.limit_in_bytes")
                       if self.version == 1 else ("memory.max", "memory.swap.max"))
        (self.memory / limit).write_text(str(self.memory_bytes))
        # Swap would stretch the bound; v1 counts memory+swap together, v2 swap apart.
        if (self.memory / swap).exists():
            (self.memory / swap).write_text(str(self.memory_bytes) if self.version == 1 else "0")

    def counters(self) -> tuple[int, int]:
        """(processes killed for memory, forks refused for pids.max) since create(), or since
        the last mark()."""
        oom_kills, refusals = self._counted()
        return oom_kills - self._marked[0], refusals - self._marked[1]

    def mark(self) -> None:
        """Counters start again from here: a session's group, before each of its commands."""
        self._marked = self._counted()

    def _counted(self) -> tuple[int, int]:
        oom_kills = 0
        if self.memory is not None:
            events = "memory.oom_control" if self.version == 1 else "memory.events"
            oom_kills = _field(self.memory / events, "oom_kill")
        return oom_kills, _field(self.pids / "pids.events", "max")

    def kill_all(self, keep_group: int | None = None) -> None:
        """SIGKILLs every task still in the group (processes outside our process group too),
        but those of process group `keep_group` if given (a session's launcher)."""
        for _ in range(50):
            pids = [pid for pid in self._pids() if keep_group is None or _group(pid) != keep_group]
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
        for path in self.dirs:
            for _ in range(50):
                try:
                    path.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.02)  # killed tasks leave the group asynchronously

    def _pids(self) -> list[int]:
        try:
            text = (self.pids / "cgroup.procs").read_text()
        except FileNotFoundError:
            return []
        return [int(line) for line in text.split()]


def _group(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None


def _field(path: Path, key: str) -> int:
    """The number after `key` in a flat-keyed cgroup file ("oom_kill 1"); 0 if absent."""
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return 0
    for line in lines:
        name, _, value = line.partition(" ")
        if name == key and value.strip().isdigit():
            return int(value)
    return 0


def cgroup_layout() -> CgroupLayout | None:
    """Where Orca may make command groups, or None when no writable pids controller exists.

    Tries cgroup v1's pids and memory hierarchies, then cgroup v2 where the controllers are
    enabled for children of our own group. Each candidate is proven by a probe group.
    """
    pids = _v1_parent("pids")
    if pids is not None and _can_create_under(pids):
        memory = _v1_parent("memory")
        usable = memory is not None and _can_create_under(memory)
        return CgroupLayout(pids, memory if usable else None, 1)
    unified = _v2_parent()
    if unified is None or not _can_create_under(unified):
        return None
    enabled = (unified / "cgroup.subtree_control").read_text().split()
    return CgroupLayout(unified, unified if "memory" in enabled else None, 2)


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


def _v1_parent(controller: str) -> Path | None:
    path = _own_cgroup(controller)
    root = _CGROUP_MOUNT / controller
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
    probe = parent / f"orca-sandbox-probe-{uuid.uuid4().hex[:12]}"
    try:
        probe.mkdir()
    except OSError:
        return False
    try:
        probe.rmdir()
    except OSError:
        pass
    return True
