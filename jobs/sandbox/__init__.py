"""The sandbox that runs the agent's shell commands.

BubblewrapSandbox is the real one, composed here from its parts: the command line
(jobs.sandbox.argv: system directories read-only, the worktree read-write at /workspace, a
private /tmp of bounded size, no capabilities, a clean environment, its own namespaces), the
cgroup (jobs.sandbox.cgroup: processes and memory), the network when allowed
(jobs.sandbox.network: the internet and nothing of ours), the user it runs as when Orca is
root (jobs.sandbox.user: nobody), the bounds a command ran into (jobs.sandbox.bounds), and the
directory keeping cut outputs whole (jobs.sandbox.scratch).
NoSandbox runs commands directly, for explicit local trials only.

Starting a command costs the worker no fork of itself: everything the child needs (its
cgroup, its rlimits, its lower CPU priority) is done by the command line (jobs.sandbox.argv),
not by a `preexec_fn`, which would make Python fork the whole ~100 MB work-horse instead of
using vfork (bench/fleet.py: 2.3 ms of the worker's CPU per command down to 0.8, and 2.7 ms
less in the child). As root, a session's offline commands go further: the outer bwrap and
setpriv start once per session, as a launcher that starts each command's own bwrap
(jobs.sandbox.launcher).
"""

from __future__ import annotations

import functools
import os
import shutil
import tempfile
import threading
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol

from core.errors import SandboxUnavailable
from core.settings import Limits
from jobs.sandbox.argv import CLEAN_ENV, WORKSPACE, CommandFds, Mounts, bwrap_argv
from jobs.sandbox.bounds import bounds_hit
from jobs.sandbox.cgroup import CgroupLayout, CommandCgroup, cgroup_layout
from jobs.sandbox.fds import Plumbing
from jobs.sandbox.launcher import FIRST_FD, Launcher, launcher_python
from jobs.sandbox.network import egress_problem
from jobs.sandbox.paths import SandboxPathError, WorktreeSandbox
from jobs.sandbox.process import CommandResult, run_captured
from jobs.sandbox.scratch import KEEP_BYTES, SEEN_AT as SCRATCH, Scratch, keep_whole
from jobs.sandbox.user import lend, switches_user

__all__ = [
    "BubblewrapSandbox",
    "CommandResult",
    "Limits",
    "NoSandbox",
    "Sandbox",
    "SandboxPathError",
    "SandboxUnavailable",
    "Scratch",
    "make_sandbox",
]

UNAVAILABLE_MESSAGE = (
    "bubblewrap (bwrap) is not installed; install it, or set ORCA_SANDBOX=none for a local trial"
)
ROOT_WITHOUT_CGROUP_MESSAGE = (
    "Orca runs as root, where the kernel does not enforce process limits, and no writable pids "
    "cgroup was found to enforce them instead; run Orca as a non-root user, or give it a "
    "writable /sys/fs/cgroup, or set ORCA_SANDBOX=none for a local trial"
)


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

    def close(self) -> None:
        """Ends what the sandbox keeps between commands (a session's launcher); idempotent."""
        ...


class NoSandbox(WorktreeSandbox):
    """Runs commands directly on the host, in the worktree, with the same clean environment
    and timeout handling but no isolation and no limits. Only for ORCA_SANDBOX=none local trials;
    the caller must log loudly that it is in use."""

    def __init__(self, worktree: Path, stop: threading.Event | None = None,
                 env: Mapping[str, str] | None = None, scratch: Scratch | None = None) -> None:
        super().__init__(worktree, str(Path(worktree).resolve()), stop)
        self.env = {**CLEAN_ENV, **(env or {})}
        self.scratch = scratch

    def run(self, command: str, timeout: float, max_output: int) -> CommandResult:
        """Runs `bash -c command` in the worktree; see Sandbox.run."""
        result = run_captured(
            ["bash", "-c", command],
            env=dict(self.env),
            cwd=str(self.worktree),
            timeout=timeout,
            max_output=max_output,
            stop=self.stop,
            keep=KEEP_BYTES if self.scratch else 0,
        )
        if self.scratch is not None:
            keep_whole(result, self.scratch, str(self.scratch.path))
        return result

    def close(self) -> None:
        """Nothing is kept between commands."""


