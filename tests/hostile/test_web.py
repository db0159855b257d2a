"""Attacks on Orca's web process, as a visitor or someone holding a captured delivery makes them.

Each is a real HTTP request to the real app (the end-to-end harness's `orca`), and each
checks that the attack fails and that nothing was queued or changed.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from rq import Queue

from app.queues import FAST_QUEUE, RUNS_QUEUE
from tests import payloads

REPO = {"full_name": "octo-org/hello", "id": 4242, "default_branch": "main", "private": True}


def snapshot(orca) -> tuple[frozenset[bytes], int, int]:
    """Every key but the metrics' (which count refused deliveries too), and both queues."""
    keys = frozenset(k for k in orca.redis.keys("*") if not k.startswith(b"orca:metrics:"))
    return (keys, Queue(FAST_QUEUE, connection=orca.redis).count,
            Queue(RUNS_QUEUE, connection=orca.redis).count)


# -- replays and stale deliveries ---------------------------------------------------------------

def _common(orca) -> dict[str, Any]:
    return {"base_url": orca.github.base_url, "installation_id": 7, "repo": REPO}


ORCA_PULL = {"number": 9, "title": "Fix it", "head": "agent/issue-1-fix-it", "base": "main",
             "user": {"login": "orca-test[bot]", "id": 41898282, "type": "Bot"}}
# (event, action, builder arguments): each a trigger when fresh.
TRIGGERS = [
    ("issues", "labeled", {"label": "agent", "issue": {"number": 1}}),
    ("issues", "unlabeled", {"label": "agent", "issue": {"number": 1}}),
    ("issues", "closed", {"issue": {"number": 1}}),
    ("pull_request", "closed", {"issue": {"number": 9}}),
    ("issue_comment", "created", {"comment": {"id": 501, "body": "/agent fix it"}}),
    ("pull_request_review_comment", "created", {"comment": {"id": 502, "body": "/agent do it"}}),
    ("pull_request_review", "submitted", {"issue": ORCA_PULL, "review": {
        "id": 503, "body": "Rename it.", "state": "changes_requested"}}),
    ("installation", "created", {}),
    ("installation", "suspend", {}),
]


@pytest.mark.parametrize("event,action,kwargs", TRIGGERS, ids=[f"{e}.{a}" for e, a, _ in TRIGGERS])
def test_a_stale_delivery_is_refused_and_queues_nothing(orca, event, action, kwargs):
    # GitHub's published example, dated as published (years ago), then the same one fresh.
    stale = payloads.build(event, action, fresh=False, **_common(orca), **kwargs)
    before = snapshot(orca)
    status, answer = orca.deliver(event, stale)
    assert status == 422, answer
    assert "stale delivery" in answer["error"] and "ORCA_REPLAY_WINDOW" in answer["error"]
    assert snapshot(orca) == before

    status, answer = orca.deliver(event, payloads.build(event, action, **_common(orca), **kwargs))
    assert status == 202, answer  # the same trigger, fresh, is acted on


def _label(orca) -> tuple[str, dict[str, Any]]:
    return "issues", payloads.issues_labeled("agent", issue={"number": 1}, **_common(orca))


def _command(orca) -> tuple[str, dict[str, Any]]:
    return "issue_comment", payloads.issue_comment_created(
        comment={"id": 601, "body": "/agent fix the greeting"}, **_common(orca))


def _uninstall(orca) -> tuple[str, dict[str, Any]]:
    return "installation", payloads.installation_event("deleted", **_common(orca))


@pytest.mark.parametrize("make", [_label, _command, _uninstall],
                         ids=["label", "command", "uninstall"])
def test_a_delivery_replayed_under_a_fresh_id_starts_nothing(orca, make):
    event, payload = make(orca)
    first, replay = f"{uuid.uuid4()}", f"{uuid.uuid4()}"
    status, answer = orca.deliver(event, payload, delivery_id=first)
    assert status == 202, answer
    before = snapshot(orca)

    status, refused = orca.deliver(event, payload, delivery_id=replay)
    assert status == 409, refused
    assert refused["error"].startswith("replayed delivery") and first in refused["error"]
    assert snapshot(orca) == before
    assert not orca.redis.exists(f"orca:delivery:{replay}")
    assert len(Queue(FAST_QUEUE, connection=orca.redis).job_ids) == 1
    assert orca.redis.zcard("orca:runs") == (0 if event == "installation" else 1)

    # GitHub's own redelivery (same id, same body) is answered as it always was.
    status, again = orca.deliver(event, payload, delivery_id=first)
    assert (status, again["duplicate"]) == (200, True)
    assert again.get("run") == answer.get("run")
    assert snapshot(orca) == before
