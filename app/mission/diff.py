"""The diff a running run has made so far, read from its worktree when this machine has it.

The agent can write anything inside the worktree (its `.git` file, the git admin directory
beside the mirror, nested repositories), and may still be writing while a viewer looks, so
the worktree is read through Orca's hardened git as plain files (core.snapshot): Orca's own
mirror and index, nested repositories left out, no external diff or text conversion. Web
and workers on different machines simply have no worktree here; the page then says so.
"""

from __future__ import annotations

import re
from pathlib import Path

from core.errors import WorkspaceError
from core.snapshot import Worktree, index_copy_of, worktree_diff

# A page, not a download: enough to see what the agent is doing.
MAX_BYTES = 256 * 1024
TIMEOUT_SECONDS = 10
_SAFE_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_SAFE_REPO = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_SAFE_SHA = re.compile(r"^[0-9a-f]{7,64}$")


def worktree_paths(data_dir: Path, run_id: str, repository: str) -> tuple[Path, Path] | None:
    """(worktree, Orca's mirror of its repository) as jobs.workspace lays them out, if the
    worktree, the mirror and Orca's index of the worktree all exist."""
    if not (_SAFE_ID.match(run_id) and _SAFE_REPO.match(repository)) or ".." in repository:
        return None
    root = data_dir.resolve()
    # A worktree lent from the pool is linked from worktrees/<run id> while its run holds it.
    worktree = (root / "worktrees" / run_id).resolve()
    mirror = root / "mirrors" / f"{repository}.git"
    inside = worktree.is_relative_to(root)
    found = inside and worktree.is_dir() and mirror.is_dir() and index_copy_of(worktree).is_file()
    return (worktree, mirror) if found else None


def diff_so_far(data_dir: Path, run_id: str, repository: str, base_sha: str | None) -> str | None:
    """The changes against the run's base commit and the names of new files; None when this
    machine has no worktree for the run."""
    paths = worktree_paths(data_dir, run_id, repository)
    if paths is None or not base_sha or not _SAFE_SHA.match(base_sha):
        return None
    worktree, mirror = paths
    view = Worktree(mirror, worktree, base_sha, index_copy_of(worktree))
    try:
        diff, new = worktree_diff(view, MAX_BYTES, TIMEOUT_SECONDS)
    except (OSError, WorkspaceError) as exc:
        return f"(git could not read the worktree: {type(exc).__name__})\n"
    if len(diff) >= MAX_BYTES:
        diff += f"\n… cut at {MAX_BYTES // 1024} KB\n"
    listing = "".join(f"  {name}\n" for name in new[:200])
    added = f"\nNew files, not yet in the diff above:\n{listing}" if listing else ""
    return (diff or "(no changes to tracked files yet)\n") + added
