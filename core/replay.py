"""Replayed and stale deliveries: a signed body starts something once, and only while fresh.

GitHub signs the body, not the `X-GitHub-Delivery` header, so a captured delivery sent again
under a new id would pass as new. Two defences, both built on what GitHub signs:

- The body's SHA-256 is claimed beside the delivery id, in the same Redis script
  (core/queues.py). A redelivery keeps its id and its body and is answered as before; the same
  body under another id is not a delivery GitHub makes, and is refused while it is fresh.
- The moment the trigger happened, named per event below, dates the delivery. One older than
  ORCA_REPLAY_WINDOW (default three days: GitHub redelivers for three days,
  https://docs.github.com/en/webhooks/using-webhooks/handling-failed-webhook-deliveries) is
  refused, so a body is never needed in Redis once its claim has lapsed.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from core.triggers import PayloadError, get

# The payload field holding the moment each trigger happened, as GitHub signed it.
TRIGGER_TIMES: dict[tuple[str, str | None], str] = {
    ("issues", "labeled"): "issue.updated_at",  # a label change updates the issue
    ("issues", "unlabeled"): "issue.updated_at",
    ("issues", "closed"): "issue.closed_at",
    ("pull_request", "closed"): "pull_request.closed_at",
    ("pull_request", "reopened"): "pull_request.updated_at",  # reopening updates it
    # Opened, marked ready or pushed to: each moves the pull request's `updated_at`.
    ("pull_request", "opened"): "pull_request.updated_at",
    ("pull_request", "ready_for_review"): "pull_request.updated_at",
    ("pull_request", "synchronize"): "pull_request.updated_at",
    ("issue_comment", "created"): "comment.created_at",
    ("pull_request_review_comment", "created"): "comment.created_at",
    ("pull_request_review", "submitted"): "review.submitted_at",
    ("installation", "created"): "installation.created_at",
    ("installation", "suspend"): "installation.suspended_at",
    ("check_suite", "completed"): "check_suite.updated_at",
    ("check_run", "completed"): "check_run.completed_at",
    ("status", None): "updated_at",  # a status event has no action
}
# Installation deletions, unsuspensions, new permissions and repository changes carry no time
# of their own (`installation.updated_at` is not documented to move for them, and in GitHub's
# examples it does not): they are not dated, and their bodies are claimed for one window.

# Unix seconds from here on are no timestamp (the year 9999 ends here).
LATEST = 253_402_300_800


class RefusedDelivery(Exception):
    """A signed delivery Orca will not act on; the message says why (the view answers it)."""

    status = 400


class StaleDelivery(RefusedDelivery):
    """The trigger happened outside the window: a recording, not a delivery GitHub makes now."""

    status = 422


class ReplayedDelivery(RefusedDelivery):
    """This body already came, under another delivery id."""

    status = 409


@dataclass(frozen=True)
class Delivery:
    """What makes a delivery new: its id (a redelivery keeps it) and the body GitHub signed."""

    id: str
    digest: str
    """Hex SHA-256 of the raw body."""
    keep: int
    """Seconds to keep the body's claim: until the trigger leaves the window."""


def trigger_time(event: str, payload: dict[str, Any]) -> float | None:
    """When the trigger happened (Unix seconds), or None for an event that is not dated."""
    action = payload.get("action")
    path = TRIGGER_TIMES.get((event, action)) if action is None or isinstance(action, str) else None
    if path is None:
        return None
    parent, _, key = path.rpartition(".")
    holder = get(payload, parent, dict) if parent else payload
    if key not in holder:
        raise PayloadError(f"payload has no {path}")
    return parse_moment(holder[key], path)


def parse_moment(value: object, path: str) -> float:
    """GitHub's ISO 8601 (`...Z`, or with an offset), or Unix seconds (some installation
    payloads send integers)."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) < LATEST:
        return float(value)
    if not isinstance(value, str):
        raise PayloadError(f"payload {path} is not a timestamp")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise PayloadError(f"payload {path} is not a timestamp") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def refusal(at: float, now: float, window: int) -> str | None:
    """Why a trigger at `at` is refused at `now`, or None while it is within `window`.

    A trigger stamped more than a window ahead of this clock is refused too: GitHub does not
    send one, and a clock that far off would keep bodies claimed for longer than a window."""
    if now - at > window:
        return (f"stale delivery: its trigger ({_iso(at)}) is more than ORCA_REPLAY_WINDOW "
                f"({window} s) old; Orca acts only on fresh deliveries")
    if at - now > window:
        return (f"delivery from the future: its trigger ({_iso(at)}) is more than "
                f"ORCA_REPLAY_WINDOW ({window} s) ahead of Orca's clock; check the clock")
    return None


def check(event: str, payload: dict[str, Any], body: bytes, delivery_id: str, now: float,
          window: int) -> Delivery:
    """The delivery to claim, or StaleDelivery when its trigger is outside the window."""
    at = trigger_time(event, payload)
    if at is None:
        keep = window
    else:
        problem = refusal(at, now, window)
        if problem:
            raise StaleDelivery(problem)
        keep = max(1, math.ceil(at + window - now))
    return Delivery(delivery_id, hashlib.sha256(body).hexdigest(), keep)


def _iso(moment: float) -> str:
    try:
        return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, ValueError, OSError):
        return f"{moment:.0f} s since 1970"
