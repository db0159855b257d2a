"""Publishing a run's work: Orca's code, never the model, commits, pushes and opens the PR."""

from __future__ import annotations

from dataclasses import dataclass, field

from github.GithubException import GithubException
from github.PullRequest import PullRequest
from github.Repository import Repository

from core.errors import PublishError, WorkspaceError
from core.git import git, succeeds
from core.snapshot import snapshot
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
    """Protected paths whose changes were undone."""
    nested: list[str] = field(default_factory=list)
    """Folders holding a git repository of their own, left out of the commit."""


def commit(workspace: Workspace, message: str, author: Author, co_author: Author | None,
           protected: tuple[str, ...] = DEFAULT_PROTECTED, left_out: tuple[str, ...] = ()
           ) -> Commit:
    """Commit everything in the worktree as one commit on the base (sha None when nothing
    changed), made from a tree Orca staged itself (core.snapshot): nothing the agent wrote
    in the git admin directory, `.git` or a nested repository plays a part, and nothing of
    `left_out` (what setup made: a virtualenv, `node_modules`).
    """
    staged = snapshot(workspace.view, protected, left_out)
    if not staged.files:
        return Commit(sha=None, files=[], dropped=staged.dropped, nested=staged.nested)
    if co_author is not None:
        message = f"{message}\n\nCo-authored-by: {co_author.name} <{co_author.email}>\n"
    sha = _commit_tree(workspace, staged.tree, workspace.base_sha, message, author, author)
    workspace.head = sha
    return Commit(sha=sha, files=staged.files, dropped=staged.dropped, nested=staged.nested)


def _commit_tree(workspace: Workspace, tree: str, parent: str, message: str, author: Author,
                 committer: Author, authored_at: str | None = None) -> str:
    """A commit object of `tree` on `parent`; no HEAD, hook or ref is involved."""
    env = {"GIT_DIR": str(workspace.mirror),
           "GIT_AUTHOR_NAME": author.name, "GIT_AUTHOR_EMAIL": author.email,
           "GIT_COMMITTER_NAME": committer.name, "GIT_COMMITTER_EMAIL": committer.email}
    if authored_at is not None:
        env["GIT_AUTHOR_DATE"] = authored_at
    return git("commit-tree", tree, "-p", parent, "-F", "-", cwd=workspace.mirror, env=env,
               stdin=message).strip()


@dataclass(frozen=True)
class Pushed:
    """Where the work went: its branch and tip, and whether it had to go elsewhere."""

    branch: str
    sha: str
    rebased: bool = False
    """The branch had moved (someone pushed) and the work was rebased onto its tip."""
    moved_aside: str | None = None
    """Why the work is on a side branch instead of `branch`, if it is."""


def push(workspace: Workspace, token: str, committer: Author, side_branch: str) -> Pushed:
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
    """Whether the run's head already has `sha` in its history (nobody else pushed meanwhile)."""
    return succeeds("merge-base", "--is-ancestor", sha, _head(workspace), cwd=workspace.mirror)


def _rebase(workspace: Workspace, onto: str, committer: Author) -> bool:
    """Replay the run's one commit onto `onto` without a worktree (`merge-tree`); False on a
    conflict, or when `onto` no longer holds the run's base (the branch was rewritten)."""
    head = _head(workspace)
    if not succeeds("merge-base", "--is-ancestor", workspace.base_sha, onto, cwd=workspace.mirror):
        return False
    merged = _merged_tree(workspace, onto, head)
    if merged is None:
        return False
    fields = git("log", "-1", "--format=%an%x00%ae%x00%ad%x00%B", "--date=raw", head,
                 cwd=workspace.mirror).split("\0", 3)
    name, email, date, message = fields
    workspace.head = _commit_tree(workspace, merged, onto, message, Author(name, email),
                                  committer, authored_at=date)
    return True


def _merged_tree(workspace: Workspace, onto: str, head: str) -> str | None:
    """The tree of `head`'s changes merged onto `onto`, or None on a conflict."""
    try:
        out = git("merge-tree", "--write-tree", "--no-messages", onto, head, cwd=workspace.mirror)
    except WorkspaceError:
        return None  # exit status 1: conflicts
    return out.splitlines()[0].strip()


def _push_to(workspace: Workspace, branch: str, token: str) -> bool:
    try:
        git("push", "--quiet", "origin", f"{_head(workspace)}:refs/heads/{branch}",
            cwd=workspace.mirror, token=token)
    except WorkspaceError as exc:
        if "rejected" in str(exc) or "fetch first" in str(exc) or "non-fast-forward" in str(exc):
            return False
        raise
    return True


def _aside(workspace: Workspace, token: str, side_branch: str, why: str) -> Pushed:
    git("push", "--quiet", "origin", f"{_head(workspace)}:refs/heads/{side_branch}",
        cwd=workspace.mirror, token=token)
    return Pushed(side_branch, _head(workspace), moved_aside=why)


def _head(workspace: Workspace) -> str:
    """The run's newest commit: its own, or the base when it made none."""
    return workspace.head or workspace.base_sha


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
