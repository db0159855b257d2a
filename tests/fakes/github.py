"""A fake GitHub for end-to-end tests: a real HTTP server on a free loopback port.

The real PyGithub talks REST to ``fake.api_url`` (``/api/v3``, as on GitHub Enterprise) and the
real git CLI clones and pushes over smart HTTP at ``{fake.base_url}/{owner}/{repo}.git``.
Every REST request and response is checked against GitHub's OpenAPI description; mismatches
land in ``fake.violations``, and every request in ``fake.calls``. The check runs in a thread of
its own, after the answer is sent, and in a process of its own (tests/fakes/openapi.py), as
GitHub itself adds no such work to a call's time; reading ``fake.violations`` first waits for
every check of the calls made so far.

    def test_something(fake_github):
        inst = fake_github.add_installation("octo-org")
        fake_github.add_repo("octo-org/hello", inst, {"README.md": "hi\\n"})
        ...
        assert fake_github.violations == []

CI state (check suites and runs, commit statuses, Actions runs, jobs and their logs) is set
through ``fake.ci`` (``tests/fakes/github_ci.py``).
"""

from __future__ import annotations

import queue
import re
import secrets
import threading
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request

from tests.fakes import github_objects as objects
from tests.fakes import openapi
from tests.fakes.github_auth import private_key_pem
from tests.fakes.github_server import Call, Injection, dispatch
from tests.fakes.github_world import FakeWorld
from tests.serving import Background

__all__ = ["Call", "FakeGitHub", "fake_github"]

APP_PERMISSIONS = {"contents": "write", "issues": "write", "pull_requests": "write",
                   "metadata": "read", "checks": "read"}
APP_EVENTS = ["issues", "issue_comment", "pull_request", "pull_request_review",
              "pull_request_review_comment"]
# GitHub's answer past a secondary rate limit (with `Retry-After`, which PyGithub's retry
# policy honours): https://docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api
SECONDARY_RATE_LIMIT = {
    "message": "You have exceeded a secondary rate limit. Please wait a few minutes before you "
               "try again. If you reach out to GitHub Support for help, please include the "
               "request ID 0000:1111:2222:3333:4444.",
    "documentation_url": "https://docs.github.com/free-pro-team@latest/rest/overview/"
                         "rate-limits-for-the-rest-api#about-secondary-rate-limits",
}


class _QuietHandler(WSGIRequestHandler):
    """Keep werkzeug's per-request access log out of test output; ``fake.calls`` has it."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Say nothing."""


class FakeGitHub(FakeWorld):
    """GitHub's REST API and git hosting, in-process, for one test.

    Scene builders (``add_installation``, ``add_repo``, ``add_issue``...) live in
    ``FakeWorld``; this class adds the server, the call log and failure injection.
    """

    app_id: int = 424242

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.private_key_pem: str = private_key_pem()
        self.webhook_secret: str = secrets.token_hex(16)
        self.app_events: list[str] = list(APP_EVENTS)
        self.calls: list[Call] = []
        self._violations: list[str] = []
        self._checks: queue.Queue[tuple[Callable[..., list[str]], tuple[Any, ...]]] = queue.Queue()
        threading.Thread(target=self._check_forever, name="fake-github-checks", daemon=True).start()
        self.injections: list[Injection] = []
        self.oauth_codes: dict[str, str] = {}  # code -> login, for /login/oauth/access_token
        self.sub_issues: dict[int, int] = {}  # sub-issue id -> its parent's id
        self.sub_issues_missing = False  # True: the sub-issues API answers 404 (an older GHES)
        self._serving: Background | None = None

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``: the web host, where git lives."""
        return self.site.web

    @property
    def api_url(self) -> str:
        """``base_url + "/api/v3"``: the REST root to give PyGithub."""
        return self.site.api

    @property
    def violations(self) -> list[str]:
        """Every mismatch found so far, once the checks of the calls made so far are done."""
        self._checks.join()
        return self._violations

    def violation(self, text: str) -> None:
        """Note a mismatch found while answering (no wait for the pending checks)."""
        self._violations.append(text)

    def check_later(self, check: Callable[..., list[str]], *args: Any) -> None:
        """Run `check(*args)` in the checking thread; what it returns are violations."""
        self._checks.put((check, args))

    def _check_forever(self) -> None:
        while True:
            check, args = self._checks.get()
            try:
                self._violations.extend(openapi.elsewhere(check, *args))
            except Exception:  # noqa: BLE001 (a crashing check is a finding, not a lost one)
                self._violations.append(f"the OpenAPI check crashed: {traceback.format_exc()}")
            finally:
                self._checks.task_done()

    def start(self) -> FakeGitHub:
        """Listen on a free loopback port and serve from a daemon thread."""
        server = make_server("127.0.0.1", 0, self._wsgi, threaded=True,
                             request_handler=_QuietHandler)
        self._serving = Background(server, "fake-github")
        self.site = objects.Site(self._serving.url)
        return self

    def stop(self) -> None:
        """Stop serving and wait for the thread."""
        if self._serving is not None:
            self._serving.stop()
            self._serving = None

    def fail_next(self, method: str, path_regex: str, status: int,
                  headers: dict[str, str] | None = None, body: Any = None,
                  times: int = 1) -> None:
        """Answer the next ``times`` requests matching with ``status`` (body: dict, str, bytes).

        ``path_regex`` is searched in the full request path, e.g. ``/issues/\\d+/comments$``.
        The request is still validated and logged. A canned 4xx is validated like any REST
        answer (an undescribed status needs GitHub's ``message``); a canned 5xx is not, since
        GitHub's front end sends those, often as HTML. Injections are used up in order.
        """
        entry = Injection(method.upper(), re.compile(path_regex), status, dict(headers or {}),
                          body, times)
        with self.state.lock:
            self.injections.append(entry)

    def rate_limit_next(self, method: str, path_regex: str, retry_after: int = 1,
                        times: int = 1) -> None:
        """Answer the next ``times`` matching requests as GitHub's secondary rate limit does:
        403, ``Retry-After`` in seconds, and its message."""
        self.fail_next(method, path_regex, 403, {"Retry-After": str(retry_after)},
                       SECONDARY_RATE_LIMIT, times)

    def app_json(self) -> dict[str, Any]:
        """The App object served at ``GET /app``."""
        return objects.app(self.site, self.app_id, self.app_slug, self.app_owner,
                           APP_PERMISSIONS)

    def calls_to(self, method: str, path_regex: str) -> list[Call]:
        """Logged calls with ``method`` whose path matches ``path_regex``."""
        pattern = re.compile(path_regex)
        return [c for c in self.calls if c.method == method.upper() and pattern.search(c.path)]

    def _wsgi(self, environ: dict[str, Any], start_response: Any) -> Any:
        """The WSGI entry point."""
        response = dispatch(self, Request(environ))
        return response(environ, start_response)


@pytest.fixture
def fake_github(tmp_path: Path) -> Iterator[FakeGitHub]:
    """A started ``FakeGitHub`` with its repositories under ``tmp_path``; stopped afterwards."""
    fake = FakeGitHub(tmp_path / "fake-github").start()
    try:
        yield fake
    finally:
        fake.stop()
