"""The sandbox that runs the agent's shell commands.

BubblewrapSandbox is the real one, composed here from its parts: the command line
(jobs.sandbox_argv: system directories read-only, the worktree read-write at /workspace, a
private /tmp of bounded size, no capabilities, a clean environment, its own namespaces), the
cgroup (jobs.sandbox_cgroup: processes and memory), the network when allowed
(jobs.sandbox_network: the internet and nothing of ours), and the bounds a command ran into
(jobs.sandbox_bounds). NoSandbox runs commands directly, for explicit local trials only.
"""

from __future__ import annotations

import functools
import logging
import os
import resource
import shutil
import tempfile
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from jobs.errors import RunError
from jobs.sandbox_argv import CLEAN_ENV, WORKSPACE, CommandFds, Mounts, bwrap_argv, tmp_free
from jobs.sandbox_bounds import Limits, Measures, bounds_hit
from jobs.sandbox_cgroup import CgroupLayout, CommandCgroup, cgroup_layout
from jobs.sandbox_network import RESOLV_CONF, Egress, EgressFailed, egress_problem
from jobs.sandbox_paths import SandboxPathError, WorktreeSandbox
from jobs.sandbox_process import CommandResult, run_captured

__all__ = [
    "BubblewrapSandbox",
    "CommandResult",
    "Limits",
    "NoSandbox",
    "Sandbox",
    "SandboxPathError",
    "SandboxUnavailable",
    "make_sandbox",
]

log = logging.getLogger("orca.sandbox")

UNAVAILABLE_MESSAGE = (
    "bubblewrap (bwrap) is not installed; install it, or set ORCA_SANDBOX=none for a local trial"
)
ROOT_WITHOUT_CGROUP_MESSAGE = (
    "Orca runs as root, where the kernel does not enforce process limits, and no writable pids "
    "cgroup was found to enforce them instead; run Orca as a non-root user, or give it a "
    "writable /sys/fs/cgroup, or set ORCA_SANDBOX=none for a local trial"
)


class SandboxUnavailable(RunError):
    """The sandbox cannot run here, or could not set up a command; the message says why.

    A RunError, so a command that cannot get its network mid-run ends the run with a comment
    saying so, instead of running without isolation."""

    retry_hint = ("Ask the operators to fix the workers' sandbox (the reason is above), then "
                  "comment `/agent retry`.")


class Sandbox(Protocol):
    """Where the agent's commands run and where its file paths point."""

    root: str
    """The path at which the model sees the repository, e.g. "/workspace"."""

    def host_path(self, path: str) -> Path:
        """Maps a model-visible absolute path to the host; SandboxPathError if outside root."""
        ...

    def run(self, command: str, timeout: float, max_output: int) -> CommandResult:
        """Runs `bash -c command` as a fresh process; kills it and its children at the timeout."""
        ...


class NoSandbox(WorktreeSandbox):
    """Runs commands directly on the host, in the worktree, with the same clean environment
    and timeout handling but no isolation and no limits. Only for ORCA_SANDBOX=none local trials;
    the caller must log loudly that it is in use."""

    def __init__(self, worktree: Path, stop: threading.Event | None = None) -> None:
        super().__init__(worktree, str(Path(worktree).resolve()), stop)

    def run(self, command: str, timeout: float, max_output: int) -> CommandResult:
        """Runs `bash -c command` in the worktree; see Sandbox.run."""
        return run_captured(
            ["bash", "-c", command],
            env=dict(CLEAN_ENV),
            cwd=str(self.worktree),
            timeout=timeout,
            max_output=max_output,
            stop=self.stop,
        )


