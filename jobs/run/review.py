"""A review run's steps, after the start (jobs.run.pipeline hands over at step 4):

 4. read     the pull request; the mirror fetched, with the pull's head from the base
             repository's `refs/pull/<n>/head` (a fork's too; the token stays on the host)
 5. gate     write access asked again; an automatic review of anyone's pull request only when
             the base branch's config says `authors: everyone` and a daily budget is set
 6. diff     the whole diff, or on a re-review only what changed since Orca's last review
 7. review   a worktree at the head, then setup, tests and the agent (jobs.review.session)
 8. publish  one GitHub review; earlier threads the new commits fixed resolved; the
             tracking comment says how it went
Nothing is committed or pushed, whatever the agent did in its worktree.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from github import Github
from github.GithubException import GithubException
from github.PullRequest import PullRequest

from core.errors import Cancelled
from core.stops import StopSignal
from jobs.context import RunContext
from jobs.github import BotIdentity, report
from jobs.review import diff as pull_diff
from jobs.review import threads, words
from jobs.review.diff import FileDiff
from jobs.review.findings import Findings
from jobs.review.publish import event_for, last_reviewed, post_review
from jobs.review.session import ReviewResult, run_review
from jobs.review.threads import Resolutions
from jobs.run import spending
from jobs.task.gate import require_write
from jobs.verify.cache import BaseResults
from jobs.verify.compare import changed_test_files
from jobs.workspace import (
    borrow_worktree,
    fetch_pull_head,
    pull_head_ref,
    refresh_mirror,
    return_worktree,
)
from jobs.workspace.config import RepoConfig, load_config

# Reading: the code and the pull request. Writing the review and the tracking comment; and
# contents too only when a thread is resolved (FACTS-next: reported needed for Apps).
READ_PERMISSIONS = {"contents": "read", "pull_requests": "read", "issues": "write"}
PUBLISH_PERMISSIONS = {"pull_requests": "write", "issues": "write"}
RESOLVE_PERMISSIONS = {"contents": "write", "pull_requests": "write", "issues": "write"}


@dataclass
class Reading:
    """Steps 4–6: what the review is of."""

    pull: PullRequest
    mirror: Path
    revision: str
    """The base branch, where config and instructions are read."""
    head: str
    base_sha: str
    """The merge base: the pull request's diff starts here."""
    config: RepoConfig
    files: list[FileDiff]
    """The pull request's whole diff: the lines a comment may be on."""
    shown: list[FileDiff]
    """What the review reads: the whole diff, or what changed since Orca's last review."""
    since: str | None = None
    resolutions: Resolutions | None = None


def work(ctx: RunContext, stop: StopSignal) -> dict[str, Any]:
    """Steps 4–8; returns the outcome for the run record."""
    started, t, s = time.time(), ctx.trigger, ctx.settings
    r = read(ctx)
    patch, left_out = pull_diff.fit(r.shown)
    brief = words.ReviewBrief(t.repository, t.number, r.pull.title, r.pull.body or "",
                              r.pull.base.ref, r.head, t.requester, t.request, t.auto, patch,
                              left_out, r.since, r.resolutions.threads if r.resolutions else ())
    found = Findings({f.path: f for f in r.files})
    ctx.emit("workspace", {"head": r.head, "base": r.pull.base.ref, "merge_base": r.base_sha,
                           "since": r.since, "files": len(r.shown), "left_out": left_out[:50]})
    workspace = borrow_worktree(r.mirror, s.data_dir, ctx.run_id, r.pull.head.ref,
                                pull_head_ref(t.number), s.worktree_pool)
    try:
        result = run_review(s, workspace, r.config, r.revision, brief, found, r.resolutions,
                            spending.metered(ctx), stop, BaseResults(s.data_dir, t.repository_id),
                            r.base_sha, changed_test_files((f.status, f.path) for f in r.files))
    finally:
        return_worktree(workspace)
    if stop.is_set():
        raise Cancelled(stop.reason)
    checked = words.Checked(len(r.shown), sum(f.added for f in r.shown),
                            sum(f.deleted for f in r.shown), left_out, r.since, result.tests,
                            result.tests_not_run, result.agent.stopped_by)
    return _publish(ctx, r, found, checked, result, time.time() - started)


