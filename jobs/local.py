"""`orca solve PATH "request"`: the same agent on a local checkout, for trying Orca out.

No GitHub, no Redis: the work happens in a temporary git worktree of the user's repository,
on a new branch `agent/local-<slug>` from HEAD, in the same sandbox and budgets as a run,
and is committed with the user's own git identity. The user's working tree is not touched.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from core.errors import RunError, WorkspaceError
from core.git import git
from core.settings import AgentSettings
from jobs import local_words as words
from jobs.agent.loop import Emit
from jobs.agent.prompt import local_task_prompt
from jobs.agent.session import SessionResult, run_session
from jobs.attempts.choice import Attempt, choose, settle
from jobs.local_words import Transcript
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
    attempts: list[Attempt] = field(default_factory=list)
    """With `--attempts`: every attempt, the picked one's branch above."""
    how: str = ""
    """With `--attempts`: how the picked one was chosen."""

    def as_record(self) -> dict[str, Any]:
        """The transcript's last line: where the work is and what it cost."""
        agent = self.session.agent
        return {"branch": self.branch, "commit": self.commit, "summary": agent.summary,
                "turns": agent.turns, "cost": agent.cost, "stopped_by": agent.stopped_by,
                "dropped": self.dropped, "nested": self.nested,
                "verification": self.session.verification or None,
                "attempts": [attempt_line(a) for a in self.attempts], "how": self.how}


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
                  log: TextIO | None = None, verify: bool = False, attempts: int = 1,
                  transcript: Transcript | None = None) -> LocalOutcome:
    """Run the agent on `request` in a worktree of `path`; the branch stays, the worktree goes.
    With `verify`, the run ends as on GitHub: Orca's tests and the fresh-context check. With
    `attempts` over one, that many verified sessions side by side, each on a branch of its
    own, and the evidence picks one (jobs.attempts.choice). Every event goes to `transcript`,
    then the outcome, or the error that ended the run."""
    watch = Watch(log or sys.stderr, transcript)
    try:
        if not path.is_dir():
            raise WorkspaceError(f"{path} is not a folder")
        outcome = (_solve_attempts(settings, path, request, watch, attempts) if attempts > 1
                   else _solve_once(settings, path, request, watch, verify))
    except BaseException as exc:  # Ctrl-C and Orca's own defects end the transcript too
        watch.record("error", {"message": str(exc) if isinstance(exc, RunError) else repr(exc)})
        raise
    watch.record("outcome", outcome.as_record())
    return outcome


def _solve_once(settings: AgentSettings, path: Path, request: str, watch: Watch,
                verify: bool) -> LocalOutcome:
    identity = user_identity(path)
    scratch = Path(tempfile.mkdtemp(prefix="orca-solve-"))
    try:
        workspace = open_worktree(path, request, scratch)
        try:
            session = run_session(settings, workspace,
                                  lambda found, test: local_task_prompt(request, found, test),
                                  watch.emit(), verify=verify)
            done = commit_as_user(workspace, request, session.agent.summary, session.protected,
                                  identity, session.left_out)
            return LocalOutcome(workspace.branch, done.sha, done.dropped, session, done.nested)
        finally:
            remove_worktree(workspace)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _solve_attempts(settings: AgentSettings, path: Path, request: str, watch: Watch,
                    count: int) -> LocalOutcome:
    identity = user_identity(path)
    scratch = Path(tempfile.mkdtemp(prefix="orca-solve-"))
    tried: list[Attempt] = []
    try:
        for number in range(1, count + 1):
            tried.append(Attempt(number, open_worktree(path, request, scratch)))
        with ThreadPoolExecutor(max_workers=count, thread_name_prefix="orca-attempt") as pool:
            list(pool.map(lambda a: _attempt(settings, a, request, identity, watch), tried))
        finished = [a for a in tried if a.session is not None]
        if not finished:
            said = "; ".join(f"attempt {a.number}: {a.error}" for a in tried)
            raise WorkspaceError(f"none of the {count} attempts finished ({said})")
        changed = [a for a in finished if a.changed]
        winner, how, _ = (choose(settings, request, changed, watch.emit()) if changed
                          else (finished[0], "", None))
        assert winner.session is not None and winner.done is not None
        return LocalOutcome(winner.workspace.branch, winner.done.sha, winner.done.dropped,
                            winner.session, winner.done.nested, tried, how)
    finally:
        for attempt in tried:
            remove_worktree(attempt.workspace)
        shutil.rmtree(scratch, ignore_errors=True)


def _attempt(settings: AgentSettings, attempt: Attempt, request: str, identity: Author,
             watch: Watch) -> None:
    """One verified session and its commit; a failure stays with its attempt."""
    workspace = attempt.workspace
    try:
        session = run_session(settings, workspace,
                              lambda found, test: local_task_prompt(request, found, test),
                              watch.emit(attempt.number), verify=True)
        settle(attempt, session, commit_as_user(workspace, request, session.agent.summary,
                                                session.protected, identity, session.left_out))
    except RunError as exc:
        attempt.state, attempt.error = "failed", str(exc)


def attempt_line(attempt: Attempt) -> str:
    """One attempt of `orca solve --attempts`, for the summary: state, tests, size, branch."""
    row = attempt.row()
    tests = ""
    if attempt.session is not None and attempt.session.checks is not None:
        tests = " · " + ("tests regressed" if attempt.regressed else "no test regression")
    size_said = f" · +{row.added} −{row.removed}" if attempt.changed else ""
    failed = f": {attempt.error}" if attempt.error else ""
    return f"attempt {attempt.number}: {attempt.state}{failed}{tests}{size_said} · {attempt.workspace.branch}"


@dataclass
class Watch:
    """Where a session's events go: progress lines to `log` (each prefixed by its attempt under
    `--attempts`), and every event to the transcript, if one was asked for."""

    log: TextIO
    transcript: Transcript | None = None

    def emit(self, attempt: int | None = None) -> Emit:
        prefix = f"[{attempt}] " if attempt is not None else ""

        def emit(kind: str, data: dict[str, Any]) -> None:
            if (said := words.line(kind, data)) is not None:
                print(f"{prefix}{said}", file=self.log, flush=True)
            self.record(kind, data, attempt)

        return emit

    def record(self, kind: str, data: dict[str, Any], attempt: int | None = None) -> None:
        if self.transcript is not None:
            self.transcript.write(kind, data, attempt)
