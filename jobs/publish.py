"""Publishing a run's work: Orca's code, never the model, commits, pushes and opens the PR."""

from __future__ import annotations

import fnmatch
import shutil
import subprocess
from dataclasses import dataclass, field

from github.GithubException import GithubException
from github.PullRequest import PullRequest
from github.Repository import Repository

from jobs.errors import PublishError, WorkspaceError
from jobs.git import git
from jobs.workspace import Workspace

# Changing CI definitions needs the `workflows` permission, which Orca does not ask for,
# and a workflow edit by an agent is a way to run code with the repository's secrets.
DEFAULT_PROTECTED = (".github/workflows/*",)


@dataclass(frozen=True)
class Author:
    name: str
    email: str


@dataclass
class Commit:
    """What landed on the branch: the sha, the files, and what was dropped."""

    sha: str | None
    """None when nothing was left to commit."""
    files: list[str]
    dropped: list[str] = field(default_factory=list)


def reclaim_git_dir(workspace: Workspace) -> None:
    """Point the worktree at its admin dir, and that at Orca's mirror, again.

    The sandbox can write the worktree's `.git` file and the admin dir; aimed at a git dir the
    agent made, they would hand Orca's git, which runs on the host and pushes with the token,
    the agent's hooks, filters and remotes. Call it before Orca's git reads the worktree.
    Replaced, not written through: either may now be a symlink or a directory."""
    for path, pointer in ((workspace.path / ".git", f"gitdir: {workspace.admin_dir}\n"),
                          (workspace.admin_dir / "commondir", "../..\n")):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
        path.write_text(pointer)


def changed_files(workspace: Workspace) -> list[str]:
    """Every path that differs from the base commit, untracked files included."""
    reclaim_git_dir(workspace)
    git("add", "--all", cwd=workspace.path)
    out = git("diff", "--cached", "--name-only", "-z", workspace.base_sha, cwd=workspace.path)
    return [name for name in out.split("\0") if name]


def drop_protected(workspace: Workspace, files: list[str], protected: tuple[str, ...]) -> list[str]:
    """Undo changes to protected paths; returns the paths that were dropped."""
    dropped = [f for f in files if any(fnmatch.fnmatch(f, pattern) for pattern in protected)]
    for path in dropped:
        git("rm", "--cached", "--quiet", "--ignore-unmatch", "--", path, cwd=workspace.path)
        if git("cat-file", "-t", f"{workspace.base_sha}:{path}", cwd=workspace.path, check=False).strip():
            git("checkout", workspace.base_sha, "--", path, cwd=workspace.path)
    return dropped


def commit(workspace: Workspace, message: str, author: Author | None, co_author: Author | None,
           protected: tuple[str, ...] = DEFAULT_PROTECTED) -> Commit:
    """Commit everything in the worktree as one commit (sha None when nothing changed).

    `author` None keeps the repository's own git identity (`orca solve` on a user's
    checkout). Hooks are always off: the agent could have written them, and they would
    run outside the sandbox.
    """
    files = changed_files(workspace)
    dropped = drop_protected(workspace, files, protected)
    kept = [f for f in files if f not in dropped]
    if not kept:
        return Commit(sha=None, files=[], dropped=dropped)
    if co_author is not None:
        message = f"{message}\n\nCo-authored-by: {co_author.name} <{co_author.email}>\n"
    config = ["core.hooksPath=/dev/null"]
    if author is not None:
        config += [f"user.name={author.name}", f"user.email={author.email}", "commit.gpgSign=false"]
    args = [arg for pair in config for arg in ("-c", pair)]
    git(*args, "commit", "--quiet", "--no-verify", "-m", message, cwd=workspace.path)
    sha = git("rev-parse", "HEAD", cwd=workspace.path).strip()
    return Commit(sha=sha, files=kept, dropped=dropped)


@dataclass(frozen=True)
class Pushed:
    """Where the work went: its branch and tip, and whether it had to go elsewhere."""

    branch: str
    sha: str
    rebased: bool = False
    """The branch had moved (someone pushed) and the work was rebased onto its tip."""
    moved_aside: str | None = None
    """Why the work is on a side branch instead of `branch`, if it is."""


