"""/insights (#20): the SVG charts drawn in Python, and who sees which installation's figures.
A real Redis; the figures are written the way the workers write them (core.ledger,
core.outcomes, run records)."""

from __future__ import annotations

import re
import time
import xml.etree.ElementTree as ET

import pytest

from app.mission import insights_data
from app.mission.charts import PLOT_HEIGHT, Bar, bar_chart, heights
from core import ledger, outcomes
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

SVG = "{http://www.w3.org/2000/svg}"
DAY = 86400


@pytest.fixture
def client(redis_client, tmp_path):
    return mission_app(redis_client, tmp_path).test_client()


def bars_of(svg: str) -> list[ET.Element]:
    """The bars of one chart; parsing it also proves the SVG is well-formed XML."""
    return ET.fromstring(svg).findall(f"{SVG}rect")


def test_bar_heights_are_proportional_to_the_values():
    assert heights([1, 2, 4, 0]) == [PLOT_HEIGHT / 4, PLOT_HEIGHT / 2, PLOT_HEIGHT, 0]
    assert heights([0, 0]) == [0, 0] and heights([]) == []
    svg = bar_chart("Runs", [Bar("a", 3), Bar("b", 6), Bar("c", 0)], str)
    drawn = [float(bar.get("height")) for bar in bars_of(svg)]
    assert drawn == [PLOT_HEIGHT / 2, PLOT_HEIGHT, 0]
    # Bars stand on one baseline: each bar's top plus its height is the same.
    assert len({float(b.get("y")) + float(b.get("height")) for b in bars_of(svg)}) == 1


def test_every_text_in_a_chart_is_escaped():
    name = 'evil/<script>alert("x")</script>&'
    svg = str(bar_chart(f"Runs of {name}", [Bar(name, 1)], lambda v: f"{v} <b>"))
    assert "<script>" not in svg and "<b>" not in svg
    root = ET.fromstring(svg)
    assert root.find(f"{SVG}title").text == f"Runs of {name}"  # escaped, so it reads back whole
    assert root.find(f"{SVG}rect/{SVG}title").text == f"{name}: 1 <b>"
    assert root.get("role") == "img" and root.get("aria-labelledby") == root.find(f"{SVG}title").get("id")


def test_the_last_thirty_days_end_today():
    now = time.time()
    days = insights_data.last_days(now)
    assert len(days) == 30 and days[-1] == ledger.day_of(now)
    assert days[0] == ledger.day_of(now - 29 * DAY) and len(set(days)) == 30


def test_signing_in_comes_first(client):
    answer = client.get("/insights")
    assert answer.status_code == 302
    assert answer.headers["Location"] == "/auth/signin?next=/insights"


def spend(connection, installation: int, repo_id: int, days_ago: int, runs: int, dollars: float):
    """`runs` first turns on a day `days_ago` back, costing `dollars` in all."""
    for index in range(runs):
        ledger.record_turn(connection, installation, repo_id, 1, {"input_tokens": 10},
                           dollars / runs, time.time() - days_ago * DAY)


def charts_of(page: str, chart: str, installation: int) -> str:
    found = re.search(rf'<figure id="{chart}-chart-{installation}">\s*(<svg.*?</svg>)', page, re.DOTALL)
    assert found, f"no {chart} chart for installation {installation}"
    return found[1]


def scene(connection) -> None:
    """Installation 7 (octo-org/hello): runs on two days, a merged, a closed and an open pull
    request, a failed run. Installation 8 (other-org/secret): one day and one failed run."""
    spend(connection, 7, HELLO[1], 0, 2, 1.0)
    spend(connection, 7, HELLO[1], 3, 4, 3.0)
    spend(connection, 8, SECRET_REPO[1], 1, 5, 9.0)
    for run_id, number in (("merg01", 11), ("clos02", 12), ("open03", 13)):
        record = add_run(connection, run_id, status="done", pr_number=number)
        outcomes.opened(connection, HELLO[0], number, run_id, 7, record["created_at"] + 300)
    outcomes.closed(connection, HELLO[0], 11, True, "2026-12-01T10:00:00Z")
    outcomes.closed(connection, HELLO[0], 12, False, "2026-12-01T11:00:00Z")
    add_run(connection, "fail04", status="failed")
    add_run(connection, "fail05", repo=SECRET_REPO, status="failed", installation_id=8)


