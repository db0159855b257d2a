"""The fake GitHub's CI world: check suites and runs, commit statuses, Actions runs and jobs.

Plain dataclasses linked as GitHub links them: a check run belongs to a check suite; an
Actions workflow run names its suite (``check_suite_id``) and each of its jobs names its
check run (``check_run_url``). Job ids and check run ids are drawn separately, so they differ,
as they may on GitHub (FACTS-next: equal in most examples, not all).

A suite's and a workflow run's status and conclusion follow from their newest run per name;
a suite with no run keeps the status it was given (GitHub leaves the suites it makes for Apps
that never run ``queued`` forever).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from tests.fakes.github_state import Repo, User, now

# Worst first: a suite or workflow run concludes with the worst conclusion of its runs.
CONCLUSION_ORDER = ("action_required", "startup_failure", "timed_out", "failure", "cancelled",
                    "stale", "success", "neutral", "skipped")
STATUS_STATES = ("error", "failure", "pending", "success")
ANNOTATION_LEVELS = ("notice", "warning", "failure")


@dataclass(frozen=True)
class CheckApp:
    """The App a check suite belongs to (GitHub Actions, or any other CI App)."""

    id: int
    slug: str
    name: str
    owner_login: str


# GitHub Actions' App on github.com (its check suites' ``app``).
ACTIONS_APP = CheckApp(15368, "github-actions", "GitHub Actions", "github")


@dataclass
class Annotation:
    """One annotation of a check run: a message on lines of a file."""

    path: str
    start_line: int
    message: str
    level: str = "failure"
    end_line: int | None = None  # None: the start line
    title: str | None = None
    raw_details: str | None = None


@dataclass
class CheckSuite:
    """A check suite: one App's checks for one commit."""

    id: int
    repo: Repo
    head_sha: str
    head_branch: str | None
    app: CheckApp
    runs: list[CheckRun] = field(default_factory=list)
    own_status: str = "queued"  # used while the suite has no run
    own_conclusion: str | None = None
    created_at: dt.datetime = field(default_factory=now)
    updated_at: dt.datetime = field(default_factory=now)

    def latest_runs(self) -> list[CheckRun]:
        """The newest run of each name (a re-run supersedes the run it repeats)."""
        newest: dict[str, CheckRun] = {}
        for run in self.runs:
            if run.name not in newest or run.id > newest[run.name].id:
                newest[run.name] = run
        return sorted(newest.values(), key=lambda r: r.id)

    @property
    def status(self) -> str:
        """completed when every latest run is; queued while all are; in_progress otherwise."""
        runs = self.latest_runs()
        if not runs:
            return self.own_status
        return rollup_status([r.status for r in runs])

    @property
    def conclusion(self) -> str | None:
        """The worst conclusion of the latest runs, once all completed."""
        runs = self.latest_runs()
        if not runs:
            return self.own_conclusion
        if self.status != "completed":
            return None
        return rollup_conclusion([r.conclusion for r in runs])


@dataclass
class CheckRun:
    """A check run: one named check, with its output and annotations."""

    id: int
    suite: CheckSuite
    name: str
    status: str
    conclusion: str | None
    title: str | None = None
    summary: str | None = None
    text: str | None = None
    annotations: list[Annotation] = field(default_factory=list)
    details_url: str | None = None
    external_id: str = ""
    started_at: dt.datetime = field(default_factory=now)
    completed_at: dt.datetime | None = None


@dataclass
class CommitStatus:
    """A commit status (the older API CI services use): one context's state for a commit."""

    id: int
    repo: Repo
    sha: str
    context: str
    state: str
    creator: User
    description: str | None = None
    target_url: str | None = None
    created_at: dt.datetime = field(default_factory=now)
    updated_at: dt.datetime = field(default_factory=now)


