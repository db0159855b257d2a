"""The bench's baseline: a Flask app that reads the body and answers 202, under gunicorn with
the settings `orca web` uses (app/cli.py: gthread workers, threads, access log on stdout).

Whatever Orca's intake costs on top of this (signature, JSON, decision, Redis) is Orca's.

    python bench/_bare_web.py --port 8001 --workers 2 --threads 8
"""

from __future__ import annotations

import argparse

from flask import Flask, request
from gunicorn.app.base import BaseApplication


def bare_app() -> Flask:
    app = Flask(__name__)

    @app.post("/webhooks")
    def receive():
        request.get_data(cache=False)  # Orca reads every byte to verify it; so does this
        return {"ok": True}, 202

    @app.get("/healthz")
    def healthz():
        return {"ok": True}

    return app


class Server(BaseApplication):
    """The same gunicorn configuration as `orca web` (keep in step with app/cli.py)."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        super().__init__()

    def load_config(self) -> None:
        self.cfg.set("bind", f"{self.args.host}:{self.args.port}")
        self.cfg.set("workers", self.args.workers)
        self.cfg.set("worker_class", "gthread")
        self.cfg.set("threads", self.args.threads)
        self.cfg.set("accesslog", "-")

    def load(self) -> Flask:
        return bare_app()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    Server(parser.parse_args()).run()


if __name__ == "__main__":
    main()
