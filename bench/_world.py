"""The end-to-end harness for benches that run real jobs: the fake GitHub, a fake model that
notes when each request arrives, a private redis-server, and Orca configured through the
environment exactly as tests/e2e/conftest.py's `orca` fixture does it.

Deliveries go through the real webhook view (Flask's test client: the intake itself is
bench/intake.py's business) and jobs run in a real RQ burst worker, in this process.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

from app import create_app
from bench._servers import redis_server
from core.queues import FastWorker, queues
from core.settings import load_settings
from tests import payloads
from tests.fakes.github import FakeGitHub
from tests.fakes.model import FakeModel


class TimedModel(FakeModel):
    """The fake Messages API, noting the wall-clock time each messages request arrives."""

    def __init__(self) -> None:
        super().__init__()
        self.arrivals: list[float] = []

    def handle(self, method: str, path: str, headers: dict[str, str], raw: bytes):
        if method == "POST" and path.split("?")[0].rstrip("/") == "/v1/messages":
            self.arrivals.append(time.time())
        return super().handle(method, path, headers, raw)

    def first_after(self, moment: float) -> float | None:
        """When the first request at or after `moment` arrived, if one did."""
        return next((t for t in self.arrivals if t >= moment), None)


@dataclass
class World:
    """A configured Orca with its fakes; `deliver` then `drain` runs a whole trigger."""

    github: FakeGitHub
    model: TimedModel
    redis: redis.Redis
    data_dir: Path
    app: Any
    review_pull: Any = None
    """The pull request a review-round scenario keeps reviewing."""

    def deliver(self, event: str, payload: dict[str, Any], delivery_id: str | None = None):
        """A signed delivery through the real webhook view; returns (status, JSON answer)."""
        body = payloads.encode(payload)
        headers = payloads.delivery_headers(event, body, self.github.webhook_secret,
                                            delivery_id, self.github.app_id)
        answer = self.app.test_client().post("/webhooks", data=body, headers=headers)
        return answer.status_code, answer.get_json(silent=True) or {}

    def drain(self) -> None:
        """Run every queued job (acknowledgements, then runs) with a real burst worker."""
        worker = FastWorker(list(queues(self.redis)), connection=self.redis)
        worker.work(burst=True, logging_level="WARNING")


def orca_env(github: FakeGitHub, model: FakeModel, redis_url: str, data_dir: Path) -> dict[str, str]:
    """The settings the `orca` e2e fixture gives Orca (tests/e2e/conftest.py)."""
    return {
        "GITHUB_APP_ID": str(github.app_id),
        "GITHUB_PRIVATE_KEY": github.private_key_pem,
        "GITHUB_WEBHOOK_SECRET": github.webhook_secret,
        "GITHUB_URL": github.base_url,
        "REDIS_URL": redis_url,
        "ANTHROPIC_API_KEY": model.api_key,
        "ANTHROPIC_BASE_URL": model.base_url,
        "ORCA_DATA_DIR": str(data_dir),
        "ORCA_GITHUB_WRITE_INTERVAL": "0",
        "ORCA_STRICT_MODEL_RESPONSES": "true",
    }


@contextmanager
def orca_world(scratch_parent: str | None = None,
               settings: dict[str, str] | None = None) -> Iterator[World]:
    """Start the fakes and Redis, point Orca's settings at them, and clean up afterwards.

    The fake's repositories and Orca's data dir live under `scratch_parent` (default: the
    system's temporary directory), so a bench can compare disks. `settings` adds or
    overrides environment variables (ORCA_MAX_TURNS...) for the in-process app and for any
    worker process started from `os.environ` inside the block.
    """
    logging.getLogger().setLevel(logging.WARNING)  # the run's INFO lines would drown the figures
    saved_env, saved_cwd = dict(os.environ), os.getcwd()
    with tempfile.TemporaryDirectory(dir=scratch_parent) as scratch, redis_server() as server:
        root = Path(scratch)
        (root / "orca").mkdir()
        github = FakeGitHub(root / "fake-github").start()
        model = TimedModel().start()
        try:
            os.environ.update(orca_env(github, model, server.url, root / "orca" / "data"))
            os.environ.update(settings or {})
            os.chdir(root / "orca")  # no stray .env
            connection = redis.Redis.from_url(server.url)
            app = create_app(load_settings(), connection)
            yield World(github, model, connection, root / "orca" / "data", app)
        finally:
            os.chdir(saved_cwd)
            os.environ.clear()
            os.environ.update(saved_env)
            model.stop()
            github.stop()
