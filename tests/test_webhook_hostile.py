"""Regression tests for the hostile webhook input the fuzzer found: each was a 500 before."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests import payloads
from tests.test_webhook_fuzz import (  # noqa: F401 (intake is a fixture)
    FUZZ, bad_signatures, check_accounting, delivery_ids, intake, mutated_deliveries, post,
    raw_bodies, signed_headers, snapshot,
)

WEB = "http://127.0.0.1:9"
REPO = {"full_name": "octo-org/hello", "id": 42, "default_branch": "main"}


# -- 1. A non-ASCII signature header: 500 without any secret (hmac.compare_digest refuses
#       non-ASCII str). Anyone who can reach /webhooks can cause it.

def test_a_non_ascii_signature_header_is_401_not_500(intake):
    client, connection = intake
    before = snapshot(connection)
    answer = post(client, b"{}", {"X-Hub-Signature-256": "sha256=\xe9",
                                  "X-GitHub-Event": "ping", "X-GitHub-Delivery": "x"})
    assert answer.status_code == 401
    assert snapshot(connection) == before


@FUZZ
@given(body=raw_bodies(), data=st.data())
def test_any_latin1_signature_header_is_401(intake, body, data):
    client, _ = intake
    signature = data.draw(bad_signatures(body, hostile=True))
    headers = {"X-GitHub-Event": "issues", "X-GitHub-Delivery": "d"}
    if signature is not None:
        headers["X-Hub-Signature-256"] = signature
    assert post(client, body, headers).status_code == 401


# -- 2. JSON nested deeper than Python's recursion limit, validly signed: RecursionError.

@pytest.mark.parametrize("body", [b"[" * 100_000, b'{"a":' * 50_000 + b"1" + b"}" * 50_000])
def test_deeply_nested_json_is_400_not_500(intake, body):
    client, connection = intake
    before = snapshot(connection)
    answer = post(client, body, signed_headers("issues", body))
    assert answer.status_code == 400
    assert snapshot(connection) == before


# -- 3. An installation event whose delivery id RQ will not take as a job id (anything but
#       letters, digits, _ and -): 500, and the delivery stays claimed, so a redelivery is
#       answered "duplicate" and the installation change is lost.

def test_an_installation_delivery_id_rq_refuses_is_4xx_and_not_claimed(intake):
    client, connection = intake
    payload = payloads.installation_event("created", base_url=WEB, installation_id=7, repo=REPO)
    body = payloads.encode(payload)
    headers = signed_headers("installation", body, delivery="a.b:c")
    first = post(client, body, headers)
    assert first.status_code < 500
    again = post(client, body, headers)
    assert again.status_code < 500
    if first.status_code >= 400:
        assert not connection.exists("orca:delivery:a.b:c")


# -- 4. A lone surrogate (\\ud800, legal JSON) in a string that reaches Redis: redis-py
#       cannot encode it (UnicodeEncodeError), 500, delivery left claimed, half a run record.

@pytest.mark.parametrize("where", ["repository", "action"])
def test_a_lone_surrogate_is_400_not_500(intake, where):
    client, connection = intake
    if where == "repository":
        event = "issues"
        payload = payloads.issues_labeled("agent", base_url=WEB, installation_id=7, repo=REPO,
                                          issue={"number": 5})
        payload["repository"]["full_name"] = "octo-org/\ud800"
    else:
        event = "installation_repositories"
        payload = payloads.build(event, "added", base_url=WEB, installation_id=7, repo=REPO)
        payload["action"] = "\udc80"
    body = json.dumps(payload).encode()  # ensure_ascii: the surrogate travels as \\ud800
    before = snapshot(connection)
    answer = post(client, body, signed_headers(event, body))
    assert answer.status_code in (200, 400)
    assert snapshot(connection) == before


# -- The fuzz of tests/test_webhook_fuzz.py with the hostile strategies switched on.

@FUZZ
@given(delivery=mutated_deliveries(hostile=True), delivery_id=delivery_ids(hostile=True))
def test_hostile_mutations_and_delivery_ids_are_never_5xx(intake, delivery, delivery_id):
    client, connection = intake
    event, body = delivery
    delivery_id = f"{delivery_id}{snapshot(connection)[1]}"  # fresh enough for this test
    headers = signed_headers(event, body, delivery_id)
    before = snapshot(connection)
    answer = post(client, body, headers)
    check_accounting(connection, before, answer, delivery_id)
