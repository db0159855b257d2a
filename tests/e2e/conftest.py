"""The end-to-end harness: Orca's web app on a real port, a real RQ worker, both fakes.

Orca reads its settings from the environment exactly as in production; the fixture
points them at the fakes and at the test's own redis-server.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pytest
import redis
from werkzeug.serving import make_server

from app import create_app
from core.queues import FastWorker, queues
from core.settings import load_settings
from tests import payloads
from tests.fakes.github import FakeGitHub
from tests.fakes.github_state import iso, now
from tests.fakes.model import FakeModel
from tests.serving import Background


@dataclass
class Orca:
    """A running Orca (web app + on-demand worker) wired to the fakes."""

    url: str
    redis: redis.Redis
    github: FakeGitHub
    model: FakeModel
    data_dir: Path

    def deliver(self, event: str, payload: dict[str, Any], delivery_id: str | None = None):
        return payloads.deliver(f"{self.url}/webhooks", event, payload, self.github.webhook_secret,
                                delivery_id=delivery_id, app_id=self.github.app_id)

    def drain(self) -> None:
        """Run every queued job, acknowledgements and runs, with a real burst worker."""
        worker = FastWorker(list(queues(self.redis)), connection=self.redis)
        worker.work(burst=True)


@pytest.fixture
def orca(fake_github, fake_model, redis_server, redis_client, tmp_path, monkeypatch) -> Iterator[Orca]:
    workdir = tmp_path / "orca"
    workdir.mkdir()
    monkeypatch.chdir(workdir)  # no stray .env
    env = {
        "GITHUB_APP_ID": str(fake_github.app_id),
        "GITHUB_PRIVATE_KEY": fake_github.private_key_pem,
        "GITHUB_WEBHOOK_SECRET": fake_github.webhook_secret,
        "GITHUB_URL": fake_github.base_url,
        "REDIS_URL": redis_server.url,
        "ANTHROPIC_API_KEY": fake_model.api_key,
        "ANTHROPIC_BASE_URL": fake_model.base_url,
        "ORCA_DATA_DIR": str(workdir / "data"),
        "ORCA_GITHUB_WRITE_INTERVAL": "0",
        "ORCA_STRICT_MODEL_RESPONSES": "true",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    serving = Background(make_server("127.0.0.1", 0, create_app(load_settings()), threaded=True),
                         "orca-web")
    yield Orca(serving.url, redis_client, fake_github, fake_model, workdir / "data")
    serving.stop()
    # A request past the end of a test's script (or one the real API would refuse) is a
    # mismatch between the test and Orca, even where the run survives it.
    assert fake_model.violations == [], fake_model.violations


@dataclass
class Scene:
    """A repository with an issue, an installation and a requester."""

    installation_id: int
    repo: dict[str, Any]
    number: int
    requester: dict[str, Any]

    @property
    def full_name(self) -> str:
        return self.repo["full_name"]


HELLO_FILES = {
    "README.md": "# Hello\n",
    "hello.py": "def greet():\n    return 'helo, world'\n",
    ".github/workflows/ci.yml": "on: push\n",
}


def make_scene(github: FakeGitHub, permission: str = "write", private: bool = True,
               files: dict[str, str] | None = None,
               body: str = "greet() says helo instead of hello.") -> Scene:
    """octo-org/hello with `files` (default HELLO_FILES) and an open issue by octocat."""
    installation_id = github.add_installation("octo-org")
    requester = github.add_user("octocat")
    repo = github.add_repo("octo-org/hello", installation_id, private=private,
                           files=HELLO_FILES if files is None else files)
    github.set_permission("octo-org/hello", "octocat", permission)
    number = github.add_issue("octo-org/hello", "Fix the greeting typo", body, "octocat",
                              labels=["agent"])
    return Scene(installation_id, repo, number, requester)


def comments_on(github: FakeGitHub, scene: Scene) -> tuple[list[Any], Any]:
    """The comments on the scene's issue, oldest first, and the issue itself."""
    issue = github.state.issues[(scene.repo["id"], scene.number)]
    return [c for c in github.state.comments.values() if c.issue is issue], issue


def pulls(github: FakeGitHub) -> list[Any]:
    """Every pull request in the fake, as issues carrying `.pull`."""
    return [i for i in github.state.issues.values() if i.pull is not None]


def labeled_payload(github: FakeGitHub, scene: Scene, label: str = "agent") -> dict[str, Any]:
    return payloads.issues_labeled(
        base_url=github.base_url, installation_id=scene.installation_id,
        repo={"full_name": scene.full_name, "id": scene.repo["id"], "default_branch": "main",
              "private": True},
        sender_login="octocat", sender_id=scene.requester["id"],
        issue={"number": scene.number, "title": "Fix the greeting typo",
               "body": "greet() says helo instead of hello.",
               "updated_at": label_time(github, scene)},
        label=label,
    )


def label_time(github: FakeGitHub, scene: Scene) -> str:
    """When GitHub would say the label was added (the issue's `updated_at`): now.

    GitHub's times are whole seconds, and a test labels faster than that: a second label on
    one issue within a second is stamped a second later, so that its delivery is not the
    first one's body again (which Orca would refuse as a replay)."""
    key = (github.base_url, scene.full_name, scene.number)
    last = _LABELED.get(key)
    moment = now() if last is None else max(now(), last + dt.timedelta(seconds=1))
    _LABELED[key] = moment
    return iso(moment)


# The last label time each issue was given, by fake GitHub (its URL), repository and number.
_LABELED: dict[tuple[str, str, int], dt.datetime] = {}
