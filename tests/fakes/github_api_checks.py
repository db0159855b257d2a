"""REST handlers of the fake for checks and commit statuses, and the pulls of a commit.

Reading checks needs the installation's ``checks: read``, the combined status ``statuses:
read`` (PERM in FACTS-next); GitHub answers a token without them 403.
"""

from __future__ import annotations

import json
from typing import Any

from werkzeug.wrappers import Response

from tests.fakes import github_git as gitops
from tests.fakes import github_objects_ci as ci_objects
from tests.fakes import github_objects_threads as threads
from tests.fakes.github_api_common import (
    ApiError, Ctx, Route, json_response, not_found, paginate, paginate_wrapped,
)
from tests.fakes.github_ci import FakeCi
from tests.fakes.github_ci_state import CheckRun, CheckSuite, combined_state
from tests.fakes.github_state import Repo


def _ci(ctx: Ctx) -> FakeCi:
    return ctx.fake.ci


def _commit(ctx: Ctx, repo: Repo, ref: str) -> str:
    """The sha ``ref`` (a sha or a branch) names; 422 as GitHub answers an unknown one."""
    sha = gitops.rev_parse(ctx.fake.git_dir(repo.full_name), ref)
    if sha is None:
        raise ApiError(422, f"No commit found for SHA: {ref}")
    return sha


def pulls_json(ctx: Ctx, repo: Repo, sha: str) -> list[dict[str, Any]]:
    """The ``pull-request-minimal`` list of a check suite, check run or workflow run."""
    return [ci_objects.pull_minimal(ctx.site, p) for p in _ci(ctx).pulls_for(repo, sha)]


def _owner(ctx: Ctx, suite: CheckSuite) -> Any:
    return ctx.state.user(suite.app.owner_login, "Organization")


def suite_json(ctx: Ctx, suite: CheckSuite) -> dict[str, Any]:
    """A suite with its head commit and pulls, as GitHub serves it."""
    info = _ci(ctx).head_commit_info(suite.repo, suite.head_sha)
    return ci_objects.check_suite(ctx.site, suite, ci_objects.simple_commit(suite.head_sha, info),
                                  pulls_json(ctx, suite.repo, suite.head_sha), _owner(ctx, suite))


def run_json(ctx: Ctx, run: CheckRun) -> dict[str, Any]:
    """A check run with its pulls and, for an Actions job, the job's page as details."""
    return ci_objects.check_run(ctx.site, run, pulls_json(ctx, run.suite.repo, run.suite.head_sha),
                                _owner(ctx, run.suite), _ci(ctx).store.job_of(run))


def _filtered(ctx: Ctx, runs: list[CheckRun]) -> list[CheckRun]:
    """``check_name``, ``status`` and ``app_id`` as GitHub's run lists take them."""
    args = ctx.request.args
    name, status, app_id = args.get("check_name"), args.get("status"), args.get("app_id")
    return [r for r in runs if (name is None or r.name == name)
            and (status is None or r.status == status)
            and (app_id is None or str(r.suite.app.id) == app_id)]


def _runs(ctx: Ctx, suites: list[CheckSuite]) -> Response:
    """The suites' runs, newest per name unless ``filter=all``, as ``{total_count, check_runs}``."""
    everything = ctx.request.args.get("filter") == "all"
    runs = [r for s in suites for r in (s.runs if everything else s.latest_runs())]
    chosen = sorted(_filtered(ctx, runs), key=lambda r: -r.id)
    return paginate_wrapped(ctx, "check_runs", [run_json(ctx, r) for r in chosen])


def _suites_of(ctx: Ctx, repo: Repo, sha: str) -> list[CheckSuite]:
    return [s for s in _ci(ctx).store.suites.values() if s.repo is repo and s.head_sha == sha]


def list_suites_for_ref(ctx: Ctx, owner: str, repo: str, ref: str) -> Response:
    """``GET /repos/{owner}/{repo}/commits/{ref}/check-suites``."""
    found = ctx.repo(owner, repo, "checks", "read")
    suites = _suites_of(ctx, found, _commit(ctx, found, ref))
    app_id = ctx.request.args.get("app_id")
    suites = [s for s in suites if app_id is None or str(s.app.id) == app_id]
    return paginate_wrapped(ctx, "check_suites", [suite_json(ctx, s) for s in suites])


