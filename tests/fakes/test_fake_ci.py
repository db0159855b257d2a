"""The fake GitHub's CI endpoints, driven by the real PyGithub and checked against GitHub's
OpenAPI description: checks, statuses, Actions runs and jobs linked as GitHub links them."""

from __future__ import annotations

import datetime as dt
import urllib.error
import urllib.request

import github
import pytest
from github import Auth

from tests.fakes.github import FakeGitHub
from tests.fakes.github_ci import CI_PERMISSIONS, Annotation, CheckApp

REPO = "octo-org/hello"
BRANCH = "agent/issue-1-greet"
LINT = CheckApp(4711, "lint-bot", "Lint Bot", "lint-org")


def _client(fake: FakeGitHub, installation_id: int) -> github.Github:
    auth = Auth.AppAuth(fake.app_id, fake.private_key_pem).get_installation_auth(installation_id)
    return github.Github(base_url=fake.api_url, auth=auth, seconds_between_requests=None,
                         seconds_between_writes=None)


def _scene(fake: FakeGitHub, permissions: dict[str, str] | None = None) -> tuple[int, str]:
    """A repository with a pull from BRANCH; (installation id, head sha)."""
    installation_id = fake.add_installation("octo-org", permissions or CI_PERMISSIONS)
    fake.add_repo(REPO, installation_id, {"README.md": "hi\n"})
    sha = fake.push_commit(REPO, BRANCH, {"README.md": "hello\n"}, "Greet", start="main")
    fake.add_pull(REPO, BRANCH, "main", "Greet", "Fixes #1", fake.bot_login)
    return installation_id, sha


