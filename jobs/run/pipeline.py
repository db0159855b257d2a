"""A run's work, on the runs queue: its steps in the order they happen.

 0. yield     acknowledgements first: a burst of labels gets its 👀s before its runs start
 1. hold      one process per run (jobs.run.lease)
 2. wanted?   ended already, stopped while queued, or past the daily budget: end here
 3. start     running; a comment that said "waiting" now says "working"
 4. gate      write access asked again: it may have been revoked while the run waited
 5. task      the issue or pull request, its branch and context (jobs.task)
 6. workspace the mirror fetched, a worktree borrowed from the pool (jobs.workspace)
 7. agent     config → sandbox → setup → the loop (jobs.agent.session)
 8. commit    the worktree read as plain files and committed by Orca (jobs.workspace.commit)
 9. publish   push, open or update the PR or answer the review, finish the comment
              (jobs.github.pull_request)

The same steps serve an issue (label or `/agent`), a command on a pull request and a review
round. A `RunError` from any step after the start ends the run with a comment that says what
happened (jobs.run.endings).
"""

from __future__ import annotations

import time
from typing import Any

import redis

from core.errors import Cancelled, NotAllowed, RunError
from core.places import schedule_refresh
from core.queues import acknowledgements_pending
from core.runs import ACTIVE, Run, Status
from core.stops import StopSignal, watching
from core.triggers import Kind
from jobs.agent.loop import Emit
from jobs.agent.prompt import Brief, task_prompt
from jobs.agent.session import SessionResult, run_session
from jobs.agent.setup import SetupPlan
from jobs.context import RunContext
from jobs.github import (
    CI_PERMISSIONS,
    RUN_PERMISSIONS,
    BotIdentity,
    noreply_email,
    report,
)
from jobs.github.pull_request import Finished, publish
from jobs.run import endings, plan, review, spending
from jobs.run.attempts import attempts_for, use_attempt, work_attempts
from jobs.run.lease import holding
from jobs.steer.fleets import moved
from jobs.task.gate import require_write
from jobs.task.read import Task, ci_request, read_task
from jobs.verify.cache import BaseResults
from jobs.workspace import Workspace, borrow_worktree, refresh_mirror, return_worktree
from jobs.workspace.commit import Author, Commit, commit
from jobs.workspace.environments import EnvironmentStore

# How long a run waits at most for the acknowledgements under way or queued before it starts:
# a 👀 is a promise of a second, a run's start is not (bench/fleet.py: fifty runs starting at
# once took the CPU from the acknowledgements of the same burst).
ACKNOWLEDGEMENTS_FIRST_SECONDS = 3.0
_YIELD_POLL_SECONDS = 0.25


def run_steps(ctx: RunContext) -> None:
    """Steps 0–9; the run ends with its comment saying how, whatever happens after step 3."""
    acknowledgements_first(ctx.redis)
    with holding(ctx.redis, ctx.run_id):
        run = ctx.store.load(ctx.run_id)
        if not _still_wanted(ctx, run):
            return
        _start(ctx, run)
        try:
            with watching(ctx.store, ctx.run_id) as stop:
                outcome = work(ctx, stop)
        except Cancelled as exc:
            endings.cancelled(ctx, exc)
        except NotAllowed as exc:
            endings.no_longer_allowed(ctx, str(exc))
        except Exception as exc:
            known = endings.named(exc)
            endings.failed(ctx, known)
            if not isinstance(known, RunError):
                raise
        else:
            ctx.finish(Status.DONE, **outcome)
            if outcome.get("commit"):  # CI on it is Orca's to follow (jobs.steer.ci)
                ctx.store.mark_pushed(ctx.trigger.repository, outcome["commit"], ctx.run_id)


def acknowledgements_first(connection: redis.Redis,
                           most: float = ACKNOWLEDGEMENTS_FIRST_SECONDS) -> float:
    """Wait while the fast queue has work or an acknowledgement is under way, up to `most`
    seconds; returns the seconds waited."""
    started = time.monotonic()
    while acknowledgements_pending(connection) and time.monotonic() - started < most:
        time.sleep(_YIELD_POLL_SECONDS)
    return time.monotonic() - started


def _still_wanted(ctx: RunContext, run: Run | None) -> bool:
    if run is None or run.status not in ACTIVE:
        # Ended already, and said so: stopped while queued (core.stops), or failed and now
        # retried by RQ, whose Retry serves dead workers but cannot tell them from errors.
        return False
    if run.stop is not None:
        endings.cancelled(ctx, Cancelled(run.stop.reason))
        return False
    return not spending.refused_at_start(ctx)


def _start(ctx: RunContext, run: Run) -> None:
    """Mark the run running; a comment that said it was waiting now says it is working.

    The edit is made under the comment's lock after the status changed, so a place being
    shown at the same moment cannot land after it."""
    ctx.store.start(ctx.run_id, {"installation": ctx.trigger.installation_id})
    schedule_refresh(ctx.redis)  # the runs behind it moved up
    moved(ctx.redis, ctx.trigger.target)  # a sub-issue's run: its parent's checklist says so
    if not ctx.tracking_comment_id:
        return
    with ctx.comment_lock():
        now = ctx.store.load(ctx.run_id) or run
        if now.waited_for or now.place:
            ctx.tracking_comment(ctx.client_for_replies()).edit(
                report.working(ctx.run_id, ctx.trigger.requester))


