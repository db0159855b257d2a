"""Serving `orca setup` from the terminal: no Orca settings needed, stops once registered."""

from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path

from werkzeug.serving import make_server

from app.setup import Written, create_setup_app
from app.setup.manifest import ManifestError, load_manifest
from core.settings import GitHubEndpoint


def run(args: argparse.Namespace) -> int:
    """Serve the setup page until an App is registered or Ctrl-C; returns the exit code."""
    env = GitHubEndpoint()
    out_dir = Path.cwd()
    try:
        manifest = load_manifest(args.manifest) if args.manifest else load_manifest()
    except ManifestError as exc:
        print(f"orca setup: {exc}", file=sys.stderr)
        return 2
    finished: list[Written] = []
    server = None

    def done(written: Written) -> None:
        finished.append(written)
        print(f"orca setup: registered {written.registration.name} "
              f"(App id {written.registration.app_id}); wrote {written.env_path} and "
              f"{written.key_path}", flush=True)
        print(f"orca setup: now install it: {written.registration.install_url}", flush=True)
        # shutdown() waits for serve_forever() to return, so not from this request's thread.
        threading.Thread(target=server.shutdown, daemon=True).start()

    app = create_setup_app(env.github_url, out_dir, org=args.org, webhook_url=args.webhook_url,
                           api_url=env.api_url,
                           manifest=manifest, on_done=done)
    server = make_server(args.host, args.port, app, threaded=True)
    print(f"orca setup: open http://{args.host}:{server.server_port}/ and click "
          f"\"Register the GitHub App\" (GitHub: {env.github_url})", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0 if finished else 1
