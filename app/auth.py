"""Signing in to mission control: with GitHub (the App's OAuth client) or an operator token.

Routes: `/auth/signin` (the choice), `/auth/login` → GitHub → `/auth/callback`, `/auth/admin`
(the operator token form) and `/auth/logout`. The session cookie is signed with
ORCA_SESSION_SECRET, or a key derived from GITHUB_WEBHOOK_SECRET when that is unset.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from datetime import timedelta
from urllib.parse import unquote, urlsplit

from flask import (
    Blueprint,
    current_app,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from app import github_oauth, pages, viewer
from core.metrics_store import count_github_response
from core.settings import Settings

log = logging.getLogger(__name__)
blueprint = Blueprint("auth", __name__, url_prefix="/auth")
# A `next` longer than this is no page of mission control (it rides in the session cookie).
MAX_NEXT = 512
blueprint.after_request(pages.secure_headers)


def session_key(settings: Settings) -> bytes:
    """The key that signs session cookies: the setting, or derived from the webhook secret
    (HMAC with a fixed label) so that one secret is enough to deploy, and the cookie key
    never equals the webhook key itself."""
    if settings.session_secret:
        return settings.session_secret.encode()
    return hmac.new(settings.github_webhook_secret.encode(), b"orca mission control session",
                    hashlib.sha256).digest()


@blueprint.record_once
def _configure(state) -> None:
    app = state.app
    app.secret_key = session_key(app.extensions["orca"].settings)
    app.config.update(SESSION_COOKIE_NAME="orca_session", SESSION_COOKIE_SAMESITE="Lax",
                      SESSION_COOKIE_HTTPONLY=True,
                      PERMANENT_SESSION_LIFETIME=timedelta(seconds=viewer.SESSION_SECONDS))


def _orca():
    return current_app.extensions["orca"]


def same_site_path(target: str | None) -> str | None:
    r"""`target` if it is a path on this site, else None.

    Only printable ASCII, no backslash (browsers read it as /), one leading slash, and neither
    a scheme nor a host once urllib has parsed it, before and after undoing %-escapes. Browsers
    drop tabs and newlines from a URL, so `/\t/evil.example` would reach evil.example; and a
    newline in a Location header is a server error."""
    if not target or len(target) > MAX_NEXT:
        return None
    for form in (target, unquote(target)):
        if any(not 0x20 < ord(c) < 0x7F or c == "\\" for c in form):
            return None
        if not form.startswith("/") or form.startswith("//"):
            return None
        try:
            parts = urlsplit(form)
        except ValueError:
            return None
        if parts.scheme or parts.netloc:
            return None
    return target


def safe_next(target: str | None) -> str:
    """Where to go after sign-in: a path on this site, or /runs."""
    return same_site_path(target) or url_for("mission.runs")


@blueprint.get("/signin")
def signin():
    settings = _orca().settings
    return render_template("signin.html", next=safe_next(request.args.get("next")),
                           github=bool(settings.github_client_id),
                           admin=bool(settings.admin_token), csrf=viewer.csrf_token())


@blueprint.get("/login")
def login():
    settings = _orca().settings
    if not settings.github_client_id:
        return _problem("Sign-in with GitHub is not configured (GITHUB_CLIENT_ID).", 404)
    state = secrets.token_urlsafe(24)
    session.update(oauth_state=state, oauth_next=safe_next(request.args.get("next")))
    return redirect(github_oauth.authorize_url(settings, _callback_url(), state))


def _callback_url() -> str:
    # Behind a proxy, gunicorn takes the scheme from X-Forwarded-Proto (trusted proxies only).
    return url_for("auth.callback", _external=True)


@blueprint.get("/callback")
def callback():
    expected = session.pop("oauth_state", None)
    state = request.args.get("state", "")
    if not expected or not hmac.compare_digest(expected, state):
        return _problem("This sign-in link is stale or was not started here; sign in again.", 400)
    if "code" not in request.args:
        return _problem(request.args.get("error_description", "GitHub did not sign you in."), 400)
    orca = _orca()
    observe = _observer(orca.redis)
    try:
        token = github_oauth.exchange_code(orca.settings, request.args["code"], _callback_url(),
                                           observe)
        access = github_oauth.fetch_access(orca.settings, token, observe)
    except github_oauth.SignInError as exc:
        log.warning("sign-in failed: %s", exc)
        return _problem(f"Sign-in failed: {exc}", 502)
    target = session.pop("oauth_next", None)
    viewer.sign_in(orca.redis, access.login, access.readable, access.writable)
    log.info("%s signed in to mission control (%d repositories)", access.login,
             len(access.readable))
    return redirect(safe_next(target))


def _observer(connection):
    """Counts each of GitHub's answers for /metrics, like the workers' calls."""
    return lambda answer: count_github_response(connection, answer.status_code, answer.headers)


@blueprint.post("/admin")
def admin():
    settings = _orca().settings
    if not viewer.csrf_ok(request.form.get("csrf_token")):
        return _problem("The form was stale; reload the page and try again.", 400)
    sent = request.form.get("token", "")
    if not settings.admin_token or not hmac.compare_digest(sent.encode(),
                                                           settings.admin_token.encode()):
        log.warning("mission control: a wrong operator token was given")
        return _problem("That is not the operator token.", 403)
    target = request.form.get("next")
    viewer.sign_in_admin()
    return redirect(safe_next(target), code=303)


@blueprint.post("/logout")
def logout():
    if not viewer.csrf_ok(request.form.get("csrf_token")):
        return _problem("The form was stale; reload the page and try again.", 400)
    viewer.sign_out(_orca().redis)
    return redirect(url_for("auth.signin"), code=303)


def _problem(message: str, status: int):
    return render_template("message.html", message=message), status
