"""The sandbox that runs the agent's shell commands, and the map from its paths to the host's.

BubblewrapSandbox is the real one: the worktree is the only writable place besides a private /tmp,
system directories are read-only, nothing else of the host is visible (Orca's working directory,
home and data directory hold secrets and other repositories), the network is off unless allowed,
the environment is built from scratch, and CPU, memory, process and file-size limits apply.
NoSandbox runs commands directly, for explicit local trials only.
"""

from __future__ import annotations

import functools
import os
import posixpath
import resource
import shutil
import tempfile
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from jobs.sandbox_cgroup import PidsCgroup, pids_cgroup_parent
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

WORKSPACE = "/workspace"
# The whole environment a command sees; nothing is inherited from the worker.
CLEAN_ENV = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "HOME": "/tmp",
    "LANG": "C.UTF-8",
    "TERM": "dumb",
}
_SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib64")
# What of the host's /etc a build needs: users, name resolution, certificates, the dynamic
# linker, locale and time zone, Debian's alternatives, language runtimes' own settings. Not the
# rest: /etc holds the password hashes, ssh host keys, a system gitconfig with credential
# helpers, package managers' tokens (pip.conf, npmrc), database configs.
_ETC_ENTRIES = (
    "alternatives", "bash.bashrc", "ca-certificates", "ca-certificates.conf", "debian_version",
    "gai.conf", "group", "host.conf", "hostname", "hosts", "inputrc", "java-17-openjdk",
    "ld.so.cache", "ld.so.conf", "ld.so.conf.d", "locale.alias", "localtime", "magic",
    "magic.mime", "mime.types", "netconfig", "networks", "nsswitch.conf", "os-release", "passwd",
    "perl", "profile", "protocols", "python3", "resolv.conf", "services", "shells", "ssl",
    "terminfo", "timezone", "xml",
)
_MAX_SYMLINKS = 40  # the kernel's own limit on links followed in one lookup (MAXSYMLINKS)
UNAVAILABLE_MESSAGE = (
    "bubblewrap (bwrap) is not installed; install it, or set ORCA_SANDBOX=none for a local trial"
)
ROOT_WITHOUT_CGROUP_MESSAGE = (
    "Orca runs as root, where the kernel does not enforce process limits, and no writable pids "
    "cgroup was found to enforce them instead; run Orca as a non-root user, or give it a "
    "writable /sys/fs/cgroup, or set ORCA_SANDBOX=none for a local trial"
)


class SandboxUnavailable(Exception):
    """The requested sandbox cannot run on this machine; the message says what to do."""


class SandboxPathError(ValueError):
    """A path the model gave is not inside the sandbox's root."""


@dataclass(frozen=True)
class Limits:
    """Resource limits for every command run in the sandbox."""

    cpu_seconds: int = 600
    """CPU time per process tree member (RLIMIT_CPU); a busy loop is killed after this."""
    memory_bytes: int = 4 * 1024**3
    """Address space per process (RLIMIT_AS); stops a runaway allocation before the OOM killer."""
    processes: int = 512
    """Processes and threads at once; stops fork bombs (RLIMIT_NPROC, or pids.max as root)."""
    file_size_bytes: int = 1024**3
    """Largest file a command may write (RLIMIT_FSIZE); the writer gets SIGXFSZ beyond it."""
    tmp_bytes: int = 1024**3
    """Size of the private /tmp (a tmpfs, so host memory): writes past it fail with ENOSPC."""


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


class _WorktreeSandbox:
    """The path mapping both sandboxes share: model paths under `root` map into the worktree."""

    root: str

    def __init__(self, worktree: Path, root: str, stop: threading.Event | None = None) -> None:
        self.worktree = Path(worktree).resolve()
        self.root = root
        self.stop = stop
        """Set when the run is asked to stop: the running command is killed at once."""

    def host_path(self, path: str) -> Path:
        """Maps an absolute path under root to the worktree, following symlinks as the sandbox
        would see them; anything that ends up outside root raises SandboxPathError."""
        parts = _parts_under_root(path, self.root)
        return self.worktree.joinpath(*_resolve_links(self.worktree, parts, self.root, path))