def _read(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as answer:
        return answer.read()


def test_checks_and_jobs_are_linked_as_on_github(fake_github: FakeGitHub) -> None:
    installation_id, sha = _scene(fake_github)
    ci = fake_github.ci
    failing = ci.add_job(REPO, sha, "test", "failure", log=b"\x1b[31mE   assert 1 == 2\x1b[0m\n",
                         title="1 failed",
                         annotations=[Annotation("src/app.py", 3, "assert 1 == 2")])
    ci.add_job(REPO, sha, "build", "success")
    ci.add_check_run(ci.add_suite(REPO, sha, LINT), "lint", "neutral", summary="2 warnings")

    repo = _client(fake_github, installation_id).get_repo(REPO)
    commit = repo.get_commit(sha)
    suites = list(commit.get_check_suites())
    assert sorted((s.app.slug, s.status, s.conclusion, s.latest_check_runs_count) for s in suites) \
        == [("github-actions", "completed", "failure", 2), ("lint-bot", "completed", "neutral", 1)]
    assert suites[0].pull_requests[0].number == 1 and suites[0].head_branch == BRANCH
    runs = {r.name: r for r in commit.get_check_runs()}
    assert (runs["test"].conclusion, runs["test"].output.title) == ("failure", "1 failed")
    [note] = runs["test"].get_annotations()
    assert (note.path, note.start_line, note.annotation_level, note.message) == (
        "src/app.py", 3, "failure", "assert 1 == 2")

    [workflow_run] = repo.get_workflow_runs(check_suite_id=runs["test"].check_suite.id)
    jobs = {j.name: j for j in workflow_run.jobs()}
    assert jobs["test"].check_run_url == runs["test"].url
    assert jobs["test"].id == failing.id != runs["test"].id  # job ids are not check run ids
    assert _read(jobs["test"].logs_url()) == b"\x1b[31mE   assert 1 == 2\x1b[0m\n"
    assert fake_github.violations == []


def test_a_rerun_makes_a_new_attempt_with_a_new_check_run(fake_github: FakeGitHub) -> None:
    installation_id, sha = _scene(fake_github, {**CI_PERMISSIONS, "actions": "write"})
    job = fake_github.ci.add_job(REPO, sha, "test", "failure", log=b"flaky\n",
                                 rerun_conclusion="success", rerun_log=b"ok\n")
    repo = _client(fake_github, installation_id).get_repo(REPO)
    repo.requester.requestJsonAndCheck("POST", f"{repo.url}/actions/jobs/{job.id}/rerun")

    commit = repo.get_commit(sha)
    assert [r.conclusion for r in commit.get_check_runs()] == ["success"]
    every = commit.get_check_runs(filter="all")
    assert sorted(r.conclusion for r in every) == ["failure", "success"]
    [run] = repo.get_workflow_runs(head_sha=sha)
    assert (run.run_attempt, run.conclusion) == (2, "success")
    [latest] = run.jobs()
    assert latest.id != job.id and _read(latest.logs_url()) == b"ok\n"
    assert fake_github.ci.store.reruns == [job.id]
    assert fake_github.violations == []


def test_statuses_and_their_combined_state(fake_github: FakeGitHub) -> None:
    installation_id, sha = _scene(fake_github)
    repo = _client(fake_github, installation_id).get_repo(REPO)
    nothing = repo.get_commit(sha).get_combined_status()
    assert (nothing.state, nothing.total_count) == ("pending", 0)  # no statuses: pending forever
    fake_github.ci.add_status(REPO, sha, "ci/jenkins", "pending")
    fake_github.ci.add_status(REPO, sha, "ci/jenkins", "failure", "2 tests failed",
                              "http://ci.example/1")
    fake_github.ci.add_status(REPO, sha, "coverage", "success")
    combined = repo.get_commit(sha).get_combined_status()
    assert (combined.state, combined.total_count) == ("failure", 2)
    assert {s.context: s.state for s in combined.statuses} == {"ci/jenkins": "failure",
                                                                "coverage": "success"}
    assert [p.number for p in repo.get_commit(sha).get_pulls()] == [1]
    assert fake_github.violations == []


def test_an_empty_suite_and_a_run_in_progress(fake_github: FakeGitHub) -> None:
    installation_id, sha = _scene(fake_github)
    ci = fake_github.ci
    ci.add_suite(REPO, sha, LINT)  # an App that never runs: queued forever, no run
    job = ci.add_job(REPO, sha, "test", None)
    repo = _client(fake_github, installation_id).get_repo(REPO)
    seen = sorted((s.app.slug, s.status, s.latest_check_runs_count)
                  for s in repo.get_commit(sha).get_check_suites())
    assert seen == [("github-actions", "in_progress", 1), ("lint-bot", "queued", 0)]
    ci.complete(job, "success")
    [run] = repo.get_workflow_runs(head_sha=sha)
    assert (run.status, run.conclusion) == ("completed", "success")
    assert fake_github.violations == []


def test_actions_need_their_permissions_and_logs_expire(fake_github: FakeGitHub) -> None:
    without_actions = {k: v for k, v in CI_PERMISSIONS.items() if k != "actions"}
    installation_id, sha = _scene(fake_github, without_actions)
    gone = fake_github.ci.add_job(REPO, sha, "old", "failure", log=None)
    repo = _client(fake_github, installation_id).get_repo(REPO)
    with pytest.raises(github.GithubException) as refused:
        list(repo.get_workflow_runs())
    assert refused.value.status == 403
    fake_github.state.installations[installation_id].permissions["actions"] = "write"
    fresh = _client(fake_github, installation_id).get_repo(REPO)
    with pytest.raises(github.GithubException) as expired:
        fresh.get_workflow_job(gone.id).logs_url()
    assert expired.value.status == 410
    assert fake_github.violations == []


def test_a_log_address_works_for_a_minute(fake_github: FakeGitHub) -> None:
    installation_id, sha = _scene(fake_github)
    job = fake_github.ci.add_job(REPO, sha, "test", "failure", log=b"x" * 10)
    url = _client(fake_github, installation_id).get_repo(REPO).get_workflow_job(job.id).logs_url()
    for link in fake_github.ci.store.log_links.values():
        link.expires_at -= dt.timedelta(minutes=2)
    with pytest.raises(urllib.error.HTTPError) as refused:
        _read(url)
    assert refused.value.code == 403


def test_scene_builders_refuse_what_github_would_not_hold(fake_github: FakeGitHub) -> None:
    _scene(fake_github)
    with pytest.raises(ValueError):
        fake_github.ci.add_suite(REPO, "0" * 40)
    with pytest.raises(ValueError):
        fake_github.ci.add_status(REPO, "0" * 40, "ci", "green")


def test_each_ci_object_is_served_on_its_own(fake_github: FakeGitHub) -> None:
    installation_id, sha = _scene(fake_github)
    job = fake_github.ci.add_job(REPO, sha, "test", "failure", summary="1 failed")
    repo = _client(fake_github, installation_id).get_repo(REPO)
    suite = repo.get_check_suite(job.check_run.suite.id)
    assert (suite.head_sha, suite.conclusion) == (sha, "failure")
    assert [r.name for r in suite.get_check_runs()] == ["test"]
    assert repo.get_check_run(job.check_run.id).output.summary == "1 failed"
    run = repo.get_workflow_run(job.run.id)
    assert (run.check_suite_id, run.head_sha, run.name) == (suite.id, sha, "CI")
    assert repo.get_workflow_job(job.id).check_run_url.endswith(f"/check-runs/{job.check_run.id}")
    assert repo.get_commit(sha).sha == sha
    assert repo.get_commit("main").sha == fake_github.branch_sha(REPO, "main")
    assert fake_github.violations == []


def test_a_rerun_that_waits_runs_until_completed(fake_github: FakeGitHub) -> None:
    installation_id, sha = _scene(fake_github, {**CI_PERMISSIONS, "actions": "write"})
    job = fake_github.ci.add_job(REPO, sha, "test", "failure", rerun_waits=True)
    repo = _client(fake_github, installation_id).get_repo(REPO)
    repo.requester.requestJsonAndCheck("POST", f"{repo.url}/actions/jobs/{job.id}/rerun")
    again = fake_github.ci.latest_job(job)
    assert again.id != job.id
    assert [(r.status, r.conclusion) for r in repo.get_commit(sha).get_check_runs()] == [
        ("in_progress", None)]
    assert job.run.suite.status == "in_progress"
    fake_github.ci.complete(again, "success")
    assert [r.conclusion for r in repo.get_commit(sha).get_check_runs()] == ["success"]
    assert job.run.suite.conclusion == "success" and fake_github.violations == []
