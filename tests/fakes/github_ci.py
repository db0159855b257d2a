"""Setting CI state in the fake GitHub: ``fake_github.ci``.

    ci = fake_github.ci
    sha = fake_github.branch_sha("octo-org/hello", "agent/issue-1")
    job = ci.add_job("octo-org/hello", sha, "test", "failure", log=b"E   assert 1 == 2\\n",
                     annotations=[Annotation("src/app.py", 3, "assert 1 == 2")])
    lint = ci.add_suite("octo-org/hello", sha, app=CheckApp(7, "lint-bot", "Lint", "octo-org"))
    ci.add_check_run(lint, "lint", "success")
    ci.add_status("octo-org/hello", sha, "ci/jenkins", "failure", "2 tests failed")

``add_job`` makes what GitHub Actions makes: a workflow run per workflow and commit, its check
suite (GitHub Actions' App), and per job a check run its ``check_run_url`` names. The REST
endpoints (``github_api_checks.py``, ``github_api_actions.py``) serve it all; payloads for the
check_suite, check_run and status webhooks come from ``tests/ci_payloads.py``.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Iterable
from typing import TYPE_CHECKING

from tests.fakes import github_git as gitops
from tests.fakes.github_ci_state import (
    ACTIONS_APP,
    ANNOTATION_LEVELS,
    STATUS_STATES,
    Annotation,
    CheckApp,
    CheckRun,
    CheckSuite,
    CiStore,
    CommitStatus,
    LogLink,
    WorkflowJob,
    WorkflowRun,
)
from tests.fakes.github_state import DEFAULT_INSTALLATION_PERMISSIONS, Issue, Repo, now

if TYPE_CHECKING:
    from tests.fakes.github_world import FakeWorld

__all__ = ["ACTIONS_APP", "CI_PERMISSIONS", "Annotation", "CheckApp", "FakeCi"]

# An installation that may read CI, as Orca's manifest asks for it (issue #15).
CI_PERMISSIONS = {**DEFAULT_INSTALLATION_PERMISSIONS, "checks": "read", "statuses": "read",
                  "actions": "read"}
# How long a job log's download address works: "expires after 1 minute" (FACTS-next).
LOG_LINK_LIFETIME = dt.timedelta(minutes=1)


class FakeCi:
    """The CI half of the fake's world: scene builders, and the writes handlers share."""

    def __init__(self, world: FakeWorld) -> None:
        self.world = world
        self.store = CiStore()

    # -- scene builders -------------------------------------------------------------------

    def add_suite(self, full_name: str, sha: str, app: CheckApp = ACTIONS_APP,
                  status: str = "queued", head_branch: str | None = None,
                  conclusion: str | None = None) -> CheckSuite:
        """A check suite of ``app`` for commit ``sha``; ``status`` and ``conclusion`` hold
        only while it has no run (GitHub makes such empty ``queued`` suites for Apps that never
        run, and fails an Actions suite without runs when its workflow cannot start)."""
        repo = self._repo(full_name)
        if gitops.rev_parse(self.world.git_dir(full_name), sha) != sha:
            raise ValueError(f"{sha} is not a commit of {full_name}")
        with self.world.state.lock:
            suite = CheckSuite(self.world.state.next_id(), repo, sha,
                               head_branch or self._branch_of(repo, sha), app, own_status=status,
                               own_conclusion=conclusion)
            self.store.suites[suite.id] = suite
        return suite

    def add_check_run(self, suite: CheckSuite, name: str, conclusion: str | None = "success", *,
                      status: str | None = None, title: str | None = None,
                      summary: str | None = None, text: str | None = None,
                      annotations: Iterable[Annotation] = (),
                      details_url: str | None = None) -> CheckRun:
        """A check run in ``suite``: completed with ``conclusion``, or (conclusion None) still
        ``status`` (default in_progress)."""
        found = list(annotations)
        if any(a.level not in ANNOTATION_LEVELS for a in found):
            raise ValueError(f"annotation levels are {ANNOTATION_LEVELS}")
        state = status or ("completed" if conclusion else "in_progress")
        with self.world.state.lock:
            run = CheckRun(self.world.state.next_id(), suite, name, state, conclusion, title,
                           summary, text, found, details_url,
                           completed_at=now() if state == "completed" else None)
            self.store.check_runs[run.id] = run
            suite.runs.append(run)
            suite.updated_at = now()
        return run

    def add_status(self, full_name: str, sha: str, context: str, state: str,
                   description: str | None = None, target_url: str | None = None,
                   creator: str = "ci-bot") -> CommitStatus:
        """A commit status (``error``, ``failure``, ``pending`` or ``success``) for ``context``;
        a later one for the same context replaces it in the combined status."""
        if state not in STATUS_STATES:
            raise ValueError(f"a status state is one of {STATUS_STATES}")
        repo = self._repo(full_name)
        with self.world.state.lock:
            status = CommitStatus(self.world.state.next_id(), repo, sha, context, state,
                                  self.world.state.user(creator), description, target_url)
            self.store.statuses.append(status)
        return status

    def add_workflow_run(self, full_name: str, sha: str, workflow: str = "CI") -> WorkflowRun:
        """The workflow run of ``workflow`` for ``sha``, made with its suite on first use; until
        ``add_job`` gives it jobs it is queued and its suite has no check run."""
        repo = self._repo(full_name)
        for run in self.store.workflow_runs.values():
            if run.repo is repo and run.suite.head_sha == sha and run.name == workflow:
                return run
        suite = self.add_suite(full_name, sha, ACTIONS_APP)
        number = 1 + sum(1 for r in self.store.workflow_runs.values() if r.repo is repo)
        slug = workflow.lower().replace(" ", "-")
        with self.world.state.lock:
            run = WorkflowRun(self.world.state.next_id(), repo, suite, workflow,
                              f".github/workflows/{slug}.yml", 100 + len(slug), number)
            self.store.workflow_runs[run.id] = run
        return run

    def add_job(self, full_name: str, sha: str, name: str, conclusion: str | None = "success", *,
                workflow: str = "CI", log: bytes | None = b"", title: str | None = None,
                summary: str | None = None, annotations: Iterable[Annotation] = (),
                rerun_conclusion: str | None = None, rerun_log: bytes | None = None,
                rerun_waits: bool = False) -> WorkflowJob:
        """A GitHub Actions job of ``workflow`` for ``sha``, completed with ``conclusion`` (None:
        in progress), with its log (None: expired). A re-run concludes ``rerun_conclusion``
        (default: the same again) with ``rerun_log`` (default: the same log), at once, or with
        ``rerun_waits`` stays in progress until ``complete`` finishes it."""
        run = self.add_workflow_run(full_name, sha, workflow)
        check = self.add_check_run(run.suite, name, conclusion, title=title, summary=summary,
                                   annotations=annotations)
        with self.world.state.lock:
            job = WorkflowJob(self.world.state.next_id(), run, check, log, run.run_attempt,
                              rerun_conclusion, rerun_log, rerun_waits)
            self.store.jobs[job.id] = job
            run.jobs.append(job)
        return job

    def latest_job(self, job: WorkflowJob) -> WorkflowJob:
        """The newest job of ``job``'s name in its workflow run: its re-run's, once re-run."""
        return next(j for j in job.run.latest_jobs() if j.name == job.name)

    def complete(self, check: CheckRun | WorkflowJob, conclusion: str) -> None:
        """Finish a check run (or a job's) with ``conclusion``."""
        run = check.check_run if isinstance(check, WorkflowJob) else check
        with self.world.state.lock:
            run.status, run.conclusion, run.completed_at = "completed", conclusion, now()
            run.suite.updated_at = now()

    # -- writes shared with the handlers --------------------------------------------------

    def rerun(self, job: WorkflowJob) -> WorkflowJob:
        """Re-run a finished job as GitHub does: a new attempt of its workflow run, with a new
        job and a new check run of the same name in the same suite; here it finishes at once,
        unless the job's re-runs wait (then ``complete`` finishes the new job)."""
        run = job.run
        conclusion = None if job.rerun_waits else job.rerun_conclusion or job.conclusion
        log = job.rerun_log if job.rerun_log is not None else job.log
        with self.world.state.lock:
            self.store.reruns.append(job.id)
            run.run_attempt += 1
            check = self.add_check_run(run.suite, job.name, conclusion,
                                       title=job.check_run.title, summary=job.check_run.summary,
                                       annotations=job.check_run.annotations
                                       if conclusion not in ("success", "skipped") else ())
            again = WorkflowJob(self.world.state.next_id(), run, check, log, run.run_attempt)
            self.store.jobs[again.id] = again
            run.jobs.append(again)
        return again

    def log_link(self, job: WorkflowJob) -> str:
        """A fresh download address for the job's log, valid for ``LOG_LINK_LIFETIME``."""
        secret = secrets.token_urlsafe(16)
        with self.world.state.lock:
            self.store.log_links[secret] = LogLink(job.id, now() + LOG_LINK_LIFETIME)
        return f"{self.world.site.web}{LOG_PATH}/{secret}"

    def pulls_for(self, repo: Repo, sha: str) -> list[Issue]:
        """The repository's open pulls whose head is ``sha`` (forks' pulls are not listed, as
        in GitHub's check payloads)."""
        found = []
        for issue in sorted(self.world.state.issues.values(), key=lambda i: i.number):
            if issue.repo is repo and issue.pull is not None and issue.state == "open":
                self.world.refresh_pull(issue)
                if issue.pull.head_sha == sha and issue.pull.head_repo is repo:
                    found.append(issue)
        return found

    def head_commit_info(self, repo: Repo, sha: str) -> dict[str, str]:
        """Author, committer, message and tree of ``sha`` from the bare repository."""
        return gitops.commit_info(self.world.git_dir(repo.full_name), sha)

    # -- helpers ------------------------------------------------------------------------

    def _branch_of(self, repo: Repo, sha: str) -> str | None:
        """The head branch GitHub reports: a pull's head branch at ``sha``, else None."""
        pulls = self.pulls_for(repo, sha)
        return pulls[0].pull.head_ref if pulls and pulls[0].pull else None

    def _repo(self, full_name: str) -> Repo:
        repo = self.world.state.repo(full_name)
        if repo is None:
            raise KeyError(f"no repository {full_name}; call add_repo first")
        return repo


# Where job logs are downloaded from: on GitHub another host, here the fake's web host.
LOG_PATH = "/_fake/job-logs"
