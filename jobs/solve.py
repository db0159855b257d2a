"""The body of a run on an issue: workspace → agent → publish → report."""

from __future__ import annotations

import logging
import time
from typing import Any

import anthropic

from jobs import report
from jobs.agent import AgentResult, run_agent
from jobs.context import RunContext, TrackingComment
from jobs.github import RUN_PERMISSIONS, noreply_email
from jobs.pricing import cost
from jobs.prompt import repository_instructions, system_prompt, task_prompt
from jobs.publish import Author, commit, open_or_update_pull, push
from jobs.sandbox import make_sandbox
from jobs.tools import Toolbox
from jobs.workspace import Workspace, add_worktree, issue_branch, refresh_mirror, remove_worktree
from jobs.git import git

log = logging.getLogger("orca.run")


def model_client(ctx: RunContext) -> anthropic.Anthropic:
    """The Messages API client; the SDK retries 429/5xx/529 itself."""
    s = ctx.settings
    return anthropic.Anthropic(api_key=s.anthropic_api_key or None, base_url=s.anthropic_base_url,
                               _strict_response_validation=s.strict_model_responses)


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


def run_model(ctx: RunContext, workspace: Workspace, title: str, body: str) -> AgentResult:
    s, t = ctx.settings, ctx.trigger
    if s.sandbox == "none":
        log.warning("ORCA_SANDBOX=none: the agent's commands run UNSANDBOXED on this machine")
    sandbox = make_sandbox(workspace.path, s.sandbox, ro_binds=[workspace.mirror],
                           rw_binds=[workspace.admin_dir])
    tools = Toolbox(sandbox, command_timeout=s.command_timeout)
    task = task_prompt(t.repository, t.number, title, body, t.requester,
                       repository_instructions(workspace.path))
    return run_agent(model_client(ctx), model=s.model, system=system_prompt(sandbox.root, False),
                     task=task, tools=tools, max_turns=s.max_turns, emit=ctx.emit)


def solve_issue(ctx: RunContext, comment_id: int | None) -> dict[str, Any]:
    """Do the work and publish it; returns the figures for the run record."""
    started, t = time.time(), ctx.trigger
    client = ctx.app.client(ctx.mint(RUN_PERMISSIONS))
    repo = client.get_repo(t.repository)
    issue = repo.get_issue(t.number)
    bot = ctx.app.identity(client, ctx.redis)
    workspace = prepare_workspace(ctx, ctx.mint(RUN_PERMISSIONS), issue.title, repo.default_branch)
    try:
        result = run_model(ctx, workspace, issue.title, issue.body or "")
        figures = report.Figures(result.turns, result.usage, cost(ctx.settings.model, result.usage),
                                 time.time() - started)
        co_author = Author(t.requester, noreply_email(t.requester, t.requester_id, ctx.settings.github_url))
        done = commit(workspace, f"{issue.title} (#{t.number})", Author(bot.login, bot.email), co_author)
        outcome: dict[str, Any] = {"turns": result.turns, "cost": figures.cost,
                                   "tokens": result.usage.total_input + result.usage.output_tokens}
        if done.sha is None:
            body = report.no_changes(ctx.run_id, result.summary, figures, done.dropped)
        else:
            push(workspace, ctx.mint(RUN_PERMISSIONS))  # fresh: the run may outlive a token
            pr_body = report.pull_body(t.number, result.summary, done.dropped, result.stopped_by, t.requester)
            pull = open_or_update_pull(repo, workspace.branch, repo.default_branch, issue.title, pr_body,
                                       draft=bool(result.stopped_by))
            outcome.update(pr_url=pull.html_url, pr_number=pull.number, commit=done.sha)
            body = report.opened(ctx.run_id, pull.number, pull.html_url, result.summary, figures,
                                 done.dropped, result.stopped_by)
        if comment_id:
            TrackingComment(client, t.repository, comment_id).edit(body)
        else:
            issue.create_comment(body)
        return outcome
    finally:
        remove_worktree(workspace)