class BubblewrapSandbox(WorktreeSandbox):
    """Runs each command in a fresh bubblewrap container with the worktree at /workspace.

    Extra `ro_binds` / `rw_binds` appear at their own paths (e.g. the git mirror a worktree points
    into, so `git status` works inside). Processes a command leaves in the background die with it:
    bwrap's PID namespace ends when the command's shell exits. With `network`, each command
    reaches the internet through its own slirp4netns (jobs.sandbox_network).
    """

    def __init__(
        self,
        worktree: Path,
        *,
        network: bool = False,
        limits: Limits = Limits(),
        ro_binds: Sequence[Path] = (),
        rw_binds: Sequence[Path] = (),
        stop: threading.Event | None = None,
    ) -> None:
        super().__init__(worktree, WORKSPACE, stop)
        self.network = network
        self.limits = limits
        self.mounts = Mounts(self.worktree, tuple(Path(p) for p in ro_binds),
                             tuple(Path(p) for p in rw_binds))

    def run(self, command: str, timeout: float, max_output: int) -> CommandResult:
        """Runs `bash -c command` inside the container; see Sandbox.run."""
        cgroup = self._cgroup()
        report_read, report_write = os.pipe()
        egress = Egress() if self.network else None
        resolv = _data_fd(RESOLV_CONF) if self.network else None
        fds = CommandFds(report=report_write, resolv=resolv,
                         status=egress.status_fd if egress else None,
                         block=egress.block_fd if egress else None)
        child_fds = [fd for fd in (report_write, resolv) if fd is not None]
        owned = [report_read, *child_fds]  # each closed once: numbers get reused

        def started(proc: Any) -> None:
            _close(owned, child_fds)
            if egress is not None:
                try:
                    egress.started(proc)
                except EgressFailed as error:
                    raise SandboxUnavailable(
                        f"the sandbox's network could not be set up for a command: {error}"
                    ) from error
                log.debug("sandbox network ready in %.3f s", egress.seconds)

        try:
            result = run_captured(
                self.argv(command, fds),
                # bwrap itself gets the clean environment too: a command can read the environ of
                # bwrap's own processes through /proc (FACTS.md, "This machine").
                env=dict(CLEAN_ENV), cwd="/", timeout=timeout, max_output=max_output,
                preexec_fn=_child_setup(self.limits, cgroup),
                on_timeout=cgroup.kill_all if cgroup else None, stop=self.stop,
                pass_fds=[*child_fds, *(egress.child_fds() if egress else [])],
                on_start=started,
            )
            oom_kills, fork_refusals = cgroup.counters() if cgroup else (0, 0)
            measures = Measures(result.exit_code, oom_kills, fork_refusals,
                                tmp_free(_read_all(report_read)))
            result.bounds = bounds_hit(self.limits, measures)
            return result
        finally:
            _close(owned, list(owned))
            if egress is not None:
                egress.close()
            if cgroup is not None:
                cgroup.remove()

    def argv(self, command: str, fds: CommandFds = CommandFds()) -> list[str]:
        """The bwrap command line for `command` (public for inspection in tests and logs)."""
        return bwrap_argv(command, self.mounts, self.limits, fds)

    def _cgroup(self) -> CommandCgroup | None:
        """A cgroup for this command when running as root (see jobs.sandbox_cgroup)."""
        if os.geteuid() != 0:
            return None
        layout = _layout()
        if layout is None:
            raise SandboxUnavailable(ROOT_WITHOUT_CGROUP_MESSAGE)
        cgroup = CommandCgroup(layout, self.limits.processes, self.limits.memory_bytes)
        cgroup.create()
        return cgroup


@functools.cache
def _layout() -> CgroupLayout | None:
    """Found once per process: probing makes and removes a group."""
    return cgroup_layout()


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


def _child_setup(limits: Limits, cgroup: CommandCgroup | None) -> Callable[[], None]:
    """The function run in the forked child before exec: join the cgroup, set the rlimits.

    bwrap and everything it starts inherit both. With a cgroup, it bounds processes and
    memory for the command as a whole, so RLIMIT_NPROC (which counts a uid's processes across
    every run) and RLIMIT_AS (one process's address space) are left to the no-cgroup case.
    (preexec_fn is unsafe with threads that hold locks at fork time; this one only makes
    syscalls.)
    """
    rlimits = [(resource.RLIMIT_CPU, limits.cpu_seconds),
               (resource.RLIMIT_FSIZE, limits.file_size_bytes)]
    if cgroup is None:
        rlimits.append((resource.RLIMIT_NPROC, limits.processes))
    if cgroup is None or cgroup.memory is None:
        rlimits.append((resource.RLIMIT_AS, limits.memory_bytes))

    def setup() -> None:
        if cgroup is not None:
            cgroup.join()
        for which, value in rlimits:
            resource.setrlimit(which, (value, value))

    return setup


def make_sandbox(worktree: Path, mode: str = "bubblewrap", **kw: Any) -> Sandbox:
    """The sandbox for `mode` ("bubblewrap" or "none"); keyword arguments go to its constructor.

    Raises SandboxUnavailable when bubblewrap is missing or cannot start here, or when the
    network is asked for and cannot be given without reaching the host.
    """
    if mode == "none":
        return NoSandbox(worktree, stop=kw.get("stop"))
    if mode != "bubblewrap":
        raise SandboxUnavailable(f"unknown sandbox mode {mode!r}; use 'bubblewrap' or 'none'")
    problem = bubblewrap_problem(network=bool(kw.get("network")))
    if problem is not None:
        raise SandboxUnavailable(problem)
    return BubblewrapSandbox(worktree, **kw)


@functools.cache
def bubblewrap_problem(network: bool = False) -> str | None:
    """Why bubblewrap (with egress, if `network`) cannot be used here, or None; checked once per
    process with `true`."""
    if shutil.which("bwrap", path=CLEAN_ENV["PATH"]) is None:
        return UNAVAILABLE_MESSAGE
    if network and (problem := egress_problem()) is not None:
        return f"the repository's config asks for the network, but {problem}"
    with tempfile.TemporaryDirectory(prefix="orca-sandbox-check-") as scratch:
        try:
            trial = BubblewrapSandbox(Path(scratch), network=network)
            result = trial.run("true", timeout=30, max_output=2000)
        except SandboxUnavailable as error:
            return str(error)
        except OSError as error:
            return f"{UNAVAILABLE_MESSAGE} (starting it failed: {error})"
    if result.exit_code != 0:
        return f"{UNAVAILABLE_MESSAGE} (a trial command failed: {result.output.strip()[:500]})"
    return None
