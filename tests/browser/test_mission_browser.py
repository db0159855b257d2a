"""Mission control in a real headless Chromium: sign in with (the fake) GitHub, read the list,
watch a run update live, press Stop.

Orca's web app is served on a real port with a real Redis; GitHub's authorize page, token
exchange and user endpoints are the fake GitHub's (checked against GitHub's OpenAPI
description). Screenshots land in tests/artifacts.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import Flask
from rq import Queue
from werkzeug.serving import make_server

from app import create_app
from core import ledger, outcomes
from core.queues import RUNS_QUEUE
from core.runs import RunStore
from core.settings import Settings
from tests.fakes.github import FakeGitHub
from tests.mission_scene import SECRET, add_run, running_run
from tests.serving import Background

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"


@dataclass
class Mission:
    url: str
    hello: tuple[str, int]
    secret: tuple[str, int]
    app: Flask


@pytest.fixture
def mission(fake_github: FakeGitHub, redis_client, tmp_path) -> Iterator[Mission]:
    """alice can write to octo-org/hello; other-org/secret is not hers. Orca on a real port."""
    first, second = fake_github.add_installation("octo-org"), fake_github.add_installation("other-org")
    hello = fake_github.add_repo("octo-org/hello", first, {"README.md": "hi\n"}, private=True)
    secret = fake_github.add_repo("other-org/secret", second, {"README.md": "hi\n"}, private=True)
    fake_github.set_permission("octo-org/hello", "alice", "write")
    fake_github.state.web_login = "alice"
    settings = Settings(GITHUB_APP_ID=fake_github.app_id, GITHUB_PRIVATE_KEY="k",
                        GITHUB_WEBHOOK_SECRET=SECRET, GITHUB_URL=fake_github.base_url,
                        GITHUB_CLIENT_ID=fake_github.app_json()["client_id"],
                        GITHUB_CLIENT_SECRET="fake-client-secret",
                        ORCA_DATA_DIR=str(tmp_path / "data"))
    app = create_app(settings, redis_client)
    serving = Background(make_server("127.0.0.1", 0, app, threaded=True), "mission-web")
    try:
        yield Mission(serving.url, ("octo-org/hello", hello["id"]), ("other-org/secret", secret["id"]),
                      app)
    finally:
        serving.stop()
    assert fake_github.violations == []


def _wait(driver, condition, seconds: float = 20):
    """Until `condition(driver)`; elements replaced under it (a poll, a navigation) are
    looked up again rather than failing the test."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(driver, seconds, ignored_exceptions=(StaleElementReferenceException,))
    return wait.until(condition)


def _shot(driver, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / name))


def _signed_in_text(driver) -> str:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec

    return _wait(driver, ec.presence_of_element_located((By.ID, "signed-in-as"))).text


def test_sign_in_with_github_and_see_only_readable_runs(chromium, mission, redis_client, fake_github):
    from selenium.webdriver.common.by import By

    add_run(redis_client, "done01", repo=mission.hello, status="done", turns=7, tokens=52_000,
            cost=0.84, pr_url=f"{fake_github.base_url}/octo-org/hello/pull/12", pr_number=12,
            started_at=time.time() - 300, finished_at=time.time() - 60)
    running_run(redis_client, "live02", repo=mission.hello)
    add_run(redis_client, "hidden", repo=mission.secret)

    chromium.get(f"{mission.url}/runs")
    assert "/auth/signin" in chromium.current_url
    _shot(chromium, "mission-signin.png")
    chromium.find_element(By.ID, "sign-in-github").click()
    assert _signed_in_text(chromium) == "alice"
    assert chromium.current_url == f"{mission.url}/runs"
    rows = [row.get_attribute("id") for row in chromium.find_elements(By.CSS_SELECTOR, "tr.run")]
    assert rows == ["run-live02", "run-done01"]
    assert chromium.find_element(By.CSS_SELECTOR, "#run-done01 a[href$='/pull/12']").text == "#12"
    installation = chromium.find_element(By.CSS_SELECTOR, "#run-done01 a.installation")
    assert installation.text == "installation 7"  # not "#7", which reads as an issue
    _shot(chromium, "mission-runs.png")

    chromium.find_element(By.ID, "filter-status").send_keys("done")
    chromium.find_element(By.CSS_SELECTOR, "form.filters button").click()
    _wait(chromium, lambda d: "status=done" in d.current_url)
    rows = [row.get_attribute("id") for row in chromium.find_elements(By.CSS_SELECTOR, "tr.run")]
    assert rows == ["run-done01"]


