"""The bubblewrap command line for one sandboxed command. Pure: it reads no state but the
host's file layout (which system directories exist, which are merged-/usr links)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from core.settings import Limits
from jobs.sandbox.cgroup import CommandCgroup
from jobs.sandbox.scratch import SEEN_AT as SCRATCH
from jobs.sandbox.user import outer_argv, stage_path

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
# Runs the command, then writes how full /tmp is ("free-blocks total-blocks block-size") to the
# report fd, which the command itself does not inherit; the exit status is the command's.
_WRAPPER = ('bash -c "$1" {fd}>&-; code=$?; stat -f -c "%a %b %S" /tmp >&{fd} 2>/dev/null; '
            'exit $code')
# Moves itself into the command's cgroup (each `cgroup.procs` named before `--`), then becomes
# the command line after `--`; as root only. The child joins before bwrap exists, so nothing of
# the command starts outside the group, and Python needs no preexec_fn (see jobs.sandbox).
_JOIN = 'while [ "$1" != -- ]; do echo $$ > "$1" || exit 125; shift; done; shift; exec "$@"'


@dataclass(frozen=True)
class CommandFds:
    """File descriptors one command's bwrap inherits, by purpose."""

    report: int | None = None
    """Where the wrapper reports /tmp's use after the command."""
    status: int | None = None
    """bwrap's --json-status-fd (the sandbox's pid), for setting up its network."""
    block: int | None = None
    """bwrap's --block-fd: the command waits until Orca writes to it."""
    resolv: int | None = None
    """A pipe holding the sandbox's /etc/resolv.conf (--ro-bind-data)."""
    gitconfig: int | None = None
    """A pipe holding the sandbox's /etc/gitconfig (--ro-bind-data)."""


@dataclass(frozen=True)
class Mounts:
    """What of the host a command sees besides the system directories."""

    worktree: Path
    ro_binds: tuple[Path, ...] = ()
    rw_binds: tuple[Path, ...] = ()
    staged: bool = False
    """bwrap finds them staged by an outer one (jobs.sandbox.user), in `sources()` order."""
    scratch: Path | None = None
    """The session's scratch directory, read-only at SCRATCH (jobs.sandbox.scratch)."""

    def sources(self) -> list[Path]:
        """The host paths bwrap binds: the worktree, ro_binds, rw_binds, then the scratch."""
        extra = [self.scratch] if self.scratch is not None else []
        return [self.worktree, *self.ro_binds, *self.rw_binds, *extra]

    def binds(self) -> list[tuple[str, str, str]]:
        """(bwrap option, where bwrap finds it, where the command sees it) for each source."""
        options = ["--bind"] + ["--ro-bind"] * len(self.ro_binds) + ["--bind"] * len(self.rw_binds)
        seen = [WORKSPACE, *map(str, self.ro_binds), *map(str, self.rw_binds)]
        if self.scratch is not None:
            options.append("--ro-bind")
            seen.append(SCRATCH)
        found = ([stage_path(i) for i in range(len(seen))] if self.staged
                 else [str(p) for p in self.sources()])
        return list(zip(options, found, seen))


def bwrap_argv(command: str, mounts: Mounts, limits: Limits, fds: CommandFds = CommandFds(),
               env: Mapping[str, str] | None = None, cgroup: CommandCgroup | None = None,
               launched: bool = False) -> list[str]:
    """The bwrap command line running `bash -c command` at /workspace; when the mounts are
    staged, after the outer bwrap and setpriv that stage them and become nobody; with a
    `cgroup`, after a shell that joins it. `launched`: the bwrap alone, for a session's
    launcher, already staged, nobody and in the group (jobs.sandbox.launcher). `env` adds
    variables to the clean environment (setup-only secrets)."""
    outer = outer_argv(mounts.sources()) if mounts.staged and not launched else []
    if cgroup is not None and not launched:
        outer = joining(cgroup, outer)
    # Its own user, network, PID, IPC and UTS namespaces, always; the network is only the
    # loopback until Orca plugs egress in through fds.status/fds.block (jobs.sandbox.network).
    argv = [*outer, "bwrap", "--unshare-all", "--unshare-user", "--disable-userns",
            "--die-with-parent", "--new-session", "--cap-drop", "ALL", "--clearenv"]
    for name, value in {**CLEAN_ENV, **(env or {})}.items():
        argv += ["--setenv", name, value]
    argv += _system_mounts(own_resolver=fds.resolv is None)
    if fds.resolv is not None:
        argv += ["--ro-bind-data", str(fds.resolv), "/etc/resolv.conf"]
    if fds.gitconfig is not None:
        argv += ["--ro-bind-data", str(fds.gitconfig), "/etc/gitconfig"]
    argv += ["--dev", "/dev", "--proc", "/proc"]
    argv += ["--size", str(limits.tmp_bytes), "--tmpfs", "/tmp"]
    # After the /tmp tmpfs, so binds that live under /tmp on the host are mounted on top.
    for option, found, seen in mounts.binds():
        argv += [option, found, seen]
    # bwrap's root is a tmpfs of its own; made read-only, only /workspace, /tmp and rw_binds
    # take writes.
    argv += ["--remount-ro", "/"]
    if fds.status is not None and fds.block is not None:
        argv += ["--json-status-fd", str(fds.status), "--block-fd", str(fds.block)]
    argv += ["--chdir", WORKSPACE]
    return argv + _command(command, limits, fds.report, cgroup)


