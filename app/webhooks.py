"""The webhook view: verify, parse, decide, date (core/replay.py), enqueue, answer. Nothing else.

GitHub gives a delivery 10 seconds (https://docs.github.com/en/webhooks/using-webhooks/
best-practices-for-using-webhooks#respond-within-10-seconds), so no GitHub call and no
git happen here.
"""

from __future__ import annotations

import json
import logging
import re

import redis
from flask import Blueprint, current_app, jsonify, request

from app import signature
from core import replay
from core.installations import InstallationChange, installation_change
from core.queues import enqueue_installation_change, enqueue_trigger
from core.replay import Delivery, RefusedDelivery
from core.triggers import PayloadError, Trigger, trigger_for

log = logging.getLogger(__name__)
blueprint = Blueprint("webhooks", __name__)
WEBHOOKS_PATH = "/webhooks"
# GitHub's delivery ids are GUIDs. Anything else could not be an RQ job id (letters, digits,
# _ and - only) and has no business in a Redis key.
DELIVERY_ID = re.compile(r"[A-Za-z0-9_-]{1,100}")


def _answer(status: int, **body: object):
    return jsonify(body), status


@blueprint.post(WEBHOOKS_PATH)
def receive():
    orca = current_app.extensions["orca"]
    body = request.get_data(cache=False)
    if not signature.verify(orca.settings.github_webhook_secret, body,
                            request.headers.get("X-Hub-Signature-256")):
        return _answer(401, error="bad or missing X-Hub-Signature-256")
    event = request.headers.get("X-GitHub-Event", "")
    delivery = request.headers.get("X-GitHub-Delivery", "")
    if not event or not delivery:
        return _answer(400, error="missing X-GitHub-Event or X-GitHub-Delivery")
    if not DELIVERY_ID.fullmatch(delivery):
        return _answer(400, error="malformed X-GitHub-Delivery")
    try:
        payload = _parse(body)
        if event == "ping":
            return _answer(200, ok=True)
        decision = _decide(event, payload, orca.settings.trigger_label)
        if decision is None:
            return _answer(200, ignored=f"{event} asks nothing of Orca")
        dated = replay.check(event, payload, body, delivery, orca.clock(),
                             orca.settings.replay_window)
    except (ValueError, PayloadError) as exc:
        return _answer(400, error=f"malformed payload: {exc}")
    except RefusedDelivery as exc:
        return _refused(delivery, exc)
    try:
        return _enqueue(orca.redis, decision, dated)
    except RefusedDelivery as exc:
        return _refused(delivery, exc)
    except redis.RedisError:
        log.exception("redis unavailable (delivery %s)", delivery)
        # 503 marks the delivery failed on GitHub's side so it can be redelivered.
        return _answer(503, error="queue unavailable; redeliver later")


def _refused(delivery: str, exc: RefusedDelivery):
    """A stale (422) or replayed (409) delivery: signed, but not one GitHub sends now."""
    log.warning("delivery %s refused: %s", delivery, exc)
    return _answer(exc.status, error=str(exc))


def _parse(body: bytes) -> object:
    """The JSON payload; nesting deeper than Python's recursion limit is malformed, not a crash."""
    try:
        return json.loads(body)
    except RecursionError as exc:
        raise PayloadError("payload nests too deeply") from exc


def _decide(event: str, payload: object, label: str) -> Trigger | InstallationChange | None:
    if not isinstance(payload, dict):
        raise PayloadError("payload is not a JSON object")
    return installation_change(event, payload) or trigger_for(event, payload, label=label)


def _enqueue(connection: redis.Redis, decision: Trigger | InstallationChange, delivery: Delivery):
    if isinstance(decision, InstallationChange):
        created = enqueue_installation_change(connection, decision, delivery)
        return _answer(202 if created else 200, installation=decision.installation_id,
                       duplicate=not created)
    run_id, created = enqueue_trigger(connection, decision, delivery)
    log.info("run %s for %s (delivery %s, new=%s)", run_id, decision.target, delivery.id, created)
    return _answer(202 if created else 200, run=run_id, duplicate=not created)
