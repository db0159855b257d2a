"""The diff a run made: so far, read from its worktree while this machine has it; and at the
end, the commit it pushed, read from Orca's mirror of the repository.

The agent can write anything inside the worktree (its `.git` file, the git admin directory
beside the mirror, nested repositories), and may still be writing while a viewer looks, so
the worktree is read through Orca's hardened git as plain files (core.snapshot): Orca's own
mirror and index, nested repositories left out, no external diff or text conversion. Web
and workers on different machines simply have no worktree here; the page then says so.

A run that ended leaves no worktree, but its one commit stays in the mirror (written there by
`jobs.workspace.commit`, and fetched back with its branch): its diff against its parent, which
is the run's base commit, or the branch's tip when the run was rebased onto it. Only git
objects are read, by the hardened git, under the mirror's own name; no worktree is involved.
"""

from __future__ import annotations

import re
from pathlib import Path

from core.errors import WorkspaceError
from core.git import git, succeeds
from core.snapshot import Worktree, index_copy_of, worktree_diff

# A page, not a download: enough to see what the agent is doing.
MAX_BYTES = 256 * 1024
TIMEOUT_SECONDS = 10
_SAFE_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_SAFE_REPO = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_SAFE_SHA = re.compile(r"^[0-9a-f]{7,64}$")
_FULL_SHA = re.compile(r"^([0-9a-f]{40}|[0-9a-f]{64})$")


def mirror_of(data_dir: Path, repository: str) -> Path | None:
    """Orca's mirror of `owner/name` as jobs.workspace lays it out, if this machine has it."""
    if not _SAFE_REPO.match(repository) or ".." in repository:
        return None
    mirror = data_dir.resolve() / "mirrors" / f"{repository}.git"
    return mirror if mirror.is_dir() else None


def worktree_paths(data_dir: Path, run_id: str, repository: str) -> tuple[Path, Path] | None:
    """(worktree, Orca's mirror of its repository) as jobs.workspace lays them out, if the
    worktree, the mirror and Orca's index of the worktree all exist."""
    mirror = mirror_of(data_dir, repository)
    if not _SAFE_ID.match(run_id) or mirror is None:
        return None
    root = data_dir.resolve()
    # A worktree lent from the pool is linked from worktrees/<run id> while its run holds it.
    worktree = (root / "worktrees" / run_id).resolve()
    inside = worktree.is_relative_to(root)
    found = inside and worktree.is_dir() and index_copy_of(worktree).is_file()
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


def diff_at_the_end(data_dir: Path, repository: str, commit: str | None,
                    max_bytes: int = MAX_BYTES) -> str | None:
    """The files the run's pushed commit changed (`--stat`) and its patch, cut at `max_bytes`;
    None when this machine has no mirror of the repository, or the mirror lacks the commit."""
    mirror = mirror_of(data_dir, repository)
    if mirror is None or not commit or not _FULL_SHA.match(commit):
        return None
    env = {"GIT_DIR": str(mirror), "GIT_OPTIONAL_LOCKS": "0"}
    if not succeeds("cat-file", "-e", f"{commit}^{{commit}}", cwd=mirror, env=env):
        return None
    try:
        text = git("diff", "--no-ext-diff", "--no-textconv", "--no-color",
                   "--ignore-submodules=all", "--stat", "--patch", f"{commit}^1", commit,
                   cwd=mirror, env=env, timeout=TIMEOUT_SECONDS, lossy=True)
    except (OSError, WorkspaceError) as exc:
        return f"(git could not read the commit: {type(exc).__name__})\n"
    if len(text) > max_bytes:
        text = text[:max_bytes] + f"\n… cut at {max_bytes // 1024} KB\n"
    return text or "(the commit changes no files)\n"
