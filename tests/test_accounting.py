"""Daily spending per installation: the counters in a real Redis, /metrics and mission control."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import pytest
from prometheus_client.parser import text_string_to_metric_families

from app import create_app
from core import ledger as accounting
from core.runs import RunStore
from core.settings import Settings
from core.triggers import Trigger
from jobs.context import Redactor, RunContext
from jobs.github import report
from jobs.run import spending
from tests.mission_scene import (
    ADMIN_TOKEN,
    HELLO,
    SECRET,
    SECRET_REPO,
    csrf_of,
    sign_in_as,
)

# 2025-06-01 23:59:30 UTC: half a minute before the day's budget starts afresh.
LATE = datetime(2025, 6, 1, 23, 59, 30, tzinfo=UTC).timestamp()
TURN = {"input_tokens": 100, "output_tokens": 20, "cache_read_input_tokens": 1000,
        "cache_creation_input_tokens": 300}


def settings(**overrides) -> Settings:
    return Settings(GITHUB_APP_ID=1, GITHUB_PRIVATE_KEY="k", GITHUB_WEBHOOK_SECRET=SECRET,
                    ORCA_ADMIN_TOKEN=ADMIN_TOKEN, **overrides)


def test_the_day_and_its_end_are_utc():
    assert accounting.day_of(LATE) == "2025-06-01"
    assert accounting.day_of(LATE + 31) == "2025-06-02"
    assert accounting.next_midnight(LATE) == datetime(2025, 6, 2, tzinfo=UTC)
    assert accounting.next_midnight(LATE + 31) == datetime(2025, 6, 3, tzinfo=UTC)


@pytest.mark.parametrize(("spent", "budget", "past"), [
    (0.0, 0.0, False),     # no budget set
    (99.0, 0.0, False),
    (4.99, 5.0, False),
    (5.0, 5.0, True),      # spending the whole budget is past it
    (7.5, 5.0, True),
])
def test_past_budget(spent, budget, past):
    assert accounting.past_budget(spent, budget) is past


def test_turns_add_up_per_installation_and_day(redis_client):
    accounting.record_turn(redis_client, 7, 42, 1, TURN, 0.25, LATE)
    accounting.record_turn(redis_client, 7, 42, 2, TURN, 0.5, LATE)
    accounting.record_turn(redis_client, 7, 43, 1, {"output_tokens": 5}, None, LATE)
    accounting.record_turn(redis_client, 8, 77, 1, TURN, 1.0, LATE)
    accounting.record_turn(redis_client, 7, 42, 3, TURN, 2.0, LATE + 60)  # the next UTC day

    day = accounting.totals(redis_client, 7, "2025-06-01")
    assert (day.runs, day.input_tokens, day.output_tokens) == (2, 200, 45)
    assert (day.cache_read_tokens, day.cache_write_tokens) == (2000, 600)
    assert day.tokens == 200 + 45 + 2000 + 600
    assert day.dollars == pytest.approx(0.75)
    assert day.repository_ids == {42, 43}
    assert [d.installation_id for d in accounting.spent_on(redis_client, "2025-06-01")] == [7, 8]
    after = accounting.totals(redis_client, 7, "2025-06-02")
    assert (after.runs, after.dollars, after.input_tokens) == (0, 2.0, 100)
    assert accounting.totals(redis_client, 9, "2025-06-01") == accounting.DayTotals(9, "2025-06-01")
    for key in redis_client.keys("orca:spend:*"):
        assert 0 < redis_client.ttl(key) <= accounting.KEEP_SECONDS


def test_concurrent_turns_lose_no_increment(redis_client):
    def one_run(run: int) -> None:
        for turn in range(1, 51):
            accounting.record_turn(redis_client, 7, 42, turn, TURN, 0.01, LATE)

    threads = [threading.Thread(target=one_run, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    day = accounting.totals(redis_client, 7, "2025-06-01")
    assert (day.runs, day.input_tokens, day.output_tokens) == (8, 400 * 100, 400 * 20)
    assert day.dollars == pytest.approx(4.0)


def context(redis_client, **overrides) -> RunContext:
    """A run's context without a GitHub App: these steps never call GitHub."""
    trigger = Trigger(kind="label", installation_id=7, repository="octo-org/hello",
                      repository_id=42, number=5, requester="octocat", requester_id=9)
    return RunContext("run1", trigger, settings(**overrides), RunStore(redis_client),
                      app=None, redactor=Redactor())  # type: ignore[arg-type]