def joining(cgroup: CommandCgroup, argv: list[str]) -> list[str]:
    """`argv` started by a shell that first joins `cgroup` (each of its directories)."""
    procs = [str(path / "cgroup.procs") for path in cgroup.dirs]
    return ["/bin/sh", "-c", _JOIN, "orca-join", *procs, "--", *argv]


def _command(command: str, limits: Limits, report: int | None,
             cgroup: CommandCgroup | None) -> list[str]:
    """What bwrap runs inside: `bash -c command` at a lower CPU priority (`nice`) under the
    command's rlimits, set by the shell that starts it, and reporting /tmp's use to `report`."""
    nice = ["nice", "-n", str(limits.niceness)] if limits.niceness else []
    prefix = f"ulimit {rlimits(limits, cgroup)} || exit 125; "
    if limits.niceness:
        # Where the kernel groups each session's processes for the CPU (autogroup), a nice
        # value counts only within the group, and every command is a session of its own: its
        # group's niceness is lowered too. The kernel refuses more than ten such changes a
        # second machine-wide (EAGAIN), so on a very busy fleet some keep a whole session's weight.
        prefix += f"echo {limits.niceness} 2>/dev/null >/proc/self/autogroup; "
    if report is None:
        return [*nice, "bash", "-c", prefix + 'exec bash -c "$1"', "orca-sandbox", command]
    return [*nice, "bash", "-c", prefix + _WRAPPER.format(fd=report), "orca-sandbox", command]


def rlimits(limits: Limits, cgroup: CommandCgroup | None = None) -> str:
    """bash's `ulimit` options for the command: CPU seconds per process and the largest file
    (in KiB, bash's unit for -f and -v), always; processes and address space only where no
    cgroup bounds the command as a whole (jobs.sandbox.cgroup). Set inside the sandbox, they
    cannot be raised again: that needs CAP_SYS_RESOURCE, which no sandboxed process holds."""
    options = [f"-t {limits.cpu_seconds}", f"-f {max(1, limits.file_size_bytes // 1024)}"]
    if cgroup is None:
        options.append(f"-u {limits.processes}")
    if cgroup is None or cgroup.memory is None:
        options.append(f"-v {max(1, limits.memory_bytes // 1024)}")
    return " ".join(options)


def _system_mounts(own_resolver: bool = True) -> list[str]:
    """Read-only system directories; merged-/usr symlinks (/bin -> usr/bin) are kept as links."""
    argv: list[str] = []
    for path in _SYSTEM_DIRS:
        if os.path.islink(path):
            argv += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            argv += ["--ro-bind", path, path]
    for name in _ETC_ENTRIES:
        path = f"/etc/{name}"
        if name == "resolv.conf" and not own_resolver:
            continue
        if os.path.exists(path):  # a link is bound as what it points at
            argv += ["--ro-bind", path, path]
    return argv


def tmp_free(report: str) -> tuple[int, int] | None:
    """(free bytes, total bytes) from the wrapper's report, or None if it said nothing usable."""
    try:
        free, total, block = (int(word) for word in report.split())
    except ValueError:
        return None
    return free * block, total * block