def test_a_run_page_follows_the_run_live(chromium, mission, redis_client):
    from selenium.webdriver.common.by import By

    running_run(redis_client, "live02", repo=mission.hello)
    chromium.get(f"{mission.url}/auth/login?next=/runs/live02")
    _signed_in_text(chromium)
    assert "1 of 60" in chromium.find_element(By.ID, "budgets").text

    store = RunStore(redis_client)
    store.add_event("live02", "tool", {"name": "bash", "input": {"command": "pytest -q tests/"},
                                       "is_error": False, "exit_code": 0, "output": "3 passed"})
    store.add_event("live02", "model", {"turn": 2, "stop_reason": "tool_use", "usage": {},
                                        "spent": {"turns": 2, "tokens": 9000, "dollars": 0.31,
                                                  "minutes": 1.0}, "dollars": 0.19,
                                        "text": "The tests pass; <b>now</b> the docs."})
    _wait(chromium, lambda d: "$ pytest -q tests/ · exit 0" in d.find_element(By.ID, "events").text)
    said = _wait(chromium, lambda d: d.find_elements(By.CSS_SELECTOR, "#events pre.said"))
    assert said[-1].text == "The tests pass; <b>now</b> the docs."  # shown as text, not markup
    assert "$0.1900 this turn" in chromium.find_element(By.ID, "events").text
    _wait(chromium, lambda d: "2 of 60" in d.find_element(By.ID, "budgets").text)
    assert "9,000 of 1,000,000" in chromium.find_element(By.ID, "budgets").text
    _shot(chromium, "mission-run-live.png")

    store.update("live02", status="done", finished_at=time.time())
    _wait(chromium, lambda d: d.find_element(By.ID, "run-status").text == "done")
    _wait(chromium, lambda d: d.find_element(By.ID, "live").text == "The run has ended.")


def test_the_list_says_no_worker_is_running_while_runs_wait(chromium, mission, redis_client):
    from selenium.webdriver.common.by import By

    add_run(redis_client, "wait04", repo=mission.hello)
    Queue(RUNS_QUEUE, connection=redis_client).enqueue("jobs.run.execute", job_id="run-wait04")
    chromium.get(f"{mission.url}/auth/login?next=/runs")
    _signed_in_text(chromium)
    note = chromium.find_element(By.ID, "no-worker")
    assert note.is_displayed() and note.text.startswith("No worker takes from the runs queue")
    _shot(chromium, "mission-no-worker.png")


def test_stop_a_queued_run_from_its_page(chromium, mission, redis_client):
    from selenium.webdriver.common.by import By

    add_run(redis_client, "wait03", repo=mission.hello)
    Queue(RUNS_QUEUE, connection=redis_client).enqueue("jobs.run.execute", job_id="run-wait03")
    chromium.get(f"{mission.url}/auth/login?next=/runs/wait03")
    _signed_in_text(chromium)
    assert chromium.find_element(By.ID, "queue-position").text == "#1 for a worker"
    _shot(chromium, "mission-run-queued.png")

    chromium.find_element(By.ID, "stop-button").click()
    _wait(chromium, lambda d: "Stop requested by alice." in d.find_element(By.CLASS_NAME, "flash").text)
    assert chromium.find_element(By.ID, "run-status").text == "cancelled"
    assert not chromium.find_elements(By.ID, "stop-button")
    _shot(chromium, "mission-run-stopped.png")
    record = RunStore(redis_client).get("wait03")
    assert record["status"] == "cancelled" and record["stop"]["by"] == "alice"
    assert Queue(RUNS_QUEUE, connection=redis_client).job_ids == []


