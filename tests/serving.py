"""Serving a test HTTP server from a daemon thread, and stopping it cleanly.

The fakes, Orca's own app in the end-to-end tests and the small receivers some tests
start all serve this way.
"""

from __future__ import annotations

import threading
from typing import Any

# shutdown() waits up to one poll interval; the default 0.5 s adds up over hundreds of tests.
POLL_SECONDS = 0.02


class Background:
    """`server.serve_forever()` on a daemon thread; `stop()` shuts it down and frees the port."""

    def __init__(self, server: Any, name: str) -> None:
        self.server = server
        self.thread = threading.Thread(target=server.serve_forever, name=name, daemon=True,
                                       kwargs={"poll_interval": POLL_SECONDS})
        self.thread.start()

    @property
    def url(self) -> str:
        """`http://127.0.0.1:<port>`."""
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)
