"""The bounds on one sandboxed command, and the words for a command that ran into one.

Everything here is pure: the sandbox measures (exit status, its cgroup's counters, how full
/tmp was at the end) and `bounds_hit` says which bounds those facts show, in a sentence the
model reads after the command's output and a short name the tracking comment lists.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass

from core.settings import Limits

# bwrap and bash report a process killed by signal n as exit status 128 + n.
_KILLED_BY = 128
# /tmp counts as full when less than this share of it is free at the end: a writer stops at
# ENOSPC with at most a block or two left.
_FULL_SHARE = 0.01


@dataclass(frozen=True)
class BoundHit:
    """A bound a command ran into."""

    name: str
    """Short, for the tracking comment: "out of memory (4 GiB)"."""
    note: str
    """The sentence the model reads after the command's output."""


@dataclass(frozen=True)
class Measures:
    """What the sandbox saw of a finished command."""

    exit_code: int | None
    oom_kills: int = 0
    """Processes the kernel killed for the memory cgroup's limit."""
    fork_refusals: int = 0
    """Forks the pids cgroup refused."""
    tmp_free: tuple[int, int] | None = None
    """(free bytes, total bytes) of /tmp when the command ended, if known."""


def bounds_hit(limits: Limits, measures: Measures) -> tuple[BoundHit, ...]:
    """The bounds `measures` show the command ran into, in a stable order."""
    hits = []
    if measures.oom_kills:
        size = human_bytes(limits.memory_bytes)
        hits.append(BoundHit(
            f"out of memory ({size})",
            f"out of memory: the command's processes may use {size} together "
            f"(ORCA_SANDBOX_MEMORY), /tmp's files included; the kernel killed "
            f"{_times(measures.oom_kills, 'process', 'processes')}"))
    if measures.tmp_free is not None and _full(*measures.tmp_free):
        size = human_bytes(limits.tmp_bytes)
        hits.append(BoundHit(
            f"/tmp full ({size})",
            f"/tmp is full: it holds {size} (ORCA_SANDBOX_TMP_SIZE), and every command "
            "starts with an empty one"))
    if measures.fork_refusals:
        hits.append(BoundHit(
            f"process limit ({limits.processes})",
            f"process limit: the command may run {limits.processes} processes and threads at "
            f"once; {_times(measures.fork_refusals, 'fork', 'forks')} past it failed"))
    if measures.exit_code == _KILLED_BY + signal.SIGXCPU:
        hits.append(BoundHit(
            f"CPU time ({limits.cpu_seconds} s)",
            f"CPU time limit: a process used {limits.cpu_seconds} s of CPU and was killed"))
    if measures.exit_code == _KILLED_BY + signal.SIGXFSZ:
        size = human_bytes(limits.file_size_bytes)
        hits.append(BoundHit(
            f"file size ({size})",
            f"file size limit: a process tried to write a file over {size} and was killed"))
    return tuple(hits)


def _full(free: int, total: int) -> bool:
    return total > 0 and free < total * _FULL_SHARE


def _times(count: int, one: str, many: str) -> str:
    return f"1 {one}" if count == 1 else f"{count} {many}"


def human_bytes(size: int) -> str:
    """1073741824 -> "1 GiB", 1610612736 -> "1.5 GiB", 4096 -> "4 KiB"."""
    for unit, scale in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if size >= scale:
            return f"{size / scale:.1f}".removesuffix(".0") + f" {unit}"
    return f"{size} bytes"


def tally_line(counts: dict[str, int]) -> str:
    """The tracking comment's words for the bounds a run's commands ran into, or ""."""
    if not counts:
        return ""
    times = {1: "once", 2: "twice"}
    listed = ", ".join(f"{name} {times.get(n, f'{n} times')}" for name, n in counts.items())
    return f"⚠️ Commands ran into the sandbox's bounds: {listed}."
