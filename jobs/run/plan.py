"""A planning run's steps, after the start (jobs.run.pipeline hands over at step 4):

 4. gate      write access asked again; a plan is of an issue, not a pull request
 5. read      the issue as signed at the trigger, the writers' comments before it (answers to
              earlier questions), the default branch fetched
 6. plan      the agent over a worktree of the default branch (jobs.plans.session)
 7. record    the plan, checked, kept in Redis for `/agent go` (core.plans), and said in the
              tracking comment
Nothing is committed or pushed, whatever the agent did in its worktree.
"""

from __future__ import annotations

import time
from typing import Any

from core.errors import Cancelled, NotAllowed
from core.plans import PlanStore
from core.stops import StopSignal
from jobs.agent.prompt import repository_instructions
from jobs.context import RunContext
from jobs.github import report
from jobs.plans import words
from jobs.plans.session import run_planning
from jobs.plans.tool import Planned
from jobs.run import spending
from jobs.task.conversation import earlier_remarks
from jobs.task.gate import require_write
from jobs.workspace import borrow_worktree, refresh_mirror, return_worktree
from jobs.workspace.config import load_config

# Reading the code and the issue; writing the tracking comment.
PLAN_PERMISSIONS = {"contents": "read", "issues": "write"}


def work(ctx: RunContext, stop: StopSignal) -> dict[str, Any]:
    """Steps 4–7; returns the outcome for the run record."""
    started, t, s = time.time(), ctx.trigger, ctx.settings
    token = ctx.mint(PLAN_PERMISSIONS)
    client = ctx.client(token)
    require_write(t, client, quiet=True)
    if t.is_pull_request:
        raise NotAllowed("a plan is made for an issue, not a pull request")
    repo = client.get_repo(t.repository)
    default = repo.default_branch
    mirror = refresh_mirror(s.data_dir, t.repository, s.clone_url(t.repository), token)
    revision = f"refs/remotes/origin/{default}"
    config = load_config(mirror, revision)
    remarks = [(r.author, r.body) for r in earlier_remarks(t, repo)]
    task = words.task_prompt(t.repository, t.number, t.requester, t.title, t.body, t.request,
                             remarks, repository_instructions(mirror, revision))
    planned = Planned(s.max_subtasks, ctx.run_id)
    workspace = borrow_worktree(mirror, s.data_dir, ctx.run_id, default, default, s.worktree_pool)
    try:
        result = run_planning(s, workspace, config, task, planned, spending.metered(ctx), stop)
    finally:
        return_worktree(workspace)
    if stop.is_set():
        raise Cancelled(stop.reason)
    agent = result.agent
    figures = report.Figures(agent.turns, agent.usage, agent.cost, time.time() - started,
                             result.bounds)
    if planned.plan is None:
        ctx.finish_comment(words.no_plan(ctx.run_id, t.requester, planned.refused, figures),
                           client)
    else:
        PlanStore(ctx.redis).record(t.target, planned.plan)
        ctx.emit("plan", {"questions": len(planned.plan.questions),
                          "subtasks": len(planned.plan.subtasks)})
        ctx.finish_comment(words.plan_comment(ctx.run_id, t.requester, planned.plan, figures),
                           client)
    return {"turns": agent.turns, "cost": agent.cost, "tokens": agent.usage.total,
            "model": result.model}
