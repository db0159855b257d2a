"""`orca solve PATH "request"`: the same agent on a local checkout, for trying Orca out.

No GitHub, no Redis: the work happens in a temporary git worktree of the user's repository,
on a new branch `agent/local-<slug>` from HEAD, in the same sandbox and budgets as a run,
and is committed with the user's own git identity. The user's working tree is not touched.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from core.errors import WorkspaceError
from core.git import git
from core.settings import AgentSettings
from jobs.agent.prompt import local_task_prompt
from jobs.agent.session import SessionResult, run_session
from jobs.workspace import Workspace, keep_index, remove_worktree, slugify
from jobs.workspace.commit import Author, Commit, commit

# A commit subject line past 72 characters wraps badly in `git log` and on GitHub.
SUBJECT_LENGTH = 72


@dataclass
class LocalOutcome:
    """What `orca solve` did: the branch, its commit (None if nothing changed), the session."""

    branch: str
    commit: str | None
    dropped: list[str]
    session: SessionResult
    nested: list[str]


def free_branch(repository: Path, name: str) -> str:
    """`name`, or `name-2`, `name-3`... whichever does not exist yet."""
    candidate, n = name, 1
    while git("rev-parse", "--verify", "--quiet", f"refs/heads/{candidate}", cwd=repository,
              check=False).strip():
        n += 1
        candidate = f"{name}-{n}"
    return candidate


def open_worktree(path: Path, request: str, scratch: Path) -> Workspace:
    """A worktree of the repository at `path`, on a new agent branch from HEAD."""
    top = Path(git("rev-parse", "--show-toplevel", cwd=path).strip())
    common = Path(git("rev-parse", "--path-format=absolute", "--git-common-dir", cwd=top).strip())
    base_sha = git("rev-parse", "HEAD", cwd=top).strip()
    branch = free_branch(top, f"agent/local-{slugify(request)}")
    # A unique name: git names the worktree's admin folder after it (see Workspace.admin_dir).
    worktree = scratch / f"orca-{uuid.uuid4().hex[:12]}"
    git("worktree", "add", "--quiet", "-b", branch, str(worktree), base_sha, cwd=top)
    keep_index(common / "worktrees" / worktree.name, worktree)
    return Workspace(mirror=common, path=worktree, branch=branch, base_sha=base_sha)


def user_identity(repository: Path) -> Author:
    """The person's own git identity, read from their config before any sandbox runs (Orca's
    git reads no global config later, so the commit names it explicitly)."""
    values = []
    for key in ("user.name", "user.email"):
        value = git("config", "--get", key, cwd=repository, check=False, user_config=True).strip()
        if not value:
            raise WorkspaceError(f"git has no {key} for {repository}; set it with "
                                 f"`git config --global {key} ...`, as for any commit")
        values.append(value)
    return Author(*values)


def commit_as_user(workspace: Workspace, request: str, summary: str,
                   protected: tuple[str, ...], identity: Author,
                   left_out: tuple[str, ...] = ()) -> Commit:
    """Commit the work as the user (jobs.workspace.commit, no co-author), without what setup
    made, and move the agent branch to it."""
    subject = request.strip().splitlines()[0][:SUBJECT_LENGTH] if request.strip() else "Orca's change"
    message = f"{subject}\n\n{summary}\n" if summary else subject
    done = commit(workspace, message, author=identity, co_author=None, protected=protected,
                  left_out=left_out)
    if done.sha is not None:
        git("update-ref", f"refs/heads/{workspace.branch}", done.sha, workspace.base_sha,
            cwd=workspace.mirror, env={"GIT_DIR": str(workspace.mirror)})
    return done


def solve_locally(settings: AgentSettings, path: Path, request: str,
                  log: TextIO | None = None, verify: bool = False) -> LocalOutcome:
    """Run the agent on `request` in a worktree of `path`; the branch stays, the worktree goes.
    With `verify`, the run ends as on GitHub: Orca's tests and the fresh-context check."""
    identity = user_identity(path)
    scratch = Path(tempfile.mkdtemp(prefix="orca-solve-"))
    workspace = open_worktree(path, request, scratch)
    try:
        session = run_session(settings, workspace,
                              lambda found, test: local_task_prompt(request, found, test),
                              _progress(log or sys.stderr), verify=verify)
        done = commit_as_user(workspace, request, session.agent.summary, session.protected,
                              identity, session.left_out)
        return LocalOutcome(workspace.branch, done.sha, done.dropped, session, done.nested)
    finally:
        remove_worktree(workspace)
        shutil.rmtree(scratch, ignore_errors=True)


def _progress(log: TextIO):
    """Events as short progress lines: each command the agent runs, each turn's figures."""

    def emit(kind: str, data: dict[str, Any]) -> None:
        if kind == "tool":
            given = data["input"]
            shown = (given.get("command") if data["name"] == "bash"
                     else f"{given.get('command')} {given.get('path')}")
            print(f"  {data['name']}: {shown}", file=log)
        elif kind == "model":
            spent = data["spent"]
            dollars = f"${spent['dollars']:.2f}" if spent["dollars"] is not None else "cost unknown"
            what = "fresh-context check" if data.get("purpose") == "check" else f"turn {spent['turns']}"
            print(f"{what}: {spent['tokens']:,} tokens, {dollars}", file=log)
        elif kind in ("setup", "context", "stopped"):
            print(f"{kind}: {json.dumps(data)[:300]}", file=log)

    return emit
