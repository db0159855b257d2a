"""Installation events: the pure decision table, and the job against a real Redis + RQ."""

import hashlib

import pytest
from rq import Queue

from core.installations import (
    InstallationChange,
    InstallationStore,
    installation_change,
)
from core.queues import (
    FAST_QUEUE,
    FastWorker,
    enqueue_installation_change,
    enqueue_trigger,
    queues,
)
from core.replay import Delivery
from core.runs import RunStore
from core.triggers import PayloadError, Trigger
from tests import payloads

BASE = "http://127.0.0.1:9"
REPO = {"full_name": "octo-org/hello", "id": 42}


def event(name, action, **kw):
    if name == "installation":
        return payloads.installation_event(action, base_url=BASE, installation_id=7, repo=REPO, **kw)
    return payloads.build(name, action, base_url=BASE, installation_id=7, repo=REPO, **kw)


@pytest.mark.parametrize("action, status", [
    ("created", "active"), ("deleted", "deleted"), ("suspend", "suspended"),
    ("unsuspend", "active"), ("new_permissions_accepted", "active"),
])
def test_installation_actions(action, status):
    change = installation_change("installation", event("installation", action))
    assert change.installation_id == 7 and change.status == status and change.action == action
    assert change.stops_runs == (status in ("deleted", "suspended"))


def test_repositories_added_and_removed():
    payload = event("installation_repositories", "added")
    payload["repositories_added"] = [{"id": 1, "full_name": "octo-org/a", "name": "a"}]
    payload["repositories_removed"] = [{"id": 2, "full_name": "octo-org/b", "name": "b"}]
    change = installation_change("installation_repositories", payload)
    assert (change.added, change.removed, change.status) == (["octo-org/a"], ["octo-org/b"], None)


def test_other_events_and_malformed_payloads():
    assert installation_change("issues", {"action": "created"}) is None
    with pytest.raises(PayloadError):
        installation_change("installation", {"action": "created"})
    payload = event("installation_repositories", "added")
    payload["repositories_added"] = "octo-org/a"
    with pytest.raises(PayloadError):
        installation_change("installation_repositories", payload)


def trigger(installation_id, number):
    return Trigger("label", installation_id, "octo-org/hello", 42, number, "octocat", 99)


def delivery(delivery_id):
    """A delivery whose body is its id: distinct ids, distinct bodies."""
    return Delivery(delivery_id, hashlib.sha256(delivery_id.encode()).hexdigest(), 3600)


def drain(connection):
    FastWorker(list(queues(connection)), connection=connection).work(burst=True)


def test_suspension_cancels_only_that_installations_queued_runs(redis_client):
    mine, _ = enqueue_trigger(redis_client, trigger(7, 1), delivery("d1"))
    other, _ = enqueue_trigger(redis_client, trigger(8, 2), delivery("d2"))
    change = InstallationChange(7, "suspend", "octo-org", "suspended")
    assert enqueue_installation_change(redis_client, change, delivery("d3"))
    assert not enqueue_installation_change(redis_client, change, delivery("d3"))  # redelivered
    # Run only the installation job: the others stay queued.
    job = Queue(FAST_QUEUE, connection=redis_client).fetch_job("installation-d3")
    Queue(FAST_QUEUE, connection=redis_client).remove(job)
    job.perform()
    store = RunStore(redis_client)
    assert store.get(mine)["status"] == "cancelled"
    assert store.get(mine)["reason"] == "the installation was suspended"
    assert store.get(other)["status"] == "queued"
    assert Queue(FAST_QUEUE, connection=redis_client).job_ids == [f"ack-{other}"]
    assert InstallationStore(redis_client).get(7)["status"] == "suspended"


def test_repositories_are_recorded(redis_client):
    added = InstallationChange(7, "created", "octo-org", "active",
                               added=["octo-org/a", "octo-org/b"])
    removed = InstallationChange(7, "removed", "octo-org", None, removed=["octo-org/a"])
    enqueue_installation_change(redis_client, added, delivery("x1"))
    enqueue_installation_change(redis_client, removed, delivery("x2"))
    drain(redis_client)
    record = InstallationStore(redis_client).get(7)
    assert record["status"] == "active" and record["repositories"] == ["octo-org/b"]
    assert record["account"] == "octo-org"
