"""Faults a run meets on its way, each ending with the right outcome and words on the issue.

Redis going away (stopped while deliveries arrive, restarted mid-run), GitHub failing a
request (a 502, then its secondary rate limit), the model going silent, a command that never
ends. Covered elsewhere: an installation token expiring mid-run (test_run_outcomes), the
branch moving under a push (test_pushing), a worker killed with SIGKILL (test_worker_death).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import pytest
from rq.registry import FinishedJobRegistry, StartedJobRegistry

from core.queues import queues, schedule_sweep
from core.runs import RunStore
from tests.e2e.conftest import comments_on, labeled_payload, make_scene, pulls
from tests.e2e.conversation_scenes import (
    BackgroundRuns,
    bodies,
    command,
    drain_fast,
    wait_for,
)
from tests.fakes.model import looks_right, reply, text, tool_use
from tests.redis_server import RedisServer

# GitHub counts a delivery as failed when it gets no answer within 10 seconds
# (https://docs.github.com/en/webhooks/using-webhooks/best-practices-for-using-webhooks).
GITHUB_BUDGET = 10


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """This module's own redis-server, append-only like `orca up`'s, for the tests to take
    away and bring back on the same port (the `orca` fixture uses it instead of the shared one)."""
    folder = tmp_path / "redis"
    folder.mkdir()
    server = RedisServer(folder, appendonly=True)
    server.start()
    yield server
    server.stop()


def fix_replies(delay: float = 0.0) -> list:
    """The agent fixes the typo (its first answer after `delay`), then checks its diff."""
    edit = tool_use("str_replace_based_edit_tool", {
        "command": "str_replace", "path": "/workspace/hello.py",
        "old_str": "'helo, world'", "new_str": "'hello, world'"})
    return [reply(edit, delay=delay), reply(text("Done.")), reply(text("Fixed the greeting.")),
            looks_right()]


def opened(github, scene) -> str:
    """The tracking comment, which must say the pull request was opened."""
    [tracking], _ = comments_on(github, scene)
    assert tracking.body.startswith("✅ Opened #"), tracking.body
    return tracking.body


def orca_keys(connection) -> list[bytes]:
    """What Orca and RQ keep in Redis, /metrics' own counters aside."""
    return [k for k in connection.keys("*") if not k.startswith(b"orca:metrics:")]


def test_deliveries_while_redis_is_down_get_503_and_come_back_through_the_sweep(orca, redis_server):
    github = orca.github
    first = make_scene(github)
    second = replace(first, number=github.add_issue(first.full_name, "Fix the greeting typo",
                                                    "Again.", "octocat", labels=["agent"]))
    github.webhook_url = f"{orca.url}/webhooks"
    redis_server.stop()
    started = time.monotonic()
    with ThreadPoolExecutor() as deliveries:  # GitHub sends them at once
        refused = list(deliveries.map(lambda scene: github.send_delivery(
            "issues", labeled_payload(github, scene)), (first, second)))
    assert time.monotonic() - started < GITHUB_BUDGET
    assert [d.status_code for d in refused] == [503, 503]

    redis_server.start()  # with its append-only file: whatever was written would be back
    assert orca_keys(orca.redis) == []  # nothing half-recorded: no delivery claimed, no run
    assert github.calls == []
    # What a worker does when it starts: sweep for missed deliveries now.
    assert schedule_sweep(orca.redis, 0)
    drain_fast(orca)
    for thread in github.redelivery_threads:
        thread.join(timeout=GITHUB_BUDGET)
    assert sorted(github.state.redelivery_requests) == sorted(d.id for d in refused)
    again = [d for d in github.state.deliveries.values() if d.redelivery]
    assert sorted(d.guid for d in again) == sorted(d.guid for d in refused)
    assert [d.status_code for d in again] == [202, 202]  # new to Orca: nothing was claimed

    orca.model.script(*fix_replies(), *fix_replies())
    orca.drain()
    assert len(pulls(github)) == 2
    opened(github, first)
    opened(github, second)
    assert github.violations == []


