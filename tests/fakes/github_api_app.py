"""REST handlers of the fake for the App itself: installations, tokens, deliveries, users."""

from __future__ import annotations

import time
from typing import Any

from werkzeug.wrappers import Response

from tests.fakes import github_api_user
from tests.fakes import github_objects as objects
from tests.fakes.github_api_common import (
    ApiError, Ctx, Route, json_response, not_found, paginate, validation_failed,
)
from tests.fakes.github_auth import new_token_string, private_key_pem, token_expiry
from tests.fakes.github_objects_threads import rate_limit
from tests.fakes.github_state import Installation, Repo, Token, grants, iso


def _installation_json(ctx: Ctx, inst: Installation) -> dict[str, Any]:
    """An installation as the App sees it."""
    fake = ctx.fake
    return objects.installation(ctx.site, inst, fake.app_id, fake.app_slug, fake.app_events)


def get_app(ctx: Ctx) -> Response:
    """``GET /app``."""
    ctx.require_jwt()
    return json_response(ctx.fake.app_json())


def list_installations(ctx: Ctx) -> Response:
    """``GET /app/installations``."""
    ctx.require_jwt()
    items = [_installation_json(ctx, i) for i in ctx.state.installations.values()]
    for item in items:
        # This operation's inline schema says the account is a user *and* an enterprise
        # (allOf), so it must also carry the enterprise's required keys.
        account = item["account"]
        account.update(name=account["login"], slug=account["login"],
                       created_at=item["created_at"], updated_at=item["updated_at"])
    return paginate(ctx, items)


def get_installation(ctx: Ctx, installation_id: int) -> Response:
    """``GET /app/installations/{installation_id}``."""
    ctx.require_jwt()
    inst = ctx.state.installations.get(installation_id)
    if inst is None:
        raise not_found()
    return json_response(_installation_json(ctx, inst))


def get_repo_installation(ctx: Ctx, owner: str, repo: str) -> Response:
    """``GET /repos/{owner}/{repo}/installation``."""
    ctx.require_jwt()
    found = ctx.state.repo(f"{owner}/{repo}")
    if found is None or found.installation_id is None:
        raise not_found()
    return json_response(_installation_json(ctx, ctx.state.installations[found.installation_id]))


def create_access_token(ctx: Ctx, installation_id: int) -> Response:
    """``POST /app/installations/{id}/access_tokens``: mint a (possibly scoped) token."""
    ctx.require_jwt()
    inst = ctx.state.installations.get(installation_id)
    if inst is None:
        raise not_found()
    body = ctx.body()
    repos = _scoped_repos(ctx, inst, body)
    permissions = body.get("permissions") or dict(inst.permissions)
    if not isinstance(permissions, dict):
        raise validation_failed("permissions must be an object", "permissions", "invalid")
    for name, level in permissions.items():
        if not grants(inst.permissions.get(name), level):
            raise validation_failed("The permissions requested are not granted to this "
                                    "installation.", "permissions")
    # GitHub grants metadata:read with any repository permission, asked for or not.
    permissions = {"metadata": "read", **permissions}
    token = Token(new_token_string(), inst.id, dict(permissions), token_expiry(),
                  None if repos is None else {r.id for r in repos}, body or None)
    with ctx.state.lock:
        ctx.state.tokens[token.token] = token
        ctx.fake.token_requests.append(body)
    return json_response(objects.installation_token(ctx.site, token, repos), 201)


def _scoped_repos(ctx: Ctx, inst: Installation, body: dict[str, Any]) -> list[Repo] | None:
    """The repositories a token request names (by id or name), or None for all of them."""
    ids, names = body.get("repository_ids"), body.get("repositories")
    if ids is None and names is None:
        return None
    if not all(isinstance(v, (list, type(None))) for v in (ids, names)) or not all(
            isinstance(item, (int, str)) for item in (ids or []) + (names or [])):
        raise validation_failed("repository_ids and repositories must be arrays", "repositories")
    reachable = ctx.state.installation_repos(inst.id)
    wanted = [r for r in reachable if r.id in (ids or []) or r.name in (names or [])]
    if len(wanted) != len(set(ids or [])) + len(set(names or [])):
        raise validation_failed("There is at least one repository that does not exist or is "
                                "not accessible to the parent installation.", "repositories")
    return wanted


