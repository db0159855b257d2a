"""The run store: the transitions a run goes through, and Redis kept bounded (records expire,
and so do the entries that list them)."""

from __future__ import annotations

import pytest

from core.runs import INDEX_SECONDS, KEEP_SECONDS, RunStore

HOUR = 3600


def test_the_run_indexes_stay_bounded_over_many_runs(redis_client):
    """A month of runs, one an hour on one busy issue: the indexes keep only what a record
    could still stand behind, so their size stops growing after the first week and a day."""
    now = [1_800_000_000.0]
    store = RunStore(redis_client, clock=lambda: now[0])
    sizes = []
    for hour in range(30 * 24):
        now[0] += HOUR
        store.create(f"run{hour}", {"repository": "octo-org/hello"}, "octo-org/hello#1")
        sizes.append((redis_client.zcard("orca:runs"), redis_client.zcard("orca:target:octo-org/hello#1")))
    most = INDEX_SECONDS // HOUR  # one a run, for each hour of the window
    assert max(sizes) == (most, most) and sizes[-1] == (most, most)
    oldest = float(redis_client.zrange("orca:runs", 0, 0, withscores=True)[0][1])
    assert now[0] - oldest <= INDEX_SECONDS
    assert INDEX_SECONDS > KEEP_SECONDS  # no entry goes while its record may still be there
    assert store.runs_on("octo-org/hello#1")[0] == f"run{30 * 24 - 1}"


def test_a_run_moves_through_its_transitions(redis_client):
    from core.runs import Status

    now = [100.0]
    store = RunStore(redis_client, clock=lambda: now[0])
    store.create("r1", {}, "octo-org/hello#1")
    assert store.get("r1")["status"] == Status.QUEUED == "queued"
    now[0] = 110.0
    store.start("r1")
    assert (store.get("r1")["status"], store.get("r1")["started_at"]) == ("running", 110.0)
    store.requeue("r1", "its worker stopped; retrying once")
    assert store.get("r1")["status"] == "queued"
    now[0] = 130.0
    store.finish("r1", Status.DONE, commit="abc")
    record = store.get("r1")
    assert (record["status"], record["finished_at"], record["commit"]) == ("done", 130.0, "abc")
    store.finish("r1", Status.FAILED, "boom")
    assert (store.get("r1")["status"], store.get("r1")["reason"]) == ("failed", "boom")
    with pytest.raises(ValueError, match="not where a run ends"):
        store.finish("r1", Status.RUNNING)