def test_redis_restarted_mid_run_with_append_only_loses_nothing(orca, redis_server, tmp_path):
    """A real `orca worker` (a forked work horse, as in production) rides out a restart that
    spans the moment the model's first answer is to be recorded."""
    github = orca.github
    scene = make_scene(github)
    orca.model.script(*fix_replies(delay=1))
    _status, answer = orca.deliver("issues", labeled_payload(github, scene))
    drain_fast(orca)
    store = RunStore(orca.redis)
    worker = subprocess.Popen([sys.executable, "-m", "app.cli", "worker", "--burst"],
                              env=dict(os.environ), cwd=tmp_path, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_for(lambda: orca.model.requests, what="the run's first model request")
        before = [e["kind"] for e in store.events(answer["run"])]
        redis_server.stop()  # while the model is thinking...
        time.sleep(1.5)  # ...and still when it answers
        redis_server.start()
        assert worker.wait(timeout=60) == 0
    finally:
        worker.kill()

    body = opened(github, scene)
    assert "Fixed the greeting." in body
    run = store.get(answer["run"])
    assert run["status"] == "done" and run["pr_number"] == pulls(github)[0].number
    kinds = [e["kind"] for e in store.events(answer["run"])]
    assert "acknowledged" in before and kinds[:len(before)] == before  # kept across the restart
    assert kinds[-1] == "finished" and kinds.count("model") == 4  # three turns and the check
    _, runs = queues(orca.redis)
    assert StartedJobRegistry(queue=runs).get_job_ids() == []
    assert FinishedJobRegistry(queue=runs).get_job_ids() == [f"run-{answer['run']}"]
    assert github.violations == [] and orca.model.remaining == 0


def test_a_run_still_hears_stop_after_redis_was_away_for_long(orca, redis_server, caplog):
    """Longer than the Redis client's own retries: the run's stop watch keeps listening."""
    github = orca.github
    scene = make_scene(github)
    orca.model.script(reply(tool_use("bash", {"command": "sleep 60; echo slept"})),
                      reply(text("Done.")))
    _status, answer = orca.deliver("issues", labeled_payload(github, scene))
    drain_fast(orca)
    runs = BackgroundRuns(orca).start()
    store = RunStore(orca.redis)
    wait_for(lambda: any(e["kind"] == "model" for e in store.events(answer["run"])),
             what="the model's first answer")
    time.sleep(0.3)  # the agent's `sleep 60` is running in the sandbox now, touching no Redis
    caplog.set_level(logging.WARNING, logger="orca.stop")
    redis_server.stop()
    wait_for(lambda: "cannot read stop requests" in caplog.text, timeout=20,
             what="the stop watch to find Redis gone")
    redis_server.start()

    started = time.monotonic()
    command(orca, scene, scene.number, "/agent stop")
    drain_fast(orca)
    runs.join(timeout=30)
    assert time.monotonic() - started < 10, "the sandbox's sleep was not killed"
    assert store.get(answer["run"])["status"] == "cancelled"
    tracking = next(b for b in bodies(github, scene.full_name, scene.number)
                    if f"Run `{answer['run']}`" in b)
    assert tracking.startswith("🛑 Stopped: @octocat asked it to stop. Nothing was pushed.")
    assert pulls(github) == []


def metric(orca, name: str) -> str:
    with urllib.request.urlopen(f"{orca.url}/metrics", timeout=10) as answer:
        return "\n".join(line for line in answer.read().decode().splitlines()
                         if line.startswith(name))


def test_github_502_then_secondary_rate_limit_is_retried_after_the_wait(orca):
    github = orca.github
    scene = make_scene(github)
    pull_path = rf"/repos/{scene.full_name}/pulls$"
    github.fail_next("POST", pull_path, 502)
    github.rate_limit_next("POST", pull_path, retry_after=1)
    orca.model.script(*fix_replies())
    orca.deliver("issues", labeled_payload(github, scene))
    orca.drain()

    assert len(pulls(github)) == 1  # the failed attempts created nothing
    opened(github, scene)
    attempts = github.calls_to("POST", pull_path)
    assert [c.status for c in attempts] == [502, 403, 201]
    assert attempts[0].body == attempts[2].body  # the same request, sent again
    assert attempts[2].at - attempts[1].at >= 1, "Retry-After was not honoured"
    counted = metric(orca, "orca_github_api_calls_total")
    assert 'status="502"} 1' in counted and 'status="403"} 1' in counted
    assert github.violations == []


def test_a_stalled_model_answer_is_asked_again_and_the_run_goes_on(orca, monkeypatch):
    monkeypatch.setenv("ORCA_MODEL_TIMEOUT", "0.5")
    scene = make_scene(orca.github)
    [edit, *rest] = fix_replies()
    orca.model.script(replace(edit, stall=30), edit, *rest)
    orca.deliver("issues", labeled_payload(orca.github, scene))
    orca.drain()

    opened(orca.github, scene)
    first, second = orca.model.requests[:2]
    assert first["messages"] == second["messages"]  # the SDK sent the stalled request again
    assert len(orca.model.requests) == 5 and orca.model.remaining == 0


def test_a_model_that_never_answers_fails_the_run_in_bounded_time(orca, monkeypatch):
    monkeypatch.setenv("ORCA_MODEL_TIMEOUT", "0.5")
    scene = make_scene(orca.github)
    orca.model.script(*[reply(text("never finished"), delay=30)] * 3)  # no headers, even
    _status, answer = orca.deliver("issues", labeled_payload(orca.github, scene))
    started = time.monotonic()
    orca.drain()
    assert time.monotonic() - started < 15  # three 0.5 s waits and the SDK's backoff

    [tracking], _ = comments_on(orca.github, scene)
    assert tracking.body.startswith("❌ Orca's run failed: The model API did not answer within "
                                    "0.5 s, 3 times in a row.")
    assert "comment `/agent retry`" in tracking.body
    assert len(orca.model.requests) == 3 and pulls(orca.github) == []
    assert RunStore(orca.redis).get(answer["run"])["status"] == "failed"


def test_a_command_that_never_ends_is_killed_and_the_run_goes_on(orca, monkeypatch):
    monkeypatch.setenv("ORCA_COMMAND_TIMEOUT", "0.5")
    scene = make_scene(orca.github)
    orca.model.script(reply(tool_use("bash", {"command": "echo started; sleep 600"})),
                      *fix_replies())
    started = time.monotonic()
    orca.deliver("issues", labeled_payload(orca.github, scene))
    orca.drain()
    assert time.monotonic() - started < 20

    opened(orca.github, scene)
    [result] = orca.model.requests[1]["messages"][-1]["content"]
    assert result["content"].startswith("started\n[command timed out after 0.5 s and was killed. ")


def test_a_failure_is_said_on_the_issue_even_with_redis_away(orca, redis_server):
    """The run's record cannot take the failure; the tracking comment still says it."""
    from core.errors import ModelUnavailable
    from jobs.context import RunContext
    from jobs.run.endings import failed as _fail

    github = orca.github
    scene = make_scene(github)
    _status, answer = orca.deliver("issues", labeled_payload(github, scene))
    drain_fast(orca)
    record = RunStore(orca.redis).get(answer["run"])
    ctx = RunContext.load(answer["run"], record)
    redis_server.stop()
    try:
        _fail(ctx, ModelUnavailable("The model API could not be reached after retries."))
    finally:
        redis_server.start()
    [tracking] = bodies(github, scene.full_name, scene.number)
    assert tracking.startswith("❌ Orca's run failed: The model API could not be reached")


def closed_port() -> int:
    """A local port nothing listens on: connecting to it is refused at once."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_github_unreachable_backs_off_logs_a_line_per_failure_and_says_so(
        orca, monkeypatch, caplog):
    """Every call to GitHub refused: each is tried again three times, waiting longer each time
    (jobs.github.calls), one log line a try and no traceback; the run fails saying why."""
    github = orca.github
    scene = make_scene(github)
    _status, answer = orca.deliver("issues", labeled_payload(github, scene))
    monkeypatch.setenv("GITHUB_API_URL", f"http://127.0.0.1:{closed_port()}/api/v3")
    with caplog.at_level(logging.INFO):
        orca.drain()
    record = RunStore(orca.redis).get(answer["run"])
    assert record["status"] == "failed"
    assert record["reason"].startswith("GitHub could not be reached")
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    tries = [r for r in caplog.records if r.getMessage().startswith("Retrying (CountingRetry")]
    ran = [r.getMessage().split("] ", 1)[1] for r in caplog.records if r.name == "orca.run"]
    # Minting the acknowledgement's token, then trying to say the run failed: 3 tries each.
    assert len(tries) == 6 and "\n" not in "".join(r.getMessage() for r in tries)
    assert ran[0].startswith("failed: GitHubUnreachable('GitHub could not be reached")
    assert ran[1] == "could not report: GitHub could not be reached"
    # urllib3 waits before each line: 0 s, then 1 s, then 2 s (BACKOFF_FACTOR 0.5).
    first, second, third = (r.created for r in tries[:3])
    assert second - first >= 0.9 and third - second >= 1.9
