"""The fake GitHub's HTTP front door: routing, auth logging, failure injection, validation."""

from __future__ import annotations

import io
import json
import re
import time
import traceback
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from tests.fakes import (
    github_api_actions, github_api_app, github_api_checks, github_api_issues, github_api_pulls,
    github_api_repos, github_api_reviews, github_api_user,
)
from tests.fakes import github_git as gitops
from tests.fakes import github_graphql, openapi
from tests.fakes.github_api_common import (
    DOCS, ApiError, Ctx, can_reach, json_response,
)
from tests.fakes.github_auth import Credentials, parse_authorization, token_is_live
from tests.fakes.github_ci import LOG_PATH
from tests.fakes.github_state import grants

if TYPE_CHECKING:
    from tests.fakes.github import FakeGitHub

API_PREFIX = openapi.API_PREFIX
_GIT_PATH = re.compile(r"^/(?P<owner>[^/]+)/(?P<name>[^/]+?)\.git(?P<rest>/.*)$")
_ROUTES = (github_api_app.ROUTES + github_api_repos.ROUTES + github_api_pulls.ROUTES
           + github_api_reviews.ROUTES + github_api_user.ROUTES + github_api_checks.ROUTES
           + github_api_actions.ROUTES + github_api_issues.ROUTES)
URL_MAP = Map([Rule(rule, methods=[method], endpoint=handler)
               for method, rule, handler in _ROUTES], strict_slashes=False)


@dataclass
class Call:
    """One request the fake answered, for assertions (``path`` is the full request path)."""

    method: str
    path: str
    query: dict[str, str]
    status: int
    auth: str  # "jwt", "token", "basic" or "none"
    body: Any = None  # the request's JSON body, if it had one
    at: float = field(default_factory=time.time)  # when it arrived


@dataclass
class Injection:
    """A canned answer for the next ``times`` requests matching ``method`` and ``path``."""

    method: str
    path: re.Pattern[str]
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    times: int = 1


def dispatch(fake: FakeGitHub, request: Request) -> Response:
    """Answer ``request`` and record it; never raise."""
    arrived = time.time()
    creds = parse_authorization(request.headers.get("Authorization"))
    injected = _take_injection(fake, request)
    if request.path.startswith(API_PREFIX + "/") or request.path == API_PREFIX:
        response = _api(fake, request, creds, injected)
    elif injected is not None:
        response = injected
    elif _GIT_PATH.match(request.path):
        response = _git(fake, request, creds)
    elif request.path == github_graphql.GRAPHQL_PATH and request.method == "POST":
        response = github_graphql.answer(fake, request)
    elif request.path.startswith(LOG_PATH + "/") and request.method == "GET":
        response = github_api_actions.download_log(fake, request, request.path[len(LOG_PATH) + 1:])
    elif request.path == "/login/oauth/access_token":
        response = _oauth_access_token(fake, request)
    elif request.path == "/login/oauth/authorize":
        response = github_api_user.authorize(fake, request)
    else:
        response = json_response({"message": "Not Found", "documentation_url": DOCS}, 404)
    fake.calls.append(Call(request.method, request.path, dict(request.args), response.status_code,
                           creds.kind, _json_body(request), arrived))
    return response


def _json_body(request: Request) -> Any:
    """The request's JSON body, or None (git bodies are binary and not recorded)."""
    if request.mimetype != "application/json":
        return None
    try:
        return json.loads(request.get_data(cache=True) or b"null")
    except ValueError:
        return None


def _take_injection(fake: FakeGitHub, request: Request) -> Response | None:
    """Consume one matching ``fail_next`` entry and build its response."""
    with fake.state.lock:
        for entry in fake.injections:
            if entry.method == request.method and entry.path.search(request.path):
                entry.times -= 1
                if entry.times <= 0:
                    fake.injections.remove(entry)
                break
        else:
            return None
    body = entry.body
    if body is None:
        body = {"message": "Injected failure", "documentation_url": DOCS}
    if isinstance(body, (dict, list)):
        return json_response(body, entry.status, entry.headers)
    return Response(body, status=entry.status, headers=entry.headers)