def list_deliveries(ctx: Ctx) -> Response:
    """``GET /app/hook/deliveries``, newest first."""
    ctx.require_jwt()
    items = sorted(ctx.state.deliveries.values(), key=lambda d: d.id, reverse=True)
    return json_response([_delivery_json(d) for d in items])


def _delivery_json(delivery: Any, full: bool = False) -> dict[str, Any]:
    """A ``hook-delivery-item`` (or ``hook-delivery`` when ``full``)."""
    body = {
        "id": delivery.id, "guid": delivery.guid, "delivered_at": iso(delivery.delivered_at),
        "redelivery": delivery.redelivery, "duration": 0.1,
        "status": "OK" if delivery.status_code < 400 else "failed",
        "status_code": delivery.status_code, "event": delivery.event, "action": delivery.action,
        "installation_id": delivery.installation_id, "repository_id": delivery.repository_id,
    }
    if full:
        body["request"] = {"headers": {"X-GitHub-Event": delivery.event},
                           "payload": delivery.payload}
        body["response"] = {"headers": {}, "payload": ""}
    return body


def get_delivery(ctx: Ctx, delivery_id: int) -> Response:
    """``GET /app/hook/deliveries/{delivery_id}``."""
    ctx.require_jwt()
    delivery = ctx.state.deliveries.get(delivery_id)
    if delivery is None:
        raise not_found()
    return json_response(_delivery_json(delivery, full=True))


def redeliver(ctx: Ctx, delivery_id: int) -> Response:
    """``POST /app/hook/deliveries/{delivery_id}/attempts``: recorded, and re-sent to
    ``fake.webhook_url`` in the background when a test has set it (GitHub answers 202 and
    redelivers later)."""
    ctx.require_jwt()
    if delivery_id not in ctx.state.deliveries:
        raise not_found()
    ctx.state.redelivery_requests.append(delivery_id)
    ctx.fake.send_again(ctx.state.deliveries[delivery_id])
    return json_response({}, 202)


def manifest_conversion(ctx: Ctx, code: str) -> Response:
    """``POST /app-manifests/{code}/conversions``: the App's credentials, once per code."""
    if code not in ctx.state.manifest_codes:
        raise not_found()
    ctx.state.manifest_codes.discard(code)
    body = {**ctx.fake.app_json(), "client_id": f"Iv1.{ctx.fake.app_id}",
            "client_secret": "fake-client-secret", "pem": private_key_pem(),
            "webhook_secret": ctx.fake.webhook_secret}
    return json_response(body, 201)


def get_user(ctx: Ctx, username: str) -> Response:
    """``GET /users/{username}``."""
    ctx.authenticate_any()
    user = ctx.state.users.get(username)
    if user is None:
        raise not_found()
    return json_response(objects.public_user(ctx.site, user))


def get_authenticated_user(ctx: Ctx) -> Response:
    """``GET /user``: the person behind a user token; an installation is not a user."""
    person = github_api_user.person(ctx)
    if person is not None:
        return json_response(objects.public_user(ctx.site, person))
    if ctx.token() is None:
        raise ApiError(401, "Requires authentication")
    raise ApiError(403, "Resource not accessible by integration")


def get_rate_limit(ctx: Ctx) -> Response:
    """``GET /rate_limit``."""
    ctx.authenticate_any()
    return json_response(rate_limit(int(time.time()) + 3600))


ROUTES: list[Route] = [
    ("GET", "/app", get_app),
    ("GET", "/app/installations", list_installations),
    ("GET", "/app/installations/<int:installation_id>", get_installation),
    ("POST", "/app/installations/<int:installation_id>/access_tokens", create_access_token),
    ("GET", "/repos/<owner>/<repo>/installation", get_repo_installation),
    ("GET", "/app/hook/deliveries", list_deliveries),
    ("GET", "/app/hook/deliveries/<int:delivery_id>", get_delivery),
    ("POST", "/app/hook/deliveries/<int:delivery_id>/attempts", redeliver),
    ("POST", "/app-manifests/<code>/conversions", manifest_conversion),
    ("GET", "/users/<username>", get_user),
    ("GET", "/user", get_authenticated_user),
    ("GET", "/rate_limit", get_rate_limit),
]
