"""The fake GitHub for a person signing in through the App's OAuth client.

GitHub's web flow (https://docs.github.com/en/apps/creating-github-apps/authenticating-with-a-github-app/generating-a-user-access-token-for-a-github-app):
the browser visits ``/login/oauth/authorize`` on the web host, GitHub sends it back to the
``redirect_uri`` with a one-time ``code`` and the ``state``; the App exchanges the code at
``/login/oauth/access_token`` for a ``ghu_`` token. With that token, ``GET /user`` says who the
person is, ``GET /user/installations`` lists the App's installations they can reach and
``GET /user/installations/{id}/repositories`` the repositories there they have explicit access
to, each with their ``permissions``.

The fake approves at once for whoever ``fake.state.web_login`` names (the person "signed in to
GitHub" in the test's browser); codes go to ``fake.oauth_codes``, tokens to
``fake.state.user_tokens``.
"""

from __future__ import annotations

import secrets
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from werkzeug.wrappers import Request, Response

from tests.fakes import github_objects as objects
from tests.fakes.github_api_common import ApiError, Ctx, Route, json_response, not_found
from tests.fakes.github_state import Repo, State, User

if TYPE_CHECKING:
    from tests.fakes.github import FakeGitHub

# GitHub's primary limit for a user or installation token: 5,000 requests an hour
# (https://docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api).
RATE_LIMIT = 5000


def authorize(fake: FakeGitHub, request: Request) -> Response:
    """``GET /login/oauth/authorize``: approve at once and send the browser back with a code."""
    if request.args.get("client_id") != fake.app_json()["client_id"]:
        return Response("Unknown client_id.\n", status=404, mimetype="text/plain")
    redirect_uri = request.args.get("redirect_uri")
    login = fake.state.web_login
    if not redirect_uri or login is None:
        return Response("No redirect_uri, or nobody is signed in to the fake GitHub "
                        "(set fake.state.web_login).\n", status=400, mimetype="text/plain")
    code = secrets.token_hex(10)
    fake.oauth_codes[code] = login
    query = urlencode({"code": code, "state": request.args.get("state", "")})
    separator = "&" if "?" in redirect_uri else "?"
    return Response(status=302, headers={"Location": f"{redirect_uri}{separator}{query}"})


def issue_user_token(fake: FakeGitHub, login: str) -> str:
    """A new ``ghu_`` token acting as ``login`` (what the code exchange hands out)."""
    token = f"ghu_{secrets.token_urlsafe(27)}"
    with fake.state.lock:
        fake.state.user_tokens[token] = login
    return token


def rate_limit_headers(fake: FakeGitHub) -> dict[str, str]:
    """The ``X-RateLimit-*`` headers GitHub puts on every REST answer (one shared budget here)."""
    used = len(fake.calls) + 1
    return {"X-RateLimit-Limit": str(RATE_LIMIT),
            "X-RateLimit-Remaining": str(max(0, RATE_LIMIT - used)),
            "X-RateLimit-Used": str(used), "X-RateLimit-Resource": "core",
            "X-RateLimit-Reset": str(int(time.time()) + 3600)}


def person(ctx: Ctx) -> User | None:
    """The person behind a user token; None for any other credential; 401 for a dead token."""
    secret = ctx.creds.secret or ""
    if ctx.creds.kind != "token" or not secret.startswith("ghu_"):
        return None
    login = ctx.state.user_tokens.get(secret)
    if login is None:
        raise ApiError(401, "Bad credentials")
    return ctx.state.user(login)


def _signed_in(ctx: Ctx) -> User:
    """The person, or GitHub's refusal for a request without a user token."""
    user = person(ctx)
    if user is not None:
        return user
    if ctx.creds.kind == "none":
        raise ApiError(401, "Requires authentication")
    raise ApiError(403, "You must authenticate with an access token authorized to a GitHub "
                        "App in order to list installations")


def _explicit_roles(state: State, login: str, installation_id: int) -> list[tuple[Repo, str]]:
    """The installation's repositories where ``login`` has explicit access, with the role.

    GitHub lists only explicit access here: a public repository does not count for everyone.
    """
    found = []
    for repo in state.installation_repos(installation_id):
        role = state.role(repo, login)
        explicit = login in repo.permissions or login == repo.owner.login
        if explicit and role != "none":
            found.append((repo, role))
    return found


def _page(ctx: Ctx, key: str, items: list[Any], **extra: Any) -> Response:
    """``{"total_count", key: [one page]}`` per ``page``/``per_page``, with a ``Link`` header."""
    try:
        page = max(1, int(ctx.request.args.get("page", 1)))
        per_page = min(100, max(1, int(ctx.request.args.get("per_page", 30))))
    except ValueError:
        raise ApiError(400, "Invalid pagination parameters") from None
    headers = {}
    if page * per_page < len(items):
        args = urlencode(dict(ctx.request.args, page=str(page + 1), per_page=str(per_page)))
        headers["Link"] = f'<{ctx.site.web}{ctx.request.path}?{args}>; rel="next"'
    body = {"total_count": len(items), key: items[(page - 1) * per_page: page * per_page], **extra}
    return json_response(body, headers=headers)


def list_installations(ctx: Ctx) -> Response:
    """``GET /user/installations``."""
    login = _signed_in(ctx).login
    fake = ctx.fake
    items = [objects.installation(ctx.site, inst, fake.app_id, fake.app_slug, fake.app_events)
             for inst in ctx.state.installations.values()
             if _explicit_roles(ctx.state, login, inst.id)]
    return _page(ctx, "installations", items)


def list_installation_repositories(ctx: Ctx, installation_id: int) -> Response:
    """``GET /user/installations/{installation_id}/repositories``."""
    login = _signed_in(ctx).login
    roles = _explicit_roles(ctx.state, login, installation_id)
    if installation_id not in ctx.state.installations or not roles:
        raise not_found()
    items = [{**objects.repository(ctx.site, repo), "permissions": objects.role_flags(role)}
             for repo, role in roles]
    return _page(ctx, "repositories", items, repository_selection="selected")


ROUTES: list[Route] = [
    ("GET", "/user/installations", list_installations),
    ("GET", "/user/installations/<int:installation_id>/repositories",
     list_installation_repositories),
]