def read(ctx: RunContext) -> Reading:
    """Steps 4–6: the pull request, its head fetched, the gate, the diff to read."""
    t, s = ctx.trigger, ctx.settings
    token = ctx.mint(READ_PERMISSIONS)
    client = ctx.client(token)
    pull = client.get_repo(t.repository).get_pull(t.number)
    revision = f"refs/remotes/origin/{pull.base.ref}"  # read now: the client is lazy
    bot = ctx.app.identity(client, ctx.redis)
    mirror = refresh_mirror(s.data_dir, t.repository, s.clone_url(t.repository), token)
    head = fetch_pull_head(mirror, t.number, token)
    if head != pull.head.sha:  # GitHub moves refs/pull/<n>/head a moment after a push
        ctx.emit("head_moved", {"pull": pull.head.sha, "fetched": head})
    config = load_config(mirror, revision)
    _gate(ctx, client, config)
    base_sha = pull_diff.merge_base(mirror, revision, head)
    files = pull_diff.diff_files(mirror, base_sha, head)
    r = Reading(pull, mirror, revision, head, base_sha, config, files, files)
    r.since = _since(client, ctx, bot, mirror, head)
    if r.since:
        r.shown = pull_diff.diff_files(mirror, r.since, head)
        own = threads.own_open_threads(client, t.repository, t.number, bot.slug)
        r.resolutions = Resolutions(own, {f.path for f in r.shown})
    return r


def _gate(ctx: RunContext, client: Github, config: RepoConfig) -> None:
    """A writer, asked again now; an automatic review of anyone's pull request needs the
    config's `authors: everyone` and a daily budget bounding what strangers' pushes spend."""
    t = ctx.trigger
    if t.auto and config.review.authors == "everyone" and ctx.settings.daily_dollars > 0:
        return
    require_write(t, client, quiet=True)


def _since(client: Github, ctx: RunContext, bot: BotIdentity, mirror: Any, head: str) -> str | None:
    """The commit Orca reviewed last, when the head has moved on from it by new commits (not a
    force-push): the review then reads only what changed since."""
    t = ctx.trigger
    last = last_reviewed(client, t.repository, t.number, bot.login)
    if last is None or last == head or not pull_diff.is_ancestor(mirror, last, head):
        return None
    return last


def _publish(ctx: RunContext, r: Reading, found: Findings, checked: words.Checked,
             result: ReviewResult, seconds: float) -> dict[str, Any]:
    """Post the review, resolve the threads the new commits fixed, finish the comment."""
    t, head = ctx.trigger, r.head
    claimed = r.resolutions.claimed if r.resolutions else []
    client = ctx.client(ctx.mint(RESOLVE_PERMISSIONS if claimed else PUBLISH_PERMISSIONS))
    inline, rest = found.placed()
    summary = result.agent.summary
    resolved = [th for th in claimed if _resolved(ctx, client, th, head)]
    checked.resolved = tuple(resolved)
    body = words.review_body(summary, inline, rest, checked, ctx.run_id)
    fallback = words.review_body(summary, [], found.ranked(), checked, ctx.run_id, refused=True)
    event = event_for(found.found, r.config.review.request_changes)
    answer = post_review(client, t.repository, t.number, head, body, inline, event, fallback)
    ctx.emit("review", {"id": answer.get("id"), "event": event, "inline": len(inline),
                        "summary": len(rest), "resolved": len(resolved)})
    agent = result.agent
    figures = report.Figures(agent.turns, agent.usage, agent.cost, seconds, result.bounds,
                             " · ".join(p for p in (result.setup.words(),
                                                    f"review {result.seconds:.0f} s") if p))
    ctx.finish_comment(words.reviewed(ctx.run_id, t.requester, answer.get("html_url", ""), head,
                                      len(inline), len(rest), len(resolved), figures, t.auto,
                                      agent.stopped_by),
                       client)
    return {"turns": agent.turns, "cost": agent.cost, "tokens": agent.usage.total,
            "model": result.model, "review_url": answer.get("html_url"),
            "findings": len(found.found)}


def _resolved(ctx: RunContext, client: Github, thread: threads.OwnThread, head: str) -> bool:
    """Reply in the thread and resolve it; a refusal is logged, not the run's end."""
    try:
        threads.resolve(client, thread, ctx.trigger.repository, ctx.trigger.number, head)
        return True
    except GithubException as exc:
        ctx.log("could not resolve thread %s: %r", thread.node_id, exc)
        return False
