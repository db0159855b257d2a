"""The body of a run on an issue: workspace → agent → publish → report."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from jobs import report
from jobs.context import RunContext, TrackingComment
from jobs.github import RUN_PERMISSIONS, noreply_email
from jobs.prompt import task_prompt
from jobs.publish import Author, Commit, commit, open_or_update_pull, push
from jobs.session import SessionResult, run_session
from jobs.workspace import Workspace, add_worktree, issue_branch, refresh_mirror, remove_worktree
from jobs.git import git

log = logging.getLogger("orca.run")


def prepare_workspace(ctx: RunContext, token: str, title: str, default_branch: str) -> Workspace:
    """Mirror + worktree. A follow-up on an issue continues its existing branch."""
    t, s = ctx.trigger, ctx.settings
    mirror = refresh_mirror(s.data_dir, t.repository, s.clone_url(t.repository), token)
    branch = issue_branch(t.number, title)
    exists = git("rev-parse", "--verify", "--quiet", f"refs/remotes/origin/{branch}",
                 cwd=mirror, check=False).strip()
    workspace = add_worktree(mirror, s.data_dir, ctx.run_id, branch, branch if exists else default_branch)
    ctx.emit("workspace", {"branch": branch, "base_sha": workspace.base_sha, "continued": bool(exists)})
    return workspace


def run_model(ctx: RunContext, workspace: Workspace, title: str, body: str,
              default_branch: str) -> SessionResult:
    """The agent session on the issue (config, setup, loop); events go to the run's log.

    The config is the default branch's even when a follow-up continues the agent's branch.
    """
    t = ctx.trigger

    def task_for(instructions: list[tuple[str, str]], test_command: str | None) -> str:
        return task_prompt(t.repository, t.number, title, body, t.requester, instructions,
                           test_command)

    return run_session(ctx.settings, workspace, task_for, ctx.emit,
                       config_revision=f"refs/remotes/origin/{default_branch}")


@dataclass
class Target:
    """The issue as read at the start of the run."""

    title: str
    body: str
    default_branch: str


def solve_issue(ctx: RunContext, comment_id: int | None) -> dict[str, Any]:
    """Do the work and publish it; returns the figures for the run record."""
    started, t = time.time(), ctx.trigger
    token = ctx.mint(RUN_PERMISSIONS)
    client = ctx.app.client(token)
    repo = client.get_repo(t.repository)
    issue = repo.get_issue(t.number)
    target = Target(issue.title, issue.body or "", repo.default_branch)
    bot = ctx.app.identity(client, ctx.redis)
    workspace = prepare_workspace(ctx, token, target.title, target.default_branch)
    try:
        session = run_model(ctx, workspace, target.title, target.body, target.default_branch)
        co_author = Author(t.requester, noreply_email(t.requester, t.requester_id, ctx.settings.github_url))
        done = commit(workspace, f"{target.title} (#{t.number})", Author(bot.login, bot.email),
                      co_author, protected=session.protected)
        figures = report.Figures(session.agent.turns, session.agent.usage, session.agent.cost,
                                 time.time() - started)
        return publish(ctx, workspace, target, session, done, figures, comment_id)
    finally:
        remove_worktree(workspace)


def publish(ctx: RunContext, workspace: Workspace, target: Target, session: SessionResult,
            done: Commit, figures: report.Figures, comment_id: int | None) -> dict[str, Any]:
    """Push, open or update the PR, and finish the tracking comment.

    Everything here uses a token minted now: the agent may have run past the first one's hour.
    """
    t, result = ctx.trigger, session.agent
    token = ctx.mint(RUN_PERMISSIONS)
    repo = ctx.app.client(token).get_repo(t.repository)
    outcome: dict[str, Any] = {"turns": result.turns, "cost": figures.cost,
                               "tokens": result.usage.total, "model": session.model}
    if done.sha is None:
        body = report.no_changes(ctx.run_id, result.summary, figures, done.dropped)
    else:
        push(workspace, token)
        pr_body = report.pull_body(t.number, result.summary, done.dropped, result.stopped_by, t.requester)
        pull = open_or_update_pull(repo, workspace.branch, target.default_branch, target.title,
                                   pr_body, draft=bool(result.stopped_by))
        outcome.update(pr_url=pull.html_url, pr_number=pull.number, commit=done.sha)
        body = report.opened(ctx.run_id, pull.number, pull.html_url, result.summary, figures,
                             done.dropped, result.stopped_by)
    if comment_id:
        TrackingComment(ctx.app.client(token), t.repository, comment_id).edit(body)
    else:
        repo.get_issue(t.number).create_comment(body)
    return outcome