def list_runs_for_ref(ctx: Ctx, owner: str, repo: str, ref: str) -> Response:
    """``GET /repos/{owner}/{repo}/commits/{ref}/check-runs``."""
    found = ctx.repo(owner, repo, "checks", "read")
    return _runs(ctx, _suites_of(ctx, found, _commit(ctx, found, ref)))


def _suite(ctx: Ctx, owner: str, repo: str, check_suite_id: int) -> CheckSuite:
    found = ctx.repo(owner, repo, "checks", "read")
    suite = _ci(ctx).store.suites.get(check_suite_id)
    if suite is None or suite.repo is not found:
        raise not_found()
    return suite


def get_suite(ctx: Ctx, owner: str, repo: str, check_suite_id: int) -> Response:
    """``GET /repos/{owner}/{repo}/check-suites/{check_suite_id}``."""
    return json_response(suite_json(ctx, _suite(ctx, owner, repo, check_suite_id)))


def list_runs_in_suite(ctx: Ctx, owner: str, repo: str, check_suite_id: int) -> Response:
    """``GET /repos/{owner}/{repo}/check-suites/{check_suite_id}/check-runs``."""
    return _runs(ctx, [_suite(ctx, owner, repo, check_suite_id)])


def _run(ctx: Ctx, owner: str, repo: str, check_run_id: int) -> CheckRun:
    found = ctx.repo(owner, repo, "checks", "read")
    run = _ci(ctx).store.check_runs.get(check_run_id)
    if run is None or run.suite.repo is not found:
        raise not_found()
    return run


def get_run(ctx: Ctx, owner: str, repo: str, check_run_id: int) -> Response:
    """``GET /repos/{owner}/{repo}/check-runs/{check_run_id}``."""
    return json_response(run_json(ctx, _run(ctx, owner, repo, check_run_id)))


def list_annotations(ctx: Ctx, owner: str, repo: str, check_run_id: int) -> Response:
    """``GET /repos/{owner}/{repo}/check-runs/{check_run_id}/annotations``."""
    run = _run(ctx, owner, repo, check_run_id)
    return paginate(ctx, [ci_objects.annotation(ctx.site, run, a) for a in run.annotations])


def combined_status(ctx: Ctx, owner: str, repo: str, ref: str) -> Response:
    """``GET /repos/{owner}/{repo}/commits/{ref}/status``: the newest status per context; the
    state reads ``pending`` when there is none (FACTS-next), as on an Actions-only repo."""
    found = ctx.repo(owner, repo, "statuses", "read")
    sha = _commit(ctx, found, ref)
    latest = _ci(ctx).store.latest_statuses(found, sha)
    page = json.loads(paginate(ctx, [ci_objects.commit_status(ctx.site, s) for s in latest])
                      .get_data())
    return json_response(ci_objects.combined_status(ctx.site, found, sha, combined_state(latest),
                                                    page, len(latest)))


def pulls_for_commit(ctx: Ctx, owner: str, repo: str, commit_sha: str) -> Response:
    """``GET /repos/{owner}/{repo}/commits/{commit_sha}/pulls``: here, the open pulls whose
    head is the commit (GitHub also lists merged pulls that contain it)."""
    found = ctx.repo(owner, repo, "pull_requests", "read")
    sha = _commit(ctx, found, commit_sha)
    return paginate(ctx, [threads.pull_simple(ctx.site, p) for p in _ci(ctx).pulls_for(found, sha)])


_REPO = "/repos/<owner>/<repo>"
ROUTES: list[Route] = [
    ("GET", _REPO + "/commits/<ref>/check-suites", list_suites_for_ref),
    ("GET", _REPO + "/commits/<ref>/check-runs", list_runs_for_ref),
    ("GET", _REPO + "/commits/<ref>/status", combined_status),
    ("GET", _REPO + "/commits/<commit_sha>/pulls", pulls_for_commit),
    ("GET", _REPO + "/check-suites/<int:check_suite_id>", get_suite),
    ("GET", _REPO + "/check-suites/<int:check_suite_id>/check-runs", list_runs_in_suite),
    ("GET", _REPO + "/check-runs/<int:check_run_id>", get_run),
    ("GET", _REPO + "/check-runs/<int:check_run_id>/annotations", list_annotations),
]
