"""`orca up`: one command runs web, workers and a local Redis; Ctrl-C loses no queued run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from tests import payloads
from tests.e2e.conftest import labeled_payload, make_scene
from tests.e2e.test_cli import wait_healthy
from tests.fakes.model import reply, text
from tests.redis_server import free_port


def start_up(env, port, workers):
    return subprocess.Popen([sys.executable, "-m", "app.cli", "up", "--port", str(port),
                             "--workers", str(workers)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def interrupt(process) -> str:
    process.send_signal(signal.SIGINT)
    out, _ = process.communicate(timeout=60)
    assert process.returncode == 0
    return out


def test_up_runs_everything_and_keeps_queued_runs_across_a_restart(orca, monkeypatch, tmp_path):
    monkeypatch.delenv("REDIS_URL")
    data = tmp_path / "up-data"
    monkeypatch.setenv("ORCA_DATA_DIR", str(data))
    env, port = dict(os.environ), free_port()
    scene = make_scene(orca.github)
    orca.model.script(reply(text("Looked; nothing to change.")))

    # First start with no workers: the delivery is queued, then Ctrl-C.
    first = start_up(env, port, workers=0)
    wait_healthy(f"http://127.0.0.1:{port}", first)
    status, answer = payloads.deliver(f"http://127.0.0.1:{port}/webhooks", "issues",
                                      labeled_payload(orca.github, scene), orca.github.webhook_secret)
    assert status == 202
    out = interrupt(first)
    assert "local Redis at unix://" in out
    assert (data / "redis").is_dir()
    assert orca.model.requests == []

    # Second start with a worker: the queued run comes back from the append-only file and runs.
    second = start_up(env, port, workers=1)
    deadline = time.monotonic() + 60
    while orca.model.remaining and time.monotonic() < deadline:
        time.sleep(0.2)
    deadline = time.monotonic() + 30
    issue = orca.github.state.issues[(scene.repo["id"], scene.number)]
    while time.monotonic() < deadline:
        bodies = [c.body for c in orca.github.state.comments.values() if c.issue is issue]
        if bodies and bodies[0].startswith("🤷"):
            break
        time.sleep(0.2)
    interrupt(second)
    assert orca.model.remaining == 0
    assert bodies[0].startswith("🤷 Orca finished without changing any files")


def test_up_with_no_app_configured_serves_the_setup_page(tmp_path):
    import urllib.request

    port = free_port()
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path)}
    process = subprocess.Popen([sys.executable, "-m", "app.cli", "up", "--port", str(port)],
                               env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        first_line = process.stdout.readline()
        assert first_line.startswith("orca up: no GitHub App is configured yet "
                                     "(GITHUB_APP_ID is not set); serving the setup page")
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1) as answer:
                    page = answer.read().decode()
                break
            except OSError:
                assert time.monotonic() < deadline, "the setup page never answered"
                time.sleep(0.1)
        assert "Register the GitHub App" in page
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=20)
    assert not (tmp_path / ".env").exists()
