"""Open run pages never take the threads webhook intake needs: `orca web` as the README runs
it (gunicorn, its default processes and threads), a running run followed by more streams than
all its threads, and signed deliveries still answered `202` promptly."""

from __future__ import annotations

import http.cookiejar
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests import payloads
from tests.e2e.test_cli import wait_healthy
from tests.mission_scene import ADMIN_TOKEN, SECRET, running_run
from tests.redis_server import free_port

# `orca web`'s defaults (app/cli.py): 2 processes of 8 threads.
PROCESSES, THREADS = 2, 8
# What "promptly" means here; GitHub gives a delivery 10 seconds.
PROMPT_SECONDS = 2.0


@dataclass
class Web:
    url: str
    process: subprocess.Popen


@pytest.fixture
def web(redis_server, tmp_path) -> Iterator[Web]:
    port = free_port()
    env = {"PATH": os.environ["PATH"], "GITHUB_APP_ID": "1", "GITHUB_PRIVATE_KEY": "k",
           "GITHUB_WEBHOOK_SECRET": SECRET, "REDIS_URL": redis_server.url,
           "ORCA_ADMIN_TOKEN": ADMIN_TOKEN, "ORCA_DATA_DIR": str(tmp_path / "data"),
           # Longer than the test: a stream holds its thread throughout.
           "ORCA_STREAM_SECONDS": "120"}
    process = subprocess.Popen([sys.executable, "-m", "app.cli", "web", "--port", str(port)],
                               env=env, cwd=tmp_path, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, process)
        yield Web(url, process)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)


def operator_cookie(url: str) -> str:
    """The session cookie of an operator signed in with ORCA_ADMIN_TOKEN."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(f"{url}/auth/signin", timeout=5).read().decode()
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)[1]
    form = urllib.parse.urlencode({"csrf_token": csrf, "token": ADMIN_TOKEN}).encode()
    opener.open(f"{url}/auth/admin", data=form, timeout=5)
    return "; ".join(f"{cookie.name}={cookie.value}" for cookie in jar)


def open_stream(url: str, path: str, cookie: str) -> tuple[socket.socket, int | None]:
    """A stream held open on its own connection, and its status (None: not answered in a
    second, its request waiting for a thread)."""
    port = int(url.rsplit(":", 1)[1])
    connection = socket.create_connection(("127.0.0.1", port), timeout=1)
    connection.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nCookie: {cookie}\r\n"
                       "Accept: text/event-stream\r\n\r\n".encode())
    try:
        status_line = connection.recv(64).split(b"\r\n", 1)[0]
    except TimeoutError:
        return connection, None
    return connection, int(status_line.split()[1])


def labeled(number: int) -> dict:
    return payloads.issues_labeled(
        base_url="http://127.0.0.1:9", installation_id=7,
        repo={"full_name": "octo-org/hello", "id": 42, "default_branch": "main"},
        sender_login="octocat", sender_id=99,
        issue={"number": number, "title": "Fix it", "body": "please"}, label="agent")


def delivered(url: str, number: int) -> tuple[int | None, float]:
    """A signed delivery's answer (None: none within GitHub's 10 s) and how long it took."""
    started = time.monotonic()
    try:
        status, _body = payloads.deliver(f"{url}/webhooks", "issues", labeled(number), SECRET,
                                         timeout=10)
    except OSError:  # urllib's timeouts and URLErrors
        status = None
    return status, time.monotonic() - started


def test_webhooks_are_answered_promptly_while_streams_take_all_they_may(web, redis_client):
    running_run(redis_client, "live1")
    cookie = operator_cookie(web.url)
    opened = [open_stream(web.url, "/runs/live1/stream?after=0", cookie)
              for _ in range(2 * PROCESSES * THREADS)]
    try:
        for number in range(1, 6):
            status, took = delivered(web.url, number)
            assert status == 202 and took < PROMPT_SECONDS, (status, took)
        statuses = [status for _connection, status in opened]
        following = statuses.count(200)
        # Each process follows at most 4 (ORCA_MAX_STREAMS); the rest were told to poll.
        assert 1 <= following <= PROCESSES * 4, statuses
        assert statuses.count(503) == len(opened) - following, statuses
        # The streams let in are still following the run.
        assert all(connection.recv(4096) for connection, status in opened if status == 200)
        # Stopped as `orca up` stops it (SIGTERM), its streams end: no 30 s wait for them.
        stopping = time.monotonic()
        web.process.send_signal(signal.SIGTERM)
        web.process.wait(timeout=30)
        assert time.monotonic() - stopping < 10
    finally:
        for connection, _status in opened:
            connection.close()