def push(workspace: Workspace, token: str, committer: Author | None, side_branch: str) -> Pushed:
    """Push the run's commits to its branch without ever forcing.

    Someone may have pushed to the branch during the run (a PR's author, a reviewer):
    fetch it, rebase the run's commits onto its tip, and push. If the rebase conflicts or
    the push is still refused, the work goes to `side_branch` instead, and `moved_aside`
    says why. Nothing is lost and nobody's commits are overwritten.
    """
    branch = workspace.branch
    rebased = False
    for _attempt in range(2):
        tip = _fetch_branch(workspace, branch, token)
        if tip is not None and not _contains(workspace, tip):
            if not _rebase(workspace, tip, committer):
                return _aside(workspace, token, side_branch,
                              f"`{branch}` changed during the run in a way that conflicts with this work")
            rebased = True
        if _push_to(workspace, branch, token):
            return Pushed(branch, _head(workspace), rebased)
    return _aside(workspace, token, side_branch, f"GitHub refused the push to `{branch}` twice")


def _fetch_branch(workspace: Workspace, branch: str, token: str) -> str | None:
    """The remote branch's tip now, or None if it does not exist yet."""
    ref = f"refs/remotes/origin/{branch}"
    git("fetch", "--quiet", "origin", f"+refs/heads/{branch}:{ref}", cwd=workspace.mirror,
        token=token, check=False)
    return git("rev-parse", "--verify", "--quiet", ref, cwd=workspace.mirror, check=False).strip() or None


def _contains(workspace: Workspace, sha: str) -> bool:
    """Whether HEAD already has `sha` in its history (nobody else pushed meanwhile)."""
    done = subprocess.run(["git", "merge-base", "--is-ancestor", sha, "HEAD"], cwd=workspace.path,
                          capture_output=True, check=False)
    return done.returncode == 0


def _rebase(workspace: Workspace, onto: str, committer: Author | None) -> bool:
    """Replay the run's commits (base..HEAD) onto `onto`; False (and undone) on conflict."""
    identity = [] if committer is None else [
        "-c", f"user.name={committer.name}", "-c", f"user.email={committer.email}"]
    args = [*identity, "-c", "core.hooksPath=/dev/null", "-c", "commit.gpgSign=false"]
    try:
        git(*args, "rebase", "--quiet", "--onto", onto, workspace.base_sha, cwd=workspace.path)
    except WorkspaceError:
        git("rebase", "--abort", cwd=workspace.path, check=False)
        return False
    return True


def _push_to(workspace: Workspace, branch: str, token: str) -> bool:
    try:
        git("push", "--quiet", "origin", f"HEAD:refs/heads/{branch}", cwd=workspace.path, token=token)
    except WorkspaceError as exc:
        if "rejected" in str(exc) or "fetch first" in str(exc) or "non-fast-forward" in str(exc):
            return False
        raise
    return True


def _aside(workspace: Workspace, token: str, side_branch: str, why: str) -> Pushed:
    git("push", "--quiet", "origin", f"HEAD:refs/heads/{side_branch}", cwd=workspace.path, token=token)
    return Pushed(side_branch, _head(workspace), moved_aside=why)


def _head(workspace: Workspace) -> str:
    return git("rev-parse", "HEAD", cwd=workspace.path).strip()


def open_or_update_pull(repo: Repository, branch: str, base: str, title: str, body: str,
                        draft: bool = False) -> PullRequest:
    """The open PR from `branch`, with its body refreshed, or a new one."""
    owner = repo.owner.login
    try:
        for pull in repo.get_pulls(state="open", head=f"{owner}:{branch}"):
            pull.edit(body=body)
            return pull
        return repo.create_pull(base=base, head=branch, title=title, body=body, draft=draft)
    except GithubException as exc:
        message = exc.data.get("message") if isinstance(exc.data, dict) else exc.data
        raise PublishError(f"GitHub refused the pull request ({exc.status}: {message})") from exc
