"""Runs in Redis and signed-in viewers, for mission control's tests."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import redis

from app import create_app, viewer
from core.runs import RunStore
from core.settings import Settings

SECRET = "webhook-secret"
ADMIN_TOKEN = "operator-token-for-tests"
HELLO = ("octo-org/hello", 42)
SECRET_REPO = ("other-org/secret", 77)


def add_run(connection: redis.Redis, run_id: str, repo: tuple[str, int] = HELLO,
            status: str = "queued", installation_id: int = 7, **fields: Any) -> dict[str, Any]:
    """A run record as the webhook view and the jobs write it."""
    store = RunStore(connection)
    store.create(run_id, {"kind": "label", "installation_id": installation_id,
                          "repository": repo[0], "repository_id": repo[1], "number": 5,
                          "requester": "octocat", "requester_id": 9, "is_pull_request": False,
                          "title": f"Task {run_id}"}, f"{repo[0]}#5")
    if status != "queued" or fields:
        store.update(run_id, status=status, **fields)
    return store.get(run_id) or {}


def running_run(connection: redis.Redis, run_id: str, **fields: Any) -> None:
    """A run that has started, with its budget and one model turn in the stream."""
    add_run(connection, run_id, status="running", started_at=time.time(), **fields)
    store = RunStore(connection)
    store.add_event(run_id, "budget", {"max_turns": 60, "max_tokens": 1_000_000,
                                       "max_dollars": 10.0, "max_minutes": 45})
    store.add_event(run_id, "model", {"turn": 1, "stop_reason": "tool_use", "usage": {},
                                      "spent": {"turns": 1, "tokens": 4321, "dollars": 0.12,
                                                "minutes": 0.5}})


def sign_in_as(client: Any, connection: redis.Redis, login: str, readable: set[int],
               writable: set[int] = frozenset()) -> None:
    """Give the test client the session a GitHub sign-in would have given `login`."""
    key = viewer.remember(connection, login, set(readable), set(writable))
    with client.session_transaction() as session:
        session.update(viewer=key, login=login)


def csrf_of(page_text: str) -> str:
    """The CSRF token a rendered page put in its forms."""
    found = re.search(r'name="csrf_token" value="([^"]+)"', page_text)
    assert found, "no form with a CSRF token on the page"
    return found[1]


def mission_app(connection: redis.Redis, tmp_path: Path, **settings: Any) -> Any:
    """Orca's web app with mission control's settings (an operator token, a data dir), and
    `settings` on top."""
    return create_app(Settings(GITHUB_APP_ID=1, GITHUB_PRIVATE_KEY="k",
                               GITHUB_WEBHOOK_SECRET=SECRET, ORCA_ADMIN_TOKEN=ADMIN_TOKEN,
                               ORCA_DATA_DIR=str(tmp_path / "data"), **settings), connection)
