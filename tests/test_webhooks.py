"""The webhook view, through Flask's test client with a real Redis."""

import hashlib
import json
from datetime import UTC, datetime

import pytest
import redis
from rq import Queue

from app import create_app
from core.queues import FAST_QUEUE
from core.runs import RunStore
from core.settings import Settings
from tests import payloads
from tests.redis_server import free_port

SECRET = "webhook-secret"


@pytest.fixture
def settings():
    return Settings(GITHUB_APP_ID=1, GITHUB_PRIVATE_KEY="k", GITHUB_WEBHOOK_SECRET=SECRET)


@pytest.fixture
def client(settings, redis_client):
    return create_app(settings, redis_client).test_client()


def labeled(label="agent", number=5):
    return payloads.issues_labeled(
        base_url="http://127.0.0.1:9", installation_id=7,
        repo={"full_name": "octo-org/hello", "id": 42, "default_branch": "main"},
        sender_login="octocat", sender_id=99,
        issue={"number": number, "title": "Fix it", "body": "please"}, label=label)


def post(client, event, payload, secret=SECRET, delivery="d-1", raw=None):
    body = raw if raw is not None else json.dumps(payload).encode()
    headers = payloads.delivery_headers(event, body, secret, delivery_id=delivery)
    return client.post("/webhooks", data=body, headers=headers)


def fast_jobs(redis_client):
    return Queue(FAST_QUEUE, connection=redis_client).job_ids


def test_labeled_issue_is_enqueued_with_ids_and_the_signed_words_only(client, redis_client):
    payload = labeled()
    answer = post(client, "issues", payload)
    assert answer.status_code == 202
    run_id = answer.json["run"]
    [job_id] = fast_jobs(redis_client)
    job = Queue(FAST_QUEUE, connection=redis_client).fetch_job(job_id)
    assert job.func_name == "jobs.run.acknowledge"
    assert job.kwargs == {"run_id": run_id, "trigger": {
        "kind": "label", "installation_id": 7, "repository": "octo-org/hello", "repository_id": 42,
        "number": 5, "requester": "octocat", "requester_id": 99, "is_pull_request": False,
        "comment_id": None, "review_id": None, "request": "", "title": "Fix it",
        "body": "please", "at": payload["issue"]["updated_at"], "push": False, "on_diff": False,
        "head_sha": "", "auto": False, "thread_id": None, "attempts": 1, "attempt": 0,
        "start_from": "", "merged": False}}
    record = RunStore(redis_client).get(run_id)
    assert (record["status"], record["target"]) == ("queued", "octo-org/hello#5")


def test_redelivery_starts_nothing_new(client, redis_client):
    first = post(client, "issues", labeled(), delivery="same")
    again = post(client, "issues", labeled(), delivery="same")
    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json == {"run": first.json["run"], "duplicate": True}
    assert len(fast_jobs(redis_client)) == 1


def test_a_failed_enqueue_leaves_the_delivery_free_for_a_redelivery(client, redis_client):
    # The queue's key holding a string makes RQ's RPUSH fail inside Orca's one round trip.
    queue_key = Queue(FAST_QUEUE, connection=redis_client).key
    redis_client.set(queue_key, "not a list")
    assert post(client, "issues", labeled(), delivery="again").status_code == 503
    assert not redis_client.exists("orca:delivery:again")
    redis_client.delete(queue_key)
    answer = post(client, "issues", labeled(), delivery="again")
    assert answer.status_code == 202 and answer.json["duplicate"] is False
    assert fast_jobs(redis_client) == [f"ack-{answer.json['run']}"]


class CountingConnection(redis.Connection):
    """A real connection that counts what it sends: one send is one round trip."""

    sent = 0

    def send_packed_command(self, command, check_health=True):
        CountingConnection.sent += 1
        super().send_packed_command(command, check_health)


def test_a_delivery_costs_one_round_trip(settings, redis_client, redis_server):
    counting = redis.Redis(connection_pool=redis.ConnectionPool(
        port=redis_server.port, connection_class=CountingConnection))
    client = create_app(settings, counting).test_client()
    post(client, "issues", labeled(number=6), delivery="warm-up")  # loads the script once
    CountingConnection.sent = 0
    assert post(client, "issues", labeled(), delivery="counted").status_code == 202
    assert post(client, "issues", labeled(), delivery="counted").status_code == 200
    # Claim, run record and job in one script call per delivery; the timings for /metrics
    # wait in the process's tally (app/metrics/webhooks.py) and are added once a second.
    assert CountingConnection.sent == 2
    assert len(fast_jobs(redis_client)) == 2


@pytest.mark.parametrize("secret", ["wrong-secret", ""])
def test_bad_signature_is_401_and_enqueues_nothing(client, redis_client, secret):
    answer = post(client, "issues", labeled(), secret=secret)
    assert answer.status_code == 401
    assert fast_jobs(redis_client) == []
    # Only /metrics counts the refused delivery; no run, job or record appears.
    assert [k for k in redis_client.keys("orca:*") if not k.startswith(b"orca:metrics:")] == []


def test_missing_signature_is_401(client):
    answer = client.post("/webhooks", data=b"{}", headers={"X-GitHub-Event": "ping",
                                                            "X-GitHub-Delivery": "x"})
    assert answer.status_code == 401


def test_malformed_json_is_400(client, redis_client):
    answer = post(client, "issues", None, raw=b'{"action": "labeled",')
    assert answer.status_code == 400
    assert fast_jobs(redis_client) == []


def test_payload_missing_keys_is_400(client, redis_client):
    payload = labeled()
    del payload["installation"]
    assert post(client, "issues", payload).status_code == 400
    assert fast_jobs(redis_client) == []


