"""Mission control's home view (app/mission/home.py) through Flask's test client, with a real
Redis: what needs you first, then what is under way, then what ended; its filters; and only
the runs the viewer can see."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from app.mission.home import (
    FINISHED_SHOWN,
    HOME_SCAN,
    TAIL_READS,
    HomeFilters,
    PlanState,
    Tail,
    budget_stop,
    latest_runs,
    sort_runs,
    verification,
)
from core import outcomes
from core.budget import Budget, Forecast, Spent, exhausted, output_room
from core.outcomes import State
from core.plans import Child, Fleet, Plan, PlanStore, Subtask
from core.pricing import Usage
from core.runs import RunStore
from tests.mission_scene import (
    ADMIN_TOKEN,
    HELLO,
    SECRET_REPO,
    add_run,
    csrf_of,
    mission_app,
    sign_in_as,
)

OTHER = ("octo-org/other", 43)


@pytest.fixture
def client(redis_client, tmp_path):
    return mission_app(redis_client, tmp_path).test_client()


def on(number: int, repo: tuple[str, int] = HELLO, pull: bool = False) -> dict:
    """The fields of a run on issue (or pull request) `number`."""
    return {"number": number, "target": f"{repo[0]}#{number}", "is_pull_request": pull}


def sections(page) -> dict[str, list[str]]:
    """Each table of the home view and the run ids in it, top to bottom, in page order."""
    tables = re.findall(r'<table id="section-([a-z]+)"(.*?)</table>', page.text, re.DOTALL)
    return {name: re.findall(r'<tr id="home-([0-9a-z]+)"', table) for name, table in tables}


def ran_tests(store: RunStore, run_id: str, **figures) -> None:
    store.add_event(run_id, "tests", {"at": "final", "command": "pytest -q", "exit_code": 0,
                                      "timed_out": False, "seconds": 3.0, **figures})


def scene(connection) -> None:
    """One run of each kind the view sorts, oldest first."""
    store, plans = RunStore(connection), PlanStore(connection)
    add_run(connection, "retried", status="failed", reason="GitHub was unreachable", **on(11))
    add_run(connection, "pr1", status="done", pr_url="https://github.com/octo-org/hello/pull/12",
            pr_number=12, commit="a" * 40, branch="agent/issue-5", ci="passed", **on(5))
    ran_tests(store, "pr1", passed=True, regressed=False, counts="3 passed")
    store.add_event("pr1", "finished", {"pr_number": 12})
    add_run(connection, "pr2", status="done", pr_url="https://github.com/octo-org/hello/pull/13",
            pr_number=13, **on(6))
    add_run(connection, "plan1", status="done", kind="plan", **on(7))
    plans.record("octo-org/hello#7", Plan("split it", subtasks=(Subtask(1, "a", "s", "c"),
                                                                Subtask(2, "b", "s", "c")),
                                          run_id="plan1"))
    add_run(connection, "plan2", status="done", kind="plan", **on(8))
    plans.record("octo-org/hello#8", Plan("go", subtasks=(Subtask(1, "a", "s", "c"),), run_id="plan2"))
    plans.save_fleet("octo-org/hello#8", Fleet(plans.plan("octo-org/hello#8"), {}, 1,
                                               [Child(1, 30, True)]))
    add_run(connection, "ask1", status="done", kind="plan", **on(9))
    plans.record("octo-org/hello#9", Plan("unsure", questions=("Which database?",), run_id="ask1"))
    add_run(connection, "bad1", status="failed", reason="the sandbox could not start", **on(10))
    store.add_event("bad1", "failed", {"reason": "the sandbox could not start",
                                       "error": "SandboxMissing('bwrap')"})
    add_run(connection, "retry2", status="done", **on(11))  # after "retried": takes it out
    add_run(connection, "cap1", status="done", pr_url="https://github.com/octo-org/hello/pull/15",
            pr_number=15, **on(14))
    store.add_event("cap1", "stopped", {"by": "the turn limit (60)", "turns": 60})
    add_run(connection, "day1", status="rejected", reason="the installation has spent $21.00 of "
            "its $20.00 daily budget", **on(16))
    add_run(connection, "fix2", status="running", kind="fix_ci", **on(13, pull=True))
    add_run(connection, "wait1", **on(17))
    add_run(connection, "live1", status="running", **on(18))
    add_run(connection, "hidden", repo=SECRET_REPO, status="failed", reason="no", **on(5, SECRET_REPO))


def test_needs_you_comes_first_and_each_section_holds_its_runs(client, redis_client):
    scene(redis_client)
    sign_in_as(client, redis_client, "octocat", {HELLO[1]})
    page = client.get("/")
    assert page.status_code == 200
    assert sections(page) == {
        "review": ["pr1"],  # pr2's pull request has a CI round running (fix2)
        "plans": ["plan1"],  # plan2's sub-issues are open: go was said
        "questions": ["ask1"],
        "failed": ["bad1"],  # "retried" has a newer run on its issue
        "budget": ["day1", "cap1"],
        "active": ["live1", "fix2", "wait1"],  # running first, then queued
        "finished": ["retry2", "plan2", "pr2", "retried"],
    }
    text = page.text
    assert text.index('id="needs-you"') < text.index('id="under-way"') < text.index('id="finished"')
    review = text.split('id="home-pr1"')[1].split("</tr>")[0]
    assert "tests pass: 3 passed" in review and '<span class="ci ci-passed">CI passed</span>' in review
    assert 'href="https://github.com/octo-org/hello/pull/12">#12</a>' in review
    assert 'href="/runs/pr1"' in review and 'href="https://github.com/octo-org/hello/issues/5"' in review
    assert "2 sub-tasks; say <code>/agent go</code> on the issue" in text
    assert "Which database?" in text
    assert "stopped by the turn limit (60)" in text
    assert "the sandbox could not start" in text and "SandboxMissing" not in text  # operators only
    assert 'Needs you <span class="count">6</span>' in text


def test_a_merged_or_closed_pull_request_no_longer_waits_for_review(client, redis_client):
    scene(redis_client)
    sign_in_as(client, redis_client, "octocat", {HELLO[1]})
    outcomes.opened(redis_client, "octo-org/hello", 12, "pr1", HELLO[1], time.time())
    assert sections(client.get("/"))["review"] == ["pr1"]  # recorded open: still waiting
    outcomes.closed(redis_client, "octo-org/hello", 12, True, "2026-12-04T10:00:00Z")
    page = client.get("/")
    assert "review" not in sections(page)  # no table of pull requests waiting
    assert "pr1" in sections(page)["finished"]
    assert "its pull request was merged" in page.text


def test_the_filters_narrow_every_section(client, redis_client):
    add_run(redis_client, "mine", status="failed", reason="x", **on(1))
    add_run(redis_client, "theirs", status="failed", reason="x", requester="hubot", **on(2))
    add_run(redis_client, "elsewhere", repo=OTHER, status="running", installation_id=8,
            **on(3, OTHER))
    sign_in_as(client, redis_client, "octocat", {HELLO[1], OTHER[1]})

    def ids(query: str) -> list[str]:
        return [run for found in sections(client.get(f"/?{query}")).values() for run in found]

    assert ids("") == ["theirs", "mine", "elsewhere"]
    assert ids("person=HUBOT") == ["theirs"]
    assert ids("person=octocat") == ["mine", "elsewhere"]
    assert ids("repository=octo-org/other") == ["elsewhere"]
    assert ids("installation=7") == ["theirs", "mine"]
    assert ids("installation=7&person=octocat") == ["mine"]
    assert 'id="nothing-needs-you">Nothing needs you among these runs.' in client.get(
        "/?repository=octo-org/other").text


def test_a_filter_does_not_bring_back_a_run_someone_else_followed(client, redis_client):
    add_run(redis_client, "failed1", status="failed", reason="x", **on(4))
    add_run(redis_client, "retry1", status="queued", requester="hubot", **on(4))
    sign_in_as(client, redis_client, "octocat", {HELLO[1]})
    assert sections(client.get("/?person=octocat")) == {"finished": ["failed1"]}


def test_runs_the_viewer_cannot_read_never_appear(client, redis_client):
    scene(redis_client)
    sign_in_as(client, redis_client, "octocat", {HELLO[1]})
    for query in ("", "repository=other-org/secret", "installation=7", "person=octocat"):
        page = client.get(f"/?{query}").text
        assert "/runs/hidden" not in page and "other-org/secret" not in page.replace(
            'value="other-org/secret"', "")
    sign_in_as(client, redis_client, "stranger", {OTHER[1]})
    assert sections(client.get("/")) == {}


def test_an_operator_sees_every_run_and_a_failures_cause(client, redis_client):
    scene(redis_client)
    form = client.get("/auth/signin").text
    client.post("/auth/admin", data={"csrf_token": csrf_of(form), "token": ADMIN_TOKEN})
    page = client.get("/")
    assert sections(page)["failed"] == ["hidden", "bad1"]
    assert "cause, for operators: <code>SandboxMissing(&#39;bwrap&#39;)</code>" in page.text
    assert 'id="only-mine"' not in page.text


def test_a_visitor_not_signed_in_reads_that_orca_is_running(client):
    page = client.get("/?installation_id=7&setup_action=install")  # GitHub's setup_url visit
    assert page.status_code == 200
    assert "Orca is running" in page.text and "<code>agent</code>" in page.text
    assert 'href="/auth/signin?next=/"' in page.text and 'id="needs-you"' not in page.text


def test_the_home_view_reads_only_the_newest_runs(redis_client):
    for n in range(5):
        add_run(redis_client, f"r{n}", **on(n))
    assert [run["id"] for run in latest_runs(redis_client, most=3)] == ["r4", "r3", "r2"]


def test_finished_runs_are_capped_and_say_there_are_more():
    runs = [{"id": f"f{n}", "status": "done", "target": f"o/r#{n}", "repository": "o/r",
             "number": n, "created_at": time.time() - n} for n in range(FINISHED_SHOWN + 2)]
    home = sort_runs(runs, {}, {})
    assert len(home.sections["finished"]) == FINISHED_SHOWN and home.more_finished
    assert not sort_runs(runs[:FINISHED_SHOWN], {}, {}).more_finished
    assert sort_runs(runs, {}, {}, HomeFilters(person="nobody")).sections["finished"] == []


def test_a_pull_request_shows_the_newest_verification_and_ci_of_its_runs():
    issue = {"id": "i1", "status": "done", "target": "o/r#5", "repository": "o/r", "number": 5,
             "pr_number": 12, "ci": "failed"}
    answer = {"id": "a1", "status": "done", "target": "o/r#12", "repository": "o/r", "number": 12,
              "is_pull_request": True, "kind": "review", "branch": "agent/issue-5", "ci": "pending"}
    tails = {"i1": Tail(tests={"passed": False, "regressed": True, "counts": "1 failed"}),
             "a1": Tail(tests={"passed": True, "regressed": False})}
    home = sort_runs([answer, issue], tails, {})
    [entry] = home.sections["review"]
    assert (entry.run["id"], entry.verification, entry.ci) == ("a1", "tests pass", "pending")
    assert [e.run["id"] for e in home.sections["finished"]] == ["i1"]
    # Merged or closed, it no longer waits for a review.
    for state in (State.MERGED, State.CLOSED):
        home = sort_runs([answer, issue], tails, {}, ended={"o/r#12": state})
        assert home.sections["review"] == []
        assert home.sections["finished"][0].said == f"its pull request was {state.value}"
    # A review of someone's pull request is not one of Orca's pull requests.
    review = {**answer, "id": "r1", "kind": "pr_review", "branch": None}
    assert sort_runs([review], {}, {}).sections["review"] == []


@pytest.mark.parametrize("budget, spent", [
    (Budget(max_turns=3), Spent(turns=3)),
    (Budget(max_turns=99, max_tokens=10), Spent(usage=Usage(input_tokens=11))),
    (Budget(max_turns=99, max_dollars=1.0), Spent(dollars=1.5)),
    (Budget(max_turns=99, max_minutes=5), Spent(minutes=6)),
])
def test_every_budget_that_stops_a_run_is_recognised(budget, spent):
    assert budget_stop(exhausted(budget, spent))


def test_a_budget_too_small_for_the_next_answer_is_recognised_too():
    room = output_room(Budget(max_turns=99, max_tokens=100), Spent(), Forecast(input_tokens=99))
    assert room is not None and budget_stop(room[1])
    for other in (None, "a stop request (octocat asked)", "the output limit (cut off 3 times)",
                  "the model's context window (stop reason `model_context_window_exceeded`)"):
        assert not budget_stop(other)


@pytest.mark.parametrize("tests, words", [
    (None, "no tests run by Orca"),
    ({"passed": True, "regressed": False, "counts": "41 passed"}, "tests pass: 41 passed"),
    ({"passed": False, "regressed": True, "counts": "1 failed, 40 passed"},
     "a regression: 1 failed, 40 passed"),
    ({"passed": False, "regressed": False, "counts": "2 failed"}, "tests fail, as at the base: 2 failed"),
    ({"passed": False, "regressed": False, "timed_out": True}, "tests timed out"),
])
def test_verification_in_words(tests, words):
    assert verification(tests) == words


def test_the_readme_gives_the_views_bounds():
    readme = " ".join((Path(__file__).parents[1] / "README.md").read_text().split())
    assert f"**Finished**, the newest {FINISHED_SHOWN} (" in readme
    assert f"reads the newest {HOME_SCAN} runs and the last few events of the newest {TAIL_READS} that ended" in readme


def test_a_plan_waits_for_go_only_while_it_is_its_issues_plan_and_not_started():
    plan = Plan("do it", run_id="p2")
    assert PlanState(plan, started=False).waiting("p2") == plan
    assert PlanState(plan, started=False).waiting("p1") is None  # p2's plan replaced p1's
    assert PlanState(plan, started=True).waiting("p2") is None  # go opened its sub-issues
    assert PlanState(None, started=False).waiting("p2") is None  # expired, or never made
