"""`/agent go` and stopping a plan: the fast jobs between a recorded plan and its fleet.

- `go`: the plan Orca recorded (core.plans), with the edits in the `go` comment, checked again.
  Without sub-tasks it starts one run on the issue that follows it; with sub-tasks it opens one
  issue per sub-task, links each to the parent with GitHub's sub-issues API (where that API is
  missing, as on older Enterprise Servers, the issue's "Part of #n" is the link), posts the
  parent's tracking comment (the checklist) and takes the fleet's first step
  (jobs.steer.fleets), which starts the sub-tasks that wait for nothing.
- `stop_children`: `/agent stop` on the parent stops every child run and starts no more.
"""

from __future__ import annotations

from dataclasses import replace

from github import Github
from github.GithubException import GithubException, UnknownObjectException

from core.plans import (
    Child,
    Fleet,
    Plan,
    PlanRefused,
    PlanStore,
    apply_edits,
    check,
    parse_edits,
)
from core.queues import start_run
from core.runs import RunStore, new_run_id
from core.stops import request_stop
from core.triggers import Kind, Trigger
from jobs.context import RunContext
from jobs.plans import words
from jobs.steer.fleets import step
from jobs.workspace.config import CONFIG_PATH, ConfigError, PlansConfig, parse_config

# Opening the sub-issues, and reading the default branch's config.
GO_PERMISSIONS = {"issues": "write", "contents": "read"}


def go(ctx: RunContext) -> str | None:
    """Start the issue's plan; the reply when it cannot be started (None: nothing to say)."""
    t, store = ctx.trigger, PlanStore(ctx.redis)
    plan = store.plan(t.target)
    if plan is None:
        return words.NO_PLAN_TO_START
    if plan.questions:
        return words.QUESTIONS_OPEN
    edits = parse_edits(t.request)
    try:
        plan = apply_edits(plan, edits)
        check(plan, ctx.settings.max_subtasks)
        if plan.subtasks and edits.unread:
            raise PlanRefused("these lines of the `go` comment are not edits Orca reads "
                              "(`drop N` or `N: words to add`): "
                              + "; ".join(f"“{line}”" for line in edits.unread))
    except PlanRefused as exc:
        return words.go_refused(str(exc))
    if not plan.subtasks:
        guided = replace(t, kind=Kind.COMMAND, comment_id=None,
                         request=words.guide_request(plan, "\n".join(edits.unread)))
        start_run(ctx.redis, new_run_id(), guided, f"go:{t.comment_id}")
        return None
    with store.lock(t.target):
        fleet = store.fleet(t.target)
        if fleet is not None and len(fleet.children) >= len(fleet.plan.subtasks):
            return ("This plan was started already: its sub-issues are in the checklist above. "
                    "Say `/agent plan` for a new plan.")
        client = ctx.client(ctx.mint(GO_PERMISSIONS))
        if fleet is None:
            fleet = _new_fleet(ctx, client, store, plan)
        try:  # all sub-issues, or after a `go` that failed part-way, the rest
            _open_children(ctx, client, store, fleet)
            said = None
        except GithubException as exc:
            left = len(fleet.plan.subtasks) - len(fleet.children)
            said = (f"GitHub refused to open a sub-issue ({exc.status}), so {left} of the "
                    f"{len(fleet.plan.subtasks)} are not opened yet; those opened are started. "
                    "Say `/agent go` again to open the rest.")
    step(t.target)
    return said


def _new_fleet(ctx: RunContext, client: Github, store: PlanStore, plan: Plan) -> Fleet:
    """The fleet and its checklist comment, saved before any issue is opened, so a failure
    part-way is seen and a second `go` opens the rest (`_open_children`)."""
    t = ctx.trigger
    fleet = Fleet(plan, t.to_dict(), wait_for=_plans_config(client, t.repository).wait_for)
    comment = client.get_repo(t.repository).get_issue(t.number).create_comment(
        words.checklist(t.number, plan, {s.number: "opening its issue" for s in plan.subtasks}, {}))
    fleet.comment_id = comment.id
    store.save_fleet(t.target, fleet)
    return fleet


def _open_children(ctx: RunContext, client: Github, store: PlanStore, fleet: Fleet) -> None:
    """One issue per sub-task not opened yet, linked; the fleet is saved after each, so
    nothing opened is forgotten. The plan is the one the first `go` recorded, its edits kept."""
    t, plan = ctx.trigger, fleet.plan
    repo = client.get_repo(t.repository)
    opened = {child.task for child in fleet.children}
    for task in (s for s in plan.subtasks if s.number not in opened):
        issue = repo.create_issue(title=task.title, body=words.child_body(t.number, task, plan))
        linked = _link(client, t, issue.id)
        fleet.children.append(Child(task.number, issue.number, linked))
        store.save_fleet(t.target, fleet)
        ctx.log("sub-task %d is #%d (%s)", task.number, issue.number,
                "linked" if linked else "Part of, no sub-issues API")


def _plans_config(client: Github, repository: str) -> PlansConfig:
    """`plans:` of the default branch's config, through the contents API, as `go` found it;
    the defaults when there is none or it is not valid (its runs say what is wrong)."""
    try:
        found = client.get_repo(repository).get_contents(CONFIG_PATH)
    except UnknownObjectException:
        return PlansConfig()
    if isinstance(found, list) or found.type != "file":
        return PlansConfig()
    try:
        return parse_config(found.decoded_content).plans
    except ConfigError:
        return PlansConfig()


def _link(client: Github, t: Trigger, child_id: int) -> bool:
    """Link the child as a sub-issue of the parent; False where the API is missing (404)."""
    try:
        client.requester.requestJsonAndCheck(
            "POST", f"/repos/{t.repository}/issues/{t.number}/sub_issues",
            input={"sub_issue_id": child_id})
    except GithubException as exc:
        if exc.status != 404:
            raise
        return False
    return True


def stop_children(ctx: RunContext) -> list[str]:
    """`/agent stop` on a parent: every child run stopped, no more started."""
    t, store = ctx.trigger, PlanStore(ctx.redis)
    with store.lock(t.target):
        fleet = store.fleet(t.target)
        if fleet is None:
            return []
        fleet.stopped = f"@{t.requester} stopped the plan"
        store.save_fleet(t.target, fleet)
    runs = RunStore(ctx.redis)
    stopped = [run_id for c in fleet.children
               for run_id in runs.active_on(f"{t.repository}#{c.issue}")
               if request_stop(ctx.redis, run_id, t.requester, fleet.stopped)]
    step(t.target)
    return stopped

