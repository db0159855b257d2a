"""check_suite, check_run and status deliveries about the fake GitHub's own CI objects.

Each starts from the vendored @octokit/webhooks-examples (``payloads.build``: repository,
installation and sender re-pointed at the fake) and takes its CI part from the fake's objects
(``fake.ci``): ids, shas, branches, conclusions, the open pulls whose head is the commit, and
the times, so a handler reading the delivery and then the REST API sees one world. Every
payload is checked against the vendored webhook schema before it is returned.

    suite = job.check_run.suite
    status, answer = orca.deliver("check_suite", ci_payloads.check_suite_completed(github, suite))
"""

from __future__ import annotations

from typing import Any

from tests import payload_parts as parts
from tests import payloads
from tests.fakes import github_git as gitops
from tests.fakes.github import FakeGitHub
from tests.fakes.github_ci_state import CheckApp, CheckRun, CheckSuite, CommitStatus
from tests.fakes.github_objects_ci import pull_minimal, simple_commit
from tests.fakes.github_state import Repo, iso

# The App events GitHub Actions subscribes to, in the payload's ``app.events``.
_APP_EVENTS = ["check_run", "check_suite", "pull_request", "push", "workflow_dispatch"]


def repo_spec(repo: Repo) -> dict[str, Any]:
    """``payloads.build``'s description of a repository the fake holds."""
    return {"full_name": repo.full_name, "id": repo.id, "default_branch": repo.default_branch,
            "private": repo.private, "owner_type": repo.owner.type, "owner_id": repo.owner.id}


def _start(github: FakeGitHub, event: str, action: str | None, repo: Repo,
           sender: str) -> dict[str, Any]:
    """The vendored example re-pointed at ``repo`` of the fake, from ``sender``."""
    assert repo.installation_id is not None, "the App is not installed on this repository"
    user = github.state.users.get(sender) or github.state.user(sender)
    return payloads.build(event, action, base_url=github.base_url,
                          installation_id=repo.installation_id, repo=repo_spec(repo),
                          sender_login=sender, sender_id=user.id, sender_type=user.type)


def _checked(event: str, payload: dict[str, Any]) -> dict[str, Any]:
    errors = payloads.validate(event, payload)
    assert errors == [], errors
    return payload


def _app(github: FakeGitHub, app: CheckApp) -> dict[str, Any]:
    """The payload's ``app`` for a suite's App."""
    web = github.base_url
    owner = github.state.user(app.owner_login, "Organization")
    return {
        "id": app.id, "slug": app.slug, "node_id": parts.node_id("Integration", app.id),
        "owner": parts.user(web, owner.login, owner.id, "Organization"), "name": app.name,
        "description": "", "external_url": f"{web}/apps/{app.slug}",
        "html_url": f"{web}/apps/{app.slug}", "created_at": "2018-07-30T09:30:17Z",
        "updated_at": "2019-12-10T19:04:12Z", "events": list(_APP_EVENTS),
        "permissions": {"actions": "write", "checks": "write", "contents": "write",
                        "metadata": "read", "pull_requests": "write", "statuses": "write"},
    }


def _suite(github: FakeGitHub, suite: CheckSuite) -> dict[str, Any]:
    """The suite as a check_run payload nests it (a check_suite payload adds three keys)."""
    url = f"{github.site.api}/repos/{suite.repo.full_name}/check-suites/{suite.id}"
    pulls = [pull_minimal(github.site, p) for p in github.ci.pulls_for(suite.repo, suite.head_sha)]
    return {
        "id": suite.id, "node_id": parts.node_id("CheckSuite", suite.id),
        "head_branch": suite.head_branch, "head_sha": suite.head_sha, "status": suite.status,
        "conclusion": suite.conclusion, "url": url, "before": None, "after": suite.head_sha,
        "pull_requests": pulls, "app": _app(github, suite.app),
        "created_at": iso(suite.created_at), "updated_at": iso(suite.updated_at),
    }


def check_suite_completed(github: FakeGitHub, suite: CheckSuite,
                          sender: str = "octocat") -> dict[str, Any]:
    """check_suite.completed for a suite of the fake whose runs have all completed."""
    assert suite.status == "completed", f"suite {suite.id} is {suite.status}"
    payload = _start(github, "check_suite", "completed", suite.repo, sender)
    info = github.ci.head_commit_info(suite.repo, suite.head_sha)
    payload["check_suite"] = {
        **_suite(github, suite), "latest_check_runs_count": len(suite.latest_runs()),
        "check_runs_url": f"{github.site.api}/repos/{suite.repo.full_name}"
                          f"/check-suites/{suite.id}/check-runs",
        "head_commit": simple_commit(suite.head_sha, info),
        "rerequestable": True, "runs_rerequestable": True,
    }
    return _checked("check_suite", payload)


