"""The console commands as an operator runs them: `orca web` (gunicorn) and `orca worker`."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests import payloads
from tests.e2e.conftest import labeled_payload, make_scene, pulls
from tests.fakes.model import looks_right, reply, text, tool_use
from tests.redis_server import free_port

ORCA = [sys.executable, "-m", "app.cli"]


def wait_healthy(url: str, process: subprocess.Popen, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read().decode()
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=1) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("orca web did not become healthy")


@pytest.fixture
def web(orca):
    port = free_port()
    process = subprocess.Popen([*ORCA, "web", "--port", str(port), "--workers", "1"],
                               env=dict(os.environ), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, process)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_orca_web_and_orca_worker_turn_a_label_into_a_pull_request(orca, web):
    scene = make_scene(orca.github)
    orca.model.script(
        reply(tool_use("bash", {"command": "sed -i s/helo/hello/ hello.py"})),
        reply(text("Fixed the typo.")),
        reply(text("Checked the diff: fixed the typo.")),  # after Orca's diff review
        looks_right(),  # the fresh-context check
    )
    status, _ = payloads.deliver(f"{web}/webhooks", "issues", labeled_payload(orca.github, scene),
                                 orca.github.webhook_secret)
    assert status == 202
    worker = subprocess.run([*ORCA, "worker", "--burst"], env=dict(os.environ),
                            capture_output=True, text=True, timeout=120)
    assert worker.returncode == 0, worker.stderr[-2000:]
    [pull] = pulls(orca.github)
    assert "hello, world" in orca.github.read_file(scene.full_name, pull.pull.head_ref, "hello.py")
    assert orca.model.remaining == 0 and orca.github.violations == []
    # The worker's log carries the run's ids but never a token.
    tokens = list(orca.github.state.tokens)
    assert not any(token in worker.stderr + worker.stdout for token in tokens)


@pytest.mark.parametrize("missing, line", [
    ("GITHUB_APP_ID", "orca: GITHUB_APP_ID is not set"),
    ("GITHUB_WEBHOOK_SECRET", "orca: GITHUB_WEBHOOK_SECRET is not set"),
])
def test_a_missing_setting_stops_start_up_with_one_line(tmp_path, missing, line):
    env = {"PATH": os.environ["PATH"], "GITHUB_APP_ID": "1", "GITHUB_PRIVATE_KEY": "k",
           "GITHUB_WEBHOOK_SECRET": "s"}
    del env[missing]
    done = subprocess.run([*ORCA, "web"], env=env, cwd=tmp_path, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip() == line


def test_a_malformed_setting_is_named(tmp_path):
    env = {"PATH": os.environ["PATH"], "GITHUB_APP_ID": "abc", "GITHUB_PRIVATE_KEY": "k",
           "GITHUB_WEBHOOK_SECRET": "s"}
    done = subprocess.run([*ORCA, "worker", "--burst"], env=env, cwd=tmp_path, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.startswith("orca: GITHUB_APP_ID: ")
    assert len(done.stderr.strip().splitlines()) == 1


def test_orca_worker_count_forks_its_workers_and_run_workers_yield_the_cpu(orca):
    """`--count 3`: three fast workers forked from one process (sharing its imports), which
    answer a label themselves, forking no work-horse for it; a run worker runs RUN_NICENESS
    lower than they do."""
    from rq import Worker

    from app.cli import RUN_NICENESS

    env = dict(os.environ)
    fast = subprocess.Popen([*ORCA, "worker", "--queues", "fast", "--count", "3"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    runs = subprocess.Popen([*ORCA, "worker", "--queues", "runs"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while len(Worker.all(connection=orca.redis)) < 4:
            assert time.monotonic() < deadline, "the workers did not register"
            assert fast.poll() is None and runs.poll() is None
            time.sleep(0.2)
        forked = [w.pid for w in Worker.all(connection=orca.redis) if w.pid != runs.pid]
        assert len(forked) == 3 and all(_stat(pid)["ppid"] == fast.pid for pid in forked)
        assert _stat(runs.pid)["nice"] == _stat(fast.pid)["nice"] + RUN_NICENESS
        runs.terminate()
        runs.wait(timeout=30)
        scene = make_scene(orca.github)
        assert orca.deliver("issues", labeled_payload(orca.github, scene))[0] == 202
        deadline = time.monotonic() + 60
        while not orca.github.calls_to("POST", rf"/issues/{scene.number}/reactions$"):
            assert time.monotonic() < deadline, "no 👀 from the forked workers"
            time.sleep(0.2)
        # A work-horse that ran the acknowledgement would have left its CPU time with its
        # parent once reaped (cutime, cstime); the fast workers never had a child.
        assert all(_stat(pid)["children_cpu"] == 0 for pid in forked)
    finally:
        for process in (fast, runs):
            process.terminate()
            process.wait(timeout=30)


def _stat(pid: int) -> dict[str, int]:
    """A process's parent, niceness and its reaped children's CPU ticks, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return {"ppid": int(fields[1]), "nice": int(fields[16]),
            "children_cpu": int(fields[13]) + int(fields[14])}
