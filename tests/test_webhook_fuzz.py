"""Hostile input at POST /webhooks: the real Flask app and a real Redis, fuzzed with Hypothesis.

Properties, for any method, headers and body:

* the answer is 2xx or 4xx, never 5xx (Redis is up, so nothing is the server's fault);
* without a valid `X-Hub-Signature-256` nothing in Redis changes: no run, no job, no claim;
* with one, a 4xx or a 200 changes nothing either, and a 202 queues exactly one job.

Signed bodies start from GitHub's own examples (tests/payloads.py) with keys dropped and values
swapped for other types, so the parser meets what a confused or hostile sender would send.
Runs are derandomised and keep no example database, so CI sees the same inputs every time.

The strategies default to hostile input, which found four 500s now fixed (each has a named
regression test in tests/test_webhook_hostile.py): non-ASCII signature headers
(`hmac.compare_digest` refuses non-ASCII str), JSON nested past Python's recursion limit, lone
surrogates in strings that reach Redis, and delivery ids RQ will not take as a job id.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import io
import itertools
import json
from collections.abc import Iterator
from functools import cache
from typing import Any

import hypothesis
import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rq import Queue

from app import create_app
from core.queues import FAST_QUEUE, RUNS_QUEUE
from core.settings import Settings
from tests import payloads

SECRET = "fuzz-secret"
WEB = "http://127.0.0.1:9"
FUZZ = settings(max_examples=250, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
METHODS = ["GET", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
EVENTS = ["issues", "installation", "installation_repositories", "ping", "issue_comment",
          "pull_request", "star", ""]
CONTENT_TYPES = ["application/json", "application/x-www-form-urlencoded", "text/plain",
                 "multipart/form-data; boundary=x", "application/json; charset=utf-16", ""]
RESERVED = {"content-length", "content-type", "host", "transfer-encoding", "x-github-event",
            "x-github-delivery", "x-hub-signature-256"}
# Keys the intake reads: mutations land here half the time, anywhere in the payload otherwise.
HOT_PATHS = [("action",), ("label",), ("label", "name"), ("sender",), ("sender", "type"),
             ("sender", "login"), ("sender", "id"), ("issue",), ("issue", "state"),
             ("issue", "number"), ("issue", "pull_request"), ("installation",),
             ("installation", "id"), ("installation", "account"),
             ("installation", "account", "login"), ("repository",), ("repository", "full_name"),
             ("repository", "id"), ("repositories",), ("repositories_added",),
             ("repositories_removed",)]
_deliveries = itertools.count()


# -- the app under test -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def intake(redis_server) -> Iterator[tuple[Any, redis.Redis]]:
    """The app's test client and its Redis; module-scoped because Hypothesis reruns the body."""
    connection = redis.Redis.from_url(redis_server.url)
    connection.flushdb()
    app = create_app(Settings(GITHUB_APP_ID=1, GITHUB_PRIVATE_KEY="k", GITHUB_WEBHOOK_SECRET=SECRET),
                     connection)
    yield app.test_client(), connection
    connection.close()


def snapshot(connection: redis.Redis) -> tuple[frozenset[bytes], int, int]:
    """Every key, and the length of both queues: what any enqueueing would change.

    Metrics (`orca:metrics:*`) count every request, refused ones too, so they are left out.
    """
    keys = frozenset(k for k in connection.keys("*") if not k.startswith(b"orca:metrics:"))
    return (keys, Queue(FAST_QUEUE, connection=connection).count,
            Queue(RUNS_QUEUE, connection=connection).count)


def post(client: Any, body: bytes, headers: dict[str, str], method: str = "POST") -> Any:
    """Send exactly these bytes: given `data=`, the test client rebuilds an empty multipart body."""
    return client.open("/webhooks", method=method, input_stream=io.BytesIO(body),
                       content_length=len(body), headers=headers)


# -- strategies ---------------------------------------------------------------------------------

def header_text(hostile: bool = True) -> st.SearchStrategy[str]:
    """Header values as a WSGI server hands them over: latin-1, no line breaks."""
    top = 0xFF if hostile else 0x7E
    return st.text(st.characters(min_codepoint=0x20, max_codepoint=top), max_size=80)


@cache
def json_values(hostile: bool = True) -> st.SearchStrategy[Any]:
    """Any JSON value, small; hostile adds lone surrogates, which no UTF-8 body can carry."""
    characters = st.characters(exclude_categories=()) if hostile else st.characters()
    text = st.text(characters, max_size=20)
    scalars = (st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats() | text
               | st.sampled_from(["agent", "open", "Bot", "labeled", "created", "deleted"]))
    return st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                        | st.dictionaries(st.text(max_size=10), inner, max_size=4), max_leaves=10)


def delivery_ids(hostile: bool = True) -> st.SearchStrategy[str]:
    """GitHub sends GUIDs; hostile ids carry characters an RQ job id cannot."""
    if hostile:
        return header_text(hostile=True).filter(bool)
    return st.from_regex(r"[A-Za-z0-9_-]{1,40}", fullmatch=True)


