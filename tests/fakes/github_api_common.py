"""What every REST handler of the fake shares: errors, JSON, and access checks."""

from __future__ import annotations

import json
from urllib.parse import urlencode
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from werkzeug.wrappers import Request, Response

from tests.fakes.github_auth import Credentials, jwt_error, token_is_live
from tests.fakes.github_objects import Site
from tests.fakes.github_state import Repo, State, Token, User, grants

if TYPE_CHECKING:
    from tests.fakes.github import FakeGitHub

DOCS = "https://docs.github.com/rest"
JSON_TYPE = "application/json; charset=utf-8"


class ApiError(Exception):
    """An error answer in GitHub's shape: ``{"message", "documentation_url", ["errors"]}``."""

    def __init__(self, status: int, message: str, errors: list[dict[str, Any]] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.errors, self.headers = status, message, errors, headers

    def response(self) -> Response:
        """The HTTP answer for this error."""
        body: dict[str, Any] = {"message": self.message, "documentation_url": DOCS,
                                "status": str(self.status)}
        if self.errors is not None:
            body["errors"] = self.errors
        return json_response(body, self.status, self.headers)


def not_found() -> ApiError:
    """GitHub's 404, also used to hide what a caller may not see."""
    return ApiError(404, "Not Found")


def forbidden() -> ApiError:
    """What GitHub answers an installation lacking a permission."""
    return ApiError(403, "Resource not accessible by integration")


def validation_failed(message: str, field: str = "", code: str = "custom") -> ApiError:
    """GitHub's 422 with one ``errors`` entry."""
    return ApiError(422, "Validation Failed",
                    [{"resource": "Issue", "field": field, "code": code, "message": message}])


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON answer with GitHub's content type."""
    return Response(json.dumps(body), status=status, headers=headers, content_type=JSON_TYPE)


@dataclass
class Ctx:
    """One REST request as a handler sees it."""

    fake: FakeGitHub
    request: Request
    creds: Credentials

    @property
    def state(self) -> State:
        """The fake's world."""
        return self.fake.state

    @property
    def site(self) -> Site:
        """Where URLs in answers point."""
        return self.fake.site

    def body(self) -> dict[str, Any]:
        """The JSON object sent with the request; 400 if it is not one."""
        raw = self.request.get_data(cache=True)
        if not raw:
            return {}
        try:
            data = json.loads(raw)
        except ValueError:
            raise ApiError(400, "Problems parsing JSON") from None
        if not isinstance(data, dict):
            raise ApiError(400, "Problems parsing JSON")
        return data

    def require_jwt(self) -> None:
        """Refuse anything but a valid App JWT (the /app endpoints)."""
        if self.creds.kind != "jwt" or self.creds.secret is None:
            raise ApiError(401, "A JSON web token could not be decoded")
        problem = jwt_error(self.creds.secret, self.fake.app_id)
        if problem:
            raise ApiError(401, problem)

    def token(self) -> Token | None:
        """The live installation token presented, None if none; 401 if it is bad or expired."""
        if self.creds.kind == "none":
            return None
        if self.creds.kind == "jwt":
            # An App JWT cannot act on repositories; GitHub answers 401 for a bad one too.
            self.require_jwt()
            raise forbidden()
        token = self.state.tokens.get(self.creds.secret or "")
        if not token_is_live(token):
            raise ApiError(401, "Bad credentials")
        return token

    def authenticate_any(self) -> None:
        """Accept an App JWT, an installation token or nobody; refuse bad credentials (401)."""
        if self.creds.kind == "jwt":
            self.require_jwt()
        else:
            self.token()

    def actor(self) -> User:
        """Who a write is attributed to: the App's bot user."""
        token = self.token()
        if token is None:
            raise ApiError(401, "Requires authentication")
        return self.state.user(self.fake.bot_login, "Bot")

    def repo(self, owner: str, name: str, permission: str = "metadata",
             level: str = "read") -> Repo:
        """The repository, after checking the caller may use ``permission`` at ``level``."""
        repo = self.state.repo(f"{owner}/{name}")
        token = self.token()
        if repo is None:
            raise not_found()
        if token is None:
            if repo.private or level != "read":
                raise not_found() if repo.private else ApiError(401, "Requires authentication")
            return repo
        if not can_reach(token, repo):
            raise not_found()
        if not grants(token.permissions.get(permission), level):
            raise forbidden()
        return repo


def can_reach(token: Token, repo: Repo) -> bool:
    """Whether ``token``'s installation and repository scope include ``repo``."""
    if repo.installation_id != token.installation_id:
        return False
    return token.repository_ids is None or repo.id in token.repository_ids


Handler = Callable[..., Response]
Route = tuple[str, str, Handler]  # (method, werkzeug rule under /api/v3, handler)


def paginate(ctx: Ctx, items: list[Any]) -> Response:
    """One page of ``items`` per ``page``/``per_page``, with GitHub's ``Link`` header."""
    try:
        page = max(1, int(ctx.request.args.get("page", 1)))
        per_page = min(100, max(1, int(ctx.request.args.get("per_page", 30))))
    except ValueError:
        raise ApiError(400, "Invalid pagination parameters") from None
    chunk = items[(page - 1) * per_page: page * per_page]
    headers = {}
    if page * per_page < len(items):
        args = dict(ctx.request.args, page=str(page + 1), per_page=str(per_page))
        url = f"{ctx.site.web}{ctx.request.path}?{urlencode(args)}"
        headers["Link"] = f'<{url}>; rel="next"'
    return json_response(chunk, headers=headers)


def paginate_wrapped(ctx: Ctx, key: str, items: list[Any]) -> Response:
    """One page of ``items`` as ``{"total_count": N, key: [...]}``, the shape of GitHub's
    check-run, check-suite, workflow-run and job lists, with the ``Link`` header."""
    page = paginate(ctx, items)
    body = {"total_count": len(items), key: json.loads(page.get_data())}
    link = page.headers.get("Link")
    return json_response(body, headers={"Link": link} if link else None)
