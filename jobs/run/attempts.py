"""Steps 6–9 for a request with several attempts (`--attempts N`, `attempts:` in the config).

The attempts start together, each in a worktree of its own from the same base commit, each an
agent session with its own budgets (jobs.agent.session, its tests and fresh-context check
included), side by side in this run's process; the tracking comment shows each one's state.
One that fails does not sink the others, and `/agent stop` stops them all (they share the
run's stop). Then the choice (jobs.attempts.judge): no test regression first, then a judging
model call, then the smaller diff. Every attempt that changed files is pushed as
`agent/attempts/<issue>/<k>`; the winner becomes the pull request through the usual publish,
with the Attempts table in its body.

`/agent use attempt <k>` on that pull request (`use_attempt`) moves it to attempt k with a new
commit on its branch: never a force-push.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from core.errors import Cancelled, PublishError, RunError
from core.git import git
from core.pricing import Usage
from core.stops import StopSignal
from jobs.agent.session import SessionResult
from jobs.attempts.choice import Attempt, choose, settle
from jobs.attempts.words import branch_for, progress, table
from jobs.context import RunContext
from jobs.github import RUN_PERMISSIONS, BotIdentity, report
from jobs.github.branches import ISSUE_BRANCH
from jobs.github.pull_request import Finished, publish
from jobs.task.read import Task
from jobs.workspace import Workspace, borrow_worktree, return_worktree
from jobs.workspace.commit import Author, Commit
from jobs.workspace.config import ConfigError, load_config

Session = Callable[[Workspace, Callable[[str, dict[str, Any]], None]], tuple[SessionResult, Commit]]
"""One attempt's agent session and commit, in a worktree, with its own event emitter."""


class AttemptsFailed(RunError):
    """No attempt got as far as a result."""

    retry_hint = "Comment `/agent retry` to try again."


class NoSuchAttempt(RunError):
    """`/agent use attempt <k>` names an attempt this pull request does not have."""

    retry_hint = "The pull request's Attempts table lists the attempts it has."


def attempts_for(ctx: RunContext, mirror: Any, task: Task) -> int:
    """How many attempts this run makes: the command's `--attempts`, or the config's for a
    label, at most ORCA_MAX_ATTEMPTS; one on a pull request."""
    t = ctx.trigger
    if t.is_pull_request or task.pull_number is not None:
        return 1
    if t.kind == "command":
        return max(1, min(t.attempts, ctx.settings.max_attempts))
    if t.kind != "label":
        return 1
    try:
        asked = load_config(mirror, f"refs/remotes/origin/{task.base}").attempts
    except ConfigError:
        return 1  # the session reads the config again and says what is wrong with it
    return max(1, min(asked, ctx.settings.max_attempts))


def work_attempts(ctx: RunContext, stop: StopSignal, mirror: Any, task: Task, count: int,
                  bot: BotIdentity, started: float, session: Session, emit: Callable) -> dict[str, Any]:
    """Steps 6–9 with `count` attempts; returns the outcome for the run record."""
    s = ctx.settings
    attempts: list[Attempt] = []
    try:
        for number in range(1, count + 1):
            workspace = borrow_worktree(mirror, s.data_dir, f"{ctx.run_id}-{number}", task.branch,
                                        task.start, s.worktree_pool)
            attempts.append(Attempt(number, workspace))
        ctx.emit("workspace", {"branch": task.branch, "base": task.base, "start": task.start,
                               "base_sha": attempts[0].workspace.base_sha,
                               "continued": task.follow_up, "attempts": count})
        board = _Board(ctx, attempts)
        with ThreadPoolExecutor(max_workers=count, thread_name_prefix="orca-attempt") as pool:
            list(pool.map(lambda a: _one(ctx, a, session, emit, board), attempts))
        if stop.is_set() and not stop.push:
            raise Cancelled(stop.reason)
        return _publish(ctx, task, attempts, bot, started, emit)
    finally:
        for attempt in attempts:
            return_worktree(attempt.workspace)


def _one(ctx: RunContext, attempt: Attempt, session: Session, emit: Callable,
         board: _Board) -> None:
    """One attempt, start to commit; what goes wrong stays with it."""
    attempt.state = "running"
    board.show()

    def tagged(kind: str, data: dict[str, Any]) -> None:
        emit(kind, {**data, "attempt": attempt.number})

    try:
        settle(attempt, *session(attempt.workspace, tagged))
    except Cancelled:
        attempt.state = "stopped"
    except Exception as exc:  # noqa: BLE001 (one attempt's failure is its own)
        attempt.state, attempt.error = "failed", ctx.redactor.text(str(exc) or type(exc).__name__)
        ctx.log("attempt %d failed: %r", attempt.number, exc)
        tagged("attempt_failed", {"reason": attempt.error, "type": type(exc).__name__})
    board.show()


class _Board:
    """The tracking comment while the attempts run: one line each, edited as they move."""

    def __init__(self, ctx: RunContext, attempts: Sequence[Attempt]) -> None:
        self.ctx, self.attempts, self.lock = ctx, attempts, threading.Lock()
        self.client = ctx.client_for_replies() if ctx.tracking_comment_id else None

    def show(self) -> None:
        if self.client is None:
            return
        with self.lock:
            body = progress(self.ctx.trigger.requester, [a.row() for a in self.attempts],
                            report.footer(self.ctx.run_id))
            try:
                with self.ctx.comment_lock():
                    self.ctx.tracking_comment(self.client).edit(body)
            except Exception as exc:  # noqa: BLE001 (progress is never worth a run)
                self.ctx.log("could not show the attempts' progress: %r", exc)


