"""The one host-side git: every git command Orca runs goes through `git()`, hardened.

Orca's git runs on the host, with the worker's rights, over files the sandbox wrote. So it
reads no configuration but the repository's own (Orca's mirror, or the user's repository for
`orca solve`) and the `-c` settings below: no system or global config, hooks off, fsmonitor
off, submodules neither recursed into nor asked about, no credential helper, pager or
attributes file. Which git directory and index it uses is always named by the caller (see
core.snapshot): nothing in a worktree chooses them.

The installation token travels as an `http.extraHeader` passed through the environment
(GIT_CONFIG_COUNT/KEY/VALUE), so it is neither in `.git/config`, where the agent could read
it, nor on the process list.
"""

from __future__ import annotations

import base64
import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

from core.errors import WorkspaceError

# Fetching a large repository over a slow link can take minutes; a hung one must end.
GIT_TIMEOUT = 600

# What no commit of Orca's holds, untracked files only (git's excludes): see the file.
GENERATED = Path(__file__).with_name("generated.gitignore")

# Each of these, set in a config git would read, could make git run a program or look into
# a directory the agent prepared (git-config(1); FACTS-next "git over an untrusted worktree").
# `-c` outranks the repository's config, so they hold whatever it says.
HARDENING = (
    "core.hooksPath=/dev/null",
    "core.fsmonitor=false",
    "core.untrackedCache=false",
    "core.attributesFile=/dev/null",
    # Orca's own list of plainly generated files (bytecode, caches, node_modules): never
    # committed, even where the repository's .gitignore forgets them. Beside this module.
    f"core.excludesFile={GENERATED}",
    "core.pager=cat",
    "core.askPass=",
    "credential.helper=",
    "core.protectNTFS=true",  # no `.GIT`, `git~1` or `.git ` committed as a path
    "core.protectHFS=true",
    "core.checkStat=default",  # a file the agent touched has a new ctime: it is read again
    "core.trustctime=true",
    "submodule.recurse=false",
    "diff.ignoreSubmodules=all",
    "status.submoduleSummary=false",
    "fetch.recurseSubmodules=false",
    "push.recurseSubmodules=no",
    "commit.gpgSign=false",
    "tag.gpgSign=false",
    # Orca always names its git directory, so ownership (which the sandbox's uid may hold)
    # decides nothing; safe.directory is read only from -c, system and global config.
    "safe.directory=*",
)
_HARDENING_ARGS = tuple(arg for pair in HARDENING for arg in ("-c", pair))


def auth_env(token: str | None, extra: Mapping[str, str] | None = None,
             user_config: bool = False) -> dict[str, str]:
    """Environment for one git command: built, not inherited, plus the token as a header.

    `user_config` keeps the person's own global config (only `orca solve` reading the
    person's identity, before any sandbox ran)."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_NO_REPLACE_OBJECTS": "1",
    }
    if user_config:
        env["HOME"] = os.environ.get("HOME", "/nonexistent")
    else:
        env.update(HOME="/nonexistent", GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL="/dev/null",
                   GIT_ATTR_NOSYSTEM="1")
    if token:
        # GitHub takes Basic x-access-token:<token> for installation tokens over HTTPS.
        basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
        env.update(
            GIT_CONFIG_COUNT="1",
            GIT_CONFIG_KEY_0="http.extraHeader",
            GIT_CONFIG_VALUE_0=f"Authorization: Basic {basic}",
        )
    env.update(extra or {})
    return env


def git(*args: str, cwd: Path, token: str | None = None, check: bool = True,
        timeout: float = GIT_TIMEOUT, env: Mapping[str, str] | None = None,
        stdin: str | None = None, user_config: bool = False, lossy: bool = False) -> str:
    """Run one hardened git command and return its stdout; WorkspaceError on failure.

    `env` adds variables (GIT_DIR, GIT_WORK_TREE, GIT_INDEX_FILE, identities); `stdin` is
    fed to the command; `lossy` decodes output that is not UTF-8 with replacement characters
    (diffs of the agent's files) instead of raising UnicodeDecodeError. The token, if any, is
    scrubbed from the error message.
    """
    done = _run(args, cwd, auth_env(token, env, user_config), timeout, stdin, lossy)
    if check and done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        message = " ".join(detail)
        if token:
            message = message.replace(token, "***")
        raise WorkspaceError(f"git {args[0]} failed: {message}")
    return done.stdout


def succeeds(*args: str, cwd: Path, env: Mapping[str, str] | None = None) -> bool:
    """Whether a hardened git command exits 0 (for questions such as `merge-base --is-ancestor`)."""
    return _run(args, cwd, auth_env(None, env), GIT_TIMEOUT, None, False).returncode == 0


def _run(args: tuple[str, ...], cwd: Path, env: dict[str, str], timeout: float,
         stdin: str | None, lossy: bool) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            ["git", *_HARDENING_ARGS, *args], cwd=cwd, env=env, capture_output=True,
            text=True, errors="replace" if lossy else None, timeout=timeout, input=stdin,
            stdin=subprocess.DEVNULL if stdin is None else None,
        )
    except subprocess.TimeoutExpired as exc:
        raise WorkspaceError(f"git {args[0]} timed out after {timeout:.0f} s") from exc
