"""When Orca runs as root, sandboxed commands run as `nobody`, a real unprivileged host user.

Why: bubblewrap started by root maps the sandbox's user to host root, whatever --uid says, so
without capabilities it still owns root's files (it reads root's 0600 files, and writes any
root-owned file a bind exposes). The switch has to happen before bwrap starts:

- An outer bwrap, as root, only stages the host paths the sandbox binds under a fresh /tmp of
  its own mount namespace: `nobody` could not reach them where they are (the data directory,
  or a 0700 parent, is root's), and bwrap 0.8 cannot bind from a file descriptor.
- setpriv then becomes nobody (uid and gid 65534, no supplementary groups, no capabilities,
  none in the bounding set) and runs the real, unprivileged bwrap on the staged paths.
- The worktree and the worktree's git admin directory are lent to nobody before the first
  command: their contents are chowned to it. Their top directories and the `.git` file stay
  root's, writable by nobody's group, because git refuses, on the host, a repository owned by
  another user (safe.directory); inside, the sandbox's own /etc/gitconfig trusts any
  directory, since everything it sees is the agent's anyway.

Lending walks with file descriptors and never follows a symlink, so a link the agent left
cannot point the chown anywhere else.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from pathlib import Path

# nobody and nogroup on Debian: in every /etc/passwd (tools that look their user up work),
# and owning nothing of Orca's.
SANDBOX_UID = 65534
SANDBOX_GID = 65534
STAGE = "/tmp"
"""Where the outer bwrap shows the staged paths, on a tmpfs of its own."""
GITCONFIG = "[safe]\n\tdirectory = *\n"


def switches_user() -> bool:
    """Whether commands run as nobody: when Orca itself is root."""
    return os.geteuid() == 0


def stage_path(index: int) -> str:
    """Where the outer bwrap shows the index-th staged host path."""
    return f"{STAGE}/{index}"


def outer_argv(sources: Sequence[Path]) -> list[str]:
    """The outer bwrap and setpriv, staging `sources` in order; the inner bwrap follows."""
    argv = ["bwrap", "--dev-bind", "/", "/", "--tmpfs", STAGE]
    for index, source in enumerate(sources):
        argv += ["--bind", str(source), stage_path(index)]
    argv += ["--die-with-parent", "--",
             "setpriv", f"--reuid={SANDBOX_UID}", f"--regid={SANDBOX_GID}", "--clear-groups",
             "--inh-caps=-all", "--bounding-set=-all", "--"]
    return argv


def lend(top: Path, keep: Sequence[str] = ()) -> None:
    """Gives nobody everything under `top` (but `keep`, names directly in it), and write
    access to `top` itself through its group; `top` and `keep` stay their owner's."""
    info = os.lstat(top)
    if not stat.S_ISDIR(info.st_mode):
        raise NotADirectoryError(top)
    os.chown(top, info.st_uid, SANDBOX_GID, follow_symlinks=False)
    os.chmod(top, stat.S_IMODE(info.st_mode) | stat.S_IRWXG)
    for directory, dirs, files, fd in os.fwalk(top, follow_symlinks=False):
        for name in [*dirs, *files]:
            if directory == str(top) and name in keep:
                continue
            entry = os.stat(name, dir_fd=fd, follow_symlinks=False)
            if (entry.st_uid, entry.st_gid) != (SANDBOX_UID, SANDBOX_GID):
                os.chown(name, SANDBOX_UID, SANDBOX_GID, dir_fd=fd, follow_symlinks=False)
