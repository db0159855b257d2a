"""A run's acknowledgement, on the fast queue: from a trigger to a queued run.

gate (write access, not a bot) → daily budget → checks on a pull request → 👀 → the
tracking comment → queued on the runs queue, behind any earlier run on the same target.

The 👀 waits for its installation's earlier GitHub writes (jobs.github.pacing) and for
nothing else: the acknowledgement holds its write slots, and when they are further off than
HOLD_SECONDS it is queued again for then, so its worker takes other installations' work
meanwhile instead of sleeping.
"""

from __future__ import annotations

import time

from github import Github
from github.GithubException import GithubException
from github.PullRequest import PullRequest
from rq.job import Job

from core import keys
from core.errors import NotAllowed, RunError
from core.places import place_in_line, schedule_refresh
from core.queues import acknowledge_later, enqueue_run
from core.triggers import Kind, Trigger
from jobs.context import RunContext, react_to_comment
from jobs.github import ACK_PERMISSIONS, report
from jobs.github.pacing import WritePacer
from jobs.review import words as review_words
from jobs.run import spending
from jobs.steer.place_comments import show_place
from jobs.task.gate import require_write
from jobs.task.read import ForkPull, check_same_repository
from jobs.task.threads import nothing_asked

# The acknowledgement's writes: the 👀 and the tracking comment.
ACK_WRITES = 2
# How long a fast worker sleeps at most for its installation's write slots. RQ's scheduler
# looks for due jobs every second, so an acknowledgement queued again this long before its
# slots is back in a worker in time, and sleeps the rest.
HOLD_SECONDS = 1.5


def acknowledge_run(ctx: RunContext, held_from: float | None = None) -> None:
    """Check the requester, react 👀, post the tracking comment, queue the run. `held_from`:
    when the write slots an earlier try held are due."""
    t = ctx.trigger
    pacer = ctx.pacer()
    client = ctx.client(ctx.mint(ACK_PERMISSIONS), pacer)
    # An automatic review was gated by the fast job that started it (jobs.steer.auto_review),
    # and is gated again when it starts: no one asked, so no one is answered here.
    permission = "automatic" if t.auto else require_write(t, client)
    spending.refuse_when_over_budget(ctx, client)
    if t.kind == Kind.FIX_CI and not t.is_pull_request:
        ctx.reply(client, report.refused("`/agent fix ci` works on a pull request: it fixes what "
                                         "failed in CI on the pull request's head commit.",
                                         "Comment it on the pull request."))
        raise NotAllowed("fix ci on an issue")
    if t.kind == Kind.PR_REVIEW and not t.is_pull_request:
        ctx.reply(client, report.refused("`/agent review` works on a pull request: Orca reviews "
                                         "its change and posts a GitHub review.",
                                         "Comment it on the pull request."))
        raise NotAllowed("a review asked for on an issue")
    if t.kind == Kind.PLAN and t.is_pull_request:
        ctx.reply(client, report.refused("`/agent plan` works on an issue: Orca answers with a "
                                         "plan for it, and `/agent go` starts it.",
                                         "Comment it on the issue."))
        raise NotAllowed("a plan asked for on a pull request")
    if why := _attempts_refused(t, ctx.settings.max_attempts):
        ctx.reply(client, report.refused(*why))
        raise NotAllowed("attempts out of bounds")
    if t.is_pull_request:
        _check_pull(ctx, client)
    if _later(ctx, pacer, held_from):
        return
    if t.comment_id:
        react_to_comment(client, t.repository, t.comment_id, t.on_diff)
    issue = client.get_repo(t.repository).get_issue(t.number)  # lazy: no request
    if t.kind == Kind.LABEL:
        issue.create_reaction("eyes")
    ahead = _run_ahead(ctx)
    body = (report.waiting(ctx.run_id, t.requester, ahead) if ahead
            else review_words.reviewing(ctx.run_id) if t.auto
            else report.working(ctx.run_id, t.requester))
    comment = issue.create_comment(report.linked(body, ctx.settings.public_url))
    ctx.tracking_comment_id = comment.id
    ctx.store.acknowledge(ctx.run_id, comment.id, permission, ahead)
    enqueue_run(ctx.redis, t, ctx.run_id, ctx.settings.run_timeout,
                ctx.settings.max_runs_per_installation, after=ahead)
    ctx.log("acknowledged; queued%s", f" behind {ahead}" if ahead else "")
    if not ahead:
        _show_place(ctx, client, pacer)