def raw_bodies(max_size: int = 2048) -> st.SearchStrategy[bytes]:
    """Bytes, text, JSON and truncated real payloads: what a confused sender would send."""
    # Deferred: the examples are read from disk when the test runs, not when it is collected.
    real = st.deferred(lambda: st.sampled_from([payloads.encode(p) for _, p in base_deliveries()]))
    return st.one_of(
        st.binary(max_size=max_size),
        st.text(max_size=max_size // 4).map(str.encode),
        json_values().map(lambda v: json.dumps(v).encode()),
        real,
        st.tuples(real, st.integers(0, 4000)).map(lambda pair: pair[0][:pair[1]]),
    )


@st.composite
def extra_headers(draw: st.DrawFn) -> dict[str, str]:
    """Random X- headers, a Content-Type and sometimes a Content-Encoding the body does not have."""
    names = st.from_regex(r"X-[A-Za-z0-9-]{1,20}", fullmatch=True)
    extra = draw(st.dictionaries(names, header_text(hostile=True), max_size=4))
    headers = {k: v for k, v in extra.items() if k.lower() not in RESERVED}
    headers["Content-Type"] = draw(st.sampled_from(CONTENT_TYPES))
    if draw(st.booleans()):
        headers["Content-Encoding"] = draw(st.sampled_from(["gzip", "deflate", "br", "x-junk"]))
    return headers


def valid_signature(body: bytes) -> str:
    """Computed here, not by app/signature.py, so the test does not grade its own homework."""
    return "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()


@st.composite
def bad_signatures(draw: st.DrawFn, body: bytes, hostile: bool = True) -> str | None:
    """A missing, malformed, wrong-secret, wrong-body, wrong-case or truncated signature."""
    good = valid_signature(body)
    choice = draw(st.one_of(
        st.none(), header_text(hostile),
        st.from_regex(r"sha256=[0-9a-f]{64}", fullmatch=True),
        st.just("sha256=" + hmac.new(b"other", body, hashlib.sha256).hexdigest()),
        st.just(valid_signature(body + b" ")), st.just(good.upper()), st.just(good[:-1]),
        st.just(good + "0"), st.just(good.replace("sha256=", "sha1=")), st.just("sha256=")))
    if choice is not None and choice.strip() == good:
        return None
    return choice


# -- mutations of real payloads -----------------------------------------------------------------

@cache
def base_deliveries() -> tuple[tuple[str, dict[str, Any]], ...]:
    """Real example payloads as an App receives them: triggers, installation changes, others."""
    repo = {"full_name": "octo-org/hello", "id": 42, "default_branch": "main"}
    common: dict[str, Any] = {"base_url": WEB, "installation_id": 7, "repo": repo}
    issue = {"number": 5, "title": "Fix it", "body": "please"}
    return (
        ("issues", payloads.issues_labeled("agent", issue=issue, sender_id=99, **common)),
        ("issues", payloads.issues_labeled("bug", issue=issue, **common)),
        ("issues", payloads.issues_labeled("agent", issue=issue, sender_login="ci[bot]",
                                           sender_type="Bot", **common)),
        ("installation", payloads.installation_event("created", **common)),
        ("installation", payloads.installation_event("deleted", **common)),
        ("installation_repositories", payloads.build("installation_repositories", "added", **common)),
        ("installation_repositories", payloads.build("installation_repositories", "removed", **common)),
        ("ping", payloads.build("ping", base_url=WEB, installation_id=7)),
        ("issue_comment", payloads.issue_comment_created(comment={"body": "/agent fix it"},
                                                         **common)),
        ("pull_request_review", payloads.pull_request_review_submitted(
            review={"body": "Please rename it.", "state": "changes_requested"}, **common)),
    )


def paths_in(value: Any, prefix: tuple = ()) -> Iterator[tuple]:
    """Every key or index path inside a JSON value, depth first."""
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in items:
        yield (*prefix, key)
        yield from paths_in(child, (*prefix, key))


def mutate(payload: Any, path: tuple, replacement: Any, drop: bool) -> Any:
    """Drop the key or element at path, or replace it; an empty path replaces the whole payload."""
    if not path:
        return replacement
    parent = payload
    for key in path[:-1]:
        parent = parent[key]
    if drop:
        del parent[path[-1]]
    else:
        parent[path[-1]] = replacement
    return payload


@st.composite
def mutated_deliveries(draw: st.DrawFn, hostile: bool = True) -> tuple[str, bytes]:
    """A real payload with up to four keys dropped or swapped, in one of JSON's encodings."""
    event, payload = draw(st.sampled_from(base_deliveries()))
    payload = copy.deepcopy(payload)
    for _ in range(draw(st.integers(0, 4))):
        if not isinstance(payload, (dict, list)):
            break
        every = [(), *paths_in(payload)]
        present = set(every)
        hot = [p for p in HOT_PATHS if p in present]
        path = draw(st.sampled_from(every) | st.sampled_from(hot) if hot else st.sampled_from(every))
        payload = mutate(payload, path, draw(json_values(hostile)), draw(st.booleans()) and bool(path))
    encoding = draw(st.sampled_from(["utf-8", "utf-16", "utf-32"]))
    text = json.dumps(payload, ensure_ascii=draw(st.booleans()))
    return event, text.encode(encoding, "surrogatepass")


def signed_headers(event: str, body: bytes, delivery: str | None = None) -> dict[str, str]:
    delivery = delivery or f"fuzz-{next(_deliveries)}"
    return payloads.delivery_headers(event, body, SECRET, delivery_id=delivery)


# -- the properties -----------------------------------------------------------------------------

def check_accounting(connection: redis.Redis, before: tuple, answer: Any, delivery: str) -> None:
    """Nothing changes on a 4xx or 200; a 202 queues one fast job, bound to the delivery.

    409 is a body sent before under another id (a replay), 422 a trigger dated outside
    ORCA_REPLAY_WINDOW (a mutation can date it so)."""
    after = snapshot(connection)
    assert answer.status_code in (200, 202, 400, 409, 422), (answer.status_code, answer.data[:300])
    if answer.status_code != 202:
        assert after == before, answer.json
        return
    assert after[1] == before[1] + 1 and after[2] == before[2]
    assert connection.exists(f"orca:delivery:{delivery}")
    [job_key] = [k for k in after[0] - before[0] if k.startswith(b"rq:job:")]
    job = Queue(FAST_QUEUE, connection=connection).fetch_job(job_key.decode()[len("rq:job:"):])
    # Flat values only: a job carries ids and words, never a payload object to re-parse.
    for value in job.kwargs.get("trigger", job.kwargs.get("change", {})).values():
        assert value is None or type(value) in (int, str, bool, list), job.kwargs


@FUZZ
@given(method=st.sampled_from(METHODS) | st.just("POST"), body=raw_bodies(max_size=65536),
       extra=extra_headers(), event=header_text(hostile=True), delivery=header_text(hostile=True),
       data=st.data())
def test_without_a_valid_signature_nothing_changes(intake, method, body, extra, event, delivery, data):
    client, connection = intake
    headers = {**extra, "X-GitHub-Event": event, "X-GitHub-Delivery": delivery}
    signature = data.draw(bad_signatures(body))
    if signature is not None:
        headers["X-Hub-Signature-256"] = signature
    before = snapshot(connection)
    answer = post(client, body, headers, method)
    expected = {"POST": {401}, "OPTIONS": {200}}.get(method, {405})
    assert answer.status_code in expected, (method, answer.status_code, answer.data[:300])
    assert snapshot(connection) == before


@FUZZ
@given(body=raw_bodies(max_size=512), event=st.sampled_from(EVENTS) | header_text(),
       delivery=delivery_ids(), extra=extra_headers(), drop=st.sampled_from([None, "event", "delivery"]))
def test_signed_garbage_is_a_4xx_or_ignored(intake, body, event, delivery, extra, drop):
    client, connection = intake
    delivery = f"{delivery}-{next(_deliveries)}"  # a fresh one each time: replays are not new
    headers = {**extra, **signed_headers(event, body, delivery), "Content-Type": extra["Content-Type"]}
    if drop is not None:
        del headers["X-GitHub-Event" if drop == "event" else "X-GitHub-Delivery"]
    before = snapshot(connection)
    answer = post(client, body, headers)
    hypothesis.event(f"answered {answer.status_code}")  # --hypothesis-show-statistics shows the spread
    if drop is not None:
        assert answer.status_code == 400
    check_accounting(connection, before, answer, delivery)


@FUZZ
@given(delivery=mutated_deliveries())
def test_signed_real_payloads_with_keys_dropped_or_retyped(intake, delivery):
    client, connection = intake
    event, body = delivery
    headers = signed_headers(event, body)
    before = snapshot(connection)
    answer = post(client, body, headers)
    hypothesis.event(f"answered {answer.status_code}")
    check_accounting(connection, before, answer, headers["X-GitHub-Delivery"])


def test_the_unmutated_trigger_is_queued_so_the_fuzz_reaches_the_queue(intake):
    client, connection = intake
    event, payload = base_deliveries()[0]
    # On an issue of its own: the fuzz has sent the base body already, and again it would be
    # a replay.
    payload = {**payload, "issue": {**payload["issue"], "number": 6}}
    body = payloads.encode(payload)
    headers = signed_headers(event, body)
    before = snapshot(connection)
    answer = post(client, body, headers)
    assert answer.status_code == 202
    check_accounting(connection, before, answer, headers["X-GitHub-Delivery"])


def test_a_signed_body_at_exactly_25_mb_is_read_and_refused_as_json(intake):
    client, connection = intake
    body = b"x" * (25 * 1024 * 1024)
    before = snapshot(connection)
    assert post(client, body, signed_headers("issues", body)).status_code == 400
    assert snapshot(connection) == before
