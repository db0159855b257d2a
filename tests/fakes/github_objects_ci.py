"""GitHub's JSON for CI: check suites, check runs, annotations, statuses, workflow runs, jobs.

Each builder returns what api.github.com would (the schemas named in each docstring), every
URL on the fake's own base.
"""

from __future__ import annotations

from typing import Any

from tests.fakes.github_ci_state import (
    Annotation, CheckApp, CheckRun, CheckSuite, CommitStatus, WorkflowJob, WorkflowRun,
)
from tests.fakes.github_objects import Site, node_id, repository, simple_user
from tests.fakes.github_state import Issue, Repo, User, iso


def check_app(site: Site, app: CheckApp, owner: User) -> dict[str, Any]:
    """The ``integration`` a suite or run belongs to."""
    return {
        "id": app.id, "slug": app.slug, "node_id": node_id("A", app.id),
        "owner": simple_user(site, owner), "name": app.name, "description": "", "external_url": f"{site.web}/apps/{app.slug}",
        "html_url": f"{site.web}/apps/{app.slug}", "created_at": "2018-07-30T09:30:17Z",
        "updated_at": "2019-12-10T19:04:12Z", "events": [],
        "permissions": {"actions": "write", "checks": "write", "contents": "write",
                        "metadata": "read", "statuses": "write"},
    }


def simple_commit(sha: str, info: dict[str, str]) -> dict[str, Any]:
    """The ``simple-commit`` of a suite's ``head_commit`` (from ``github_git.commit_info``)."""
    return {
        "id": sha, "tree_id": info["tree"], "message": info["message"].rstrip("\n"),
        "timestamp": info["committer_date"],
        "author": {"name": info["author_name"], "email": info["author_email"]},
        "committer": {"name": info["committer_name"], "email": info["committer_email"]},
    }


def pull_minimal(site: Site, item: Issue) -> dict[str, Any]:
    """The ``pull-request-minimal`` listed in a suite's, run's or workflow run's pulls."""
    assert item.pull is not None
    pull = item.pull

    def end(repo: Repo, ref: str, sha: str) -> dict[str, Any]:
        return {"ref": ref, "sha": sha, "repo": {"id": repo.id, "name": repo.name,
                                                  "url": f"{site.api}/repos/{repo.full_name}"}}

    return {"id": item.id, "number": item.number,
            "url": f"{site.api}/repos/{item.repo.full_name}/pulls/{item.number}",
            "head": end(pull.head_repo, pull.head_ref, pull.head_sha),
            "base": end(item.repo, pull.base_ref, pull.base_sha)}


def check_suite(site: Site, suite: CheckSuite, head_commit: dict[str, Any],
                pulls: list[dict[str, Any]], app_owner: User) -> dict[str, Any]:
    """The ``check-suite`` object."""
    url = f"{site.api}/repos/{suite.repo.full_name}/check-suites/{suite.id}"
    return {
        "id": suite.id, "node_id": node_id("CS", suite.id), "head_branch": suite.head_branch,
        "head_sha": suite.head_sha, "status": suite.status, "conclusion": suite.conclusion,
        "url": url, "before": None, "after": suite.head_sha, "pull_requests": pulls,
        "app": check_app(site, suite.app, app_owner), "repository": repository(site, suite.repo),
        "created_at": iso(suite.created_at), "updated_at": iso(suite.updated_at),
        "head_commit": head_commit, "latest_check_runs_count": len(suite.latest_runs()),
        "check_runs_url": url + "/check-runs", "rerequestable": True, "runs_rerequestable": True,
    }


def check_run(site: Site, run: CheckRun, pulls: list[dict[str, Any]], app_owner: User,
              job: WorkflowJob | None) -> dict[str, Any]:
    """The ``check-run`` object; an Actions run's ``details_url`` is its job's page."""
    repo = run.suite.repo
    url = f"{site.api}/repos/{repo.full_name}/check-runs/{run.id}"
    details = job_html_url(site, job) if job is not None else run.details_url
    return {
        "id": run.id, "node_id": node_id("CR", run.id), "head_sha": run.suite.head_sha,
        "external_id": run.external_id, "url": url,
        "html_url": f"{site.web}/{repo.full_name}/runs/{run.id}", "details_url": details,
        "status": run.status, "conclusion": run.conclusion, "started_at": iso(run.started_at),
        "completed_at": iso(run.completed_at), "name": run.name,
        "output": {"title": run.title, "summary": run.summary, "text": run.text,
                   "annotations_count": len(run.annotations),
                   "annotations_url": url + "/annotations"},
        "check_suite": {"id": run.suite.id}, "app": check_app(site, run.suite.app, app_owner),
        "pull_requests": pulls,
    }


