"""`orca up`: everything on one machine — web, a pool of workers, and Redis if needed.

When REDIS_URL is not configured, a local `redis-server` child keeps its data in an
append-only file under ORCA_DATA_DIR and listens on a unix socket there (no port to
clash with), so queued runs survive a restart. Ctrl-C stops the children in order:
workers first (RQ finishes or requeues its job), then web, then Redis.
"""

from __future__ import annotations

import math
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import redis

from core.settings import Settings

# How long Redis may take to load its append-only file before we give up.
REDIS_START_SECONDS = 30
# Workers for the fast queue: at least two, so one long refresh of queue places never holds up
# a 👀, and one per RUNS_PER_FAST_WORKER run workers, so a burst of labels as large as the fleet
# gets its 👀s within a second (bench/fleet.py). They are forked from one process
# (`orca worker --count`), so each costs little memory.
FAST_WORKERS = 2
RUNS_PER_FAST_WORKER = 5
# Workers get this long to finish their current job on shutdown (RQ's warm shutdown).
STOP_SECONDS = 30


def start_redis(data_dir: Path) -> tuple[subprocess.Popen, str]:
    """A redis-server child with persistence under data_dir; returns it and its URL."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("orca up: REDIS_URL is not set and redis-server is not installed")
    folder = (data_dir / "redis").resolve()
    folder.mkdir(parents=True, exist_ok=True)
    socket_path = folder / "redis.sock"
    child = subprocess.Popen(
        [binary, "--port", "0", "--unixsocket", str(socket_path), "--unixsocketperm", "700",
         "--dir", str(folder), "--appendonly", "yes", "--save", ""],
        stdout=subprocess.DEVNULL,
    )
    url = f"unix://{socket_path}"
    deadline = time.monotonic() + REDIS_START_SECONDS
    while time.monotonic() < deadline:
        try:
            redis.Redis.from_url(url).ping()
            return child, url
        except (redis.ConnectionError, redis.BusyLoadingError):
            time.sleep(0.05)
    child.kill()
    raise SystemExit("orca up: the local redis-server did not start")


def fast_workers(runs: int) -> int:
    """How many fast-queue workers `orca up` starts beside `runs` run workers."""
    return max(FAST_WORKERS, math.ceil(runs / RUNS_PER_FAST_WORKER))


def _spawn(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    # A session of its own: Ctrl-C reaches only `orca up`, which then stops each child
    # once (a second signal would make an RQ worker abandon its job).
    return subprocess.Popen([sys.executable, "-m", "app.cli", *args], env=env, start_new_session=True)


def _stop(children: list[subprocess.Popen], sig: int) -> None:
    for child in children:
        if child.poll() is None:
            child.send_signal(sig)
    for child in children:
        try:
            child.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def up(settings: Settings, host: str, port: int, workers: int | None) -> int:
    """Run until interrupted; returns the exit code."""
    env = dict(os.environ)
    redis_child = None
    if "redis_url" not in settings.model_fields_set:
        redis_child, env["REDIS_URL"] = start_redis(settings.data_dir)
        print(f"orca up: local Redis at {env['REDIS_URL']} (append-only)", flush=True)
    runs = settings.max_runs if workers is None else workers
    # Run workers take only runs, so ORCA_MAX_RUNS bounds the runs at once; acknowledgements
    # have workers of their own, so a 👀 never waits behind a long run.
    fast = fast_workers(runs)
    pool = ([_spawn(["worker", "--queues", "fast", "--count", str(fast)], env)]
            + [_spawn(["worker", "--queues", "runs"], env) for _ in range(runs)])
    web = _spawn(["web", "--host", host, "--port", str(port)], env)
    print(f"orca up: webhooks on http://{host}:{port}/webhooks, {runs} run workers, "
          f"{fast} for acknowledgements", flush=True)
    stopping = False

    def request_stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    while not stopping and web.poll() is None and all(w.poll() is None for w in pool):
        time.sleep(0.2)
    _stop(pool, signal.SIGTERM)
    _stop([web], signal.SIGTERM)
    if redis_child is not None:
        _stop([redis_child], signal.SIGTERM)  # SIGTERM makes Redis flush its AOF and exit
    return 0 if stopping else 1
