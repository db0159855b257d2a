"""Mission control's session cookie: none for webhook deliveries, `Secure` over https."""

from __future__ import annotations

from flask import Flask, Request, request
from flask.sessions import SecureCookieSessionInterface, SessionMixin

from app.webhooks import WEBHOOKS_PATH


class OrcaSessions(SecureCookieSessionInterface):
    """Flask's signed cookie sessions, with two differences.

    GitHub's deliveries carry no cookie and need no session, whose signing serializer costs
    some 50 µs a request (bench/intake.py). And the cookie is `Secure` when the request came
    over https: the same `request.scheme` that makes the OAuth callback URL `https://`, which
    gunicorn takes from `X-Forwarded-Proto` when the proxy is trusted (FORWARDED_ALLOW_IPS).
    Over plain http (a local trial) the browser must be able to send it back.
    """

    def open_session(self, app: Flask, request: Request) -> SessionMixin | None:
        if request.path == WEBHOOKS_PATH:  # the URL is matched only after this
            return self.null_session_class()
        return super().open_session(app, request)

    def get_cookie_secure(self, app: Flask) -> bool:
        return super().get_cookie_secure(app) or request.is_secure
