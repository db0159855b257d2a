"""A full-size burst of distinct signed deliveries, a tenth redelivered, and its verification.

A Python client (one keep-alive connection per thread) so each answer is kept and matched to
its delivery id; `wrk` only counts. Then Redis is asked what was queued: one acknowledgement
job and one run record per distinct delivery, whatever the redeliveries did.
"""

from __future__ import annotations

import http.client
import json
import queue
import random
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import redis
from rq import Queue

from core.queues import FAST_QUEUE

Delivery = tuple[str, str, bytes]
"""(delivery id, signature, body)."""


@dataclass
class Answer:
    delivery: str
    status: int
    run: str | None
    seconds: float


@dataclass
class BurstResult:
    distinct: int
    sent: int
    seconds: float
    answers: list[Answer]
    problems: list[str] = field(default_factory=list)

    def latency_ms(self, share: float) -> float:
        ordered = sorted(a.seconds for a in self.answers)
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))] * 1000


def schedule(deliveries: list[Delivery], share: float, seed: int = 7) -> list[Delivery]:
    """Sending order: every delivery once, plus `share` of them again with the same id.

    Half of the repeats follow their original at once, so both race through the intake; the
    other half come at the end, as a person's "Redeliver" would.
    """
    rng = random.Random(seed)
    again = rng.sample(range(len(deliveries)), int(len(deliveries) * share))
    racing = {i for n, i in enumerate(again) if n % 2 == 0}
    order: list[Delivery] = []
    for i, item in enumerate(deliveries):
        order.extend([item, item] if i in racing else [item])
    order.extend(deliveries[i] for n, i in enumerate(again) if n % 2 == 1)
    return order


def send_all(url: str, order: list[Delivery], concurrency: int) -> tuple[list[Answer], float]:
    """Post every delivery from `concurrency` threads; returns the answers and the wall time."""
    work: queue.SimpleQueue[Delivery] = queue.SimpleQueue()
    for item in order:
        work.put(item)
    answers: list[Answer] = []
    lock = threading.Lock()
    netloc = urlsplit(url).netloc

    def worker() -> None:
        connection = http.client.HTTPConnection(netloc, timeout=30)
        mine = []
        while True:
            try:
                item = work.get_nowait()
            except queue.Empty:
                break
            mine.append(_post(connection, item))
        connection.close()
        with lock:
            answers.extend(mine)

    started = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers, time.perf_counter() - started


def _post(connection: http.client.HTTPConnection, item: Delivery) -> Answer:
    delivery, sig, body = item
    headers = {"Content-Type": "application/json", "X-GitHub-Event": "issues",
               "X-GitHub-Delivery": delivery, "X-Hub-Signature-256": sig}
    started = time.perf_counter()
    connection.request("POST", "/webhooks", body=body, headers=headers)
    response = connection.getresponse()
    raw = response.read()
    seconds = time.perf_counter() - started
    try:
        run = json.loads(raw).get("run")
    except ValueError:
        run = None
    return Answer(delivery, response.status, run, seconds)


def verify(result: BurstResult, connection: redis.Redis) -> list[str]:
    """What went wrong, if anything: lost, doubled or refused deliveries."""
    problems = [f"{a.delivery}: answered {a.status}" for a in result.answers
                if a.status not in (200, 202)]
    by_delivery: dict[str, list[Answer]] = {}
    for answer in result.answers:
        by_delivery.setdefault(answer.delivery, []).append(answer)
    for delivery, answers in by_delivery.items():
        if sorted(a.status for a in answers) != [200] * (len(answers) - 1) + [202]:
            problems.append(f"{delivery}: answers {[a.status for a in answers]}")
        if len({a.run for a in answers}) != 1:
            problems.append(f"{delivery}: different runs {[a.run for a in answers]}")
    runs = {a.run for a in result.answers if a.status == 202}
    jobs = Queue(FAST_QUEUE, connection=connection).get_job_ids()
    queued = {job.removeprefix("ack-") for job in jobs}
    if len(by_delivery) != result.distinct:
        problems.append(f"{result.distinct - len(by_delivery)} deliveries never answered")
    if len(jobs) != result.distinct or queued != runs:
        problems.append(f"{len(jobs)} jobs queued for {result.distinct} distinct deliveries")
    return problems


def burst(url: str, deliveries: list[Delivery], share: float, concurrency: int,
          connection: redis.Redis) -> BurstResult:
    """Send the burst and check it against Redis (which should start empty)."""
    order = schedule(deliveries, share)
    answers, seconds = send_all(url, order, concurrency)
    result = BurstResult(len(deliveries), len(order), seconds, answers)
    result.problems = verify(result, connection)
    return result
