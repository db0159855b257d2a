"""The end of a run: push the commit, then say what happened where people will read it.

An issue run opens (or updates) its one pull request; a command on a PR pushes to the
PR's branch; a review round also answers in each review thread. Everything here uses a
token minted now: the agent may have run past the first one's hour.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from github import Github

from core import keys, outcomes
from jobs.agent.session import SessionResult
from jobs.context import RunContext
from jobs.github import CI_PERMISSIONS, RUN_PERMISSIONS, BotIdentity, report
from jobs.task.read import Task
from jobs.task.threads import parse_answers
from jobs.workspace import Workspace
from jobs.workspace.commit import Author, Commit, Pushed, open_or_update_pull, push

# An installation is told about CI's permissions once a year at most.
CI_NOTE_SECONDS = 365 * 24 * 3600


@dataclass
class Finished:
    """A run whose agent is done and whose work is committed (or not)."""

    ctx: RunContext
    workspace: Workspace
    task: Task
    session: SessionResult
    done: Commit
    figures: report.Figures
    bot: BotIdentity
    attempts: str = ""
    """The Attempts section when this work won among several (jobs.run.attempts)."""

    @property
    def side_branch(self) -> str:
        """Where work goes when its branch moved under it: unique to the run."""
        return f"agent/run-{self.ctx.run_id}"


def publish(run: Finished) -> dict[str, Any]:
    """Push, open or update the PR or answer the review, and finish the tracking comment."""
    ctx, result = run.ctx, run.session.agent
    token = ctx.mint(RUN_PERMISSIONS)
    client = ctx.client(token)
    outcome: dict[str, Any] = {"turns": result.turns, "cost": run.figures.cost,
                               "tokens": result.usage.total, "model": run.session.model}
    pushed = None
    if run.done.sha is not None:
        pushed = push(run.workspace, token, Author(run.bot.login, run.bot.email), run.side_branch)
        outcome.update(commit=pushed.sha, branch=pushed.branch)
    if pushed is not None and pushed.moved_aside:
        body = report.moved_aside(ctx.run_id, pushed.branch, pushed.moved_aside, result.summary,
                                  run.figures)
    elif ctx.trigger.kind == "review":
        body = answer_review(run, client, pushed)
    elif run.task.pull_number is not None:
        body = _pull_words(run, pushed)
    else:
        body = _issue_words(run, client, pushed, outcome)
    ctx.finish_comment(body, client)
    return outcome


def _issue_words(run: Finished, client: Github, pushed: Pushed | None,
                 outcome: dict[str, Any]) -> str:
    ctx, result, t = run.ctx, run.session.agent, run.ctx.trigger
    if pushed is None:
        return report.no_changes(ctx.run_id, result.summary, run.figures, run.done.dropped,
                                 run.done.nested)
    repo = client.get_repo(t.repository)
    verification = run.session.verification
    regressed = bool(run.session.checks and run.session.checks.regressed)
    pr_body = report.pull_body(t.number, result.summary, run.done.dropped, result.stopped_by,
                               t.requester, run.done.nested, verification, regressed,
                               _ci_permissions_note(ctx), run.attempts,
                               report.run_line(ctx.run_id, ctx.settings.public_url))
    pull = open_or_update_pull(repo, pushed.branch, run.task.base, run.task.title, pr_body,
                               draft=bool(result.stopped_by) or regressed)
    outcome.update(pr_url=pull.html_url, pr_number=pull.number)
    outcomes.opened(ctx.redis, t.repository, pull.number, ctx.run_id, t.installation_id, time.time())
    return report.opened(ctx.run_id, pull.number, pull.html_url, result.summary, run.figures,
                         run.done.dropped, result.stopped_by, run.done.nested, verification,
                         regressed, run.attempts)


def _ci_permissions_note(ctx: RunContext) -> str:
    """Once per installation, on the first pull request Orca opens there: what accepting CI's
    permissions would add, if it has not."""
    installation = ctx.trigger.installation_id
    key = keys.ci_permissions(installation)
    if ctx.redis.exists(key):
        return ""
    granted = ctx.app.installation_permissions(installation)
    lacking = [name for name in CI_PERMISSIONS if granted.get(name) not in ("read", "write")]
    if not ctx.redis.set(key, "said" if lacking else "granted", nx=True, ex=CI_NOTE_SECONDS):
        return ""  # another run got there first
    return report.ci_permissions(lacking) if lacking else ""


def _pull_words(run: Finished, pushed: Pushed | None) -> str:
    ctx, result = run.ctx, run.session.agent
    if pushed is None:
        return report.no_changes(ctx.run_id, result.summary, run.figures, run.done.dropped,
                                 run.done.nested)
    return report.pushed_to_pull(ctx.run_id, pushed.sha, pushed.branch, result.summary,
                                 run.figures, run.done.dropped, result.stopped_by, pushed.rebased,
                                 run.done.nested, run.session.verification)


def answer_review(run: Finished, client: Github, pushed: Pushed | None) -> str:
    """Reply in each thread the agent was given, then the summary for the tracking comment."""
    ctx, result, t = run.ctx, run.session.agent, run.ctx.trigger
    answers = parse_answers(result.summary)
    sha = pushed.sha[:7] if pushed is not None else None
    pull = client.get_repo(t.repository).get_pull(t.number)
    lines, not_taken = [], []
    for thread in run.task.threads:
        where = f"`{thread.path}` line {thread.lines}"
        if not thread.instruction:
            not_taken.append(f"- {where}: {thread.why_not}")
            continue
        answer = answers.by_thread.get(thread.number)
        acted = None if answer is None else answer.acted
        text = answer.text if answer is not None else ""
        pull.create_review_comment_reply(thread.root_id,
                                         report.thread_reply(acted, text, sha))
        verdict = {True: "done", False: "not changed", None: "not reached"}[acted]
        lines.append(f"- {where}: {verdict}" + (f" — {text}" if text else ""))
    if pushed is None:
        head = "Orca went through your review and changed no files."
    else:
        head = f"Orca addressed your review in `{sha}` on `{pushed.branch}`."
    if result.stopped_by:
        head += f" It was stopped by {result.stopped_by} before it finished."
    elif pushed is not None and run.session.checks and run.session.checks.regressed:
        head += " The change still breaks tests that passed before it (see Verification)."
    if notes := report.left_out(run.done.dropped, run.done.nested):
        head += f" {notes}"
    return report.review_summary(ctx.run_id, t.requester, head, lines, not_taken,
                                 answers.summary, run.figures, run.session.verification)