def test_over_25_mb_is_413(client):
    body = b"x" * (25 * 1024 * 1024 + 1)
    answer = post(client, "issues", None, raw=body)
    assert answer.status_code == 413


def test_ping_and_other_events_are_2xx_and_do_nothing(client, redis_client):
    assert post(client, "ping", {"zen": "Design for failure.", "hook_id": 1}).status_code == 200
    assert post(client, "issues", labeled(label="bug")).status_code == 200
    assert post(client, "star", {"action": "created"}).status_code == 200
    assert fast_jobs(redis_client) == []


def test_missing_event_header_is_400(client):
    body = b"{}"
    headers = payloads.delivery_headers("ping", body, SECRET)
    del headers["X-GitHub-Event"]
    assert client.post("/webhooks", data=body, headers=headers).status_code == 400


def test_redis_down_is_503_so_github_can_redeliver(settings):
    dead = redis.Redis(port=free_port(), socket_connect_timeout=0.2)
    client = create_app(settings, dead).test_client()
    assert post(client, "issues", labeled()).status_code == 503
    assert client.get("/healthz").status_code == 503


def test_healthz(client):
    assert client.get("/healthz").json == {"ok": True, "redis": "ok"}


def test_unknown_route_and_method(client):
    assert client.get("/nope").status_code == 404
    assert client.get("/webhooks").status_code == 405


def test_installation_events_are_queued_once(client, redis_client):
    payload = payloads.installation_event("deleted", base_url="http://127.0.0.1:9", installation_id=7,
                                          repo={"full_name": "octo-org/hello", "id": 42})
    first = post(client, "installation", payload, delivery="i-1")
    again = post(client, "installation", payload, delivery="i-1")
    assert (first.status_code, again.status_code) == (202, 200)
    assert fast_jobs(redis_client) == ["installation-i-1"]


def test_home_page_names_the_label(client):
    page = client.get("/")
    assert page.status_code == 200 and b"<code>agent</code>" in page.data


def test_a_replayed_body_under_a_new_id_is_409_and_costs_one_round_trip(settings, redis_client,
                                                                         redis_server):
    counting = redis.Redis(connection_pool=redis.ConnectionPool(
        port=redis_server.port, connection_class=CountingConnection))
    client = create_app(settings, counting).test_client()
    payload = labeled()
    first = post(client, "issues", payload, delivery="original")
    CountingConnection.sent = 0
    replay = post(client, "issues", payload, delivery="replayed")
    assert CountingConnection.sent == 1
    assert replay.status_code == 409
    assert replay.json == {"error": "replayed delivery: this signed body came as delivery original "
                                    "already; a new X-GitHub-Delivery id does not make it new"}
    assert not redis_client.exists("orca:delivery:replayed")
    assert fast_jobs(redis_client) == [f"ack-{first.json['run']}"]
    # GitHub's redelivery of the original is still answered as one.
    again = post(client, "issues", payload, delivery="original")
    assert (again.status_code, again.json) == (200, {"run": first.json["run"], "duplicate": True})


def test_claims_last_until_the_trigger_leaves_the_window(settings, redis_client):
    payload = labeled()
    payload["issue"]["updated_at"] = "2026-12-03T12:00:00Z"
    at = datetime(2026, 12, 3, 12, tzinfo=UTC).timestamp()
    client = create_app(settings, redis_client, clock=lambda: at + 3600).test_client()
    body = json.dumps(payload).encode()
    assert post(client, "issues", payload, delivery="d-1").status_code == 202
    body_ttl = redis_client.ttl(f"orca:body:{hashlib.sha256(body).hexdigest()}")
    assert settings.replay_window - 3600 - 5 <= body_ttl <= settings.replay_window - 3600
    assert redis_client.ttl("orca:delivery:d-1") > settings.replay_window - 5  # 3 days, as ever


@pytest.mark.parametrize("late,status", [(0, 202), (1, 422)])
def test_the_window_edge_with_orcas_clock(settings, redis_client, late, status):
    payload = labeled()
    payload["issue"]["updated_at"] = "2026-12-03T12:00:00Z"
    at = datetime(2026, 12, 3, 12, tzinfo=UTC).timestamp()
    now = at + settings.replay_window + late
    client = create_app(settings, redis_client, clock=lambda: now).test_client()
    answer = post(client, "issues", payload)
    assert answer.status_code == status
    if status == 422:
        assert answer.json["error"].startswith("stale delivery: its trigger (2026-12-03T12:00:00Z)")
        assert redis_client.keys("orca:delivery:*") == [] and fast_jobs(redis_client) == []


def test_the_window_is_a_setting(redis_client):
    payload = payloads.issues_labeled("agent", fresh=False, base_url="http://127.0.0.1:9",
                                      installation_id=7, repo={"full_name": "o/r", "id": 1})
    strict = Settings(GITHUB_APP_ID=1, GITHUB_PRIVATE_KEY="k", GITHUB_WEBHOOK_SECRET=SECRET)
    wide = strict.model_copy(update={"replay_window": 20 * 365 * 86400})  # 2019 is in it
    for settings, status in ((strict, 422), (wide, 202)):
        client = create_app(settings, redis_client).test_client()
        assert post(client, "issues", payload).status_code == status


def test_a_timestamp_that_is_not_one_is_400(client, redis_client):
    payload = labeled()
    payload["issue"]["updated_at"] = "last Tuesday"
    answer = post(client, "issues", payload)
    assert answer.status_code == 400
    assert "issue.updated_at is not a timestamp" in answer.json["error"]
    assert fast_jobs(redis_client) == []