def _parts_under_root(path: str, root: str) -> list[str]:
    """The components of `path` below `root`, after normalising `..`; raises if outside."""
    if not isinstance(path, str) or not path.startswith("/"):
        raise SandboxPathError(
            f"{path!r} is not an absolute path; use an absolute path under {root}, "
            f"e.g. {root}/README.md"
        )
    normal = posixpath.normpath(path)
    if normal != root and not normal.startswith(root.rstrip("/") + "/"):
        raise SandboxPathError(f"{path} is outside the repository; paths must be under {root}")
    return [part for part in normal[len(root) :].split("/") if part]


def _resolve_links(worktree: Path, parts: list[str], root: str, original: str) -> list[str]:
    """Follows symlinks component by component; absolute targets are read in sandbox terms."""
    pending, resolved, followed = list(parts), [], 0
    while pending:
        part = pending.pop(0)
        if part == "..":
            if not resolved:
                raise SandboxPathError(f"{original} leads outside {root} through '..' in a link")
            resolved.pop()
            continue
        candidate = worktree.joinpath(*resolved, part)
        if not candidate.is_symlink():
            resolved.append(part)
            continue
        followed += 1
        if followed > _MAX_SYMLINKS:
            raise SandboxPathError(f"{original}: too many levels of symbolic links")
        target = os.readlink(candidate)
        if target.startswith("/"):
            try:
                pending = _parts_under_root(target, root) + pending
            except SandboxPathError:
                raise SandboxPathError(
                    f"{original} is a symbolic link to {target}, outside {root}"
                ) from None
            resolved = []
        else:
            pending = [p for p in target.split("/") if p and p != "."] + pending
    return resolved


class NoSandbox(_WorktreeSandbox):
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


