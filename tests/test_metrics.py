"""/metrics: Prometheus text that Prometheus's own parser reads, computed from Redis."""

from __future__ import annotations

import json
import logging
import time

import pytest
from github import Auth, Github, GithubException
from prometheus_client.parser import text_string_to_metric_families
from rq import Queue

from app import create_app
from app.metrics import bearer_ok
from app.metrics.webhooks import WebhookTally
from core.metrics_store import WEBHOOKS_KEY, read_hash
from core.queues import RUNS_QUEUE
from core.settings import Settings
from jobs.github.calls import CountingRetry, count_github_calls
from tests import payloads
from tests.mission_scene import SECRET, add_run


@pytest.fixture
def client(redis_client):
    settings = Settings(GITHUB_APP_ID=1, GITHUB_PRIVATE_KEY="k", GITHUB_WEBHOOK_SECRET=SECRET)
    return create_app(settings, redis_client).test_client()


def scrape(client) -> dict[tuple[str, tuple], float]:
    """Every sample, keyed by (name, sorted labels), parsed by prometheus_client."""
    answer = client.get("/metrics")
    assert answer.status_code == 200
    assert answer.content_type.startswith("text/plain; version=")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(answer.text) for s in family.samples}


def test_runs_by_status_and_queue_depth(client, redis_client):
    add_run(redis_client, "q1")
    add_run(redis_client, "r1", status="running")
    Queue(RUNS_QUEUE, connection=redis_client).enqueue("jobs.run.execute", job_id="run-q1")
    samples = scrape(client)
    assert samples[("orca_runs", (("status", "queued"),))] == 1
    assert samples[("orca_runs", (("status", "running"),))] == 1
    assert samples[("orca_queue_jobs", (("queue", "orca-runs"),))] == 1
    assert samples[("orca_queue_jobs", (("queue", "orca-fast"),))] == 0
    assert 0 <= samples[("orca_queue_oldest_job_age_seconds", (("queue", "orca-runs"),))] < 60


def test_finished_runs_are_counted_once(client, redis_client):
    now = time.time()
    add_run(redis_client, "d1", status="done", started_at=now - 100, finished_at=now - 10,
            turns=5, tokens=1000, cost=0.25)
    add_run(redis_client, "f1", status="failed", started_at=now - 50, finished_at=now - 20)
    first, second = scrape(client), scrape(client)
    for samples in (first, second):
        assert samples[("orca_runs_finished_total", (("status", "done"),))] == 1
        assert samples[("orca_runs_finished_total", (("status", "failed"),))] == 1
        assert samples[("orca_run_tokens_total", ())] == 1000
        assert samples[("orca_run_cost_dollars_total", ())] == 0.25
        assert samples[("orca_run_duration_seconds_count", ())] == 2
        assert samples[("orca_run_duration_seconds_bucket", (("le", "60.0"),))] == 1
        assert samples[("orca_run_duration_seconds_bucket", (("le", "120.0"),))] == 2
    # The record expiring must not make the counter fall.
    redis_client.delete("orca:run:d1")
    assert scrape(client)[("orca_runs_finished_total", (("status", "done"),))] == 1


def test_webhook_deliveries_are_timed(client):
    body = json.dumps({"zen": "Keep it logically awesome."}).encode()
    headers = payloads.delivery_headers("ping", body, SECRET, delivery_id="p-1")
    assert client.post("/webhooks", data=body, headers=headers).status_code == 200
    assert client.post("/webhooks", data=body, headers={"X-GitHub-Event": "ping"}).status_code == 401
    samples = scrape(client)
    assert samples[("orca_webhook_deliveries_total", (("status", "200"),))] == 1
    assert samples[("orca_webhook_deliveries_total", (("status", "401"),))] == 1
    assert samples[("orca_webhook_duration_seconds_count", ())] == 2
    assert samples[("orca_webhook_duration_seconds_bucket", (("le", "10.0"),))] == 2