def check_run_completed(github: FakeGitHub, run: CheckRun,
                        sender: str = "octocat") -> dict[str, Any]:
    """check_run.completed for a completed check run of the fake (an Actions job's too)."""
    assert run.status == "completed", f"check run {run.id} is {run.status}"
    suite = run.suite
    payload = _start(github, "check_run", "completed", suite.repo, sender)
    api = f"{github.site.api}/repos/{suite.repo.full_name}"
    job = github.ci.store.job_of(run)
    details = (f"{github.base_url}/{suite.repo.full_name}/actions/runs/{job.run.id}/job/{job.id}"
               if job is not None else run.details_url)
    nested = _suite(github, suite)
    payload["check_run"] = {
        "id": run.id, "node_id": parts.node_id("CheckRun", run.id), "head_sha": suite.head_sha,
        "external_id": run.external_id, "url": f"{api}/check-runs/{run.id}",
        "html_url": f"{github.base_url}/{suite.repo.full_name}/runs/{run.id}",
        **({"details_url": details} if details else {}), "status": run.status,
        "conclusion": run.conclusion, "started_at": iso(run.started_at),
        "completed_at": iso(run.completed_at), "name": run.name,
        "output": {"title": run.title, "summary": run.summary, "text": run.text,
                   "annotations_count": len(run.annotations),
                   "annotations_url": f"{api}/check-runs/{run.id}/annotations"},
        "check_suite": nested, "app": nested["app"], "pull_requests": nested["pull_requests"],
    }
    payload.pop("requested_action", None)
    return _checked("check_run", payload)


def status_event(github: FakeGitHub, status: CommitStatus) -> dict[str, Any]:
    """status for a commit status of the fake, sent by its creator; ``branches`` are the
    branches that contain the commit (GitHub lists at most ten)."""
    repo, sha = status.repo, status.sha
    payload = _start(github, "status", None, repo, status.creator.login)
    payload.update(
        id=status.id, sha=sha, name=repo.full_name, target_url=status.target_url,
        context=status.context, description=status.description, state=status.state,
        avatar_url=f"{github.base_url}/avatars/{status.creator.id}",
        commit=_status_commit(github, repo, sha, payload["commit"]),
        branches=_branches_containing(github, repo, sha),
        created_at=iso(status.created_at), updated_at=iso(status.updated_at))
    return _checked("status", payload)


def _status_commit(github: FakeGitHub, repo: Repo, sha: str,
                   example: dict[str, Any]) -> dict[str, Any]:
    """The example's commit object, made about ``sha``: message, people, tree, parents."""
    info = github.ci.head_commit_info(repo, sha)
    api, web = f"{github.site.api}/repos/{repo.full_name}", f"{github.base_url}/{repo.full_name}"
    inner = example["commit"]
    inner.update(message=info["message"].rstrip("\n"), url=f"{api}/git/commits/{sha}",
                 tree={"sha": info["tree"], "url": f"{api}/git/trees/{info['tree']}"},
                 comment_count=0,
                 verification={"verified": False, "reason": "unsigned", "signature": None,
                               "payload": None})
    for who in ("author", "committer"):
        inner[who] = {"name": info[f"{who}_name"], "email": info[f"{who}_email"],
                      "date": info[f"{who}_date"]}
    parents = info["parents"].split()
    example.update(sha=sha, node_id=parts.node_id("Commit", int(sha[:7], 16)),
                   url=f"{api}/commits/{sha}", html_url=f"{web}/commit/{sha}",
                   comments_url=f"{api}/commits/{sha}/comments", author=None, committer=None,
                   parents=[{"sha": p, "url": f"{api}/commits/{p}",
                             "html_url": f"{web}/commit/{p}"} for p in parents])
    return example


def _branches_containing(github: FakeGitHub, repo: Repo, sha: str) -> list[dict[str, Any]]:
    """Up to ten branches whose history holds ``sha``, with their tips."""
    listed = gitops.git("for-each-ref", "--contains", sha, "--count=10",
                        "--format=%(refname:short) %(objectname)", "refs/heads",
                        cwd=github.git_dir(repo.full_name)).stdout.split("\n")
    api = f"{github.site.api}/repos/{repo.full_name}"
    return [{"name": name, "commit": {"sha": tip, "url": f"{api}/commits/{tip}"},
             "protected": False}
            for name, tip in (line.split(" ") for line in listed if line)]
