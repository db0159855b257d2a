"""The body of a run: gate again → task → workspace → agent → commit → publish (jobs.finish).

The same pipeline serves an issue (label or `/agent`), a command on a pull request and a
review round; `jobs.tasks` decides the branches, `jobs.finish` what is said at the end.
"""

from __future__ import annotations

import time
from typing import Any

from jobs import accounting, report
from jobs.context import RunContext
from jobs.errors import Cancelled
from jobs.finish import Finished, publish
from jobs.gate import require_write
from jobs.github import RUN_PERMISSIONS, noreply_email
from jobs.prompt import Brief, task_prompt
from jobs.publish import Author, commit
from jobs.session import SessionResult, run_session
from jobs.stop import StopSignal
from jobs.tasks import Task, read_task
from jobs.workspace import Workspace, borrow_worktree, refresh_mirror, return_worktree



def solve(ctx: RunContext, comment_id: int | None, stop: StopSignal) -> dict[str, Any]:
    """Do the work and publish it; returns the figures for the run record."""
    started, t, s = time.time(), ctx.trigger, ctx.settings
    token = ctx.mint(RUN_PERMISSIONS)
    client = ctx.client(token)
    # Permission is asked again: it may have been revoked while the run was queued.
    require_write(ctx, client, quiet=True)
    repo = client.get_repo(t.repository)
    bot = ctx.app.identity(client, ctx.redis)
    mirror = refresh_mirror(s.data_dir, t.repository, s.clone_url(t.repository), token)
    task = read_task(ctx, repo, mirror)
    workspace = borrow_worktree(mirror, s.data_dir, ctx.run_id, task.branch, task.start,
                                s.worktree_pool)
    ctx.emit("workspace", {"branch": task.branch, "base": task.base, "start": task.start,
                           "base_sha": workspace.base_sha, "continued": task.follow_up,
                           "threads": len(task.threads)})
    try:
        session = run_model(ctx, workspace, task, stop)
        if stop.is_set() and not stop.push:
            raise Cancelled(stop.reason)
        done = commit(workspace, commit_message(t.kind, task, t.number), Author(bot.login, bot.email),
                      co_author(ctx), protected=session.protected)
        figures = report.Figures(session.agent.turns, session.agent.usage, session.agent.cost,
                                 time.time() - started, session.bounds)
        return publish(Finished(ctx, workspace, task, session, done, figures, comment_id, bot))
    finally:
        return_worktree(workspace)


def run_model(ctx: RunContext, workspace: Workspace, task: Task, stop: StopSignal) -> SessionResult:
    """The agent session; config and instructions come from the base branch, never the
    branch being worked on (a PR could otherwise rewrite its own rules)."""
    t = ctx.trigger
    brief = Brief(t.repository, t.number, t.requester, t.kind, t.is_pull_request, task.title,
                  task.body, task.request, task.branch, task.base, task.follow_up,
                  tuple((r.author, r.body) for r in task.remarks), tuple(task.threads))

    def task_for(instructions: list[tuple[str, str]], test_command: str | None) -> str:
        return task_prompt(brief, instructions, test_command)

    return run_session(ctx.settings, workspace, task_for, accounting.metered(ctx),
                       config_revision=f"refs/remotes/origin/{task.base}", stop=stop)


def commit_message(kind: str, task: Task, number: int) -> str:
    if kind == "review":
        return f"Address review on #{number}"
    if task.pull_number is not None:
        first = task.request.strip().splitlines()[0] if task.request.strip() else task.title
        return f"{first[:72]} (#{number})"
    return f"{task.title} (#{number})"


def co_author(ctx: RunContext) -> Author:
    t = ctx.trigger
    return Author(t.requester, noreply_email(t.requester, t.requester_id, ctx.settings.github_url))

