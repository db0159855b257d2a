"""What CI says about a commit: whether it has finished, and what failed and why.

A reader only: it decides nothing about runs. CI has finished for a commit when every check
suite for it has completed, and every commit status has left ``pending`` on a repository
that uses statuses (one whose commit has any): the combined status reads ``pending`` when
there is none, so on a repository that uses only Actions it would read pending forever.

A suite that has no check run and has not completed does not count (``CiState.notes`` says
so): GitHub makes a suite for every App with checks permission on each push and leaves it
``queued`` forever when that App never runs, as other tools found (sourcegraph#9058,
getsentry/craft#117). GitHub Actions' own suite is the exception that is looked at: it counts
while its workflow run has not completed (its jobs may not have check runs yet).

Failing means ``failure``, ``timed_out`` or ``startup_failure`` for a check run and
``failure`` or ``error`` for a status. ``cancelled``, ``action_required``, ``stale``,
``neutral`` and ``skipped`` are not failures of the code: a person or GitHub stopped the check,
or it asked nothing of it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from itertools import islice

from github import Github
from github.CheckRun import CheckRun
from github.CheckSuite import CheckSuite
from github.CommitStatus import CommitStatus
from github.GithubException import GithubException
from github.Repository import Repository

from jobs.github import ci_budget, ci_logs

FAILING_CHECKS = frozenset({"failure", "timed_out", "startup_failure"})
FAILING_STATUSES = frozenset({"failure", "error"})
ACTIONS_APP = "github-actions"
# Annotations read per check run; GitHub takes at most 50 per request when a check writes
# them (https://docs.github.com/en/rest/checks/runs#update-a-check-run), and fifty say enough.
MAX_ANNOTATIONS = 50
# What CI said, at most, in a CI round's request (the agent can read more with its tools); the
# same budget decides which failures fail the same way at the base.
ROUND_BUDGET = 24_000
SUITE_FAILED = "the check suite failed without a check run (for GitHub Actions: a workflow that "\
               "could not start, such as one whose file does not parse)"


@dataclass(frozen=True)
class CiState:
    """Where CI stands for one commit."""

    sha: str
    state: str
    """``none`` (no CI here), ``pending`` (running, nothing failed yet), ``failed`` (something
    failed, whether or not the rest has finished) or ``passed`` (finished, nothing failed)."""
    finished: bool
    """Every counted suite completed and no status pending (true for ``none``)."""
    failing: tuple[str, ...] = ()
    """Names of the failing check runs and contexts of the failing statuses."""
    waiting_for: tuple[str, ...] = ()
    """What has not finished: check runs by name, statuses by context, suites by App."""
    notes: tuple[str, ...] = ()
    """What was not counted, and why (empty suites, statuses that could not be read)."""


@dataclass(frozen=True)
class Annotation:
    """A check's note on lines of a file."""

    path: str
    line: int
    end_line: int
    level: str  # notice, warning or failure
    message: str
    title: str | None = None


@dataclass(frozen=True)
class Failure:
    """One failing check run or commit status, with what it said, fitted to the budget."""

    name: str  # the check run's name, or the status's context
    conclusion: str  # failure, timed_out, startup_failure; a status's failure or error
    app: str  # the slug of the App that ran the check; "" for a commit status
    url: str | None = None  # where a person reads more: details_url or target_url
    title: str | None = None  # the check's output title
    summary: str | None = None  # its output summary, or the status's description
    text: str | None = None  # its output text
    annotations: tuple[Annotation, ...] = ()
    annotations_left_out: int = 0  # annotations the check has that are not here
    log: str | None = None  # the end of the Actions job's log, cleaned
    log_size: int = 0  # bytes of the whole log
    log_note: str | None = None  # "log unavailable: why", or why the end is not the end
    check_run_id: int | None = None
    job_id: int | None = None


@dataclass(frozen=True)
class Rerun:
    """Whether a job's re-run started, and if not, why."""

    started: bool
    why: str = ""