def test_metered_records_the_events_and_prices_turns_at_the_repositorys_model(redis_client):
    ctx = context(redis_client)
    emit = spending.metered(ctx)
    emit("config", {"model": "claude-haiku-4-5"})
    emit("model", {"turn": 1, "usage": {"input_tokens": 1_000_000, "output_tokens": 0}})
    emit("tool", {"name": "bash"})
    emit("model", {"turn": 2, "usage": {"input_tokens": 0, "output_tokens": 200_000,
                                        "cache_read_input_tokens": None}})
    assert [e["kind"] for e in ctx.store.events("run1")] == ["config", "model", "tool", "model"]
    day = accounting.totals(redis_client, 7, accounting.day_of(time.time()))
    assert day.runs == 1
    assert (day.input_tokens, day.output_tokens) == (1_000_000, 200_000)
    assert day.dollars == pytest.approx(1.0 + 1.0)  # haiku: $1 in, $5 out per million


def test_under_the_budget_a_run_starts_and_nothing_is_said(redis_client):
    accounting.record_turn(redis_client, 7, 42, 1, TURN, 4.99, LATE)
    for budget in (0.0, 5.0):
        assert spending.refused_at_start(context(redis_client, ORCA_DAILY_DOLLARS=budget),
                                         now=LATE) is False
    assert RunStore(redis_client).get("run1") is None
    assert accounting.totals(redis_client, 7, "2025-06-01").refused == 0


def test_the_refusal_says_what_was_spent_when_it_resumes_and_how():
    body = report.over_daily_budget("run1", "octocat", 12.345, 10.0,
                                    accounting.next_midnight(LATE))
    assert "@octocat" in body
    assert "spent $12.35 of its $10.00 daily budget" in body
    assert "2025-06-02 00:00 UTC" in body
    assert "`/agent retry`" in body
    assert report.marker("run1") in body


def scrape(client) -> dict[tuple[str, tuple], float]:
    text = client.get("/metrics").text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_metrics_show_todays_spending_per_installation(redis_client):
    now = time.time()
    accounting.record_turn(redis_client, 7, 42, 1, TURN, 0.25, now)
    accounting.count_refused(redis_client, 7, now)
    accounting.record_turn(redis_client, 8, 77, 1, TURN, 3.0, now - 2 * 86400)  # not today
    found = scrape(create_app(settings(), redis_client).test_client())
    inst = ("installation", "7")
    assert found[("orca_installation_dollars_today", (inst,))] == 0.25
    assert found[("orca_installation_tokens_today", (inst, ("kind", "cache_read")))] == 1000
    assert found[("orca_installation_tokens_today", (inst, ("kind", "output")))] == 20
    assert found[("orca_installation_runs_today", (inst,))] == 1
    assert found[("orca_installation_runs_refused_today", (inst,))] == 1
    assert ("orca_installation_dollars_today", (("installation", "8"),)) not in found


def spend_rows(page: str) -> set[str]:
    import re
    return set(re.findall(r'<tr id="spend-(\d+)"', page))


def test_the_runs_page_shows_the_spending_a_viewer_may_see(redis_client):
    now = time.time()
    accounting.record_turn(redis_client, 7, HELLO[1], 1, TURN, 6.0, now)
    accounting.record_turn(redis_client, 8, SECRET_REPO[1], 1, TURN, 1.5, now)
    client = create_app(settings(ORCA_DAILY_DOLLARS=5), redis_client).test_client()

    sign_in_as(client, redis_client, "octocat", {HELLO[1]})
    page = client.get("/runs").text
    assert spend_rows(page) == {"7"}
    row = page.split('id="spend-7"')[1].split("</tr>")[0]
    assert "$6.00" in row and "budget spent" in row and "1,420" in row
    assert "daily budget $5.00" in page

    sign_in_as(client, redis_client, "stranger", set())
    assert spend_rows(client.get("/runs").text) == set()

    operator = create_app(settings(), redis_client).test_client()
    form = operator.get("/auth/signin").text
    operator.post("/auth/admin", data={"csrf_token": csrf_of(form), "token": ADMIN_TOKEN})
    page = operator.get("/runs").text
    assert spend_rows(page) == {"7", "8"}
    assert "budget spent" not in page  # no daily budget set for this one
