"""Check the fake GitHub's traffic against GitHub's own REST description.

The description is ``vendor/openapi/api.github.com.pruned.json`` (see
``scripts/vendor_openapi.py``). Every request under ``/api/v3`` and every response the fake
sends is validated with openapi-core; each mismatch becomes one human-readable string.

The fake GitHub runs these checks after answering (`elsewhere`), in a process of their own
shared by every fake of this process: the validation costs a few milliseconds of CPU a call,
which in the fake's own process would hold the interpreter that serves the other calls.
"""

from __future__ import annotations

import functools
import io
import json
import multiprocessing
import re
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import quote

from openapi_core import Config, OpenAPI
from openapi_core.contrib.werkzeug import (
    WerkzeugOpenAPIRequest,
    WerkzeugOpenAPIResponse,
)
from openapi_core.templating.responses.exceptions import ResponseNotFound
from werkzeug.wrappers import Request, Response

SPEC_PATH = Path(__file__).parent / "vendor" / "openapi" / "api.github.com.pruned.json"
API_PREFIX = "/api/v3"

# One server entry whose port is a template variable: every FakeGitHub in the process (each on
# its own free port) shares one OpenAPI object, built once, which is the slow part.
_SERVER = {
    "url": "http://127.0.0.1:{port}" + API_PREFIX,
    "variables": {"port": {"default": "80"}},
}

# openapi-core's validators are not documented as thread-safe and the fake serves threads.
_LOCK = threading.Lock()


@functools.cache
def spec_dict() -> dict[str, Any]:
    """The pruned description, as loaded from disk (servers untouched)."""
    return json.loads(SPEC_PATH.read_text())


def _admit_null_in_nullable_enums(node: Any) -> Any:
    """A copy of ``node`` where every ``nullable`` schema with an ``enum`` also lists null.

    GitHub sends null there (a check run's ``conclusion`` until it completes, which the
    description marks required and nullable); openapi-core follows the OpenAPI 3.0.3 reading
    that ``nullable`` does not widen an ``enum``, so without this it refuses GitHub's answer.
    """
    if isinstance(node, list):
        return [_admit_null_in_nullable_enums(item) for item in node]
    if not isinstance(node, dict):
        return node
    copy = {key: _admit_null_in_nullable_enums(value) for key, value in node.items()}
    if copy.get("nullable") is True and isinstance(copy.get("enum"), list) \
            and None not in copy["enum"]:
        copy["enum"] = [*copy["enum"], None]
    return copy


@functools.cache
def github_openapi() -> OpenAPI:
    """The process-wide OpenAPI object with ``servers`` pointing at the local fakes."""
    spec = _admit_null_in_nullable_enums(spec_dict())
    spec["servers"] = [_SERVER]
    # The spec is GitHub's and large; validating the spec itself would only cost time.
    return OpenAPI.from_dict(spec, config=Config(spec_validator_cls=None))


def _describe(error: BaseException) -> str:
    """A one-line account of an openapi-core error: its kind, then each schema error."""
    cause: BaseException | None = error
    while cause is not None:
        schema_errors: Iterable[Any] = getattr(cause, "schema_errors", ())
        details = [_schema_error_text(e) for e in schema_errors]
        if details:
            return f"{type(error).__name__}: " + "; ".join(details)
        cause = cause.__cause__
    return str(error)


def _schema_error_text(error: Any) -> str:
    """``at /a/b: message`` for a jsonschema error, truncated to stay readable."""
    where = "/".join(str(p) for p in getattr(error, "absolute_path", ()))
    message = getattr(error, "message", str(error))
    if len(message) > 300:
        message = message[:300] + "..."
    return f"at /{where}: {message}"


# Path parameters that may hold slashes on GitHub (file paths, branch names, git refs) but
# that openapi-core's path templates match one segment at a time.
_MULTI_SEGMENT = re.compile(
    r"^(.*/repos/[^/]+/[^/]+/(?:contents|branches|git/matching-refs|git/refs)/)(.+)$")


