"""Run metrics, computed from the run records at scrape time.

Run records expire after a week, so totals summed over the records would fall as old runs
leave; Prometheus would read that as a counter reset. Instead each finished run is folded
once into totals kept in Redis (`orca:metrics:runs`): the first scrape that sees it claims
it in `orca:metrics:counted` (ZADD NX is atomic, so two web processes never count a run
twice) and adds its duration, wait, turns, tokens and cost. Claims are kept a day longer
than the records, so an old run is never claimed again.

Also each installation's spending in the current UTC day (core.ledger), as gauges that
start again from zero at midnight UTC.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import redis
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from core import keys
from core.ledger import day_of, spent_on
from core.metrics_store import histogram, observe, read_hash
from core.runs import FINISHED, KEEP_SECONDS, STATUSES

RUNS_KEY = keys.METRICS_RUNS
COUNTED_KEY = keys.METRICS_COUNTED
_FIELDS = ("status", "created_at", "started_at", "finished_at", "turns", "tokens", "cost")
# Agent runs take minutes and may take up to ORCA_RUN_TIMEOUT (an hour by default).
DURATION_BUCKETS = (30, 60, 120, 300, 600, 900, 1200, 1800, 2700, 3600, 7200)
# From the request to the start of the agent: seconds when idle, longer behind a queue.
WAIT_BUCKETS = (1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)


def _records(connection: redis.Redis, now: float) -> list[dict[str, Any]]:
    """The figures of every run kept (created within KEEP_SECONDS)."""
    ids = connection.zrangebyscore(keys.RUNS, now - KEEP_SECONDS, "+inf")
    pipe = connection.pipeline(transaction=False)
    for run_id in ids:
        pipe.hmget(keys.run(run_id.decode()), _FIELDS)
    records = []
    for run_id, values in zip(ids, pipe.execute()):
        if values[0] is not None:
            decoded = {f: None if v is None else json.loads(v) for f, v in zip(_FIELDS, values)}
            records.append({**decoded, "id": run_id.decode()})
    return records


def fold_finished(connection: redis.Redis, records: list[dict[str, Any]], now: float) -> None:
    """Add each finished run not yet counted to the totals, once."""
    finished = [r for r in records if r["status"] in FINISHED]
    pipe = connection.pipeline(transaction=False)
    for run in finished:
        pipe.zadd(COUNTED_KEY, {run["id"]: run["created_at"] or now}, nx=True)
    claimed = [run for run, added in zip(finished, pipe.execute()) if added]
    pipe = connection.pipeline(transaction=False)
    for run in claimed:
        _add(pipe, run)
    pipe.zremrangebyscore(COUNTED_KEY, "-inf", now - KEEP_SECONDS - 24 * 3600)
    pipe.execute()


def _add(pipe: Any, run: dict[str, Any]) -> None:
    pipe.hincrby(RUNS_KEY, f"finished:{run['status']}", 1)
    for name in ("turns", "tokens"):
        pipe.hincrby(RUNS_KEY, name, int(run[name] or 0))
    pipe.hincrbyfloat(RUNS_KEY, "cost", float(run["cost"] or 0))
    created, started, finished = run["created_at"], run["started_at"], run["finished_at"]
    if started and finished:
        observe(pipe, RUNS_KEY, max(0.0, finished - started), DURATION_BUCKETS, "duration_")
    if started and created:
        observe(pipe, RUNS_KEY, max(0.0, started - created), WAIT_BUCKETS, "wait_")


def run_families(connection: redis.Redis, now: float) -> Iterator[Metric]:
    """The run metrics: runs by status now, and the totals of finished runs."""
    records = _records(connection, now)
    fold_finished(connection, records, now)
    by_status = Counter(r["status"] for r in records)
    gauge = GaugeMetricFamily("orca_runs", "Runs kept in Redis (the last 7 days) by status now.",
                              labels=["status"])
    for status in STATUSES:
        gauge.add_metric([status], by_status.get(status, 0))
    yield gauge
    totals = read_hash(connection, RUNS_KEY)
    finished = CounterMetricFamily("orca_runs_finished", "Runs that ended, by how they ended.",
                                   labels=["status"])
    for status in FINISHED:
        finished.add_metric([status], float(totals.get(f"finished:{status}", 0)))
    yield finished
    yield CounterMetricFamily("orca_run_turns", "Model turns of finished runs.",
                              value=float(totals.get("turns", 0)))
    yield CounterMetricFamily("orca_run_tokens", "Tokens (input, cache and output) of finished runs.",
                              value=float(totals.get("tokens", 0)))
    yield CounterMetricFamily("orca_run_cost_dollars", "Model cost of finished runs in dollars.",
                              value=float(totals.get("cost", 0)))
    yield histogram("orca_run_duration_seconds", "From a run's start to its end.", totals,
                    DURATION_BUCKETS, "duration_")
    yield histogram("orca_run_wait_seconds", "From the request to the run's start.", totals,
                    WAIT_BUCKETS, "wait_")
    yield from spend_families(connection, now)


def spend_families(connection: redis.Redis, now: float) -> Iterator[Metric]:
    """Today's (UTC) runs, tokens and dollars per installation that has spent today."""
    labels = ["installation"]
    dollars = GaugeMetricFamily("orca_installation_dollars_today",
                                "Model dollars an installation has spent today (UTC).", labels=labels)
    tokens = GaugeMetricFamily("orca_installation_tokens_today",
                               "Tokens an installation has used today (UTC), by kind.",
                               labels=[*labels, "kind"])
    runs = GaugeMetricFamily("orca_installation_runs_today",
                             "Runs that called the model today (UTC), per installation.", labels=labels)
    refused = GaugeMetricFamily("orca_installation_runs_refused_today",
                                "Runs refused today (UTC) by the daily dollar budget.", labels=labels)
    for day in spent_on(connection, day_of(now)):
        installation = str(day.installation_id)
        dollars.add_metric([installation], day.dollars)
        for kind in ("input", "output", "cache_read", "cache_write"):
            tokens.add_metric([installation, kind], getattr(day, f"{kind}_tokens"))
        runs.add_metric([installation], day.runs)
        refused.add_metric([installation], day.refused)
    yield from (dollars, tokens, runs, refused)
