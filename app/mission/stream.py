"""A run's page, live: Server-Sent Events read from the run's event stream, capped so that
open pages never take the threads webhook intake needs.

`orca web` serves requests from a fixed set of threads per process (gunicorn's gthread), and
a stream holds one for as long as it is open. So each process follows at most
`ORCA_MAX_STREAMS` pages at once (`Slots`; `orca web` keeps it two under its threads, see
`streams_for`), each for at most `ORCA_STREAM_SECONDS`; a page turned away gets `503` and polls
every two seconds instead, and a page whose stream timed out reconnects (EventSource does it
by itself, sending the last id it saw as `Last-Event-ID`) to a free slot or to polling.

A stream reads Redis with XREAD and a short block (`BLOCK_MILLISECONDS`, 2 s), so each loop sees
whether the run ended, whether its time is up, and whether the page is still there (a write
to a closed tab fails); every loop sends the summary again, as a poll would.
https://html.spec.whatwg.org/multipage/server-sent-events.html
"""

from __future__ import annotations

import json
import re
import signal
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import redis
from flask import Response

from app.mission import data
from core import keys

# How long one XREAD waits for news: a stream's longest silence, its heartbeat. Well under
# the client's socket timeout (redis-py's default is 5 s), past which a block reads as a lost
# connection; and as often as a page would poll.
BLOCK_MILLISECONDS = 2000
# How long the browser waits before reconnecting a stream that ended (its time was up).
RETRY_MILLISECONDS = 2000
# Threads of each web process no stream may take: webhooks, pages and polls get them.
SPARE_THREADS = 2
# Where a web app keeps its Slots.
SLOTS = "orca.streams"
_STREAM_ID = re.compile(r"^(0|[0-9]{1,20}-[0-9]{1,20})$")

# What a stream sends each loop: the new events (rendered for this viewer) and whatever else
# the page shows, as JSON, and whether the run is still queued or running.
Render = Callable[[list[dict[str, Any]]], tuple[dict[str, Any], bool]]


class Slots:
    """How many streams this web process holds, at most `limit` at once."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held = 0
        self.closing = threading.Event()
        """Set when the process is told to stop: its streams end (`end_streams_on_signals`)."""
        self._lock = threading.Lock()

    def take(self) -> Callable[[], None] | None:
        """A slot, and the function that gives it back (once, however often it is called);
        None when all are taken."""
        with self._lock:
            if self.held >= self.limit:
                return None
            self.held += 1
        given_back = threading.Event()

        def give_back() -> None:
            with self._lock:
                if not given_back.is_set():
                    given_back.set()
                    self.held -= 1
        return give_back


def streams_for(threads: int, wanted: int) -> int:
    """Streams a web process of `threads` threads may hold: `wanted`, leaving SPARE_THREADS."""
    return max(0, min(wanted, threads - SPARE_THREADS))


def stream_id(*candidates: str | None) -> str:
    """The first candidate that is a stream id (`Last-Event-ID`, then `?after=`); "0" if none."""
    return next((c for c in candidates if c and _STREAM_ID.match(c)), "0")


def message(body: dict[str, Any], last: str) -> str:
    """One SSE message: its id (what the browser sends back as Last-Event-ID) and JSON data,
    on one line (JSON escapes the newlines inside strings)."""
    return f"id: {last}\ndata: {json.dumps(body)}\n\n"


def follow(connection: redis.Redis, run_id: str, after: str, seconds: float,
           render: Render, closing: threading.Event,
           clock: Callable[[], float] = time.monotonic) -> Iterator[str]:
    """The stream of a run's page: news after stream id `after` as it comes, until the run
    ends, `seconds` have passed or the process is `closing`."""
    yield f"retry: {RETRY_MILLISECONDS}\n\n"
    until = clock() + seconds
    key = keys.run_events(run_id)
    while (left := until - clock()) > 0 and not closing.is_set():
        block = max(1, int(min(left * 1000, BLOCK_MILLISECONDS)))
        found = connection.xread({key: after}, count=data.SHOWN_EVENTS, block=block) or []
        events = [data.event_of(entry_id, fields) for _key, entries in found
                  for entry_id, fields in entries]
        if events:
            after = events[-1]["id"]
        body, active = render(events)
        yield message(body, after)
        if not active:
            return


def answer(response_class: type[Response], news: Iterator[str],
           give_back: Callable[[], None]) -> Response:
    """The stream's response; its slot is given back when the server closes it (the run
    ended, the time is up, or the page went away and a write failed)."""
    try:
        response = response_class(news, mimetype="text/event-stream")
    except BaseException:
        give_back()
        raise
    response.call_on_close(give_back)
    response.headers["X-Accel-Buffering"] = "no"  # a proxy (nginx) passes each message on
    return response


def install(state: Any) -> None:
    """This process's slots, in `app.extensions[SLOTS]`, when mission control is registered."""
    app = state.app
    app.extensions[SLOTS] = Slots(app.extensions["orca"].settings.max_streams)


def end_streams_on_signals(app: Any) -> None:
    """Let a signal that stops this process end its streams too, within a block.

    gunicorn stops a worker on SIGTERM by waiting up to 30 s (its graceful timeout) for the
    requests it is serving, and on SIGINT or SIGQUIT by exiting, which waits for its threads:
    either way an open stream would hold it up to ORCA_STREAM_SECONDS. Called in each worker
    after gunicorn has set its own handlers (its `post_worker_init` hook); they still run.
    """
    closing = app.extensions[SLOTS].closing
    for number in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
        previous = signal.getsignal(number)

        def handler(signum: int, frame: Any, previous: Any = previous) -> None:
            closing.set()
            if callable(previous):
                previous(signum, frame)
        signal.signal(number, handler)
    # As gunicorn has it: SIGTERM interrupts no system call of a request being served.
    signal.siginterrupt(signal.SIGTERM, False)