class BubblewrapSandbox(_WorktreeSandbox):
    """Runs each command in a fresh bubblewrap container with the worktree at /workspace.

    Extra `ro_binds` / `rw_binds` appear at their own paths (e.g. the git mirror a worktree points
    into, so `git status` works inside). Processes a command leaves in the background die with it:
    bwrap's PID namespace ends when the command's shell exits.
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
        self.ro_binds = tuple(Path(p) for p in ro_binds)
        self.rw_binds = tuple(Path(p) for p in rw_binds)

    def run(self, command: str, timeout: float, max_output: int) -> CommandResult:
        """Runs `bash -c command` inside the container; see Sandbox.run."""
        cgroup = self._cgroup()
        try:
            return run_captured(
                self.argv(command),
                # bwrap itself gets the clean environment too: a command can read the environ of
                # bwrap's own processes through /proc (FACTS.md, "This machine").
                env=dict(CLEAN_ENV),
                cwd="/",
                timeout=timeout,
                max_output=max_output,
                preexec_fn=_child_setup(self.limits, cgroup),
                on_timeout=cgroup.kill_all if cgroup else None,
                stop=self.stop,
            )
        finally:
            if cgroup is not None:
                cgroup.remove()

    def argv(self, command: str) -> list[str]:
        """The bwrap command line for `command` (public for inspection in tests and logs)."""
        argv = ["bwrap", "--unshare-all", "--share-net" if self.network else "--unshare-net"]
        # Started by root, bwrap would leave the command every capability (remount /usr
        # read-write, write the host's binaries); started by anyone, it needs none.
        argv += ["--cap-drop", "ALL"]
        argv += ["--die-with-parent", "--new-session", "--clearenv"]
        for name, value in CLEAN_ENV.items():
            argv += ["--setenv", name, value]
        argv += _system_mounts()
        argv += ["--dev", "/dev", "--proc", "/proc", "--size", str(self.limits.tmp_bytes),
                 "--tmpfs", "/tmp"]
        # After the /tmp tmpfs, so binds that live under /tmp on the host are mounted on top.
        argv += ["--bind", str(self.worktree), WORKSPACE]
        for path in self.ro_binds:
            argv += ["--ro-bind", str(path), str(path)]
        for path in self.rw_binds:
            argv += ["--bind", str(path), str(path)]
        # bwrap's root is a scratch tmpfs; made read-only, only /workspace, /tmp and rw_binds
        # take writes.
        argv += ["--remount-ro", "/"]
        return argv + ["--chdir", WORKSPACE, "bash", "-c", command]

    def _cgroup(self) -> PidsCgroup | None:
        """A pids cgroup for this command when running as root (see jobs.sandbox_cgroup)."""
        if os.geteuid() != 0:
            return None
        parent = pids_cgroup_parent()
        if parent is None:
            raise SandboxUnavailable(ROOT_WITHOUT_CGROUP_MESSAGE)
        cgroup = PidsCgroup(parent, self.limits.processes)
        cgroup.create()
        return cgroup


def _system_mounts() -> list[str]:
    """Read-only system directories; merged-/usr symlinks (/bin -> usr/bin) are kept as links."""
    argv: list[str] = []
    for path in _SYSTEM_DIRS:
        if os.path.islink(path):
            argv += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            argv += ["--ro-bind", path, path]
    for name in _ETC_ENTRIES:
        path = f"/etc/{name}"
        if os.path.exists(path):  # a link is bound as what it points at
            argv += ["--ro-bind", path, path]
    return argv


def _child_setup(limits: Limits, cgroup: PidsCgroup | None) -> Callable[[], None]:
    """The function run in the forked child before exec: join the cgroup, set the rlimits.

    bwrap and everything it starts inherit both. (preexec_fn is unsafe with threads that hold
    locks at fork time; this one only makes syscalls.)
    """

    def setup() -> None:
        if cgroup is not None:
            cgroup.join()
        for which, value in (
            (resource.RLIMIT_CPU, limits.cpu_seconds),
            (resource.RLIMIT_AS, limits.memory_bytes),
            (resource.RLIMIT_NPROC, limits.processes),
            (resource.RLIMIT_FSIZE, limits.file_size_bytes),
        ):
            resource.setrlimit(which, (value, value))

    return setup


def make_sandbox(worktree: Path, mode: str = "bubblewrap", **kw: Any) -> Sandbox:
    """The sandbox for `mode` ("bubblewrap" or "none"); keyword arguments go to its constructor.

    Raises SandboxUnavailable when bubblewrap is missing or cannot start here.
    """
    if mode == "none":
        return NoSandbox(worktree, stop=kw.get("stop"))
    if mode != "bubblewrap":
        raise SandboxUnavailable(f"unknown sandbox mode {mode!r}; use 'bubblewrap' or 'none'")
    problem = bubblewrap_problem()
    if problem is not None:
        raise SandboxUnavailable(problem)
    return BubblewrapSandbox(worktree, **kw)


@functools.cache
def bubblewrap_problem() -> str | None:
    """Why bubblewrap cannot be used here, or None; checked once per process with `true`."""
    if shutil.which("bwrap", path=CLEAN_ENV["PATH"]) is None:
        return UNAVAILABLE_MESSAGE
    with tempfile.TemporaryDirectory(prefix="orca-sandbox-check-") as scratch:
        try:
            result = BubblewrapSandbox(Path(scratch)).run("true", timeout=30, max_output=2000)
        except SandboxUnavailable as error:
            return str(error)
        except OSError as error:
            return f"{UNAVAILABLE_MESSAGE} (starting it failed: {error})"
    if result.exit_code != 0:
        return f"{UNAVAILABLE_MESSAGE} (a trial command failed: {result.output.strip()[:500]})"
    return None
