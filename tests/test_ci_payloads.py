"""check_suite, check_run and status deliveries built from the fake GitHub's own CI objects."""

from __future__ import annotations

from typing import Any, Iterator

from tests import ci_payloads, payloads
from tests.fakes.github import FakeGitHub
from tests.fakes.github_ci import CI_PERMISSIONS, Annotation, CheckApp

REPO = "octo-org/hello"
BRANCH = "agent/issue-1-greet"


def _scene(fake: FakeGitHub) -> tuple[int, str]:
    installation_id = fake.add_installation("octo-org", CI_PERMISSIONS)
    fake.add_repo(REPO, installation_id, {"README.md": "hi\n"}, private=True)
    sha = fake.push_commit(REPO, BRANCH, {"README.md": "hello\n"}, "Greet\n\nBody.", start="main")
    fake.add_pull(REPO, BRANCH, "main", "Greet", "Fixes #1", fake.bot_login)
    return installation_id, sha


def _strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)


def test_check_suite_completed_is_about_the_fakes_suite(fake_github: FakeGitHub) -> None:
    installation_id, sha = _scene(fake_github)
    job = fake_github.ci.add_job(REPO, sha, "test", "failure")
    payload = ci_payloads.check_suite_completed(fake_github, job.check_run.suite)
    suite = payload["check_suite"]
    assert (suite["id"], suite["head_sha"], suite["head_branch"]) == (
        job.check_run.suite.id, sha, BRANCH)
    assert (suite["status"], suite["conclusion"], suite["app"]["slug"]) == (
        "completed", "failure", "github-actions")
    assert [p["number"] for p in suite["pull_requests"]] == [1]
    assert suite["head_commit"]["message"] == "Greet\n\nBody."
    assert payload["installation"]["id"] == installation_id
    assert payload["repository"]["full_name"] == REPO
    assert not [s for s in _strings(payload) if "github.com" in s]


def test_check_run_completed_is_about_the_fakes_run(fake_github: FakeGitHub) -> None:
    _, sha = _scene(fake_github)
    app = CheckApp(4711, "lint-bot", "Lint Bot", "lint-org")
    run = fake_github.ci.add_check_run(fake_github.ci.add_suite(REPO, sha, app), "lint",
                                       "failure", title="1 error", summary="E501",
                                       annotations=[Annotation("a.py", 1, "too long")])
    payload = ci_payloads.check_run_completed(fake_github, run)
    check = payload["check_run"]
    assert (check["id"], check["name"], check["conclusion"], check["head_sha"]) == (
        run.id, "lint", "failure", sha)
    assert check["check_suite"]["id"] == run.suite.id and check["app"]["id"] == 4711
    assert check["output"]["annotations_count"] == 1
    assert [p["number"] for p in check["pull_requests"]] == [1]


def test_an_actions_check_runs_details_are_its_jobs_page(fake_github: FakeGitHub) -> None:
    _, sha = _scene(fake_github)
    job = fake_github.ci.add_job(REPO, sha, "test", "success")
    check = ci_payloads.check_run_completed(fake_github, job.check_run)["check_run"]
    assert check["details_url"].endswith(f"/actions/runs/{job.run.id}/job/{job.id}")


def test_status_is_about_the_fakes_status(fake_github: FakeGitHub) -> None:
    installation_id, sha = _scene(fake_github)
    status = fake_github.ci.add_status(REPO, sha, "ci/jenkins", "failure", "2 failed",
                                       "http://ci.example/7")
    payload = ci_payloads.status_event(fake_github, status)
    assert (payload["id"], payload["sha"], payload["context"], payload["state"]) == (
        status.id, sha, "ci/jenkins", "failure")
    assert payload["commit"]["sha"] == sha
    assert payload["commit"]["commit"]["message"] == "Greet\n\nBody."
    assert [b["name"] for b in payload["branches"]] == [BRANCH]
    assert payload["sender"]["login"] == "ci-bot"
    assert payload["installation"]["id"] == installation_id
    assert payloads.validate("status", payload) == []