def test_webhook_timings_are_added_to_redis_once_a_second(redis_client):
    now = [100.0]
    tally = WebhookTally(redis_client, clock=lambda: now[0])
    tally.observe(202, 0.003)
    now[0] += 0.5
    tally.observe(202, 0.2)
    assert read_hash(redis_client, WEBHOOKS_KEY) == {}  # tallied in the process for now
    now[0] += 0.5
    tally.observe(400, 11.0)  # a second after the last addition: all three go
    assert read_hash(redis_client, WEBHOOKS_KEY) == {
        "answers:202": "2", "answers:400": "1", "in:0.005": "1", "in:0.25": "1", "in:+Inf": "1",
        "sum": "11.203"}
    tally.observe(202, 0.003)
    now[0] += 1
    tally.flush_if_due()  # what any later request of the process does
    assert read_hash(redis_client, WEBHOOKS_KEY)["answers:202"] == "3"


def test_github_calls_made_through_pygithub_are_counted(client, fake_github, redis_server, caplog):
    installation = fake_github.add_installation("octo-org")
    count_github_calls(redis_server.url)
    app_auth = Auth.AppAuth(fake_github.app_id, fake_github.private_key_pem)
    github = Github(base_url=fake_github.api_url, seconds_between_requests=None,
                    seconds_between_writes=None, retry=CountingRetry(),
                    auth=app_auth.get_installation_auth(installation))
    with caplog.at_level(logging.INFO):
        github.get_rate_limit()
        with pytest.raises(GithubException) as refused:
            _ = github.get_user().login  # an installation is not a user
    assert refused.value.status == 403
    samples = scrape(client)
    assert samples[("orca_github_api_calls_total", (("status", "200"),))] >= 1
    assert samples[("orca_github_api_calls_total", (("status", "403"),))] == 1
    assert 0 < samples[("orca_github_rate_limit_remaining", (("resource", "core"),))] < 5000
    assert samples[("orca_github_rate_limit", (("resource", "core"),))] == 5000
    # Counting does not make PyGithub's per-request DEBUG lines appear in the logs.
    assert not [r for r in caplog.records if r.name == "github.Requester"]


def test_metrics_answer_503_without_redis(redis_server):
    settings = Settings(GITHUB_APP_ID=1, GITHUB_PRIVATE_KEY="k", GITHUB_WEBHOOK_SECRET=SECRET,
                        REDIS_URL="redis://127.0.0.1:9/0")
    answer = create_app(settings).test_client().get("/metrics")
    assert answer.status_code == 503


@pytest.mark.parametrize("token,authorization,ok", [
    ("", None, True),  # no ORCA_METRICS_TOKEN: open, as before
    ("", "Bearer anything", True),
    ("s3cret-token", "Bearer s3cret-token", True),
    ("s3cret-token", "bearer s3cret-token", True),  # the scheme's case does not matter
    ("s3cret-token", None, False),
    ("s3cret-token", "", False),
    ("s3cret-token", "Bearer", False),
    ("s3cret-token", "Bearer s3cret-token ", False),
    ("s3cret-token", "Bearer  s3cret-token", False),
    ("s3cret-token", "Bearer s3cret-toke", False),
    ("s3cret-token", "Basic s3cret-token", False),
    ("s3cret-token", "s3cret-token", False),
    ("s3cret-token", "Bearer \u00e9", False),
])
def test_the_metrics_token(token, authorization, ok):
    assert bearer_ok(token, authorization) is ok


def test_without_a_metrics_token_metrics_is_open(client):
    assert client.get("/metrics").status_code == 200


def test_with_a_metrics_token_a_scrape_must_send_it(redis_client):
    settings = Settings(GITHUB_APP_ID=1, GITHUB_PRIVATE_KEY="k", GITHUB_WEBHOOK_SECRET=SECRET,
                        ORCA_METRICS_TOKEN="s3cret-token")
    client = create_app(settings, redis_client).test_client()
    refused = client.get("/metrics")
    assert refused.status_code == 401 and refused.headers["WWW-Authenticate"].startswith("Bearer")
    scrape = client.get("/metrics", headers={"Authorization": "Bearer s3cret-token"})
    assert scrape.status_code == 200
