"""The fleet bench's processes: a pool of `orca worker` children, and what they cost.

Memory is sampled from /proc while the runs go on: each worker's process tree (the RQ worker,
its forked work-horse, git, bwrap and the sandboxed shell) is summed for proportional set size
(PSS, from /proc/<pid>/smaps_rollup: a page shared by k processes counts 1/k to each, so
the sum over all trees is the memory the fleet really uses) and for resident set size (RSS,
which counts shared pages in every process). CPU time comes from /proc/<pid>/stat, children
that have been waited for included, and from /proc/stat for the whole machine.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import redis
from rq import Worker

TICK = os.sysconf("SC_CLK_TCK")
MB = 1024 * 1024


@dataclass
class Pool:
    """`orca worker` child processes, each writing its log to its own file."""

    processes: list[subprocess.Popen]
    logs: list[Path]

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.processes]

    def wait_registered(self, connection: redis.Redis, workers: int, seconds: float = 300) -> None:
        """Until all `workers` have registered with RQ (they are then listening for jobs)."""
        deadline = time.monotonic() + seconds
        while len(Worker.all(connection=connection)) < workers:
            if dead := [p.pid for p in self.processes if p.poll() is not None]:
                raise SystemExit(f"worker processes {dead} exited at start-up:\n{self.tail()}")
            if time.monotonic() > deadline:
                raise SystemExit(f"workers did not register within {seconds:.0f} s")
            time.sleep(0.1)

    def tail(self, lines: int = 15) -> str:
        """The last lines of each worker log that has any, for a failure message."""
        out = []
        for log in self.logs:
            text = log.read_text(errors="replace").splitlines() if log.exists() else []
            if text:
                out.append(f"--- {log.name}\n" + "\n".join(text[-lines:]))
        return "\n".join(out)


ORCA_WORKER = [sys.executable, "-m", "app.cli", "worker"]
"""What `orca worker` runs."""


@contextmanager
def worker_pool(commands: list[list[str]], log_dir: Path) -> Iterator[Pool]:
    """One child process per command, with this process's environment and working directory;
    stopped (SIGTERM, then SIGKILL) when the block ends."""
    log_dir.mkdir(parents=True, exist_ok=True)
    processes, logs = [], []
    try:
        for n, command in enumerate(commands):
            logs.append(log_dir / f"worker-{n}-{command[-1]}.log")
            with open(logs[-1], "wb") as out:
                processes.append(subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT))
        yield Pool(processes, logs)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


# -- /proc ---------------------------------------------------------------------------------

def _stat_fields(pid: int) -> list[str] | None:
    """/proc/<pid>/stat from field 3 (state) on; the command name may hold spaces."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def children_map() -> dict[int, list[int]]:
    """Every live process's children, from /proc/<pid>/stat's ppid."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit() and (fields := _stat_fields(int(entry.name))) is not None:
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    return children


def tree(root: int, children: dict[int, list[int]]) -> list[int]:
    """`root` and all its descendants."""
    found, pending = [], [root]
    while pending:
        pid = pending.pop()
        found.append(pid)
        pending.extend(children.get(pid, ()))
    return found


def pss_rss(pid: int) -> tuple[int, int]:
    """(PSS, RSS) of one process in bytes; (0, 0) if it is gone."""
    pss = rss = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup") as rollup:
            for line in rollup:
                if line.startswith("Pss:"):
                    pss = int(line.split()[1]) * 1024
                elif line.startswith("Rss:"):
                    rss = int(line.split()[1]) * 1024
    except OSError:
        pass
    return pss, rss


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and of the children it has waited for."""
    fields = _stat_fields(pid)
    if fields is None:
        return 0.0
    return sum(int(fields[i]) for i in (11, 12, 13, 14)) / TICK  # utime stime cutime cstime


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, all cores (/proc/stat)."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values) - idle) / TICK, sum(values) / TICK


# -- sampling ------------------------------------------------------------------------------

@dataclass
class Peaks:
    """The largest figures seen over the samples, in bytes."""

    total_pss: int = 0
    """The fleet's PSS: all worker trees summed at one moment."""
    tree_pss: int = 0
    """The largest PSS of one worker tree."""
    tree_rss: int = 0
    """The largest RSS of one worker tree (shared pages counted in every process)."""
    worker_rss: int = 0
    """The largest RSS of a single process in a tree (a worker or its work-horse)."""
    processes: int = 0
    """The most processes in all trees at once."""
    samples: int = 0
    cpu: float = 0.0
    """CPU seconds the sampling itself took (reading smaps_rollup walks every page table)."""


class Sampler:
    """Samples the worker trees in a thread until `stop()`: every `interval` seconds, or
    less often when a sample is slow, so sampling never takes more than a tenth of a core.
    (smaps_rollup costs about 3 ms for a 120 MB process: 150 processes take half a second.)"""

    BUSY_SHARE = 0.1

    def __init__(self, roots: list[int], interval: float) -> None:
        self.roots, self.interval = roots, interval
        self.peaks = Peaks()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="fleet-sampler", daemon=True)

    def start(self) -> Sampler:
        self._thread.start()
        return self

    def stop(self) -> Peaks:
        self._done.set()
        self._thread.join()
        return self.peaks

    def _loop(self) -> None:
        while True:
            took = self.sample()
            if self._done.wait(max(self.interval, took / self.BUSY_SHARE)):
                return

    def sample(self) -> float:
        """Read every tree once, keep the peaks; returns the CPU seconds it took."""
        started = time.thread_time()
        children, peaks, total, count = children_map(), self.peaks, 0, 0
        for root in self.roots:
            tree_pss = tree_rss = 0
            for pid in tree(root, children):
                pss, rss = pss_rss(pid)
                tree_pss, tree_rss, count = tree_pss + pss, tree_rss + rss, count + 1
                peaks.worker_rss = max(peaks.worker_rss, rss)
            peaks.tree_pss, peaks.tree_rss = max(peaks.tree_pss, tree_pss), max(peaks.tree_rss, tree_rss)
            total += tree_pss
        peaks.total_pss, peaks.processes = max(peaks.total_pss, total), max(peaks.processes, count)
        took = time.thread_time() - started
        peaks.samples, peaks.cpu = peaks.samples + 1, peaks.cpu + took
        return took