def _publish(ctx: RunContext, task: Task, attempts: list[Attempt], bot: BotIdentity,
             started: float, emit: Callable) -> dict[str, Any]:
    finished = [a for a in attempts if a.session is not None]
    if not finished:
        said = "; ".join(f"attempt {a.number}: {a.error or a.state}" for a in attempts)
        raise AttemptsFailed(f"none of the {len(attempts)} attempts finished ({said}).")
    changed = [a for a in finished if a.changed]
    token = ctx.mint(RUN_PERMISSIONS)
    for attempt in changed:
        attempt.branch = branch_for(ctx.trigger.number, attempt.number)
        # Orca's own scratch branches, replaced by the next request's attempts.
        git("push", "--quiet", "origin", f"+{attempt.done.sha}:refs/heads/{attempt.branch}",
            cwd=attempt.workspace.mirror, token=token)
    request_text = task.request or f"{task.title}\n\n{task.body}"
    winner, how, judged = (choose(ctx.settings, request_text, changed, emit) if changed
                           else (finished[0], "", None))
    figures = _figures(attempts, judged, started, winner)
    section = table([a.row() for a in attempts], winner.number, how) if changed else ""
    ctx.emit("attempts", {"winner": winner.number, "how": how,
                          "attempts": [{"number": a.number, "state": a.state,
                                        "regressed": a.regressed, "added": a.added,
                                        "removed": a.removed, "branch": a.branch,
                                        "cost": a.session.agent.cost if a.session else None}
                                       for a in attempts]})
    outcome = publish(Finished(ctx, winner.workspace, task, winner.session, winner.done, figures,
                               bot, attempts=section))
    outcome.update(cost=figures.cost, turns=figures.turns, tokens=figures.usage.total,
                   attempts=len(attempts), winner=winner.number)
    return outcome


def _figures(attempts: list[Attempt], judged: float | None, started: float,
             winner: Attempt) -> report.Figures:
    """The run's figures: every attempt's turns, tokens and dollars, and the judge's."""
    usage, turns, dollars, bounds = Usage(), 0, judged or 0.0, {}
    for a in attempts:
        if a.session is None:
            continue
        usage.add(a.session.agent.usage)
        turns += a.session.agent.turns
        dollars = None if dollars is None or a.session.agent.cost is None else dollars + a.session.agent.cost
        for name, hits in a.session.bounds.items():
            bounds[name] = bounds.get(name, 0) + hits
    phases = winner.session.phases if winner.session else ""
    return report.Figures(turns, usage, dollars, time.time() - started, bounds, phases)


def use_attempt(ctx: RunContext, token: str, mirror: Any, task: Task, bot: BotIdentity,
                co_author: Author) -> dict[str, Any]:
    """`/agent use attempt <k>`: a commit on the pull request's branch whose files are attempt
    k's, pushed as a fast-forward."""
    t = ctx.trigger
    found = ISSUE_BRANCH.match(task.branch)
    attempt_branch = branch_for(int(found["n"]), t.attempt) if found else None
    sha = attempt_branch and git("rev-parse", "--verify", "--quiet",
                                 f"refs/remotes/origin/{attempt_branch}^{{commit}}", cwd=mirror,
                                 check=False).strip()
    if not sha:
        raise NoSuchAttempt(f"this pull request has no attempt {t.attempt}"
                            + (f" (no branch `{attempt_branch}`)." if attempt_branch else
                               ": it was not made from attempts."))
    head = git("rev-parse", f"refs/remotes/origin/{task.branch}^{{commit}}", cwd=mirror).strip()
    tree = git("rev-parse", f"{sha}^{{tree}}", cwd=mirror).strip()
    if git("rev-parse", f"{head}^{{tree}}", cwd=mirror).strip() == tree:
        ctx.finish_comment(f"✅ Pull request #{t.number} already holds attempt {t.attempt}'s "
                           f"files; nothing to push.\n\n{report.footer(ctx.run_id)}")
        return {}
    env = {"GIT_DIR": str(mirror), "GIT_AUTHOR_NAME": bot.login, "GIT_AUTHOR_EMAIL": bot.email,
           "GIT_COMMITTER_NAME": bot.login, "GIT_COMMITTER_EMAIL": bot.email}
    message = (f"Use attempt {t.attempt} (`{attempt_branch}`)\n\n"
               f"Co-authored-by: {co_author.name} <{co_author.email}>\n")
    commit = git("commit-tree", tree, "-p", head, "-F", "-", cwd=mirror, env=env,
                 stdin=message).strip()
    try:
        git("push", "--quiet", "origin", f"{commit}:refs/heads/{task.branch}", cwd=mirror,
            token=token)
    except RunError as exc:
        raise PublishError(f"GitHub refused the push to `{task.branch}` (it may have moved "
                           "since); nothing was changed") from exc
    ctx.finish_comment(f"✅ Moved #{t.number} to attempt {t.attempt}: pushed `{commit[:7]}` to "
                       f"`{task.branch}`, with attempt {t.attempt}'s files from "
                       f"`{attempt_branch}`.\n\n{report.footer(ctx.run_id)}")
    return {"commit": commit, "branch": task.branch}
