"""A run's page as Server-Sent Events (app.mission.stream), through Flask's test client with a
real Redis: what a stream sends, from where it resumes, when it ends, and its cap."""

from __future__ import annotations

import json
import threading
import time

import pytest

from app.mission.stream import SLOTS, streams_for
from core.runs import RunStore, Status
from tests.mission_scene import (
    HELLO,
    add_run,
    mission_app,
    running_run,
    sign_in_as,
)


@pytest.fixture
def client(redis_client, tmp_path):
    client = mission_app(redis_client, tmp_path, ORCA_MAX_STREAMS=2).test_client()
    sign_in_as(client, redis_client, "octocat", {HELLO[1]})
    return client


def messages(answer):
    """Each SSE message of a streamed answer as (id, data) as it comes; `retry:` left out."""
    pending: dict[str, str] = {}
    buffer = ""
    for chunk in answer.response:
        buffer += chunk.decode() if isinstance(chunk, bytes) else chunk
        while "\n\n" in buffer:
            block, buffer = buffer.split("\n\n", 1)
            for line in block.splitlines():
                name, _, value = line.partition(": ")
                pending[name] = value
            if "data" in pending:
                yield pending.get("id"), json.loads(pending["data"])
            pending = {}


def test_a_stream_sends_new_events_and_the_summary_then_ends_with_the_run(client, redis_client):
    running_run(redis_client, "live1")
    store = RunStore(redis_client)
    [_budget, model] = [e for e in redis_client.xrange("orca:run:live1:events")]
    store.add_event("live1", "tool", {"name": "bash", "input": {"command": "make <x>"},
                                      "is_error": False, "exit_code": 0, "output": "<b>ok</b>"})
    answer = client.get(f"/runs/live1/stream?after={model[0].decode()}", buffered=False)
    assert answer.status_code == 200 and answer.mimetype == "text/event-stream"
    assert answer.headers["Cache-Control"] == "no-store"
    stream = messages(answer)
    last, body = next(stream)
    [event] = body["events"]
    assert event["id"] == last and "$ make &lt;x&gt; · exit 0" in event["html"]
    assert "&lt;b&gt;ok&lt;/b&gt;" in event["html"] and body["active"] is True
    assert "1 of 60" in body["summary"]
    threading.Timer(0.3, store.finish, ("live1", Status.FAILED, "it broke"),
                    {"event": {"reason": "it broke", "error": "KeyError('x')"}}).start()
    last, body = next(stream)
    [ending] = body["events"]
    assert ending["id"] == last and "event-failed" in ending["html"]
    assert "KeyError" not in ending["html"]  # a person reads the failure in words
    assert body["active"] is False and "status-failed" in body["summary"]
    assert list(stream) == []  # the run ended: so does its stream
    answer.close()


def test_a_stream_resumes_after_the_last_event_id(client, redis_client):
    running_run(redis_client, "live1")
    store = RunStore(redis_client)
    for n in range(3):
        store.add_event("live1", "note", {"n": n})
    ids = [entry_id.decode() for entry_id, _ in redis_client.xrange("orca:run:live1:events")]
    # EventSource sends Last-Event-ID when it reconnects; it wins over the page's `after`.
    answer = client.get("/runs/live1/stream?after=0", headers={"Last-Event-ID": ids[3]},
                        buffered=False)
    last, body = next(messages(answer))
    assert [e["id"] for e in body["events"]] == [ids[4]] == [last]
    answer.close()
    garbled = client.get("/runs/live1/stream", headers={"Last-Event-ID": "0-0; DROP"},
                         buffered=False)
    assert len(next(messages(garbled))[1]["events"]) == 5  # not an id: from the start
    garbled.close()


def test_streams_over_the_cap_are_turned_away_and_a_closed_one_frees_its_slot(
        client, redis_client):
    running_run(redis_client, "live1")
    slots = client.application.extensions[SLOTS]
    first, second = (client.get("/runs/live1/stream", buffered=False) for _ in range(2))
    assert (first.status_code, second.status_code, slots.held) == (200, 200, 2)
    third = client.get("/runs/live1/stream", buffered=False)
    assert third.status_code == 503 and third.headers["Retry-After"] == "2"
    assert client.get("/runs/live1/events?after=0").status_code == 200  # polling still answers
    # (Closed last first: in one thread, as here, each open stream holds a request context.)
    second.close()
    assert slots.held == 1
    again = client.get("/runs/live1/stream", buffered=False)
    assert again.status_code == 200
    again.close()
    first.close()
    assert slots.held == 0


def test_a_stream_ends_when_its_time_is_up(redis_client, tmp_path):
    client = mission_app(redis_client, tmp_path, ORCA_STREAM_SECONDS=1).test_client()
    sign_in_as(client, redis_client, "octocat", {HELLO[1]})
    running_run(redis_client, "live1")
    started = time.monotonic()
    answer = client.get("/runs/live1/stream?after=0", buffered=False)
    sent = list(messages(answer))
    assert time.monotonic() - started < 3
    assert sent and sent[-1][1]["active"] is True  # still running: the browser reconnects
    answer.close()
    assert client.application.extensions[SLOTS].held == 0


def test_a_quiet_stream_outlasts_the_redis_clients_socket_timeout(redis_client, tmp_path):
    """redis-py reads with a 5 s socket timeout: each XREAD blocks well under it."""
    client = mission_app(redis_client, tmp_path, ORCA_STREAM_SECONDS=6.5).test_client()
    sign_in_as(client, redis_client, "octocat", {HELLO[1]})
    running_run(redis_client, "live1")
    answer = client.get("/runs/live1/stream?after=0", buffered=False)
    sent = list(messages(answer))  # nothing new after the first: heartbeats with the summary
    assert len(sent) >= 3 and all(body["events"] == [] for _id, body in sent[1:])
    assert {last for last, _body in sent[1:]} == {sent[0][0]}
    answer.close()


def test_no_stream_for_an_ended_run_a_hidden_one_or_with_streams_off(client, redis_client,
                                                                     tmp_path):
    add_run(redis_client, "done1", status="done")
    add_run(redis_client, "hidden", repo=("other-org/secret", 77), status="running")
    assert client.get("/runs/done1/stream").status_code == 204  # EventSource stops on 204
    assert client.get("/runs/hidden/stream").status_code == 404
    stranger = mission_app(redis_client, tmp_path).test_client()  # not signed in
    assert stranger.get("/runs/done1/stream").status_code == 404
    off = mission_app(redis_client, tmp_path, ORCA_MAX_STREAMS=0).test_client()
    sign_in_as(off, redis_client, "octocat", {HELLO[1]})
    running_run(redis_client, "live1")
    assert off.get("/runs/live1/stream").status_code == 503


@pytest.mark.parametrize("threads, wanted, allowed", [(8, 4, 4), (8, 100, 6), (3, 4, 1),
                                                      (2, 4, 0), (1, 4, 0), (8, 0, 0)])
def test_orca_web_leaves_two_threads_to_everything_else(threads, wanted, allowed):
    assert streams_for(threads, wanted) == allowed