def _api(fake: FakeGitHub, request: Request, creds: Credentials,
         injected: Response | None) -> Response:
    """A REST request: route, validate both ways, run the handler."""
    api_path = request.path[len(API_PREFIX):] or "/"
    try:
        handler, args = URL_MAP.bind("fake", "/").match(api_path, method=request.method)
    except HTTPException:
        fake.violation(f"{request.method} {request.path}: unknown endpoint")
        return json_response({"message": "Not Found", "documentation_url": DOCS}, 404)
    checked = _kept(request)
    fake.check_later(openapi.request_violations, checked)
    if injected is not None:
        return _canned(fake, checked, injected)
    try:
        response = handler(Ctx(fake, request, creds), **args)
    except ApiError as exc:
        response = exc.response()
    except Exception:  # the fake must answer, whatever the input; the bug lands in violations
        fake.violation(f"{request.method} {request.path}: fake crashed: "
                       f"{traceback.format_exc()}")
        return json_response({"message": "Server Error", "documentation_url": DOCS}, 500)
    fake.check_later(openapi.response_violations, checked, _copy(response))
    response.headers.update(github_api_user.rate_limit_headers(fake))
    return response


def _kept(request: Request) -> Request:
    """A copy of `request` for the checking thread alone: it reads it after the answer is sent,
    when the server's input stream is gone, and while the handler may read the original."""
    body = request.get_data()
    environ = {**request.environ, "wsgi.input": io.BytesIO(body),
               "CONTENT_LENGTH": str(len(body))}
    return Request(environ)


def _copy(response: Response) -> Response:
    """What the checking thread validates: the answer as sent, apart from the server's copy."""
    return Response(response.get_data(), status=response.status_code,
                    headers=list(response.headers.items()))


def _canned(fake: FakeGitHub, request: Request, response: Response) -> Response:
    """An injected REST answer: a 4xx must be shaped like GitHub's (a 5xx comes from GitHub's
    front end, often as HTML); each carries the rate-limit headers it does not set itself."""
    if response.status_code < 500:
        fake.check_later(openapi.response_violations, request, _copy(response))
    for name, value in github_api_user.rate_limit_headers(fake).items():
        response.headers.setdefault(name, value)
    return response


def _git(fake: FakeGitHub, request: Request, creds: Credentials) -> Response:
    """Smart HTTP for ``/{owner}/{repo}.git/...``, authenticated the way GitHub does."""
    match = _GIT_PATH.match(request.path)
    assert match is not None
    repo = fake.state.repo(f"{match['owner']}/{match['name']}")
    pushing = (request.args.get("service") == "git-receive-pack"
               or match["rest"].endswith("/git-receive-pack"))
    if repo is None:
        return Response("Repository not found.\n", status=404, mimetype="text/plain")
    token = fake.state.tokens.get(creds.secret or "") if creds.kind == "basic" else None
    reachable = token_is_live(token) and token is not None and can_reach(token, repo)
    if not reachable and (repo.private or pushing):
        return Response("Invalid username or token.\n", status=401, mimetype="text/plain",
                        headers={"WWW-Authenticate": 'Basic realm="GitHub"'})
    if pushing and not grants(token.permissions.get("contents") if token else None, "write"):
        # GitHub answers 403 here, which git reports without asking for other credentials.
        return Response("Write access to repository not granted.\n", status=403,
                        mimetype="text/plain")
    path_info = f"/{repo.full_name}.git{match['rest']}"
    return gitops.http_backend(request, fake.root / "git", path_info, "x-access-token")


def _oauth_access_token(fake: FakeGitHub, request: Request) -> Response:
    """``POST /login/oauth/access_token`` (web host, not in the REST description).

    Codes registered in ``fake.oauth_codes`` (code -> login) become ``ghu_`` tokens; anything
    else gets GitHub's 200-with-error answer.
    """
    code = request.form.get("code") or (request.get_json(silent=True) or {}).get("code")
    login = fake.oauth_codes.pop(code, None) if isinstance(code, str) else None
    if login is None:
        return json_response({"error": "bad_verification_code",
                              "error_description": "The code passed is incorrect or expired."})
    return json_response({"access_token": github_api_user.issue_user_token(fake, login),
                          "token_type": "bearer", "scope": ""})
