"""The diff a running run has made so far, read from its worktree when this machine has it.

The agent can write anything inside the worktree, `.git` file included, so git is never
pointed at it blindly: the git directory is named explicitly (the worktree's admin
directory inside Orca's own mirror), external diff drivers and text conversion are off, and
the system and global git config are not read. Web and workers on different machines simply
have no worktree here; the page then says so.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

# A page, not a download: enough to see what the agent is doing.
MAX_BYTES = 256 * 1024
TIMEOUT_SECONDS = 10
_SAFE_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_SAFE_REPO = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_SAFE_SHA = re.compile(r"^[0-9a-f]{7,64}$")
_GIT_ENV = {"PATH": "/usr/bin:/bin:/usr/local/bin", "LANG": "C.UTF-8", "HOME": "/nonexistent",
            "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null",
            "GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0"}


def worktree_paths(data_dir: Path, run_id: str, repository: str) -> tuple[Path, Path] | None:
    """(worktree, its git admin directory) as jobs.workspace lays them out, if both exist."""
    if not (_SAFE_ID.match(run_id) and _SAFE_REPO.match(repository)) or ".." in repository:
        return None
    root = data_dir.resolve()
    # A worktree lent from the pool is linked from worktrees/<run id> while its run holds it.
    worktree = (root / "worktrees" / run_id).resolve()
    admin = root / "mirrors" / f"{repository}.git" / "worktrees" / worktree.name
    inside = worktree.is_relative_to(root)
    return (worktree, admin) if inside and worktree.is_dir() and admin.is_dir() else None


def _git(worktree: Path, admin: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", f"--git-dir={admin}", f"--work-tree={worktree}", "-c", "core.fsmonitor=false",
         "-c", "core.hooksPath=/dev/null", *args],
        # The sandbox can rewrite the admin dir's `commondir`: name Orca's mirror instead.
        cwd=worktree, env={**_GIT_ENV, "GIT_COMMON_DIR": str(admin.parent.parent)},
        capture_output=True, timeout=TIMEOUT_SECONDS,
        stdin=subprocess.DEVNULL, check=False)  # a failed diff shows as an empty one
    return done.stdout[:MAX_BYTES].decode("utf-8", errors="replace")


def diff_so_far(data_dir: Path, run_id: str, repository: str, base_sha: str | None) -> str | None:
    """The changes against the run's base commit and the names of new files; None when this
    machine has no worktree for the run."""
    paths = worktree_paths(data_dir, run_id, repository)
    if paths is None or not base_sha or not _SAFE_SHA.match(base_sha):
        return None
    worktree, admin = paths
    try:
        diff = _git(worktree, admin, "diff", "--no-ext-diff", "--no-textconv", "--no-color",
                    base_sha, "--")
        new = _git(worktree, admin, "ls-files", "--others", "--exclude-standard")
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"(git could not read the worktree: {type(exc).__name__})\n"
    if len(diff) >= MAX_BYTES:
        diff += f"\n… cut at {MAX_BYTES // 1024} KB\n"
    listing = "".join(f"  {name}\n" for name in new.splitlines()[:200])
    added = f"\nNew files, not yet in the diff above:\n{listing}" if listing else ""
    return (diff or "(no changes to tracked files yet)\n") + added