def work(ctx: RunContext, stop: StopSignal) -> dict[str, Any]:
    """Steps 4–9; returns the outcome for the run record. A review of a pull request has
    steps of its own from here (jobs.run.review): it reads, runs and posts, and pushes nothing."""
    if ctx.trigger.kind == Kind.PR_REVIEW:
        return review.work(ctx, stop)
    if ctx.trigger.kind == Kind.PLAN:  # read-only too: a plan, recorded (jobs.run.plan)
        return plan.work(ctx, stop)
    started, t, s = time.time(), ctx.trigger, ctx.settings
    token = ctx.mint({**RUN_PERMISSIONS, **(CI_PERMISSIONS if t.kind == Kind.FIX_CI else {})})
    client = ctx.client(token)
    require_write(t, client, quiet=True)
    repo = client.get_repo(t.repository)
    bot = ctx.app.identity(client, ctx.redis)
    mirror = refresh_mirror(s.data_dir, t.repository, s.clone_url(t.repository), token)
    task = read_task(t, repo, mirror)
    if t.kind == Kind.FIX_CI:
        task.request = ci_request(client, t, task)
    if t.kind == Kind.USE_ATTEMPT:
        return use_attempt(ctx, token, mirror, task, bot, co_author(ctx))
    if (count := attempts_for(ctx, mirror, task)) > 1:
        emit = spending.metered(ctx)
        return work_attempts(ctx, stop, mirror, task, count, bot, started,
                             lambda workspace, tagged: _session_and_commit(ctx, workspace, task,
                                                                           stop, bot, tagged),
                             emit)
    workspace = borrow_worktree(mirror, s.data_dir, ctx.run_id, task.branch, task.start,
                                s.worktree_pool)
    ctx.emit("workspace", {"branch": task.branch, "base": task.base, "start": task.start,
                           "base_sha": workspace.base_sha, "continued": task.follow_up,
                           "threads": len(task.threads)})
    try:
        session = agent(ctx, workspace, task, stop)
        if stop.is_set() and not stop.push:
            raise Cancelled(stop.reason)
        done = _commit(ctx, workspace, task, bot, session)
        figures = report.Figures(session.agent.turns, session.agent.usage, session.agent.cost,
                                 time.time() - started, session.bounds, session.phases)
        return publish(Finished(ctx, workspace, task, session, done, figures, bot))
    finally:
        return_worktree(workspace)


def _commit(ctx: RunContext, workspace: Workspace, task: Task, bot: BotIdentity,
            session: SessionResult) -> Commit:
    """Step 8."""
    return commit(workspace, commit_message(ctx.trigger.kind, task, ctx.trigger.number),
                  Author(bot.login, bot.email), co_author(ctx), protected=session.protected,
                  left_out=session.left_out)


def _session_and_commit(ctx: RunContext, workspace: Workspace, task: Task, stop: StopSignal,
                        bot: BotIdentity, emit: Emit) -> tuple[SessionResult, Commit]:
    """Steps 7 and 8 of one attempt (jobs.run.attempts), in its own worktree."""
    session = agent(ctx, workspace, task, stop, emit)
    if stop.is_set() and not stop.push:
        raise Cancelled(stop.reason)
    return session, _commit(ctx, workspace, task, bot, session)


def agent(ctx: RunContext, workspace: Workspace, task: Task, stop: StopSignal,
          emit: Emit | None = None) -> SessionResult:
    """Step 7. Config and instructions come from the base branch, never the branch being
    worked on (a PR could otherwise rewrite its own rules)."""
    t = ctx.trigger
    brief = Brief(t.repository, t.number, t.requester, t.kind, t.is_pull_request, task.title,
                  task.body, task.request, task.branch, task.base, task.follow_up,
                  tuple((r.author, r.body) for r in task.remarks), tuple(task.threads))

    def task_for(instructions: list[tuple[str, str]], test_command: str | None) -> str:
        return task_prompt(brief, instructions, test_command)

    s = ctx.settings
    plan = SetupPlan(EnvironmentStore(s.data_dir, t.repository_id, int(s.env_cache_gb * 1024**3)),
                     s.setup_secret_values())
    return run_session(s, workspace, task_for, emit or spending.metered(ctx),
                       config_revision=f"refs/remotes/origin/{task.base}", stop=stop, plan=plan,
                       test_results=BaseResults(s.data_dir, t.repository_id), verify=True)


def commit_message(kind: Kind, task: Task, number: int) -> str:
    if kind == Kind.REVIEW:
        return f"Address review on #{number}"
    if task.pull_number is not None:
        first = task.request.strip().splitlines()[0] if task.request.strip() else task.title
        return f"{first[:72]} (#{number})"
    return f"{task.title} (#{number})"


def co_author(ctx: RunContext) -> Author:
    t = ctx.trigger
    return Author(t.requester, noreply_email(t.requester, t.requester_id, ctx.settings.github_url))