def annotation(site: Site, run: CheckRun, item: Annotation) -> dict[str, Any]:
    """The ``check-annotation`` object."""
    repo = run.suite.repo
    return {
        "path": item.path, "start_line": item.start_line,
        "end_line": item.end_line if item.end_line is not None else item.start_line,
        "start_column": None, "end_column": None, "annotation_level": item.level,
        "title": item.title, "message": item.message, "raw_details": item.raw_details,
        "blob_href": f"{site.web}/{repo.full_name}/blob/{run.suite.head_sha}/{item.path}",
    }


def commit_status(site: Site, status: CommitStatus) -> dict[str, Any]:
    """The ``simple-commit-status`` object (entries of a combined status)."""
    return {
        "id": status.id, "node_id": node_id("SC", status.id), "state": status.state,
        "context": status.context, "description": status.description,
        "target_url": status.target_url, "avatar_url": f"{site.web}/avatars/{status.creator.id}",
        "url": f"{site.api}/repos/{status.repo.full_name}/statuses/{status.sha}",
        "created_at": iso(status.created_at), "updated_at": iso(status.updated_at),
        "required": False,
    }


def combined_status(site: Site, repo: Repo, sha: str, state: str,
                    statuses: list[dict[str, Any]], total: int) -> dict[str, Any]:
    """The ``combined-commit-status`` object."""
    api = f"{site.api}/repos/{repo.full_name}"
    return {"state": state, "sha": sha, "total_count": total, "statuses": statuses,
            "repository": repository(site, repo), "commit_url": f"{api}/commits/{sha}",
            "url": f"{api}/commits/{sha}/status"}


def job_html_url(site: Site, job: WorkflowJob) -> str:
    """A job's page, ``.../actions/runs/{run}/job/{job}`` (GitHub's own numbering there)."""
    return f"{site.web}/{job.run.repo.full_name}/actions/runs/{job.run.id}/job/{job.id}"


def workflow_run(site: Site, run: WorkflowRun, head_commit: dict[str, Any],
                 pulls: list[dict[str, Any]], actor: User) -> dict[str, Any]:
    """The ``workflow-run`` object."""
    api = f"{site.api}/repos/{run.repo.full_name}"
    url = f"{api}/actions/runs/{run.id}"
    stamp = iso(run.created_at)
    return {
        "id": run.id, "node_id": node_id("WFR", run.id), "name": run.name,
        "head_branch": run.suite.head_branch, "head_sha": run.suite.head_sha, "path": run.path,
        "display_title": (head_commit["message"].splitlines() or [run.name])[0],
        "run_number": run.run_number, "run_attempt": run.run_attempt, "event": run.event,
        "status": run.status, "conclusion": run.conclusion, "workflow_id": run.workflow_id,
        "check_suite_id": run.suite.id, "check_suite_node_id": node_id("CS", run.suite.id),
        "url": url, "html_url": f"{site.web}/{run.repo.full_name}/actions/runs/{run.id}",
        "pull_requests": pulls, "created_at": stamp, "updated_at": stamp,
        "run_started_at": stamp, "actor": simple_user(site, actor),
        "triggering_actor": simple_user(site, actor), "jobs_url": url + "/jobs",
        "logs_url": url + "/logs", "check_suite_url": f"{api}/check-suites/{run.suite.id}",
        "artifacts_url": url + "/artifacts", "cancel_url": url + "/cancel",
        "rerun_url": url + "/rerun", "previous_attempt_url": None,
        "workflow_url": f"{api}/actions/workflows/{run.workflow_id}",
        "head_commit": head_commit, "repository": repository(site, run.repo),
        "head_repository": repository(site, run.repo), "referenced_workflows": [],
    }


def job(site: Site, item: WorkflowJob) -> dict[str, Any]:
    """The ``job`` object; ``check_run_url`` is what links it to its check run."""
    api = f"{site.api}/repos/{item.run.repo.full_name}"
    check = item.check_run
    return {
        "id": item.id, "node_id": node_id("J", item.id), "run_id": item.run.id,
        "run_url": f"{api}/actions/runs/{item.run.id}", "run_attempt": item.run_attempt,
        "head_sha": check.suite.head_sha, "head_branch": check.suite.head_branch,
        "workflow_name": item.run.name, "name": item.name, "url": f"{api}/actions/jobs/{item.id}",
        "html_url": job_html_url(site, item), "status": item.status,
        "conclusion": item.conclusion, "created_at": iso(check.started_at),
        "started_at": iso(check.started_at), "completed_at": iso(check.completed_at),
        "check_run_url": f"{api}/check-runs/{check.id}", "labels": ["ubuntu-latest"],
        "runner_id": 1, "runner_name": "GitHub Actions 1", "runner_group_id": 2,
        "runner_group_name": "GitHub Actions", "steps": [],
    }
