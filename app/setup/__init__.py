"""`orca setup`: register Orca as a GitHub App from its manifest, from a local web page.

The page posts manifest.yml (with this run's URLs) to GitHub's "new App" page; GitHub
creates the App and sends the browser back to /callback with a one-time code and our
`state`; the code is exchanged for the App's credentials, which go to `.env` and a
private-key file. Same flow as probot's manifest-creation.ts.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests
from flask import Flask, render_template_string, request, url_for

from app.setup import manifest as setup_manifest
from app.setup import page as setup_page
from app.setup.files import env_keys, merge_env_file, write_secret
from core.settings import GitHubEndpoint

# GitHub's codes are short-lived (an hour); a slow GitHub should not hang the page forever.
EXCHANGE_TIMEOUT_SECONDS = 30


REDIS_PASSWORD = "REDIS_PASSWORD"
"""Read by compose.yaml, for Redis's requirepass and the REDIS_URL it gives Orca."""


class SetupError(Exception):
    """The code could not be exchanged; the message is shown to the user."""


@dataclass(frozen=True)
class Registration:
    """What GitHub returns for a new App. Secrets stay out of `repr`, so out of logs."""

    app_id: int
    slug: str
    name: str
    html_url: str
    client_id: str
    client_secret: str = field(repr=False)
    webhook_secret: str = field(repr=False)
    pem: str = field(repr=False)

    @property
    def install_url(self) -> str:
        """Where the App is installed on accounts and repositories."""
        return setup_manifest.install_url(self.html_url)


@dataclass(frozen=True)
class Written:
    """A finished setup: the App and the files now holding its credentials."""

    registration: Registration
    env_path: Path
    key_path: Path


def api_url_for(github_url: str, override: str = "") -> str:
    """The REST base Orca itself will use for this GitHub (see GitHubEndpoint.api_url)."""
    return GitHubEndpoint.model_construct(github_url=github_url.rstrip("/"),
                                          github_api_url=override.rstrip("/")).api_url


def exchange_code(api_url: str, code: str) -> Registration:
    """`POST /app-manifests/{code}/conversions`: unauthenticated, and good only once."""
    url = f"{api_url}/app-manifests/{quote(code, safe='')}/conversions"
    try:
        answer = requests.post(url, headers={"Accept": "application/vnd.github+json"},
                               timeout=EXCHANGE_TIMEOUT_SECONDS)
    except requests.RequestException as exc:
        raise SetupError(f"could not reach GitHub at {api_url}: {exc}") from None
    if answer.status_code != 201:
        raise SetupError(f"GitHub answered {answer.status_code} to the code exchange; codes "
                         "work once and expire after an hour")
    try:
        body = answer.json()
        return Registration(
            app_id=int(body["id"]), slug=str(body["slug"]), name=str(body["name"]),
            html_url=str(body["html_url"]), client_id=str(body["client_id"]),
            client_secret=str(body["client_secret"]),
            webhook_secret=str(body["webhook_secret"]), pem=str(body["pem"]))
    except (ValueError, TypeError, KeyError) as exc:
        raise SetupError(f"GitHub's answer to the code exchange lacks {exc}") from None


def save(registration: Registration, out_dir: Path, public_url: str = "") -> Written:
    """Write the key file and merge the credentials into `out_dir/.env`, with Orca's public
    address (ORCA_PUBLIC_URL) when the webhook URL told it."""
    slug = re.sub(r"[^A-Za-z0-9_-]", "-", registration.slug) or "github-app"
    key_path = out_dir / f"{slug}.private-key.pem"
    write_secret(key_path, registration.pem)
    env_path = out_dir / ".env"
    # The key file is named relative to .env's folder, where Orca is started from (and
    # where compose.yaml mounts it), so the pair can move together.
    values = {
        "GITHUB_APP_ID": str(registration.app_id),
        "GITHUB_PRIVATE_KEY_PATH": key_path.name,
        "GITHUB_WEBHOOK_SECRET": registration.webhook_secret,
        "GITHUB_CLIENT_ID": registration.client_id,
        "GITHUB_CLIENT_SECRET": registration.client_secret,
    }
    # compose.yaml's Redis requires it: whoever can write to Redis can queue a job that a
    # worker runs. Kept if there is one already, since a running Redis was started with it.
    if REDIS_PASSWORD not in env_keys(env_path):
        values[REDIS_PASSWORD] = secrets.token_urlsafe(32)
    if public_url:
        values["ORCA_PUBLIC_URL"] = public_url
    # An inline key would win over the new key file.
    merge_env_file(env_path, values, drop=["GITHUB_PRIVATE_KEY"])
    return Written(registration, env_path, key_path)