@dataclass
class CiReading:
    """One read of a commit's CI: its latest check runs, its suites and its commit statuses,
    which ``ci_state`` and ``failures`` both read, so that a caller needing both fetches each
    list once (three calls fewer) and judges one snapshot, not two taken moments apart."""

    sha: str
    repo: Repository
    check_runs: list[CheckRun]
    suites: list[CheckSuite]
    statuses: list[CommitStatus] | None
    """None when they could not be read (``status_note`` says why)."""
    status_count: int = 0
    status_note: str | None = None


def read_ci(client: Github, repository: str, sha: str) -> CiReading:
    """Read what CI says about ``sha`` in ``repository`` (``owner/name``).

    Raises ``GithubException`` if the checks cannot be read at all (no ``checks: read``);
    statuses that cannot be read only add a note.
    """
    repo = client.get_repo(repository)
    commit = repo.get_commit(sha)
    runs = list(commit.get_check_runs(filter="latest"))
    suites = list(commit.get_check_suites())
    try:
        combined = commit.get_combined_status()
        statuses = list(combined.statuses)
    except GithubException as exc:
        return CiReading(sha, repo, runs, suites, None,
                         status_note=f"commit statuses not read: "
                                     f"{ci_logs.describe(exc, 'statuses: read')}")
    return CiReading(sha, repo, runs, suites, statuses, combined.total_count)


def ci_state(reading: CiReading) -> CiState:
    """Where CI stands for the commit ``reading`` is of."""
    tally = _Tally()
    for run in reading.check_runs:
        tally.failing += [run.name] if run.conclusion in FAILING_CHECKS else []
        tally.waiting += [run.name] if run.status != "completed" else []
    for suite in reading.suites:
        _count_suite(reading.repo, suite, tally)
    _count_statuses(reading, tally)
    finished = not tally.waiting
    state = ("failed" if tally.failing else "pending" if not finished
             else "passed" if tally.counted else "none")
    return CiState(reading.sha, state, finished, _unique(tally.failing),
                   _unique(tally.waiting), tuple(tally.notes))


def failures(reading: CiReading, budget_bytes: int) -> list[Failure]:
    """Every failing check run and status in ``reading``, what each said, and the end of each
    failing Actions job's log, cut so that together they take at most ``budget_bytes``
    (UTF-8 bytes of their text, see ``ci_budget``)."""
    jobs: ci_logs.JobsBySuite = {}
    found = [_check_failure(reading.repo, run, budget_bytes, jobs)
             for run in reading.check_runs if run.conclusion in FAILING_CHECKS]
    found += [Failure(_slug(s), s.conclusion, _slug(s), summary=SUITE_FAILED)
              for s in reading.suites if _failed_without_runs(s)]
    found += [Failure(s.context, s.state, "", s.target_url, summary=s.description)
              for s in reading.statuses or () if s.state in FAILING_STATUSES]
    return ci_budget.fit(found, budget_bytes)


def rerun_job(client: Github, repository: str, job_id: int) -> Rerun:
    """Ask GitHub to re-run one Actions job (and the jobs that need it). Needs the
    installation's ``actions: write``; without it GitHub answers 403, returned as the why.
    PyGithub has no per-job re-run, hence the raw call."""
    try:
        client.requester.requestJsonAndCheck(
            "POST", f"/repos/{repository}/actions/jobs/{job_id}/rerun")
    except GithubException as exc:
        return Rerun(False, ci_logs.describe(exc, "actions: write"))
    return Rerun(True)


def fails_the_same_way(failure: Failure, others: list[Failure]) -> bool:
    """Whether a check of the same name fails in ``others`` (say, at the base commit) with
    the same conclusion and the same annotated messages (or, without annotations, the same
    title): then this failure is not the change's doing. Lines are not compared, since the
    change may move them."""
    def said(item: Failure) -> object:
        notes = {(a.path, a.message) for a in item.annotations}
        return notes or item.title
    return any(o.name == failure.name and o.conclusion == failure.conclusion
               and said(o) == said(failure) for o in others)


