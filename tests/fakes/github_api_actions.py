"""REST handlers of the fake for GitHub Actions: workflow runs, their jobs, job logs, re-runs.

Reading needs the installation's ``actions: read``, re-running ``actions: write`` (PERM in
FACTS-next). A job's log is a 302 to a plain-text address that works for a minute and wants
no credentials; the fake serves that address itself (``download_log``), outside ``/api/v3``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Request, Response

from tests.fakes import github_objects_ci as ci_objects
from tests.fakes.github_api_checks import pulls_json
from tests.fakes.github_api_common import (
    ApiError, Ctx, Route, json_response, not_found, paginate_wrapped,
)
from tests.fakes.github_ci import FakeCi
from tests.fakes.github_ci_state import WorkflowJob, WorkflowRun
from tests.fakes.github_state import now

if TYPE_CHECKING:
    from tests.fakes.github import FakeGitHub


def _ci(ctx: Ctx) -> FakeCi:
    return ctx.fake.ci


def run_json(ctx: Ctx, run: WorkflowRun) -> dict[str, Any]:
    """A workflow run with its head commit and pulls; its actor is the repository's owner."""
    info = _ci(ctx).head_commit_info(run.repo, run.suite.head_sha)
    head = ci_objects.simple_commit(run.suite.head_sha, info)
    return ci_objects.workflow_run(ctx.site, run, head, pulls_json(ctx, run.repo, run.suite.head_sha),
                                   run.repo.owner)


def list_runs(ctx: Ctx, owner: str, repo: str) -> Response:
    """``GET /repos/{owner}/{repo}/actions/runs`` with ``check_suite_id``, ``head_sha`` and
    ``status`` (newest first)."""
    found = ctx.repo(owner, repo, "actions", "read")
    args = ctx.request.args
    suite_id, sha, status = args.get("check_suite_id"), args.get("head_sha"), args.get("status")
    runs = [r for r in sorted(_ci(ctx).store.workflow_runs.values(), key=lambda r: -r.id)
            if r.repo is found and (suite_id is None or str(r.suite.id) == suite_id)
            and (sha is None or r.suite.head_sha == sha)
            and (status is None or status in (r.status, r.conclusion))]
    return paginate_wrapped(ctx, "workflow_runs", [run_json(ctx, r) for r in runs])


def _run(ctx: Ctx, owner: str, repo: str, run_id: int) -> WorkflowRun:
    found = ctx.repo(owner, repo, "actions", "read")
    run = _ci(ctx).store.workflow_runs.get(run_id)
    if run is None or run.repo is not found:
        raise not_found()
    return run


def get_run(ctx: Ctx, owner: str, repo: str, run_id: int) -> Response:
    """``GET /repos/{owner}/{repo}/actions/runs/{run_id}``."""
    return json_response(run_json(ctx, _run(ctx, owner, repo, run_id)))


def list_jobs(ctx: Ctx, owner: str, repo: str, run_id: int) -> Response:
    """``GET /repos/{owner}/{repo}/actions/runs/{run_id}/jobs``: the latest attempt's jobs
    (newest per name) unless ``filter=all``."""
    run = _run(ctx, owner, repo, run_id)
    jobs = run.jobs if ctx.request.args.get("filter") == "all" else run.latest_jobs()
    return paginate_wrapped(ctx, "jobs", [ci_objects.job(ctx.site, j) for j in jobs])


def _job(ctx: Ctx, owner: str, repo: str, job_id: int, level: str = "read") -> WorkflowJob:
    found = ctx.repo(owner, repo, "actions", level)
    job = _ci(ctx).store.jobs.get(job_id)
    if job is None or job.run.repo is not found:
        raise not_found()
    return job


def get_job(ctx: Ctx, owner: str, repo: str, job_id: int) -> Response:
    """``GET /repos/{owner}/{repo}/actions/jobs/{job_id}``."""
    return json_response(ci_objects.job(ctx.site, _job(ctx, owner, repo, job_id)))


def job_logs(ctx: Ctx, owner: str, repo: str, job_id: int) -> Response:
    """``GET /repos/{owner}/{repo}/actions/jobs/{job_id}/logs``: 302 to the log's address.

    A log that is gone answers 410, as API users report for expired logs (the description
    lists only the 302; e.g. makoni/actioneer-gtk#14).
    """
    job = _job(ctx, owner, repo, job_id)
    if job.log is None:
        raise ApiError(410, "Gone")
    return Response(status=302, headers={"Location": _ci(ctx).log_link(job)})


def rerun_job(ctx: Ctx, owner: str, repo: str, job_id: int) -> Response:
    """``POST /repos/{owner}/{repo}/actions/jobs/{job_id}/rerun``: 201 and a new attempt; 403
    while the job has not finished."""
    job = _job(ctx, owner, repo, job_id, "write")
    if job.status != "completed":
        raise ApiError(403, "This job is still running and cannot be re-run")
    _ci(ctx).rerun(job)
    return json_response({}, 201)


def download_log(fake: FakeGitHub, request: Request, secret: str) -> Response:
    """The log's own address: plain text for a minute, then refused as an expired signature."""
    link = fake.ci.store.log_links.get(secret)
    job = fake.ci.store.jobs.get(link.job_id) if link else None
    if link is None or job is None or job.log is None or link.expires_at < now():
        return Response("AuthenticationFailed: the signature has expired\n", status=403,
                        mimetype="text/plain")
    return Response(job.log, status=200, mimetype="text/plain")


_REPO = "/repos/<owner>/<repo>/actions"
ROUTES: list[Route] = [
    ("GET", _REPO + "/runs", list_runs),
    ("GET", _REPO + "/runs/<int:run_id>", get_run),
    ("GET", _REPO + "/runs/<int:run_id>/jobs", list_jobs),
    ("GET", _REPO + "/jobs/<int:job_id>", get_job),
    ("GET", _REPO + "/jobs/<int:job_id>/logs", job_logs),
    ("POST", _REPO + "/jobs/<int:job_id>/rerun", rerun_job),
]
