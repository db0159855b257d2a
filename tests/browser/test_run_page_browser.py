"""A run's page in a real headless Chromium: its transcript followed over Server-Sent Events,
polling when the server has no stream free, Stop pressed on a running run and its end seen
without a reload, and and the diff at the end and the verification arriving as the run ends.

The same app, Redis and fake GitHub as tests/browser/test_mission_browser.py (its `mission`
fixture, shared through the conftest). Screenshots land in tests/artifacts.
"""

from __future__ import annotations

import time

from core.runs import RunStore, Status
from tests.browser.test_mission_browser import ARTIFACTS, _shot, _signed_in_text, _wait
from tests.mission_scene import running_run
from tests.test_mission_outcome import mirror_with_a_run_commit


def _open(driver, url: str) -> None:
    """Sign in as alice (fake GitHub) and land on `url`'s run page, marked so that a reload
    would show (the mark is gone after one)."""
    base, path = url.split("/runs/", 1)
    driver.get(f"{base}/auth/login?next=/runs/{path}")
    _signed_in_text(driver)
    driver.execute_script("window.sameDocument = true;")


def _via(driver) -> str | None:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.ID, "live").get_attribute("data-via")


def _events_text(driver) -> str:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.ID, "events").text


def test_the_transcript_updates_over_server_sent_events_and_stop_ends_it_live(
        chromium, mission, redis_client):
    from selenium.webdriver.common.by import By

    running_run(redis_client, "sse01", repo=mission.hello)
    _open(chromium, f"{mission.url}/runs/sse01")
    _wait(chromium, lambda d: _via(d) == "stream")  # the first message came over the stream

    store = RunStore(redis_client)
    store.add_event("sse01", "tool", {"name": "bash", "input": {"command": "make <lint>"},
                                      "is_error": False, "exit_code": 2, "output": "E501"})
    _wait(chromium, lambda d: "$ make <lint> · exit 2" in _events_text(d), seconds=10)
    assert _via(chromium) == "stream"  # never polled
    assert chromium.execute_script("return window.sameDocument === true;")

    chromium.find_element(By.ID, "stop-button").click()
    _wait(chromium, lambda d: "Stop requested by alice." in d.find_element(By.CLASS_NAME, "flash").text)
    assert "the run is stopping" in chromium.find_element(By.ID, "stop-requested").text
    assert RunStore(redis_client).get("sse01")["stop"]["by"] == "alice"
    chromium.execute_script("window.sameDocument = true;")
    _wait(chromium, lambda d: _via(d) == "stream")
    # The run's worker hears the stop and ends the run; the page learns it over its stream.
    store.finish("sse01", Status.CANCELLED, "alice stopped it from mission control")
    _wait(chromium, lambda d: d.find_element(By.ID, "run-status").text == "cancelled", seconds=10)
    _wait(chromium, lambda d: d.find_element(By.ID, "live").text == "The run has ended.")
    assert "alice stopped it from mission control" in _events_text(chromium)
    assert not chromium.find_elements(By.ID, "stop-button")
    assert chromium.execute_script("return window.sameDocument === true;")
    _shot(chromium, "mission-run-stopped-live.png")


def test_the_page_polls_when_no_stream_is_free(chromium, mission, redis_client):
    from app.mission.stream import SLOTS

    mission.app.extensions[SLOTS].limit = 0  # every stream this process could hold is taken
    running_run(redis_client, "poll01", repo=mission.hello)
    _open(chromium, f"{mission.url}/runs/poll01")
    RunStore(redis_client).add_event("poll01", "tool", {
        "name": "bash", "input": {"command": "pytest -q"}, "is_error": False, "exit_code": 0,
        "output": "3 passed"})
    _wait(chromium, lambda d: "$ pytest -q · exit 0" in _events_text(d), seconds=10)
    assert _via(chromium) == "polling"
    assert chromium.execute_script("return window.sameDocument === true;")


def test_a_runs_transcript_with_its_diff_at_the_end_and_verification(
        chromium, mission, redis_client, tmp_path):
    from selenium.webdriver.common.by import By

    base, commit = mirror_with_a_run_commit(tmp_path)  # in the mission's ORCA_DATA_DIR
    running_run(redis_client, "end01", repo=mission.hello)
    store = RunStore(redis_client)
    _open(chromium, f"{mission.url}/runs/end01")
    store.add_event("end01", "workspace", {"branch": "agent/issue-5", "base": "main",
                                           "base_sha": base})
    store.add_event("end01", "tests", {"at": "base", "cached": False, "command": "pytest -q",
                                       "passed": True, "exit_code": 0, "timed_out": False,
                                       "seconds": 1.21, "counts": "3 passed"})
    store.add_event("end01", "model", {
        "turn": 2, "stop_reason": "tool_use", "dollars": 0.0412,
        "spent": {"turns": 2, "tokens": 11_200, "dollars": 0.1612, "minutes": 1.2},
        "text": "The greeting is misspelt in hello.py; I'll fix it and run the tests."})
    store.add_event("end01", "tool", {"name": "str_replace_based_edit_tool",
                                      "input": {"command": "str_replace", "path": "hello.py"},
                                      "is_error": False, "exit_code": None, "output": "edited"})
    store.add_event("end01", "tool", {"name": "bash", "input": {"command": "pytest -q"},
                                      "is_error": False, "exit_code": 0, "output": "4 passed"})
    store.add_event("end01", "tests", {"at": "after", "regressed": False, "command": "pytest -q",
                                       "passed": True, "exit_code": 0, "timed_out": False,
                                       "seconds": 1.38, "counts": "4 passed"})
    _wait(chromium, lambda d: "No regression against the base."
          in d.find_element(By.ID, "verification").text, seconds=10)
    store.finish("end01", Status.DONE, commit=commit, branch="agent/issue-5", turns=3,
                 tokens=15_000, cost=0.21, pr_url="https://github.com/octo-org/hello/pull/6",
                 pr_number=6)
    _wait(chromium, lambda d: d.find_element(By.ID, "live").text == "The run has ended.")
    assert _via(chromium) == "stream"

    # The diff at the end came with the stream's last message: no reload.
    diff = _wait(chromium, lambda d: d.find_elements(By.ID, "final-diff"))[0].text
    assert chromium.execute_script("return window.sameDocument === true;")
    assert "hello.py | 2 +-" in diff and "+print('hello')  # <script>alert(1)</script>" in diff
    verification = chromium.find_element(By.ID, "verification").text
    assert "At the base commit: 3 passed · exit 0 · 1.2 s." in verification
    assert "On the change: 4 passed · exit 0 · 1.4 s." in verification
    said = chromium.find_elements(By.CSS_SELECTOR, "#events pre.said")[-1]
    assert said.text.startswith("The greeting is misspelt")
    height = chromium.execute_script("return document.documentElement.scrollHeight;")
    chromium.set_window_size(1000, min(height + 300, 5000))
    time.sleep(0.2)
    _shot(chromium, "mission-run-transcript.png")
    assert (ARTIFACTS / "mission-run-transcript.png").stat().st_size > 10_000
