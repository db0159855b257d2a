"""Counting every GitHub API call a process makes through PyGithub, for /metrics.

PyGithub has no response hook, but it logs each response it returns (verb, URL, status and
headers) at DEBUG on the `github.Requester` logger, with the parts as the record's
arguments. A filter there counts each such record into Redis (`core.metrics_store`) and then
lets through exactly what the logger would have let through before: the logger is set to
DEBUG only so PyGithub produces the records. The answers GitHub's retry policy handles
itself (403s, 5xx) never reach that log, so `CountingRetry` counts those.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import redis
import requests
from github.GithubRetry import GithubRetry

from core.metrics_store import count_github_response

REQUESTER_LOGGER = "github.Requester"
# PyGithub's Requester.__log: (verb, scheme, host, url, request headers, input, status,
# response headers, output).
_ARGS = 9
_STATUS, _HEADERS = 6, 7


class _CountCalls(logging.Filter):
    """Counts response records; passes the records a default-level logger would show."""

    def __init__(self) -> None:
        super().__init__()
        self.redis_url: str | None = None
        self.connection: redis.Redis | None = None

    def count(self, status: int, headers: Mapping[str, Any]) -> None:
        if self.connection is not None:
            count_github_response(self.connection, status, headers)

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == _ARGS:
            status, headers = args[_STATUS], args[_HEADERS]
            if isinstance(status, int) and isinstance(headers, dict):
                self.count(status, headers)
        return record.levelno >= logging.getLogger("github").getEffectiveLevel()


_FILTER = _CountCalls()


# With GitHub unreachable, urllib3's default (ten retries, none of them waiting) fails a run
# in a blink after ten log lines. Three connection retries, waiting 0, 1 and 2 s
# (backoff_factor * 2**(n-1) from the second, urllib3.util.Retry.get_backoff_time), ride out
# a blip; GitHub's 5xx answers back off the same way, up to BACKOFF_MAX between tries.
CONNECT_RETRIES = 3
BACKOFF_FACTOR = 0.5
BACKOFF_MAX = 30


class CountingRetry(GithubRetry):
    """GitHub's retry policy, backing off, and counting each answer it takes in hand.

    An answer that reaches `increment` is either retried (a new request follows) or turned
    into an exception: PyGithub never logs it, so it is counted here and only here.
    """

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("connect", CONNECT_RETRIES)
        kwargs.setdefault("backoff_factor", BACKOFF_FACTOR)
        kwargs.setdefault("backoff_max", BACKOFF_MAX)
        super().__init__(**kwargs)

    def increment(self, method: Any = None, url: Any = None, response: Any = None,
                  error: Any = None, _pool: Any = None, _stacktrace: Any = None) -> Any:
        if response is not None:
            _FILTER.count(response.status, dict(response.headers))
        return super().increment(method, url, response, error, _pool, _stacktrace)


def out_of_reach(exc: BaseException) -> bool:
    """Whether `exc` says GitHub could not be reached (after CountingRetry's tries): PyGithub
    talks to GitHub through requests, whose connection errors and timeouts these are."""
    return isinstance(exc, requests.ConnectionError | requests.Timeout)


def count_github_calls(redis_url: str) -> None:
    """Count this process's PyGithub calls into the Redis at `redis_url` (idempotent)."""
    logger = logging.getLogger(REQUESTER_LOGGER)
    if _FILTER.redis_url != redis_url:  # one client per process, not one per run
        _FILTER.redis_url, _FILTER.connection = redis_url, redis.Redis.from_url(redis_url)
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)
    logger.setLevel(logging.DEBUG)
