"""`orca up`: one command runs web, workers and a local Redis; Ctrl-C loses no queued run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from tests import payloads
from tests.e2e.conftest import comments_on, labeled_payload, make_scene
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


def wait_for_comment(orca, scene, prefix: str, seconds: float = 60) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found, _ = comments_on(orca.github, scene)
        if found and found[0].body.startswith(prefix):
            return found[0].body
        time.sleep(0.2)
    raise AssertionError(f"no comment starting {prefix!r} on #{scene.number}")


def test_up_runs_everything_and_keeps_queued_runs_across_a_restart(orca, monkeypatch, tmp_path):
    monkeypatch.delenv("REDIS_URL")
    data = tmp_path / "up-data"
    monkeypatch.setenv("ORCA_DATA_DIR", str(data))
    env, port = dict(os.environ), free_port()
    url = f"http://127.0.0.1:{port}"
    first_issue = make_scene(orca.github)
    second_issue = make_second_issue(orca.github, first_issue)
    orca.model.script(reply(text("Looked; nothing to change.")), reply(text("Still nothing.")))

    # 1. Everything up: a delivery becomes a finished run.
    process = start_up(env, port, workers=1)
    wait_healthy(url, process)
    assert deliver(orca, url, first_issue) == 202
    wait_for_comment(orca, first_issue, "🤷 Orca finished")
    out = interrupt(process)
    assert "local Redis at unix://" in out and (data / "redis").is_dir()

    # 2. No workers: the next delivery stays queued when Ctrl-C stops it all.
    process = start_up(env, port, workers=0)
    wait_healthy(url, process)
    assert deliver(orca, url, second_issue) == 202
    interrupt(process)
    assert orca.model.remaining == 1

    # 3. Restarted: the queued run comes back from Redis's append-only file and runs.
    process = start_up(env, port, workers=1)
    try:
        body = wait_for_comment(orca, second_issue, "🤷 Orca finished")
    finally:
        interrupt(process)
    assert "Still nothing." in body and orca.model.remaining == 0


def make_second_issue(github, scene):
    from dataclasses import replace

    number = github.add_issue(scene.full_name, "Fix the greeting typo", "Again.", "octocat",
                              labels=["agent"])
    return replace(scene, number=number)


def deliver(orca, url, scene) -> int:
    status, _ = payloads.deliver(f"{url}/webhooks", "issues", labeled_payload(orca.github, scene),
                                 orca.github.webhook_secret)
    return status


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