def test_the_home_view_puts_what_needs_you_first(chromium, mission, redis_client, fake_github):
    from selenium.webdriver.common.by import By

    store, repo = RunStore(redis_client), mission.hello

    def on(number: int, **fields) -> dict:
        return {"repo": repo, "number": number, "target": f"{repo[0]}#{number}", **fields}

    add_run(redis_client, "old01", status="done", turns=4, cost=0.21, finished_at=time.time() - 7200,
            **on(3, requester="alice"))
    add_run(redis_client, "pull02", status="done", requester="alice", ci="passed", pr_number=12,
            pr_url=f"{fake_github.base_url}/octo-org/hello/pull/12", finished_at=time.time() - 600,
            title="Parse dates in the CSV importer", **on(5))
    store.add_event("pull02", "tests", {"at": "final", "passed": True, "regressed": False,
                                        "counts": "41 passed"})
    add_run(redis_client, "fail03", status="failed", reason="GitHub could not be reached; "
            "say `/agent retry` to try again", finished_at=time.time() - 300,
            title="Upgrade the ORM", **on(6))
    running_run(redis_client, "live04", **on(7, title="Add a dark mode"))
    add_run(redis_client, "hidden", repo=mission.secret, status="failed", reason="x")

    chromium.set_window_size(1400, 1000)
    chromium.get(f"{mission.url}/auth/login?next=/")
    assert _signed_in_text(chromium) == "alice"
    assert chromium.current_url == f"{mission.url}/"
    headings = [h.text for h in chromium.find_elements(By.CSS_SELECTOR, "main h2")]
    assert [h.split(" ")[0] for h in headings] == ["Needs", "Running", "Finished"]
    assert headings[0] == "Needs you 2"
    rows = [row.get_attribute("id") for row in chromium.find_elements(By.CSS_SELECTOR, "tr.entry")]
    assert rows == ["home-pull02", "home-fail03", "home-live04", "home-old01"]
    review = chromium.find_element(By.ID, "home-pull02")
    assert "tests pass: 41 passed" in review.text and "CI passed" in review.text
    assert review.find_element(By.CSS_SELECTOR, "a.pr-link").get_attribute("href") == \
        f"{fake_github.base_url}/octo-org/hello/pull/12"
    assert review.find_element(By.CSS_SELECTOR, "a.github-link").get_attribute("href") == \
        f"{fake_github.base_url}/octo-org/hello/issues/5"
    chromium.save_screenshot("/tmp/home.png")
    _shot(chromium, "mission-home.png")

    review.find_element(By.CSS_SELECTOR, "a.run-link").click()
    _wait(chromium, lambda d: d.current_url == f"{mission.url}/runs/pull02")
    assert chromium.find_element(By.ID, "run-status").text == "done"
    chromium.find_element(By.ID, "home-link").click()
    _wait(chromium, lambda d: d.current_url == f"{mission.url}/")
    chromium.find_element(By.CSS_SELECTOR, "#home-fail03 a.person").click()  # who asked
    _wait(chromium, lambda d: "person=octocat" in d.current_url)
    rows = [row.get_attribute("id") for row in chromium.find_elements(By.CSS_SELECTOR, "tr.entry")]
    assert rows == ["home-fail03", "home-live04"]


def test_insights_draws_its_charts(chromium, mission, redis_client):
    from selenium.webdriver.common.by import By

    now = time.time()
    for days_ago, runs, dollars in ((0, 3, 1.5), (2, 6, 4.2), (9, 2, 0.7), (20, 4, 2.0)):
        for _ in range(runs):
            ledger.record_turn(redis_client, 7, mission.hello[1], 1, {"input_tokens": 900},
                               dollars / runs, now - days_ago * 86400)
    for run_id, number, wait in (("merg01", 11, 240), ("clos02", 12, 180), ("open03", 13, 600),
                                 ("merg05", 14, 300)):
        record = add_run(redis_client, run_id, repo=mission.hello, status="done", pr_number=number)
        outcomes.opened(redis_client, mission.hello[0], number, run_id, 7,
                        record["created_at"] + wait)
    for number, merged in ((11, True), (12, False), (14, True)):
        outcomes.closed(redis_client, mission.hello[0], number, merged, "2026-12-01T10:00:00Z")
    add_run(redis_client, "fail04", repo=mission.hello, status="failed")

    chromium.get(f"{mission.url}/auth/login?next=/runs")
    _signed_in_text(chromium)
    chromium.find_element(By.ID, "insights-link").click()
    _wait(chromium, lambda d: d.current_url == f"{mission.url}/insights")
    bars = chromium.find_elements(By.CSS_SELECTOR, "#runs-chart-7 svg rect.bar")
    assert len(bars) == 30
    drawn = [bar.rect for bar in bars]  # as laid out on the page, in CSS pixels
    assert sum(1 for r in drawn if r["height"] > 0 and r["width"] > 0) == 4
    assert max(r["height"] for r in drawn) > 50  # the busiest day fills the plot
    title = chromium.find_element(By.CSS_SELECTOR, "#runs-chart-7 svg > title")
    assert title.get_attribute("textContent").startswith("Runs per day, last 30 days, installation 7")
    outcome_bars = chromium.find_elements(By.CSS_SELECTOR, "#outcomes-chart-7 svg rect.bar")
    merged, *others = [b.rect["height"] for b in outcome_bars]  # 2 merged; 1 of the others
    assert others == [pytest.approx(merged / 2, abs=1)] * 3
    assert chromium.find_element(By.ID, "median-7").text.startswith(
        "Median time from request to pull request: 4 min 30 s over 4 pull requests")
    chromium.set_window_size(1280, 1100)
    _shot(chromium, "mission-insights.png")
    chromium.save_screenshot("/tmp/insights.png")