class _GitHubPathRequest(WerkzeugOpenAPIRequest):
    """A werkzeug request whose multi-segment parameters are folded into one segment."""

    @property
    def path(self) -> str:
        """The request path with slashes inside a file path, branch name or ref escaped."""
        path = super().path
        match = _MULTI_SEGMENT.match(path)
        return match[1] + quote(match[2], safe="") if match else path


def request_violations(request: Request) -> list[str]:
    """Mismatches between ``request`` and the description of its operation."""
    label = f"{request.method} {request.path}"
    with _LOCK:
        errors = list(github_openapi().iter_request_errors(_GitHubPathRequest(request)))
    return [f"{label}: request: {_describe(e)}" for e in errors]


def response_violations(request: Request, response: Response) -> list[str]:
    """Mismatches between ``response`` and the responses described for ``request``.

    A status the description does not list (GitHub documents 401 on almost nothing, yet sends
    it everywhere) is accepted if it is an error with GitHub's ``message`` body.
    """
    label = f"{request.method} {request.path} -> {response.status_code}"
    with _LOCK:
        errors = list(
            github_openapi().iter_response_errors(
                _GitHubPathRequest(request), WerkzeugOpenAPIResponse(response)
            )
        )
    found: list[str] = []
    for error in errors:
        if isinstance(error, ResponseNotFound) or isinstance(error.__cause__, ResponseNotFound):
            found.extend(_undocumented_status(label, response))
        else:
            found.append(f"{label}: response: {_describe(error)}")
    return found


def _undocumented_status(label: str, response: Response) -> Iterator[str]:
    """Violations for a status the operation does not describe."""
    if response.status_code < 400:
        yield f"{label}: response: status {response.status_code} is not described"
        return
    try:
        body = json.loads(response.get_data())
    except ValueError:
        body = None
    if not (isinstance(body, dict) and isinstance(body.get("message"), str)):
        yield f"{label}: response: error body lacks GitHub's 'message': {body!r}"


# -- in a process of their own -----------------------------------------------------------------

_CHECKS = ("request_violations", "response_violations")
_checker: ProcessPoolExecutor | None = None
_checker_lock = threading.Lock()


def elsewhere(check: Any, *args: Request | Response) -> list[str]:
    """`check(*args)`, one of this module's checks, run in the checking process (started at
    the first call, and built there once); anything else (a bench's stand-in) runs here."""
    if getattr(check, "__module__", None) != __name__ or check.__name__ not in _CHECKS:
        return check(*args)
    return _checking_process().submit(_remote, check.__name__,
                                      [_portable(arg) for arg in args]).result()


def _checking_process() -> ProcessPoolExecutor:
    global _checker  # one per process, started when first needed
    with _checker_lock:
        if _checker is None:
            # spawn: the fake's process serves threads, which a fork would copy mid-call.
            _checker = ProcessPoolExecutor(1, multiprocessing.get_context("spawn"),
                                           initializer=github_openapi)
        return _checker


def start_checking() -> None:
    """Start the checking process and wait until it has built its OpenAPI object (a bench
    does it before measuring)."""
    _checking_process().submit(_built).result()


def _built() -> None:
    github_openapi()


def checking_pids() -> list[int]:
    """The checking process, once started (for a bench's CPU figures)."""
    with _checker_lock:
        return list(_checker._processes) if _checker is not None else []


def _portable(thing: Request | Response) -> tuple[Any, ...]:
    """What a request or response is made of, in a form that pickles."""
    if isinstance(thing, Request):
        environ = {k: v for k, v in thing.environ.items() if isinstance(v, str)}
        return "request", environ, thing.get_data()
    return "response", thing.status_code, list(thing.headers.items()), thing.get_data()


def _rebuilt(parts: tuple[Any, ...]) -> Request | Response:
    if parts[0] == "request":
        _kind, environ, body = parts
        return Request({**environ, "wsgi.input": io.BytesIO(body),
                        "CONTENT_LENGTH": str(len(body))})
    _kind, status, headers, data = parts
    return Response(data, status=status, headers=headers)


def _remote(name: str, args: list[tuple[Any, ...]]) -> list[str]:
    return globals()[name](*[_rebuilt(arg) for arg in args])