@dataclass
class WorkflowRun:
    """A GitHub Actions workflow run, and the check suite that reports it."""

    id: int
    repo: Repo
    suite: CheckSuite
    name: str
    path: str
    workflow_id: int
    run_number: int
    event: str = "pull_request"
    run_attempt: int = 1
    jobs: list[WorkflowJob] = field(default_factory=list)
    created_at: dt.datetime = field(default_factory=now)

    def latest_jobs(self) -> list[WorkflowJob]:
        """The newest job of each name: a re-run job replaces the one it repeats."""
        newest: dict[str, WorkflowJob] = {}
        for job in self.jobs:
            if job.name not in newest or job.id > newest[job.name].id:
                newest[job.name] = job
        return sorted(newest.values(), key=lambda j: j.id)

    @property
    def status(self) -> str:
        """As a suite's: from the latest jobs."""
        jobs = self.latest_jobs()
        return rollup_status([j.status for j in jobs]) if jobs else "queued"

    @property
    def conclusion(self) -> str | None:
        """The worst conclusion of the latest jobs, once all completed."""
        if self.status != "completed":
            return None
        return rollup_conclusion([j.conclusion for j in self.latest_jobs()])


@dataclass
class WorkflowJob:
    """A job of a workflow run; its status, conclusion and output live on its check run."""

    id: int
    run: WorkflowRun
    check_run: CheckRun
    log: bytes | None  # None: no log any more (expired): the log endpoint answers 410
    run_attempt: int = 1
    rerun_conclusion: str | None = None  # what a re-run concludes; None: the same again
    rerun_log: bytes | None = None  # the re-run's log; None: the same again
    rerun_waits: bool = False  # a re-run stays in progress until FakeCi.complete finishes it

    @property
    def name(self) -> str:
        return self.check_run.name

    @property
    def status(self) -> str:
        return self.check_run.status

    @property
    def conclusion(self) -> str | None:
        return self.check_run.conclusion


@dataclass
class LogLink:
    """A job log's download address, valid for a minute as GitHub's is (FACTS-next)."""

    job_id: int
    expires_at: dt.datetime


@dataclass
class CiStore:
    """Every CI object the fake holds, by id; guard changes with ``State.lock``."""

    suites: dict[int, CheckSuite] = field(default_factory=dict)
    check_runs: dict[int, CheckRun] = field(default_factory=dict)
    statuses: list[CommitStatus] = field(default_factory=list)
    workflow_runs: dict[int, WorkflowRun] = field(default_factory=dict)
    jobs: dict[int, WorkflowJob] = field(default_factory=dict)
    log_links: dict[str, LogLink] = field(default_factory=dict)  # secret path part -> link
    reruns: list[int] = field(default_factory=list)  # job ids re-run, in order

    def job_of(self, check_run: CheckRun) -> WorkflowJob | None:
        """The Actions job whose check run this is, if any."""
        return next((j for j in self.jobs.values() if j.check_run is check_run), None)

    def latest_statuses(self, repo: Repo, sha: str) -> list[CommitStatus]:
        """The newest status of each context for a commit, newest first (as GitHub lists)."""
        newest: dict[str, CommitStatus] = {}
        for status in self.statuses:
            if status.repo is repo and status.sha == sha:
                newest[status.context] = status
        return sorted(newest.values(), key=lambda s: -s.id)


def rollup_status(statuses: list[str]) -> str:
    """completed when all are; queued when all are; in_progress otherwise."""
    if all(s == "completed" for s in statuses):
        return "completed"
    return "queued" if all(s == "queued" for s in statuses) else "in_progress"


def rollup_conclusion(conclusions: list[str | None]) -> str:
    """The worst of the conclusions (see ``CONCLUSION_ORDER``)."""
    known = [c for c in conclusions if c in CONCLUSION_ORDER]
    return min(known, key=CONCLUSION_ORDER.index) if known else "success"


def combined_state(statuses: list[CommitStatus]) -> str:
    """GitHub's combined state: failure if any is error or failure, pending if there is none
    or any is pending, success otherwise (so a commit without statuses reads pending)."""
    states = {s.state for s in statuses}
    if states & {"error", "failure"}:
        return "failure"
    return "pending" if not statuses or "pending" in states else "success"
