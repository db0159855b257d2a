"""Publishing a run's work: Orca's code, never the model, commits, pushes and opens the PR."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field

from github.GithubException import GithubException
from github.PullRequest import PullRequest
from github.Repository import Repository

from jobs.errors import PublishError
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


def changed_files(workspace: Workspace) -> list[str]:
    """Every path that differs from the base commit, untracked files included."""
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


def push(workspace: Workspace, token: str) -> None:
    """Push the run's branch. Never forced: the worktree starts from the branch's tip."""
    refspec = f"HEAD:refs/heads/{workspace.branch}"
    git("push", "--quiet", "origin", refspec, cwd=workspace.path, token=token)


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
