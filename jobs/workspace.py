"""The run's workspace: a bare mirror per repository, a git worktree per run.

The mirror lives under `ORCA_DATA_DIR/mirrors/<owner>/<repo>.git` and is refreshed with
`git fetch`; each run gets `ORCA_DATA_DIR/worktrees/<run id>` at the exact base commit.
Parallel runs share the mirror's objects, and a file lock serialises fetches of one
repository so they do not fight over its refs.
"""

from __future__ import annotations

import fcntl
import re
import shutil
import unicodedata
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from jobs.git import git

# Branch names stay readable in GitHub's UI: a short slug of the issue title.
SLUG_LENGTH = 40


def slugify(title: str) -> str:
    """`Fix the flaky test!` → `fix-the-flaky-test`: ASCII, lowercase, at most 40 chars."""
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")
    return slug[:SLUG_LENGTH].rstrip("-") or "task"


def issue_branch(number: int, title: str) -> str:
    """The deterministic branch for an issue: `agent/issue-<n>-<slug>`."""
    return f"agent/issue-{number}-{slugify(title)}"


@dataclass
class Workspace:
    """A checked-out worktree for one run."""

    mirror: Path
    path: Path
    branch: str
    base_sha: str

    @property
    def admin_dir(self) -> Path:
        """The worktree's own git directory inside the mirror (index, HEAD)."""
        return self.mirror / "worktrees" / self.path.name


@contextmanager
def _locked(mirror: Path) -> Iterator[None]:
    lock_path = mirror.with_suffix(".lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def refresh_mirror(data_dir: Path, full_name: str, url: str, token: str) -> Path:
    """Create or update the bare mirror of a repository; returns its path."""
    mirror = data_dir.resolve() / "mirrors" / f"{full_name}.git"
    with _locked(mirror):
        if not (mirror / "HEAD").exists():
            mirror.mkdir(parents=True, exist_ok=True)
            git("init", "--bare", "--quiet", cwd=mirror)
            git("remote", "add", "origin", url, cwd=mirror)
        # Branches only: refs/pull/* on a busy repository is thousands of refs.
        git("fetch", "--prune", "--quiet", "origin", "+refs/heads/*:refs/remotes/origin/*",
            cwd=mirror, token=token)
    return mirror


def add_worktree(mirror: Path, data_dir: Path, run_id: str, branch: str, base: str) -> Workspace:
    """A new worktree for the run, bound for `branch`, starting at `origin/<base>`."""
    path = data_dir.resolve() / "worktrees" / run_id
    path.parent.mkdir(parents=True, exist_ok=True)
    # A retried run (its worker died) finds its old worktree still there.
    shutil.rmtree(path, ignore_errors=True)
    with _locked(mirror):
        git("worktree", "prune", cwd=mirror)
        base_sha = git("rev-parse", f"refs/remotes/origin/{base}", cwd=mirror).strip()
        # Detached: two runs may work toward the same branch (an issue's follow-up and a
        # command on its PR), and git refuses one branch in two worktrees. The push names it.
        git("worktree", "add", "--quiet", "--detach", str(path), base_sha, cwd=mirror)
    return Workspace(mirror=mirror, path=path, branch=branch, base_sha=base_sha)


def remove_worktree(workspace: Workspace) -> None:
    """Drop the worktree; the branch stays in the mirror until the next prune."""
    with _locked(workspace.mirror):
        git("worktree", "remove", "--force", str(workspace.path), cwd=workspace.mirror, check=False)
    shutil.rmtree(workspace.path, ignore_errors=True)
