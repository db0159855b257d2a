"""Dating a delivery (core/replay.py): which signed time each event carries, and the window."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import pytest

from core.replay import (
    TRIGGER_TIMES,
    StaleDelivery,
    check,
    parse_moment,
    refusal,
    trigger_time,
)
from core.triggers import PayloadError
from tests import payloads

WINDOW = 259_200
NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC).timestamp()
COMMON = {"base_url": "http://127.0.0.1:9", "installation_id": 7,
          "repo": {"full_name": "octo-org/hello", "id": 42}}

# The field that says when each trigger happened, by event and action (GitHub's published
# examples, every other timestamp in them set to a different time).
DATED = [
    ("issues", "labeled", "issue.updated_at"),
    ("issues", "unlabeled", "issue.updated_at"),
    ("issues", "closed", "issue.closed_at"),
    ("pull_request", "closed", "pull_request.closed_at"),
    ("pull_request", "reopened", "pull_request.updated_at"),
    ("pull_request", "opened", "pull_request.updated_at"),
    ("pull_request", "ready_for_review", "pull_request.updated_at"),
    ("pull_request", "synchronize", "pull_request.updated_at"),
    ("issue_comment", "created", "comment.created_at"),
    ("pull_request_review_comment", "created", "comment.created_at"),
    ("pull_request_review", "submitted", "review.submitted_at"),
    ("installation", "created", "installation.created_at"),
    ("installation", "suspend", "installation.suspended_at"),
    ("check_suite", "completed", "check_suite.updated_at"),
    ("check_run", "completed", "check_run.completed_at"),
    ("status", None, "updated_at"),
]
# Installation changes with no time of their own, and events Orca ignores.
UNDATED = [("installation", "deleted"), ("installation", "unsuspend"),
           ("installation", "new_permissions_accepted"), ("installation_repositories", "added"),
           ("installation_repositories", "removed"), ("issues", "opened"),
           ("issue_comment", "edited"), ("pull_request", "labeled")]


def every_time_different(node: Any, start: int = 1_600_000_000) -> int:
    """Set every `*_at` in the payload to its own second (ISO 8601); returns the next one."""
    if isinstance(node, dict):
        items = node.items()
    else:
        items = enumerate(node) if isinstance(node, list) else ()
    for key, value in list(items):
        if isinstance(key, str) and key.endswith("_at"):
            node[key] = datetime.fromtimestamp(start, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            start += 1
        else:
            start = every_time_different(value, start)
    return start


def at_path(payload: dict[str, Any], path: str) -> Any:
    for key in path.split("."):
        payload = payload[key]
    return payload


@pytest.mark.parametrize("event,action,path", DATED, ids=[f"{e}.{a}" for e, a, _ in DATED])
def test_each_trigger_is_dated_by_its_own_signed_time(event, action, path):
    payload = payloads.build(event, action, fresh=False, **COMMON)
    every_time_different(payload)
    expected = datetime.fromisoformat(at_path(payload, path)).timestamp()
    assert trigger_time(event, payload) == expected


def test_the_table_is_exactly_the_tested_one():
    assert TRIGGER_TIMES == {(event, action): path for event, action, path in DATED}


@pytest.mark.parametrize("event,action", UNDATED, ids=[f"{e}.{a}" for e, a in UNDATED])
def test_events_without_a_time_of_their_own_are_not_dated(event, action):
    assert trigger_time(event, payloads.build(event, action, fresh=False, **COMMON)) is None


@pytest.mark.parametrize("value,seconds", [
    ("2019-05-15T15:20:18Z", 1557933618.0),
    ("2019-05-15T15:20:18+00:00", 1557933618.0),
    ("2021-04-28T22:32:21.000-04:00", 1619663541.0),  # installation.suspend's example
    ("2019-05-15T15:20:18", 1557933618.0),  # no zone: UTC, as GitHub means
    (1557933591, 1557933591.0),  # installation.created_at, as some payloads send it
])
def test_timestamps_as_github_sends_them(value, seconds):
    assert parse_moment(value, "x.created_at") == seconds


@pytest.mark.parametrize("value", [None, True, 1.5, "", "yesterday", "2019-13-01T00:00:00Z",
                                   "\u0661\u0669", [], {}, 10**30, -(10**30)])
def test_anything_else_is_a_malformed_payload(value):
    with pytest.raises(PayloadError, match="x.created_at is not a timestamp"):
        parse_moment(value, "x.created_at")


def test_a_missing_time_is_a_malformed_payload():
    payload = payloads.build("issue_comment", "created", **COMMON)
    del payload["comment"]["created_at"]
    with pytest.raises(PayloadError, match="no comment.created_at"):
        trigger_time("issue_comment", payload)
    with pytest.raises(PayloadError, match="no comment"):
        trigger_time("issue_comment", {"action": "created"})


@pytest.mark.parametrize("age,refused", [
    (0, None), (WINDOW, None), (WINDOW + 1, "stale delivery"), (10 * 365 * 86400, "stale delivery"),
    (-WINDOW, None), (-WINDOW - 1, "delivery from the future"),
])
def test_the_window_holds_on_both_sides(age, refused):
    problem = refusal(NOW - age, NOW, WINDOW)
    assert (problem is None) == (refused is None)
    if refused:
        assert problem.startswith(refused) and f"ORCA_REPLAY_WINDOW ({WINDOW} s)" in problem


def test_a_body_is_remembered_until_its_trigger_leaves_the_window():
    payload = payloads.build("issue_comment", "created", fresh=False, **COMMON)
    payload["comment"]["created_at"] = "2026-12-03T11:00:00Z"  # an hour before NOW
    body = b'{"signed": "body"}'
    delivery = check("issue_comment", payload, body, "d-1", NOW, WINDOW)
    assert delivery.id == "d-1" and delivery.digest == hashlib.sha256(body).hexdigest()
    assert delivery.keep == WINDOW - 3600
    undated = check("installation", payloads.installation_event("deleted", **COMMON), body,
                    "d-2", NOW, WINDOW)
    assert undated.keep == WINDOW


def test_a_stale_trigger_is_refused_naming_its_time():
    payload = payloads.build("issues", "labeled", fresh=False, **COMMON)  # 2019
    with pytest.raises(StaleDelivery, match=r"its trigger \(2019-05-15T15:20:18Z\)") as refused:
        check("issues", payload, b"{}", "d-1", NOW, WINDOW)
    assert refused.value.status == 422


def test_the_harness_dates_a_built_payload_now():
    payload = payloads.build("installation", "created", **COMMON)
    assert abs(trigger_time("installation", payload) - datetime.now(UTC).timestamp()) < 5
    assert isinstance(payload["installation"]["created_at"], int)  # as the example has it
