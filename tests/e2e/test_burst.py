"""A burst of deliveries at once: every one answered 2xx, every distinct one queued exactly once.

500 signed `issues.labeled` deliveries, each on its own issue, posted by 32 threads to Orca's
live web app (the `orca` fixture), plus 50 redeliveries of them with the same
`X-GitHub-Delivery` id. Half of the redeliveries are sent right behind their original, so the
two race through the intake together; the rest come later, as a person's "Redeliver" would.
Nothing is drained: this is about intake and the queue, not about GitHub.
"""

from __future__ import annotations

import copy
import random
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from rq import Queue

from core.queues import FAST_QUEUE
from core.runs import RunStore
from tests.e2e.conftest import Scene, labeled_payload

DELIVERIES = 500
REDELIVERED = DELIVERIES // 10
CONCURRENCY = 32


def schedule(rng: random.Random) -> list[tuple[str, int]]:
    """(delivery id, issue number) in sending order, redeliveries included."""
    originals = [(f"burst-{n:04d}", n) for n in range(1, DELIVERIES + 1)]
    again = rng.sample(originals, REDELIVERED)
    order = list(originals)
    for i, item in enumerate(again):
        if i % 2:
            order.append(item)  # later, on its own
        else:
            order.insert(order.index(item) + 1, item)  # right behind the original: a race
    return order


def payload_for(base: dict[str, Any], number: int) -> dict[str, Any]:
    """The labelled-issue payload, on issue `number`."""
    payload = copy.deepcopy(base)
    payload["issue"]["number"] = number
    return payload


def test_a_burst_is_answered_and_queued_exactly_once(orca):
    github = orca.github
    installation = github.add_installation("octo-org")
    repo = github.add_repo("octo-org/hello", installation, {"README.md": "hi\n"}, private=True)
    requester = github.add_user("octocat")
    base = labeled_payload(github, Scene(installation, repo, 1, requester))
    sends = schedule(random.Random(7))

    def send(item: tuple[str, int]) -> tuple[str, int, dict[str, Any]]:
        delivery, number = item
        status, answer = orca.deliver("issues", payload_for(base, number), delivery_id=delivery)
        return delivery, status, answer

    with ThreadPoolExecutor(CONCURRENCY) as pool:
        results = list(pool.map(send, sends))

    assert len(results) == DELIVERIES + REDELIVERED
    assert [r for r in results if r[1] not in (200, 202)] == []
    by_delivery: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    for delivery, status, answer in results:
        by_delivery.setdefault(delivery, []).append((status, answer))
    for delivery, answers in by_delivery.items():
        # One attempt made the run; any other found that same run and queued nothing.
        assert sorted(status for status, _ in answers) == [200] * (len(answers) - 1) + [202]
        assert len({answer["run"] for _, answer in answers}) == 1, delivery
    runs = {answers[0][1]["run"] for answers in by_delivery.values()}
    assert len(runs) == DELIVERIES

    # Redis agrees: one acknowledgement job and one queued run record per distinct delivery.
    fast = Queue(FAST_QUEUE, connection=orca.redis)
    jobs = fast.get_jobs()
    assert len(jobs) == DELIVERIES
    assert {job.kwargs["run_id"] for job in jobs} == runs
    assert {raw.decode() for raw in orca.redis.zrange("orca:runs", 0, -1)} == runs
    store = RunStore(orca.redis)
    assert all(store.get(run)["status"] == "queued" for run in runs)
    numbers = sorted(job.kwargs["trigger"]["number"] for job in jobs)
    assert numbers == list(range(1, DELIVERIES + 1))
