"""What the benches start and stop: a redis-server, `orca web` and a bare app under gunicorn.

Each runs as a child process on a free loopback port, as an operator would run it, so the
figures include gunicorn, the access log and the real Redis round trips.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.redis_server import RedisServer, free_port

SECRET = "bench-webhook-secret"


def machine() -> str:
    """One line naming the machine, as every bench prints it."""
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{platform.platform()}, {os.cpu_count()} CPUs ({cpu}), "
            f"Python {platform.python_version()}")


@contextmanager
def redis_server() -> Iterator[RedisServer]:
    """A private redis-server (persistence off) for the length of the bench."""
    with tempfile.TemporaryDirectory() as workdir:
        server = RedisServer(Path(workdir))
        server.start()
        try:
            yield server
        finally:
            server.stop()


@dataclass
class Web:
    """A web server child process and its base URL."""

    url: str
    process: subprocess.Popen

    @property
    def pids(self) -> list[int]:
        """gunicorn's worker processes (children of the arbiter), for a profiler."""
        found = subprocess.run(["pgrep", "-P", str(self.process.pid)], capture_output=True,
                               text=True, check=False).stdout.split()
        return [int(pid) for pid in found]


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time used so far by these processes (gone ones count 0)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return total / os.sysconf("SC_CLK_TCK")


def orca_env(redis_url: str, **extra: str) -> dict[str, str]:
    """The environment `orca web` needs: an App id, a key, the webhook secret and Redis."""
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp"),
            "GITHUB_APP_ID": "1", "GITHUB_PRIVATE_KEY": "unused by the web process",
            "GITHUB_WEBHOOK_SECRET": SECRET, "REDIS_URL": redis_url, **extra}


@contextmanager
def serve(command: list[str], env: dict[str, str], health: str = "/healthz") -> Iterator[Web]:
    """Run `command` (which takes --port) until the block ends; output goes nowhere."""
    port = free_port()
    with tempfile.TemporaryDirectory() as cwd:  # no stray .env is read
        process = subprocess.Popen([*command, "--port", str(port)], env=env, cwd=cwd,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        web = Web(f"http://127.0.0.1:{port}", process)
        try:
            _wait_healthy(web, health)
            yield web
        finally:
            process.terminate()
            process.wait(timeout=30)


def orca_web(workers: int, threads: int) -> list[str]:
    """`orca web` exactly as the README runs it."""
    return [sys.executable, "-m", "app.cli", "web", "--workers", str(workers),
            "--threads", str(threads)]


def bare_web(workers: int, threads: int) -> list[str]:
    """A Flask app that only answers 202, under the same gunicorn settings (bench/_bare_web.py)."""
    return [sys.executable, str(ROOT / "bench" / "_bare_web.py"), "--workers", str(workers),
            "--threads", str(threads)]


def _wait_healthy(web: Web, path: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if web.process.poll() is not None:
            raise RuntimeError(f"{web.url}: the server exited with {web.process.returncode}")
        try:
            with urllib.request.urlopen(web.url + path, timeout=1) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{web.url}{path} did not answer 200 within {seconds} s")