def test_a_person_sees_the_installations_of_repositories_they_can_read(client, redis_client):
    scene(redis_client)
    sign_in_as(client, redis_client, "octocat", {HELLO[1]})
    page = client.get("/insights")
    assert page.status_code == 200 and "Content-Security-Policy" in page.headers
    assert 'id="installation-7"' in page.text and 'id="installation-8"' not in page.text
    assert "other-org/secret" not in page.text

    runs = bars_of(charts_of(page.text, "runs", 7))
    assert len(runs) == 30
    assert [float(b.get("height")) for b in runs][-4:] == [PLOT_HEIGHT, 0, 0, PLOT_HEIGHT / 2]
    assert [b.find(f"{SVG}title").text for b in runs][-1] == f"{ledger.day_of(time.time())}: 2 runs"
    dollars = bars_of(charts_of(page.text, "dollars", 7))
    assert float(dollars[-1].get("height")) == pytest.approx(PLOT_HEIGHT / 3, abs=0.05)  # drawn to a tenth
    assert "6 runs in 30 days." in page.text and "$4.00 in 30 days." in page.text
    counts = dict(re.findall(r'id="outcome-7-([a-z-]+)">(\d+)<', page.text))
    assert counts == {"merged": "1", "open": "1", "closed-unmerged": "1", "failed": "1"}
    assert [float(b.get("height")) for b in bars_of(charts_of(page.text, "outcomes", 7))] == [
        PLOT_HEIGHT] * 4
    assert "<strong>5 min 00 s</strong> over 3 pull requests" in page.text


def test_a_person_who_reads_nothing_sees_nothing(client, redis_client):
    scene(redis_client)
    sign_in_as(client, redis_client, "stranger", {999})
    page = client.get("/insights")
    assert 'id="no-insights"' in page.text and "installation-" not in page.text


def test_an_operator_sees_every_installation(client, redis_client):
    scene(redis_client)
    signin = client.get("/auth/signin")
    client.post("/auth/admin", data={"csrf_token": csrf_of(signin.text), "token": ADMIN_TOKEN,
                                     "next": "/insights"})
    page = client.get("/insights").text
    assert page.index('id="installation-7"') < page.index('id="installation-8"')
    assert "$9.00 in 30 days." in page
    assert re.search(r'id="outcome-8-failed">1<', page)


def test_repository_names_reach_the_page_escaped(client, redis_client):
    evil = ('evil/<img src=x onerror=alert(1)>', 501)
    add_run(redis_client, "evil01", repo=evil, status="failed", installation_id=9)
    sign_in_as(client, redis_client, "octocat", {evil[1]})
    page = client.get("/insights").text
    assert "<img src=x" not in page
    assert "installation 9 (evil/&lt;img src=x onerror=alert(1)&gt;)" in page
    ET.fromstring(charts_of(page, "outcomes", 9))


def test_only_the_run_that_opened_a_pull_request_times_it(client, redis_client):
    first = add_run(redis_client, "firs01", status="done", pr_number=21)
    outcomes.opened(redis_client, HELLO[0], 21, "firs01", 7, first["created_at"] + 60)
    add_run(redis_client, "late02", status="done", pr_number=21)  # updated the same one
    RunStore(redis_client).update("late02", created_at=first["created_at"] - 3600)
    outcomes.opened(redis_client, HELLO[0], 21, "late02", 7, time.time())  # the first is kept
    sign_in_as(client, redis_client, "octocat", {HELLO[1]})
    page = client.get("/insights").text
    assert "<strong>1 min 00 s</strong> over 1 pull request." in page
    assert re.search(r'id="outcome-7-open">1<', page)


def test_closing_and_reopening_end_as_their_times_say(redis_client):
    """Deliveries come in any order: of a closing and a reopening, GitHub's later time wins;
    a pull request Orca did not open is never recorded."""
    outcomes.opened(redis_client, HELLO[0], 21, "reop01", 7, 1_700_000_000.0)

    def state() -> tuple[str, float | None]:
        found = outcomes.read(redis_client, [(HELLO[0], 21)])[(HELLO[0], 21)]
        return found.state, found.closed_at

    closed_at = "2026-12-01T10:00:00Z"
    assert outcomes.closed(redis_client, HELLO[0], 21, False, closed_at)
    assert not outcomes.reopened(redis_client, HELLO[0], 21, "2026-12-01T09:59:00Z")
    assert state() == ("closed unmerged", outcomes._seconds(closed_at))
    assert outcomes.reopened(redis_client, HELLO[0], 21, "2026-12-01T10:05:00Z")
    assert state() == ("open", None)
    assert not outcomes.closed(redis_client, HELLO[0], 21, True, "2026-12-01T10:01:00Z")
    assert state() == ("open", None)
    assert outcomes.closed(redis_client, HELLO[0], 21, True, "2026-12-01T10:07:00Z")
    assert state() == ("merged", outcomes._seconds("2026-12-01T10:07:00Z"))
    assert not outcomes.reopened(redis_client, HELLO[0], 99, "2026-12-01T10:05:00Z")
    assert outcomes.read(redis_client, [(HELLO[0], 99)]) == {}
