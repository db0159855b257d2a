"""Automatic reviews: the fast job each `pull_request` opened, ready_for_review or synchronize
delivery queues (core.triggers.pull_activity).

It reads `.github/orca.yml` at the pull request's base commit through the contents API (git
objects, never a worktree; the pull request's own branch cannot change it), decides with
`should_review`, and starts a review run (`pr_review`, `auto`) when:
- `review.auto` is on; not a draft when `review.skip_drafts`; the change touches `review.paths`
  when it names any;
- the author has write access, or `review.authors` is `everyone` and the installation has a
  daily budget (ORCA_DAILY_DOLLARS): strangers' pushes must not spend without a bound;
- the head commit has had no automatic review yet (one per push), and the pull request has
  had fewer than MAX_PER_HOUR in the last hour.
Nothing is said on GitHub when it starts none; the log says why.
"""

from __future__ import annotations

import fnmatch
import time
from collections.abc import Callable
from dataclasses import replace

from github import Github
from github.GithubException import GithubException, UnknownObjectException
from github.PullRequest import PullRequest

from core import keys
from core.errors import RunError
from core.queues import start_run
from core.runs import new_run_id
from core.triggers import Kind
from jobs.context import RunContext
from jobs.task.gate import ALLOWED_PERMISSIONS
from jobs.workspace.config import CONFIG_PATH, ReviewConfig, parse_config

# A few reviews an hour per pull request: a stranger pushing every minute gets three.
MAX_PER_HOUR = 3
# A head commit's claim lasts as long as anyone would push to a pull request.
CLAIM_SECONDS = 30 * 24 * 3600
READ_PERMISSIONS = {"contents": "read", "pull_requests": "read"}


def should_review(review: ReviewConfig, draft: bool, files: Callable[[], list[str]],
                  author_writes: Callable[[], bool], daily_budget: bool) -> str | None:
    """Why an automatic review is not wanted, or None when it is. Pure but for the two
    questions, asked of GitHub only when the answer matters: the files the change touches,
    and whether its author has write access."""
    if not review.auto:
        return "`review.auto` is off"
    if draft and review.skip_drafts:
        return "a draft, and `review.skip_drafts` is on"
    if review.paths and not any(_matches(f, review.paths) for f in files()):
        return "the change touches none of `review.paths`"
    if author_writes():
        return None
    if review.authors != "everyone":
        return "the author does not have write access (`review.authors: writers`)"
    if not daily_budget:
        return "`review.authors: everyone` needs a daily budget (ORCA_DAILY_DOLLARS), and none is set"
    return None


def _matches(path: str, patterns: list[str]) -> bool:
    """fnmatch, where `*` crosses folders, so `src/**` and `src/*` take all under src/."""
    return any(fnmatch.fnmatchcase(path, p) for p in patterns)


def check(ctx: RunContext) -> None:
    """Start the pull request's automatic review if its base branch's config wants one."""
    t = ctx.trigger
    client = ctx.client(ctx.mint(READ_PERMISSIONS))
    repo = client.get_repo(t.repository)
    pull = repo.get_pull(t.number)
    if pull.state != "open" or pull.head.sha != t.head_sha:
        ctx.log("no automatic review: the pull request moved on or closed")
        return
    try:
        review = _config(client, t.repository, pull.base.sha)
    except (RunError, GithubException) as exc:
        ctx.log("no automatic review: %s", exc)
        return
    why = should_review(review, bool(pull.draft), lambda: [f.filename for f in pull.get_files()],
                        lambda: _writes(client, t.repository, t.requester),
                        ctx.settings.daily_dollars > 0)
    if why is None:
        why = _claim(ctx, pull)
    if why is not None:
        ctx.log("no automatic review: %s", why)
        return
    run = replace(t, kind=Kind.PR_REVIEW, request="", auto=True, title=pull.title,
                  body=pull.body or "")
    run_id = new_run_id()
    start_run(ctx.redis, run_id, run, f"auto-review:{t.head_sha}")
    ctx.log("automatic review of %s at %s: run %s", t.target, t.head_sha[:7], run_id)


def _config(client: Github, repository: str, sha: str) -> ReviewConfig:
    """`review:` of the config at the base commit, through the contents API; the defaults
    (no automatic review) when there is no config. A link or a folder is no config."""
    try:
        found = client.get_repo(repository).get_contents(CONFIG_PATH, ref=sha)
    except UnknownObjectException:
        return ReviewConfig()
    if isinstance(found, list) or found.type != "file":
        return ReviewConfig()
    return parse_config(found.decoded_content).review


def _writes(client: Github, repository: str, login: str) -> bool:
    return client.get_repo(repository).get_collaborator_permission(login) in ALLOWED_PERMISSIONS


def _claim(ctx: RunContext, pull: PullRequest) -> str | None:
    """None when this head commit's automatic review is this job's to start and the hour's
    count allows it; otherwise why not."""
    t = ctx.trigger
    if not ctx.redis.set(keys.auto_review(t.target, pull.head.sha), ctx.run_id, nx=True,
                         ex=CLAIM_SECONDS):
        return f"`{pull.head.sha[:7]}` has had its automatic review"
    hour = keys.auto_reviews_hour(t.target, int(time.time() // 3600))
    pipe = ctx.redis.pipeline()
    pipe.incr(hour)
    pipe.expire(hour, 3600)
    count = int(pipe.execute()[0])
    if count > MAX_PER_HOUR:
        return f"{MAX_PER_HOUR} automatic reviews of this pull request this hour already"
    return None
