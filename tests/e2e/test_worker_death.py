"""A worker killed with SIGKILL mid-run: RQ finds the run abandoned; Orca says so and retries once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from rq.registry import StartedJobRegistry

from core.queues import queues
from core.runs import RunStore
from tests.e2e.conftest import labeled_payload, make_scene, pulls
from tests.e2e.conversation_scenes import drain_fast, wait_for
from tests.fakes.model import looks_right, reply, text, tool_use

ORCA = [sys.executable, "-m", "app.cli"]


def fix_script():
    return [reply(tool_use("str_replace_based_edit_tool", {
        "command": "str_replace", "path": "/workspace/hello.py",
        "old_str": "'helo, world'", "new_str": "'hello, world'"})),
        reply(text("Done.")), reply(text("Fixed on the second try.")), looks_right()]


def kill(worker: subprocess.Popen) -> None:
    """SIGKILL the worker and its work horse, as when its machine goes: RQ puts the horse in a
    process group of its own, which a signal to the worker's group does not reach."""
    horses = Path(f"/proc/{worker.pid}/task/{worker.pid}/children").read_text().split()
    os.killpg(worker.pid, signal.SIGKILL)
    for horse in horses:
        os.killpg(int(horse), signal.SIGKILL)
    worker.wait(timeout=10)


def abandon(orca) -> None:
    """What RQ's own maintenance does once a dead worker's job has expired: clean up."""
    _, runs = queues(orca.redis)
    StartedJobRegistry(queue=runs).cleanup(timestamp=time.time() + 100_000)


def test_a_killed_worker_leads_to_a_comment_and_one_retry(orca, tmp_path):
    github, model = orca.github, orca.model
    scene = make_scene(github)
    model.script(reply(text("thinking..."), delay=20))
    _status, answer = orca.deliver("issues", labeled_payload(github, scene))
    drain_fast(orca)

    worker = subprocess.Popen([*ORCA, "worker", "--burst"], env=dict(os.environ), cwd=tmp_path,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    wait_for(lambda: model.requests, what="the run's first model request")
    kill(worker)
    store = RunStore(orca.redis)
    assert store.get(answer["run"])["status"] == "running"

    abandon(orca)
    issue = github.state.issues[(scene.repo["id"], scene.number)]
    [tracking] = [c for c in github.state.comments.values() if c.issue is issue]
    assert tracking.body.startswith("⚠️ The worker running this for @octocat stopped unexpectedly")

    model.script(*fix_script())
    orca.drain()
    [pull] = pulls(github)
    assert tracking.body.startswith(f"✅ Opened #{pull.number}")
    assert store.get(answer["run"])["status"] == "done"
    assert [e["data"] for e in store.events(answer["run"]) if e["kind"] == "worker_lost"] == [
        {"retrying": True}]
    assert github.violations == []


def test_a_second_death_is_the_end_and_says_so(orca, tmp_path):
    github, model = orca.github, orca.model
    scene = make_scene(github)
    _status, answer = orca.deliver("issues", labeled_payload(github, scene))
    drain_fast(orca)
    for attempt in range(2):
        model.script(reply(text("thinking..."), delay=20))
        worker = subprocess.Popen([*ORCA, "worker", "--burst"], env=dict(os.environ), cwd=tmp_path,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                  start_new_session=True)
        wait_for(lambda n=attempt: len(model.requests) > n, what="a model request")
        kill(worker)
        abandon(orca)

    issue = github.state.issues[(scene.repo["id"], scene.number)]
    [tracking] = [c for c in github.state.comments.values() if c.issue is issue]
    assert tracking.body.startswith("❌ Orca's run failed: the worker running it stopped unexpectedly, twice")
    assert RunStore(orca.redis).get(answer["run"])["status"] == "failed"


def test_a_retry_waits_for_a_first_attempt_still_at_work_and_does_not_run_twice(orca):
    """Killing only a worker's parent leaves its work horse going while RQ retries the job:
    the retry must wait for the run's lease, then find the run ended, and run nothing."""
    import threading

    from jobs.run.lease import holding
    from tests.e2e.conversation_scenes import BackgroundRuns

    github, model = orca.github, orca.model
    scene = make_scene(github)
    _status, answer = orca.deliver("issues", labeled_payload(github, scene))
    drain_fast(orca)
    store, run_id = RunStore(orca.redis), answer["run"]
    held, finish = threading.Event(), threading.Event()

    def first_attempt() -> None:  # the surviving work horse, renewing its lease as it works
        with holding(orca.redis, run_id, renew_every=0.2):
            store.update(run_id, status="running")
            held.set()
            finish.wait(30)
            store.update(run_id, status="done", finished_at=time.time())

    horse = threading.Thread(target=first_attempt, daemon=True)
    horse.start()
    held.wait(10)
    retry = BackgroundRuns(orca).start()
    time.sleep(2)  # longer than it takes a run to reach the model
    assert model.requests == [] and retry.thread.is_alive(), "the retry did not wait"
    finish.set()
    retry.join(timeout=30)
    horse.join(timeout=5)
    assert model.requests == [] and store.get(run_id)["status"] == "done"
    assert pulls(github) == [] and model.violations == []
