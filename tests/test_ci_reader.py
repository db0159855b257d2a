"""jobs/github/ci.py through the real PyGithub against the fake GitHub: where CI stands for a
commit, what failed and why (annotations, the end of the job's log within a budget), and
re-runs; every exchange checked against GitHub's OpenAPI description."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import github
import pytest
from github import Auth

from jobs.github import ci
from jobs.github.ci_budget import failure_size
from tests.fakes.github import FakeGitHub
from tests.fakes.github_ci import (
    ACTIONS_APP,
    CI_PERMISSIONS,
    Annotation,
    CheckApp,
    FakeCi,
)

REPO = "octo-org/hello"
BRANCH = "agent/issue-1-greet"
LINT = CheckApp(4711, "lint-bot", "Lint Bot", "lint-org")
BUDGET = 16_000


class Scene:
    """One repository with an open pull from BRANCH, and clients acting as the installation."""

    def __init__(self, fake: FakeGitHub, permissions: dict[str, str]) -> None:
        self.fake = fake
        self.installation_id = fake.add_installation("octo-org", permissions)
        fake.add_repo(REPO, self.installation_id, {"README.md": "hi\n"}, private=True)
        self.base = fake.branch_sha(REPO, "main") or ""
        self.sha = fake.push_commit(REPO, BRANCH, {"README.md": "hello\n"}, "Greet", start="main")
        fake.add_pull(REPO, BRANCH, "main", "Greet", "Fixes #1", fake.bot_login)

    @property
    def ci(self) -> FakeCi:
        return self.fake.ci

    def client(self) -> github.Github:
        """A lazy client with an installation token, as ``GitHubApp.client`` builds it."""
        app = Auth.AppAuth(self.fake.app_id, self.fake.private_key_pem)
        return github.Github(base_url=self.fake.api_url, lazy=True,
                             auth=app.get_installation_auth(self.installation_id),
                             seconds_between_requests=None, seconds_between_writes=None)

    def state(self, sha: str | None = None) -> ci.CiState:
        return ci.ci_state(ci.read_ci(self.client(), REPO, sha or self.sha))

    def failures(self, budget: int = BUDGET, sha: str | None = None) -> list[ci.Failure]:
        return ci.failures(ci.read_ci(self.client(), REPO, sha or self.sha), budget)


@pytest.fixture
def make_scene(fake_github: FakeGitHub) -> Iterator[Callable[..., Scene]]:
    def make(permissions: dict[str, str] | None = None) -> Scene:
        return Scene(fake_github, permissions or CI_PERMISSIONS)
    yield make
    assert fake_github.violations == []


# -- where CI stands ---------------------------------------------------------------------------

def test_no_ci_at_all(make_scene: Callable[..., Scene]) -> None:
    scene = make_scene()
    assert scene.state() == ci.CiState(scene.sha, "none", True)


def test_passed(make_scene: Callable[..., Scene]) -> None:
    scene = make_scene()
    scene.ci.add_job(REPO, scene.sha, "test", "success")
    scene.ci.add_check_run(scene.ci.add_suite(REPO, scene.sha, LINT), "lint", "neutral")
    state = scene.state()
    assert (state.state, state.finished, state.failing, state.waiting_for) == (
        "passed", True, (), ())


def test_pending_while_a_job_runs(make_scene: Callable[..., Scene]) -> None:
    scene = make_scene()
    running = scene.ci.add_job(REPO, scene.sha, "test", None)
    scene.ci.add_job(REPO, scene.sha, "build", "success")
    state = scene.state()
    assert (state.state, state.finished, state.waiting_for) == (
        "pending", False, ("test", "github-actions"))
    scene.ci.complete(running, "success")
    assert scene.state().state == "passed"


def test_failed_before_the_rest_has_finished(make_scene: Callable[..., Scene]) -> None:
    scene = make_scene()
    scene.ci.add_job(REPO, scene.sha, "test", "failure")
    scene.ci.add_job(REPO, scene.sha, "e2e", None, workflow="E2E")
    state = scene.state()
    assert (state.state, state.finished, state.failing) == ("failed", False, ("test",))


def test_actions_only_repo_finishes_though_its_combined_status_reads_pending(
        make_scene: Callable[..., Scene]) -> None:
    scene = make_scene()
    scene.ci.add_job(REPO, scene.sha, "test", "failure")
    combined = scene.client().get_repo(REPO).get_commit(scene.sha).get_combined_status()
    assert (combined.state, combined.total_count) == ("pending", 0)
    state = scene.state()
    assert (state.state, state.finished) == ("failed", True)


def test_statuses_only_repo(make_scene: Callable[..., Scene]) -> None:
    scene = make_scene()
    scene.ci.add_status(REPO, scene.sha, "ci/jenkins", "pending")
    assert (scene.state().state, scene.state().waiting_for) == ("pending", ("ci/jenkins",))
    scene.ci.add_status(REPO, scene.sha, "ci/jenkins", "success")
    assert (scene.state().state, scene.state().finished) == ("passed", True)
    scene.ci.add_status(REPO, scene.sha, "coverage", "error", "coverage fell", "http://cov/1")
    assert (scene.state().state, scene.state().failing) == ("failed", ("coverage",))
    [failure] = scene.failures()
    assert (failure.name, failure.conclusion, failure.app, failure.summary, failure.url) == (
        "coverage", "error", "", "coverage fell", "http://cov/1")


def test_a_queued_suite_without_check_runs_does_not_hold_ci_forever(
        make_scene: Callable[..., Scene]) -> None:
    scene = make_scene()
    scene.ci.add_suite(REPO, scene.sha, LINT)  # installed, never runs
    scene.ci.add_suite(REPO, scene.sha, ACTIONS_APP)  # a workflow that did not trigger
    scene.ci.add_job(REPO, scene.sha, "test", "success")
    state = scene.state()
    assert (state.state, state.finished) == ("passed", True)
    assert len(state.notes) == 2 and any("lint-bot" in n for n in state.notes)


def test_an_actions_suite_whose_workflow_has_not_started_its_jobs_is_pending(
        make_scene: Callable[..., Scene]) -> None:
    scene = make_scene()
    scene.ci.add_workflow_run(REPO, scene.sha, "Release checks")  # no job, no check run yet
    state = scene.state()
    assert (state.state, state.finished, state.waiting_for) == (
        "pending", False, ("Release checks",))


def test_a_suite_that_failed_without_check_runs_is_a_failure(
        make_scene: Callable[..., Scene]) -> None:
    scene = make_scene()
    scene.ci.add_suite(REPO, scene.sha, ACTIONS_APP, "completed", conclusion="startup_failure")
    state = scene.state()
    assert (state.state, state.finished, state.failing) == ("failed", True, ("github-actions",))
    [failure] = scene.failures()
    assert (failure.name, failure.conclusion, failure.summary) == (
        "github-actions", "startup_failure", ci.SUITE_FAILED)


def test_without_statuses_read_the_checks_still_decide(make_scene: Callable[..., Scene]) -> None:
    scene = make_scene({k: v for k, v in CI_PERMISSIONS.items() if k != "statuses"})
    scene.ci.add_job(REPO, scene.sha, "test", "success")
    state = scene.state()
    assert (state.state, state.finished) == ("passed", True)
    assert any("(403" in n and "statuses: read" in n for n in state.notes)


# -- what failed -------------------------------------------------------------------------------

LOG = (b"\xef\xbb\xbf2024-05-01T12:00:00.1234567Z ##[group]Run pytest\n"
       b"2024-05-01T12:00:01.0000000Z \x1b[1m\x1b[31mE   assert 'hi' == 'hello'\x1b[0m\n"
       b"2024-05-01T12:00:02.0000000Z ##[error]Process completed with exit code 1.\n")


def test_failed_with_annotations_and_the_end_of_the_log(make_scene: Callable[..., Scene]) -> None:
    scene = make_scene()
    job = scene.ci.add_job(REPO, scene.sha, "test (3.12)", "failure", log=LOG,
                           title="1 failed", summary="tests/test_app.py::test_greet",
                           annotations=[
                               Annotation("tests/test_app.py", 7, "assert 'hi' == 'hello'"),
                               Annotation(".github", 1, "exit code 1", "warning")])
    scene.ci.add_job(REPO, scene.sha, "build", "success")
    lint = scene.ci.add_check_run(scene.ci.add_suite(REPO, scene.sha, LINT), "lint", "failure",
                                  summary="E501 line too long", text="a.py:1:80: E501",
                                  details_url="http://lint.example/9")
    found = {f.name: f for f in scene.failures()}
    assert sorted(found) == ["lint", "test (3.12)"]
    test = found["test (3.12)"]
    assert (test.conclusion, test.app, test.title, test.summary) == (
        "failure", "github-actions", "1 failed", "tests/test_app.py::test_greet")
    assert test.annotations[0] == ci.Annotation("tests/test_app.py", 7, 7, "failure",
                                                "assert 'hi' == 'hello'")
    assert test.log == ("##[group]Run pytest\nE   assert 'hi' == 'hello'\n"
                        "##[error]Process completed with exit code 1.\n")
    assert (test.log_size, test.log_note, test.job_id, test.check_run_id) == (
        len(LOG), None, job.id, job.check_run.id)
    assert test.url and test.url.endswith(f"/job/{job.id}")
    other = found["lint"]
    assert (other.app, other.text, other.url, other.log, other.check_run_id) == (
        "lint-bot", "a.py:1:80: E501", "http://lint.example/9", None, lint.id)


def test_a_huge_log_is_cut_to_the_budget_keeping_its_end(make_scene: Callable[..., Scene]) -> None:
    scene = make_scene()
    lines = b"".join(b"2024-05-01T12:00:00.0000000Z line %d of the build\n" % i
                     for i in range(200_000))
    huge = lines + b"E   the real failure is here\n"
    scene.ci.add_job(REPO, scene.sha, "test", "failure", log=huge,
                     annotations=[Annotation("a.py", i, "x" * 300) for i in range(1, 40)])
    scene.ci.add_job(REPO, scene.sha, "lint", "failure", log=b"E501\n" * 50_000, workflow="Lint")
    found = scene.failures(budget=8_000)
    assert sum(failure_size(f) for f in found) <= 8_000
    test = next(f for f in found if f.name == "test")
    assert test.log is not None and test.log.endswith("E   the real failure is here\n")
    assert test.log.startswith("line ")  # whole lines, timestamps gone
    assert test.log_size == len(huge)
    assert test.annotations and test.annotations_left_out == 39 - len(test.annotations)


def test_an_undecodable_log_is_read_with_replacements(make_scene: Callable[..., Scene]) -> None:
    scene = make_scene()
    scene.ci.add_job(REPO, scene.sha, "test", "failure",
                     log=b"\xff\xfe\x00binary\x80\x81 junk\nE   failed \xe2\x82\n")
    [failure] = scene.failures()
    assert failure.log is not None and "\ufffd" in failure.log and "E   failed" in failure.log


@pytest.mark.parametrize("status", [403, 404])
def test_a_refused_log_is_a_note(make_scene: Callable[..., Scene], status: int) -> None:
    scene = make_scene()
    scene.ci.add_job(REPO, scene.sha, "test", "failure", log=b"boom\n", title="1 failed")
    scene.fake.fail_next("GET", r"/actions/jobs/\d+/logs$", status)
    [failure] = scene.failures()
    assert (failure.log, failure.title) == (None, "1 failed")
    assert failure.log_note is not None and failure.log_note.startswith("log unavailable:")
    assert f"({status}" in failure.log_note


def test_an_expired_log_is_a_note(make_scene: Callable[..., Scene]) -> None:
    scene = make_scene()
    scene.ci.add_job(REPO, scene.sha, "test", "failure", log=None)
    [failure] = scene.failures()
    assert failure.log is None and "expired (410" in (failure.log_note or "")


def test_without_actions_read_the_checks_are_read_but_not_the_log(
        make_scene: Callable[..., Scene]) -> None:
    scene = make_scene({k: v for k, v in CI_PERMISSIONS.items() if k != "actions"})
    scene.ci.add_job(REPO, scene.sha, "test", "failure", log=b"boom\n",
                     annotations=[Annotation("a.py", 1, "boom")])
    [failure] = scene.failures()
    assert failure.annotations and failure.log is None
    assert "actions: read" in (failure.log_note or "")


def test_a_log_whose_address_has_expired_is_a_note(make_scene: Callable[..., Scene]) -> None:
    scene = make_scene()
    scene.ci.add_job(REPO, scene.sha, "test", "failure", log=b"boom\n")
    scene.fake.fail_next("GET", r"^/_fake/job-logs/", 403, body=b"AuthenticationFailed")
    [failure] = scene.failures()
    assert failure.log is None and "download failed" in (failure.log_note or "")


# -- flaky failures ----------------------------------------------------------------------------

def test_flaky_by_rerun(make_scene: Callable[..., Scene]) -> None:
    scene = make_scene({**CI_PERMISSIONS, "actions": "write"})
    scene.ci.add_job(REPO, scene.sha, "test", "failure", log=b"timeout\n",
                     rerun_conclusion="success")
    [failure] = scene.failures()
    assert failure.job_id is not None
    assert ci.rerun_job(scene.client(), REPO, failure.job_id) == ci.Rerun(True)
    assert scene.fake.ci.store.reruns == [failure.job_id]
    assert (scene.state().state, scene.failures()) == ("passed", [])


def test_a_rerun_without_actions_write_says_why(make_scene: Callable[..., Scene]) -> None:
    scene = make_scene()
    job = scene.ci.add_job(REPO, scene.sha, "test", "failure")
    rerun = ci.rerun_job(scene.client(), REPO, job.id)
    assert not rerun.started and "(403" in rerun.why and "actions: write" in rerun.why
    assert scene.fake.ci.store.reruns == []


def test_flaky_when_the_base_fails_the_same_way(make_scene: Callable[..., Scene]) -> None:
    scene = make_scene()
    same = [Annotation("tests/test_net.py", 3, "ConnectionError")]
    scene.ci.add_job(REPO, scene.base, "test", "failure", annotations=same)
    scene.ci.add_job(REPO, scene.sha, "test", "failure",
                     annotations=[Annotation("tests/test_net.py", 9, "ConnectionError")])
    scene.ci.add_job(REPO, scene.sha, "lint", "failure", workflow="Lint",
                     annotations=[Annotation("a.py", 1, "E501")])
    at_base = scene.failures(sha=scene.base)
    flaky = {f.name: ci.fails_the_same_way(f, at_base) for f in scene.failures()}
    assert flaky == {"test": True, "lint": False}
