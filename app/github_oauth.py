"""Sign-in with GitHub through the App's own OAuth client, and what the person may read.

The web flow (https://docs.github.com/en/apps/creating-github-apps/authenticating-with-a-github-app/generating-a-user-access-token-for-a-github-app):
`{GITHUB_URL}/login/oauth/authorize` sends the browser back with a one-time code, which
`/login/oauth/access_token` exchanges for a user token. With it Orca asks which of the
App's installations the person can reach and which repositories there they can read
(`/user/installations`, `/user/installations/{id}/repositories`), then forgets the token:
mission control keeps only the answer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import requests

from core.settings import Settings

# GitHub's own advice for a timeout is none; a sign-in should not hang a web worker.
TIMEOUT_SECONDS = 15
# 100 is GitHub's largest page; 50 pages bound a sign-in at 5,000 repositories per listing.
PER_PAGE = 100
MAX_PAGES = 50
API_HEADERS = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28",
               "User-Agent": "Orca mission control"}

Observe = Callable[[requests.Response], None]
"""Called with every response from GitHub (mission control counts them for /metrics)."""


class SignInError(Exception):
    """Sign-in failed; the message is for the person signing in."""


@dataclass
class Access:
    """Who signed in and the ids of the repositories they can read and write."""

    login: str
    readable: set[int] = field(default_factory=set)
    writable: set[int] = field(default_factory=set)


def authorize_url(settings: Settings, redirect_uri: str, state: str) -> str:
    """Where to send the browser to sign in."""
    query = urlencode({"client_id": settings.github_client_id, "redirect_uri": redirect_uri,
                       "state": state})
    return f"{settings.github_url}/login/oauth/authorize?{query}"


def exchange_code(settings: Settings, code: str, redirect_uri: str, observe: Observe) -> str:
    """The user token for a one-time code; SignInError if GitHub refuses it."""
    try:
        answer = requests.post(
            f"{settings.github_url}/login/oauth/access_token", timeout=TIMEOUT_SECONDS,
            headers={"Accept": "application/json", "User-Agent": API_HEADERS["User-Agent"]},
            data={"client_id": settings.github_client_id,
                  "client_secret": settings.github_client_secret,
                  "code": code, "redirect_uri": redirect_uri})
        observe(answer)
        body = answer.json()
    except (requests.RequestException, ValueError) as exc:
        raise SignInError(f"GitHub could not be asked for a token ({type(exc).__name__}).") from exc
    if "access_token" not in body:
        # GitHub answers 200 with an error for a bad or expired code.
        raise SignInError(body.get("error_description") or "GitHub refused the sign-in code.")
    return body["access_token"]


def _pages(url: str, token: str, item_key: str, observe: Observe) -> Iterator[dict[str, Any]]:
    """Every item of a paginated listing, following `Link: rel="next"` up to MAX_PAGES."""
    headers = {**API_HEADERS, "Authorization": f"Bearer {token}"}
    params: dict[str, Any] | None = {"per_page": PER_PAGE}
    for _ in range(MAX_PAGES):
        answer = requests.get(url, headers=headers, params=params, timeout=TIMEOUT_SECONDS)
        observe(answer)
        if answer.status_code != 200:
            raise SignInError(f"GitHub answered {answer.status_code} to {answer.request.path_url}.")
        yield from answer.json()[item_key]
        url, params = answer.links.get("next", {}).get("url"), None
        if not url:
            return


def fetch_access(settings: Settings, token: str, observe: Observe) -> Access:
    """Who the token belongs to, and which repositories of the App's installations they can
    read (any permission) and write (push)."""
    api = settings.api_url
    try:
        me = requests.get(f"{api}/user", timeout=TIMEOUT_SECONDS,
                          headers={**API_HEADERS, "Authorization": f"Bearer {token}"})
        observe(me)
        if me.status_code != 200:
            raise SignInError(f"GitHub answered {me.status_code} when asked who you are.")
        access = Access(me.json()["login"])
        for installation in list(_pages(f"{api}/user/installations", token, "installations",
                                        observe)):
            url = f"{api}/user/installations/{installation['id']}/repositories"
            for repo in _pages(url, token, "repositories", observe):
                access.readable.add(repo["id"])
                if repo.get("permissions", {}).get("push"):
                    access.writable.add(repo["id"])
    except (requests.RequestException, ValueError, KeyError) as exc:
        raise SignInError(f"GitHub could not be asked what you can read ({type(exc).__name__}).") from exc
    return access