class BubblewrapSandbox(WorktreeSandbox):
    """Runs each command in a fresh bubblewrap container with the worktree at /workspace.

    Extra `ro_binds` / `rw_binds` appear at their own paths (e.g. the git mirror a worktree points
    into, so `git status` works inside); a `scratch` directory, read-only at /orca-scratch, holds
    the whole output of commands whose output was cut (jobs.sandbox.scratch). Processes a command leaves in the background die with it:
    bwrap's PID namespace ends when the command's shell exits. With `network`, each command
    reaches the internet through its own slirp4netns (jobs.sandbox.network).

    With `launcher`, when Orca is root and the sandbox has no network, every command starts from
    one launcher kept for the session (jobs.sandbox.launcher), each still in a bwrap of its own;
    `close()` ends it.
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
        env: Mapping[str, str] | None = None,
        scratch: Scratch | None = None,
        launcher: bool = False,
    ) -> None:
        super().__init__(worktree, WORKSPACE, stop)
        self.scratch = scratch
        self.env = dict(env or {})
        """Variables added to the clean environment: setup-only secrets (jobs.agent.session)."""
        self.network = network
        self.limits = limits
        self.mounts = Mounts(self.worktree, tuple(Path(p) for p in ro_binds),
                             tuple(Path(p) for p in rw_binds), staged=switches_user())
        self._lent = False
        self._wants_launcher = launcher
        self._launcher: Launcher | None = None
        self._closer: weakref.finalize | None = None

    def run(self, command: str, timeout: float, max_output: int) -> CommandResult:
        """Runs `bash -c command` inside the container; see Sandbox.run."""
        self._lend_once()
        if self.scratch is not None and self.mounts.scratch is None:  # made at the first command
            self.mounts = replace(self.mounts, scratch=self.scratch.path)
        launcher = self._session_launcher()
        if launcher is not None:
            return self._launched(launcher, command, timeout, max_output)
        cgroup = self._cgroup()
        plumbing = Plumbing(network=self.network, gitconfig=self.mounts.staged)
        try:
            result = run_captured(
                self.argv(command, plumbing.fds, cgroup),
                # bwrap itself gets the clean environment too: a command can read the environ of
                # bwrap's own processes through /proc (FACTS.md, "This machine").
                env=dict(CLEAN_ENV), cwd="/", timeout=timeout, max_output=max_output,
                on_timeout=cgroup.kill_all if cgroup else None, stop=self.stop,
                pass_fds=plumbing.child_fds, on_start=plumbing.started,
                keep=KEEP_BYTES if self.scratch else 0,
            )
            result.bounds = bounds_hit(self.limits, plumbing.measures(result.exit_code, cgroup))
            keep_whole(result, self.scratch, SCRATCH)
            return result
        finally:
            plumbing.close()
            if cgroup is not None:
                cgroup.remove()

    def close(self) -> None:
        """Ends the session's launcher and removes its cgroup, if there is one; a command run
        after this starts alone."""
        if self._closer is not None:
            self._closer()
            self._launcher = None

    def _launched(self, launcher: Launcher, command: str, timeout: float,
                  max_output: int) -> CommandResult:
        """The command's own bwrap, started by the session's launcher."""
        plumbing = Plumbing(network=False, gitconfig=self.mounts.staged)
        try:
            argv = bwrap_argv(command, self.mounts, self.limits, plumbing.renumbered(FIRST_FD),
                              self.env, launcher.cgroup, launched=True)
            result = launcher.run(argv, plumbing.child_fds, timeout=timeout,
                                  max_output=max_output, stop=self.stop,
                                  keep=KEEP_BYTES if self.scratch else 0,
                                  on_start=lambda: plumbing.started(None))
            result.bounds = bounds_hit(self.limits,
                                       plumbing.measures(result.exit_code, launcher.cgroup))
            keep_whole(result, self.scratch, SCRATCH)
            return result
        finally:
            plumbing.close()

    def _session_launcher(self) -> Launcher | None:
        """The session's launcher, made at the first command, if this sandbox keeps one."""
        if self._launcher is not None or self._closer is not None:
            return self._launcher
        python = launcher_python()
        if not (self._wants_launcher and self.mounts.staged and not self.network and python):
            return None
        cgroup = self._cgroup(extra_pids=1, created=False)
        assert cgroup is not None  # staged: Orca is root, and root needs a cgroup
        self._launcher = Launcher(self.mounts.sources(), cgroup, python)
        self._closer = weakref.finalize(self, _end_session, self._launcher)
        return self._launcher

    def argv(self, command: str, fds: CommandFds = CommandFds(),
             cgroup: CommandCgroup | None = None) -> list[str]:
        """The bwrap command line for `command` (public for inspection in tests and logs)."""
        return bwrap_argv(command, self.mounts, self.limits, fds, self.env, cgroup)

    def _lend_once(self) -> None:
        """Before the first command as nobody: the worktree and the writable binds become its
        (jobs.sandbox.user); the worktree's `.git` pointer stays Orca's."""
        if self.mounts.staged and not self._lent:
            lend(self.worktree, keep=[".git"])
            for path in self.mounts.rw_binds:
                lend(path)
            self._lent = True

    def _cgroup(self, extra_pids: int = 0, created: bool = True) -> CommandCgroup | None:
        """A cgroup for this command (or this session's launcher, with room for it: `extra_pids`)
        when running as root (see jobs.sandbox.cgroup)."""
        if os.geteuid() != 0:
            return None
        layout = _layout()
        if layout is None:
            raise SandboxUnavailable(ROOT_WITHOUT_CGROUP_MESSAGE)
        cgroup = CommandCgroup(layout, self.limits.processes + extra_pids, self.limits.memory_bytes)
        if created:
            cgroup.create()
        return cgroup


def _end_session(launcher: Launcher) -> None:
    """Ends a session's launcher and removes its group (at close(), or when the sandbox is
    collected, or at the process's exit)."""
    launcher.close()
    launcher.cgroup.remove()


@functools.cache
def _layout() -> CgroupLayout | None:
    """Found once per process: probing makes and removes a group."""
    return cgroup_layout()


def make_sandbox(worktree: Path, mode: str = "bubblewrap", **kw: Any) -> Sandbox:
    """The sandbox for `mode` ("bubblewrap" or "none"); keyword arguments go to its constructor.

    Raises SandboxUnavailable when bubblewrap is missing or cannot start here, or when the
    network is asked for and cannot be given without reaching the host.
    """
    if mode == "none":
        return NoSandbox(worktree, stop=kw.get("stop"), env=kw.get("env"), scratch=kw.get("scratch"))
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
