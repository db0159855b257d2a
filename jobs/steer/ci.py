"""CI on Orca's own pull requests: the fast job each `check_suite`, `check_run` or `status`
delivery on an `agent/` branch queues.

It shows CI's state on the tracking comment of the run that pushed the commit, and when CI has
finished with failures there, starts one CI round (a `fix_ci` run) for that commit, never two:
- only for a commit Orca pushed (not after a person pushed to the branch: their commits are
  theirs), the pull request's current head, open, from this repository (never a fork's);
- not for failures that fail the same way at the pull request's base commit (flaky, or broken
  already): those are said, not "fixed";
- where the installation granted ``actions: write``, not before failing Actions jobs were
  re-run once (jobs.steer.ci_rerun): a failure that passes on re-run is said as flaky;
- at most ORCA_MAX_CI_ROUNDS rounds per pull request; past it Orca comments once and stops.
The round runs on behalf of whoever asked for the pushed work, and passes their gate again.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace

from github import Github
from github.GithubException import GithubException
from github.PullRequest import PullRequest

from core.errors import RunError
from core.queues import start_run
from core.runs import new_run_id
from core.triggers import AGENT_BRANCH_PREFIX, Kind, Trigger
from jobs.context import RunContext, TrackingComment
from jobs.github import ACK_PERMISSIONS, CI_PERMISSIONS, report
from jobs.github.ci import (
    ROUND_BUDGET,
    CiReading,
    ci_state,
    fails_the_same_way,
    failures,
    read_ci,
)
from jobs.steer import ci_rerun, fleets

log = logging.getLogger("orca.ci")


def check(ctx: RunContext) -> None:
    """Look at CI on the trigger's commit and act on it (see the module's doc)."""
    t = ctx.trigger
    try:
        client = ctx.client(ctx.mint({**ACK_PERMISSIONS, **CI_PERMISSIONS}))
    except GithubException as exc:  # the installation has not granted reading CI
        ctx.log("CI news ignored: no token that reads CI (%s)", exc.status)
        return
    repo = client.get_repo(t.repository)
    numbers = [t.number] if t.number else [p.number for p in repo.get_commit(t.head_sha).get_pulls()]
    for number in numbers:
        pull = repo.get_pull(number)
        if _ours_to_follow(ctx, pull, t.head_sha):
            _follow(ctx, client, pull)


def _ours_to_follow(ctx: RunContext, pull: PullRequest, sha: str) -> bool:
    head_repo = pull.head.repo
    return (pull.state == "open" and pull.head.sha == sha
            and pull.head.ref.startswith(AGENT_BRANCH_PREFIX)
            and head_repo is not None and head_repo.full_name.lower() == ctx.trigger.repository.lower()
            and ctx.store.pusher(ctx.trigger.repository, sha) is not None)


def _follow(ctx: RunContext, client: Github, pull: PullRequest) -> None:
    t, sha = ctx.trigger, pull.head.sha
    pusher_id = ctx.store.pusher(t.repository, sha)
    pusher = ctx.store.load(pusher_id) if pusher_id else None
    reading = read_ci(client, t.repository, sha)
    state = ci_state(reading)
    rerun = ci_rerun.recorded(ctx, sha)
    note = ci_rerun.note(state, rerun)
    if state.state == "failed" and state.finished:
        note = _round_or_why_not(ctx, client, pull, reading, rerun,
                                 pusher.trigger if pusher else None)
    if pusher is not None and ctx.store.record_ci(pusher.id, state.state, sha):
        fleets.moved(ctx.redis, pusher.target)  # a sub-issue's checklist line shows CI
    if pusher is not None and pusher.tracking_comment_id:
        _show(ctx, client, pusher.trigger, pusher.tracking_comment_id,
              report.ci_line(sha, state.state, state.failing, note))


def _round_or_why_not(ctx: RunContext, client: Github, pull: PullRequest, reading: CiReading,
                      rerun: ci_rerun.RerunRecord | None, asker: Trigger | None) -> str:
    t, sha = ctx.trigger, pull.head.sha
    if asker is None:
        return "the run that pushed it is no longer on record, so Orca leaves it"
    found = failures(reading, ROUND_BUDGET)
    at_base = (failures(read_ci(client, t.repository, pull.base.sha), ROUND_BUDGET)
               if found else [])
    flaky = [f.name for f in found if fails_the_same_way(f, at_base)]
    if found and len(flaky) == len(found):
        return report.ci_flaky(sha, flaky)
    theirs = [f for f in found if f.name not in flaky]
    if rerun is None and (words := ci_rerun.rerun_once(ctx, sha, theirs)) is not None:
        return words  # no round until the re-run says whether the failure is flaky
    if rerun is not None and ci_rerun.waiting(rerun, theirs):
        return report.ci_rerunning(rerun.names)  # this reading predates the re-run
    if (said := ctx.store.claim_ci_round(t.repository, sha)) is not None:
        return said  # decided already, on another suite's or check's delivery
    notes = [report.ci_flaky(sha, flaky)] if flaky else []
    notes += ci_rerun.outcome(rerun, theirs) if rerun is not None else []
    words = _round(ctx, client, pull, asker, notes)
    ctx.store.said_of_ci_round(t.repository, sha, words)
    return words


def _round(ctx: RunContext, client: Github, pull: PullRequest, asker: Trigger,
           notes: list[str]) -> str:
    t, sha = ctx.trigger, pull.head.sha
    target = f"{t.repository}#{pull.number}"
    rounds = ctx.store.count_ci_round(target)
    cap = ctx.settings.max_ci_rounds
    if rounds > cap:
        if rounds == cap + 1:
            ctx.reply(client, report.ci_capped(cap, sha))
        return f"no round: {cap} were the cap"
    round_trigger = replace(asker, kind=Kind.FIX_CI, number=pull.number, is_pull_request=True,
                            head_sha=sha, request="", comment_id=None, review_id=None,
                            on_diff=False, title=pull.title, body=pull.body or "",
                            at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), push=False)
    run_id = new_run_id()
    start_run(ctx.redis, run_id, round_trigger, f"ci:{sha}")
    ctx.log("CI round %d of %d for %s at %s: run %s", rounds, cap, target, sha[:7], run_id)
    return "; ".join([f"CI round {rounds} of {cap} under way (run `{run_id}`)", *notes])


def _show(ctx: RunContext, client: Github, asked: Trigger, comment_id: int, line: str) -> None:
    """Put the CI line on the pushing run's tracking comment (on its issue or PR)."""
    path = f"/repos/{asked.repository}/issues/comments/{comment_id}"
    try:
        _headers, comment = client.requester.requestJsonAndCheck("GET", path)
        body = report.with_ci_line(comment.get("body") or "", line)
        if body != comment.get("body"):
            TrackingComment(client, asked.repository, comment_id,
                            ctx.settings.public_url).edit(body)
    except (GithubException, RunError, OSError) as exc:  # CI's state is news, not a must
        log.warning("could not show CI on comment %s: %r", comment_id, exc)
