"""What a run works on, read at its start: the issue or pull request, its branches, its context.

One task, one branch, one PR: work on an issue goes to its `agent/issue-<n>-<slug>` branch,
found again by number when the issue already has one (a follow-up, even after a rename);
work on a pull request goes to the PR's own head branch. Title, body and request are the
words GitHub signed at the trigger, never a later edit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from github import Github
from github.PullRequest import PullRequest
from github.Repository import Repository

from core.errors import RunError
from core.git import git
from core.triggers import Kind, Trigger
from jobs.github.ci import ROUND_BUDGET, ci_state, failures, read_ci
from jobs.github.report import ci_round_request
from jobs.task.conversation import Remark, earlier_remarks
from jobs.task.threads import Thread, review_threads
from jobs.workspace import issue_branch


class ForkPull(RunError):
    """The pull request's head is in a fork, which the App's token cannot push to."""

    retry_hint = ("Push the branch to this repository and open the pull request from there, "
                  "or make the change yourself.")


@dataclass
class Task:
    """Everything the run needs to know about its target before the agent starts."""

    title: str
    body: str
    request: str
    base: str
    """The branch pull requests target; config and instructions are read there."""
    branch: str
    """Where the work is pushed."""
    start: str
    """The branch the worktree starts from: `branch` when it exists, else `base`."""
    pull_number: int | None = None
    """The pull request this run updates (None: an issue run opens or finds one)."""
    head_sha: str = ""
    """The pull request's head commit when the run read it."""
    remarks: list[Remark] = field(default_factory=list)
    threads: list[Thread] = field(default_factory=list)

    @property
    def follow_up(self) -> bool:
        return self.start == self.branch


def read_task(t: Trigger, repo: Repository, mirror: Path) -> Task:
    """The task for a run's trigger: issue work, or work on a pull request's branch."""
    if t.is_pull_request:
        return _pull_task(t, repo, repo.get_pull(t.number))
    default = repo.default_branch
    branch = existing_issue_branch(mirror, t.number) or issue_branch(t.number, t.title)
    start = (branch if remote_has(mirror, branch)
             else t.start_from if t.start_from and remote_has(mirror, t.start_from) else default)
    return Task(t.title, t.body, t.request, default, branch, start,
                remarks=earlier_remarks(t, repo))


def _pull_task(t: Trigger, repo: Repository, pull: PullRequest) -> Task:
    check_same_repository(pull, t.repository)
    task = Task(t.title or pull.title, t.body or (pull.body or ""), t.request,
                pull.base.ref, pull.head.ref, pull.head.ref, pull_number=pull.number,
                head_sha=pull.head.sha, remarks=earlier_remarks(t, repo))
    if t.kind == Kind.REVIEW:
        task.threads = review_threads(t, repo)
    if t.thread_id is not None:  # `/agent fix` in a thread of Orca's review
        finding = pull.get_review_comment(t.thread_id).body
        task.request = f"{t.request}\n\nOrca's review comment there:\n<finding>\n{finding}\n</finding>"
    return task


class NothingToFix(RunError):
    """A CI round found nothing to fix on the pull request's head commit."""

    retry_hint = "Once CI fails on the pull request's head commit, comment `/agent fix ci`."


def ci_request(client: Github, t: Trigger, task: Task) -> str:
    """A CI round's request: what failed on the head commit (jobs.github.ci), or NothingToFix."""
    if t.head_sha and t.head_sha != task.head_sha:
        raise NothingToFix(f"the branch moved past `{t.head_sha[:7]}` (where CI failed) since the "
                           "round was asked for; Orca leaves the new commit to its own CI.")
    reading = read_ci(client, t.repository, task.head_sha)
    state = ci_state(reading)
    if state.state != "failed":
        raise NothingToFix(f"CI has not failed on the head commit `{task.head_sha[:7]}` "
                           f"(it is {state.state}), so there is nothing to fix.")
    found = failures(reading, ROUND_BUDGET)
    return ci_round_request(task.head_sha, found, t.request)


def check_same_repository(pull: PullRequest, repository: str) -> None:
    """ForkPull unless the head branch lives in this repository."""
    head_repo = pull.head.repo
    if head_repo is None or head_repo.full_name.lower() != repository.lower():
        where = head_repo.full_name if head_repo is not None else "a deleted fork"
        raise ForkPull(f"this pull request's branch lives in {where}, and Orca can only push "
                       f"to branches of {repository}: its token is scoped to this repository "
                       "alone, and GitHub does not let Apps push to forks they are not installed on.")


def existing_issue_branch(mirror: Path, number: int) -> str | None:
    """The issue's agent branch on the remote, if one exists (newest first)."""
    prefix = f"refs/remotes/origin/agent/issue-{number}-"
    out = git("for-each-ref", "--sort=-committerdate", "--format=%(refname)", prefix.rstrip("-") + "*",
              cwd=mirror, check=False)
    for ref in out.split():
        if ref.startswith(prefix):
            return ref.removeprefix("refs/remotes/origin/")
    return None


def remote_has(mirror: Path, branch: str) -> bool:
    return bool(git("rev-parse", "--verify", "--quiet", f"refs/remotes/origin/{branch}",
                    cwd=mirror, check=False).strip())
