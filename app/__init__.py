"""Orca's web application: webhook intake, health, mission control and /metrics."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import redis
from flask import Flask, jsonify

from core.connection import connect
from core.settings import Settings, load_settings

# GitHub caps webhook payloads at 25 MB: anything larger is not from GitHub.
# https://docs.github.com/en/webhooks/webhook-events-and-payloads#payload-cap
MAX_PAYLOAD_BYTES = 25 * 1024 * 1024


@dataclass
class Orca:
    """What the views need, kept in `app.extensions["orca"]`."""

    settings: Settings
    redis: redis.Redis
    clock: Callable[[], float] = time.time
    """Unix seconds now: how old a delivery's trigger is (core/replay.py)."""


def create_app(settings: Settings | None = None, connection: redis.Redis | None = None,
               clock: Callable[[], float] = time.time) -> Flask:
    """The Flask application. No I/O happens here: Redis is contacted per request."""
    settings = settings or load_settings()
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_PAYLOAD_BYTES
    app.extensions["orca"] = Orca(settings, connection or connect(settings.redis_url), clock)

    from app import auth, metrics, mission
    from app.sessions import OrcaSessions
    from app.webhooks import blueprint as webhooks

    app.session_interface = OrcaSessions()

    app.register_blueprint(webhooks)
    for blueprint in (auth.blueprint, mission.blueprint, metrics.blueprint):
        app.register_blueprint(blueprint)  # mission control (and `/`), its sign-in, /metrics

    @app.get("/healthz")
    def healthz():
        try:
            app.extensions["orca"].redis.ping()
        except redis.RedisError:
            return jsonify(ok=False, redis="unreachable"), 503
        return jsonify(ok=True, redis="ok")

    @app.errorhandler(413)
    def too_large(_error):
        return jsonify(error=f"payload over {MAX_PAYLOAD_BYTES} bytes"), 413

    @app.errorhandler(404)
    def not_found(_error):
        return jsonify(error="not found"), 404

    @app.errorhandler(405)
    def not_allowed(_error):
        return jsonify(error="method not allowed"), 405

    return app
