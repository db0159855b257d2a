"""Missed deliveries: Orca asks GitHub to redeliver failed ones it never handled."""

from __future__ import annotations

from core.settings import load_settings
from jobs.steer.redeliver import missed, redeliver_missed
from tests.e2e.conftest import labeled_payload, make_scene
from tests.fakes.model import reply, text


def item(id, guid, status):
    return {"id": id, "guid": guid, "status_code": status}


def test_missed_picks_the_newest_failure_of_each_unhandled_guid():
    deliveries = [item(1, "a", 502), item(2, "a", 502), item(3, "b", 502), item(4, "b", 200),
                  item(5, "c", 0), item(6, "d", 503)]
    assert [d["id"] for d in missed(deliveries, handled={"d"})] == [2, 5]


def test_a_failed_delivery_orca_never_saw_is_redelivered_and_runs(orca):
    github = orca.github
    scene = make_scene(github)
    payload = labeled_payload(github, scene)
    github.webhook_url = f"{orca.url}/webhooks"
    lost = github.add_delivery("issues", "labeled", scene.installation_id, scene.repo["id"],
                               payload, status_code=502)
    handled = github.add_delivery("issues", "labeled", scene.installation_id, scene.repo["id"],
                                  payload, status_code=504, guid="seen-before")
    github.add_delivery("issues", "labeled", scene.installation_id, scene.repo["id"], payload,
                        status_code=200)
    orca.redis.set("orca:delivery:seen-before", "some-run")  # Orca handled it after all

    asked = redeliver_missed(load_settings(), orca.redis)
    assert asked == [github.state.deliveries[lost].guid]
    assert github.state.redelivery_requests == [lost]
    assert handled not in github.state.redelivery_requests
    for thread in github.redelivery_threads:
        thread.join(timeout=10)
    assert [d.status_code for d in github.state.deliveries.values() if d.redelivery] == [202]

    orca.model.script(reply(text("Nothing needed changing.")))
    orca.drain()
    assert orca.model.remaining == 0  # the redelivered label started a run

    # A second sweep asks for nothing: the delivery is handled now.
    assert redeliver_missed(load_settings(), orca.redis) == []
    assert github.violations == []


def test_one_sweep_is_scheduled_however_many_workers_start(redis_client):
    from rq import Queue

    from core.queues import FAST_QUEUE, schedule_sweep

    assert schedule_sweep(redis_client, 0) is True
    assert schedule_sweep(redis_client, 0) is False
    assert [j.func_name for j in Queue(FAST_QUEUE, connection=redis_client).jobs] == ["jobs.steer.redeliver.sweep"]