class _States:
    """The `state` values this page handed out; each is good for one return from GitHub."""

    def __init__(self) -> None:
        self._issued: set[str] = set()
        self._lock = threading.Lock()

    def issue(self) -> str:
        """A new unguessable state for one trip to GitHub."""
        state = secrets.token_urlsafe(24)
        with self._lock:
            self._issued.add(state)
        return state

    def redeem(self, state: str) -> bool:
        """True, once, for a state this page issued."""
        with self._lock:
            if state not in self._issued:
                return False
            self._issued.discard(state)
            return True


def _failed(status: int, title: str, message: str) -> tuple[str, int]:
    """An error page with a way back to the start."""
    return render_template_string(setup_page.FAILED, title=title, message=message,
                                  start_url=url_for("register")), status


def create_setup_app(github_url: str, out_dir: Path, *, api_url: str | None = None,
                     org: str | None = None, webhook_url: str | None = None,
                     manifest: dict[str, Any] | None = None,
                     on_done: Callable[[Written], None] | None = None) -> Flask:
    """The setup page. `on_done` hears of the finished registration (the CLI prints it)."""
    app = Flask(__name__)
    out_dir = out_dir.resolve()
    base = manifest if manifest is not None else setup_manifest.load_manifest()
    api = api_url or api_url_for(github_url)
    states = _States()

    @app.get("/")
    def register() -> str:
        filled = setup_manifest.build_manifest(base, url_for("callback", _external=True),
                                               webhook_url)
        return render_template_string(
            setup_page.REGISTER, title="Register", org=org, env_path=out_dir / ".env",
            placeholder=setup_manifest.is_placeholder(filled),
            placeholder_host=setup_manifest.PLACEHOLDER_HOST,
            action=setup_manifest.new_app_url(github_url, states.issue(), org),
            manifest=json.dumps(filled, indent=2))

    @app.get("/callback")
    def callback() -> tuple[str, int]:
        code, state = request.args.get("code", ""), request.args.get("state", "")
        if not code or not states.redeem(state):
            return _failed(400, "Unknown or reused state", "This answer does not come from "
                           "a registration this page started, or it was already used.")
        return _finish(api, code, out_dir, on_done, setup_manifest.public_url(webhook_url))

    return app


def _finish(api_url: str, code: str, out_dir: Path, on_done: Callable[[Written], None] | None,
            public_url: str = "") -> tuple[str, int]:
    """Exchange the code, save the credentials, and say what to do next."""
    try:
        registration = exchange_code(api_url, code)
    except SetupError as exc:
        return _failed(502, "GitHub did not register the App", str(exc))
    try:
        written = save(registration, out_dir, public_url)
    except OSError as exc:
        # GitHub shows the key and secrets only once, in this answer: say how to recover.
        return _failed(500, f"{registration.name} was created, but its credentials were not "
                       "saved", f"Writing to {out_dir} failed ({exc.strerror}). In the App's "
                       "settings on GitHub, generate a new private key and client secret, "
                       "set a webhook secret, and write .env by hand.")
    if on_done is not None:
        on_done(written)
    return render_template_string(
        setup_page.DONE, title="Registered", name=registration.name,
        env_path=written.env_path, key_path=written.key_path,
        install_url=registration.install_url), 200