def _show_place(ctx: RunContext, client: Github, pacer: WritePacer) -> None:
    """The run's place in line on its comment: now, when the installation's next write slot
    is near; else by the next refresh of places, so that this worker does not sleep for it."""
    if pacer.due() > HOLD_SECONDS:
        schedule_refresh(ctx.redis)
        return
    try:
        show_place(ctx, client, place_in_line(ctx.redis, ctx.run_id))
    except (GithubException, RunError, OSError) as exc:  # queued all the same
        ctx.log("could not show its place in line: %r", exc)


def _later(ctx: RunContext, pacer: WritePacer, held_from: float | None) -> bool:
    """Holds the installation's next write slots for the 👀 and the tracking comment; True
    when they are too far off to sleep for here, and the acknowledgement is queued again for
    when they are due."""
    if held_from is not None:
        pacer.held_from(held_from, ACK_WRITES)
        return False
    wait = pacer.hold(ACK_WRITES)
    if wait <= HOLD_SECONDS:
        return False
    slots = time.time() + wait
    acknowledge_later(ctx.redis, ctx.trigger, ctx.run_id, slots, slots - HOLD_SECONDS)
    ctx.log("its installation's earlier writes take %.1f s; acknowledging then", wait)
    return True


def _attempts_refused(t: Trigger, most: int) -> tuple[str, str] | None:
    """(why, hint) when a request's attempts, or `use attempt`, cannot be done where asked."""
    if t.kind == Kind.USE_ATTEMPT and not t.is_pull_request:
        return "`/agent use attempt <k>` works on a pull request made from attempts.", \
            "Comment it on the pull request."
    if t.attempts == 1:
        return None
    if t.is_pull_request:
        why = ("`--attempts` works on an issue: each attempt starts from the same base commit "
               "and the best becomes the pull request.")
        return why, "Ask on the issue."
    if not 2 <= t.attempts <= most:
        why = (f"{t.attempts} attempts were asked for; this Orca makes 2 to {most} at once "
               "(ORCA_MAX_ATTEMPTS).")
        return why, f"Ask again with `--attempts {most}` or fewer."
    return None


def _check_pull(ctx: RunContext, client: Github) -> None:
    """A PR's branch must be in this repository (a review of it pushes nothing, so a fork's is
    fine); a review must be on Orca's own PR, within the round cap."""
    t = ctx.trigger
    if t.kind == Kind.PR_REVIEW:
        return
    pull = client.get_repo(t.repository).get_pull(t.number)
    try:
        check_same_repository(pull, t.repository)
    except ForkPull as exc:
        ctx.reply(client, report.refused(str(exc), exc.retry_hint))
        raise NotAllowed("the pull request's branch is in a fork") from exc
    if t.thread_id is not None:
        _check_thread(ctx, client, pull)
    if t.kind != Kind.REVIEW:
        return
    orca = ctx.app.identity(client, ctx.redis).login
    if pull.user.login != orca:
        raise NotAllowed("a review on a pull request Orca did not open")
    if why := _nothing_asked(pull, t, orca):
        raise NotAllowed(why)  # recorded, and no round counted
    rounds = ctx.store.count_round(t.target)
    if rounds > ctx.settings.max_review_rounds:
        ctx.reply(client, report.rounds_capped(t.requester, rounds - 1))
        raise NotAllowed(f"review round {rounds} is past the cap")


def _check_thread(ctx: RunContext, client: Github, pull: PullRequest) -> None:
    """`/agent fix` applies one of Orca's review comments: the thread must be Orca's."""
    t = ctx.trigger
    root = pull.get_review_comment(t.thread_id)
    if root.user is None or root.user.login != ctx.app.identity(client, ctx.redis).login:
        ctx.reply(client, report.refused(
            "`/agent fix` makes the change a comment of Orca's review asks for, and this "
            "thread is not one of Orca's.", "Say what to change: `/agent <request>`."))
        raise NotAllowed("/agent fix outside Orca's review threads")


def _nothing_asked(pull: PullRequest, t: Trigger, orca: str) -> str | None:
    """Why a review is only a reply in a conversation (jobs.task.threads.nothing_asked), or
    None. The PR's other comments are read only when every comment of the review is a reply."""
    if t.request.strip():
        return None
    comments = [(c.body, c.in_reply_to_id) for c in pull.get_single_review_comments(t.review_id)]
    if not comments or any(thread is None for _, thread in comments):
        return None
    answered = {c.in_reply_to_id or c.id for c in pull.get_review_comments()
                if c.user.login == orca}
    return nothing_asked(t.request, comments, answered)


def _run_ahead(ctx: RunContext) -> str | None:
    """The newest earlier run on the same target whose job is still to finish, if any."""
    for run_id in ctx.store.active_on(ctx.trigger.target):
        if run_id != ctx.run_id and Job.exists(keys.run_job(run_id), connection=ctx.redis):
            return run_id
    return None