@dataclass
class _Tally:
    """What a commit's check runs, suites and statuses add up to."""

    waiting: list[str] = field(default_factory=list)
    failing: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    counted: int = 0  # suites and statuses that count


def _slug(suite: CheckSuite) -> str:
    return suite.app.slug if suite.app else "an App"


def _failed_without_runs(suite: CheckSuite) -> bool:
    """A suite that failed with no check run (say, a workflow file that does not parse)."""
    return (suite.status == "completed" and not suite.latest_check_runs_count
            and suite.conclusion in FAILING_CHECKS)


def _count_suite(repo: Repository, suite: CheckSuite, tally: _Tally) -> None:
    """Add one suite: completed, running, or an empty one that does not count."""
    slug = _slug(suite)
    if suite.status == "completed":
        tally.counted += 1
        tally.failing += [slug] if _failed_without_runs(suite) else []
    elif suite.latest_check_runs_count:
        tally.counted += 1
        tally.waiting.append(slug)
    elif slug == ACTIONS_APP:
        _count_actions_suite(repo, suite, tally)
    else:
        tally.notes.append(f"not counted: the {suite.status} suite of {slug} has no check run")


def _count_actions_suite(repo: Repository, suite: CheckSuite, tally: _Tally) -> None:
    """An Actions suite without check runs counts while its workflow run has not completed."""
    try:
        runs = list(repo.get_workflow_runs(check_suite_id=suite.id))
    except GithubException as exc:
        tally.notes.append(f"not counted: an Actions suite without check runs "
                           f"({ci_logs.describe(exc)})")
        return
    running = [r.name or "GitHub Actions" for r in runs if r.status != "completed"]
    if running:
        tally.counted += 1
        tally.waiting += running
    else:
        tally.notes.append("not counted: an Actions suite with no check run and no workflow "
                           "run under way")


def _count_statuses(reading: CiReading, tally: _Tally) -> None:
    """Add the commit statuses; a repository that uses none adds nothing."""
    if reading.statuses is None:
        tally.notes.append(reading.status_note or "commit statuses not read")
        return
    tally.failing += [s.context for s in reading.statuses if s.state in FAILING_STATUSES]
    tally.waiting += [s.context for s in reading.statuses if s.state == "pending"]
    tally.counted += reading.status_count


def _check_failure(repo: Repository, run: CheckRun, budget: int,
                   jobs: ci_logs.JobsBySuite) -> Failure:
    """A failing check run with its output, annotations and, for Actions, its job's log."""
    output, app = run.output, run.app.slug if run.app else ""
    notes, left_out = _annotations(run, output.annotations_count or 0)
    failure = Failure(run.name, run.conclusion, app, run.details_url or run.html_url,
                      output.title, output.summary, output.text, notes, left_out,
                      check_run_id=run.id)
    if app != ACTIONS_APP:
        return failure
    # Cleaning shrinks a log (timestamps, colours), so read twice what it may show.
    log = ci_logs.job_log(repo, run, 2 * budget, jobs)
    return replace(failure, log=log.text, log_size=log.size, log_note=log.note,
                   job_id=log.job_id)


def _annotations(run: CheckRun, count: int) -> tuple[tuple[Annotation, ...], int]:
    """Up to ``MAX_ANNOTATIONS`` annotations and how many are left out."""
    if count <= 0:
        return (), 0
    try:
        read = list(islice(run.get_annotations(), MAX_ANNOTATIONS))
    except GithubException:
        return (), count
    notes = tuple(Annotation(a.path, a.start_line, a.end_line or a.start_line,
                             a.annotation_level or "notice", a.message or "", a.title)
                  for a in read)
    return notes, max(0, count - len(notes))


def _unique(names: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(names))
