"""Real GitHub webhook payloads for tests, re-pointed at a fake GitHub and delivered signed.

The payloads start from ``@octokit/webhooks-examples`` (vendored under
``tests/fixtures/webhooks/``, see its README) and are checked against the vendored
``@octokit/webhooks-schemas`` JSON Schema, so a handler under test sees what GitHub sends.

The examples predate the schema; :func:`fill_required` adds the keys GitHub has since made
required, with the values GitHub sends for a plain, unreacted, unlocked object:

* repository (top level and ``pull_request.base/head.repo``): ``is_template`` false,
  ``web_commit_signoff_required`` false, ``topics`` [], ``visibility`` "public"/"private"
  (from ``private``), ``custom_properties`` {};
* issue: ``active_lock_reason`` null, ``reactions`` all zero; each label: ``description`` null;
* issue comment: ``performed_via_github_app`` null, ``reactions`` all zero;
* pull request: ``draft`` false, ``auto_merge`` null, ``active_lock_reason`` null;
* review comment: single-line comment on the new side (``line``/``original_line`` from
  ``position``, ``side`` "RIGHT", ``start_line``/``original_start_line``/``start_side`` null),
  ``reactions`` all zero;
* full installation: ``suspended_at``/``suspended_by`` null;
  installation_repositories: ``requester`` null;
* ping hook: ``deliveries_url`` (``<hook url>/deliveries``).

:func:`build` also dates the trigger now, as GitHub does a delivery it sends now: the field
Orca dates a delivery by (``core.replay.TRIGGER_TIMES``, e.g. a comment's ``created_at``) is
set to the current second, unless the caller gives it. The examples are from 2019, and Orca
refuses deliveries older than ``ORCA_REPLAY_WINDOW``; ``fresh=False`` keeps their own dates.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import time
import uuid
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib import error, request

import jsonschema

from core.replay import TRIGGER_TIMES
from tests import payload_parts as parts

FIXTURES = Path(__file__).parent / "fixtures" / "webhooks"

# Fixed identities for the delivery headers; any stable values do. GitHub's User-Agent ends
# in a short hex build id, e.g. "GitHub-Hookshot/044aadd".
DEFAULT_APP_ID = 1_000_001
DEFAULT_HOOK_ID = 448_593_723
HOOKSHOT_AGENT = "GitHub-Hookshot/044aadd"

# Events whose payload carries the full installation object instead of {"id", "node_id"}.
FULL_INSTALLATION_EVENTS = frozenset({"installation", "installation_repositories"})
# Events whose schema has no installation key: GitHub pings the App hook, not an installation.
NO_INSTALLATION_EVENTS = frozenset({"ping"})
# Upstream has no example for these: start from a sibling action, then make it true.
SYNTHESISED = {("issues", "closed"): "reopened",
               # No published example: an opened pull request, now out of draft.
               ("pull_request", "ready_for_review"): "opened"}


@lru_cache(maxsize=None)
def _examples(event: str) -> tuple[dict[str, Any], ...]:
    path = FIXTURES / "examples" / f"{event}.json"
    if not path.exists():
        raise KeyError(f"no vendored examples for event {event!r}")
    return tuple(json.loads(path.read_text()))


def vendored_events() -> list[str]:
    """The events with vendored examples."""
    return sorted(p.stem for p in (FIXTURES / "examples").glob("*.json"))


def examples_for(event: str, action: str | None = None) -> list[dict[str, Any]]:
    """Deep copies of every vendored example of event (of one action, when given)."""
    return [copy.deepcopy(e) for e in _examples(event) if action is None or e.get("action") == action]


def load_example(event: str, action: str | None = None, index: int = 0) -> dict[str, Any]:
    """A deep copy of the index-th vendored example of event (and action, when given)."""
    found = examples_for(event, action)
    if not found:
        raise KeyError(f"no vendored example for {event}.{action}")
    return found[index]


@lru_cache(maxsize=None)
def _schema() -> dict[str, Any]:
    return json.loads((FIXTURES / "schema.json").read_text())


@lru_cache(maxsize=None)
def _validator(definition: str) -> jsonschema.Draft7Validator:
    definitions = _schema()["definitions"]
    if definition not in definitions:
        raise KeyError(f"no vendored schema for {definition}")
    schema = {"$ref": f"#/definitions/{definition}", "definitions": definitions}
    return jsonschema.Draft7Validator(schema)


def validate(event: str, payload: dict[str, Any]) -> list[str]:
    """Errors from validating payload against the schema of its event and action ([] = valid)."""
    definition = f"{event}${payload.get('action') or 'event'}"
    try:
        validator = _validator(definition)
    except KeyError as exc:
        return [str(exc.args[0])]
    errors = sorted(validator.iter_errors(payload), key=lambda e: list(map(str, e.absolute_path)))
    return [f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message[:300]}" for e in errors]


def fill_required(payload: dict[str, Any]) -> dict[str, Any]:
    """Add the keys the schema requires and the older examples lack (see module doc); in place."""
    for repo in parts.repositories_in(payload):
        parts.fill_repository(repo)
    if isinstance(payload.get("issue"), dict):
        parts.fill_issue(payload["issue"])
    if isinstance(payload.get("pull_request"), dict):
        parts.fill_pull_request(payload["pull_request"])
    comment = payload.get("comment")
    if isinstance(comment, dict):
        parts.fill_comment(comment, review="pull_request_review_id" in comment)
    if isinstance(payload.get("label"), dict):
        payload["label"].setdefault("description", None)
    if isinstance(payload.get("installation"), dict) and "account" in payload["installation"]:
        payload["installation"].setdefault("suspended_at", None)
        payload["installation"].setdefault("suspended_by", None)
    if "repositories_added" in payload:
        payload.setdefault("requester", None)
    if isinstance(payload.get("hook"), dict) and "url" in payload["hook"]:
        payload["hook"].setdefault("deliveries_url", payload["hook"]["url"] + "/deliveries")
    return payload


def _start(event: str, action: str | None, index: int) -> dict[str, Any]:
    """The example to build from; synthesises actions upstream has no example of."""
    sibling = SYNTHESISED.get((event, action))
    if sibling is None:
        return load_example(event, action, index)
    payload = load_example(event, sibling, index)
    payload["action"] = action
    if (event, action) == ("issues", "closed"):
        payload["issue"].update(state="closed", closed_at=payload["issue"]["updated_at"])
    if (event, action) == ("pull_request", "ready_for_review"):
        payload["pull_request"]["draft"] = False
    return payload


def build(
    event: str,
    action: str | None = None,
    *,
    base_url: str,
    installation_id: int,
    repo: dict[str, Any] | None = None,
    sender_login: str = "octocat",
    sender_type: str = "User",
    sender_id: int | None = None,
    issue: dict[str, Any] | None = None,
    label: str | None = None,
    comment: dict[str, Any] | None = None,
    review: dict[str, Any] | None = None,
    index: int = 0,
    fresh: bool = True,
    **overrides: Any,
) -> dict[str, Any]:
    """A schema-valid delivery of event.action re-pointed at the fake GitHub at base_url.

    repo: {"full_name"} or {"owner", "name"}, optional "id", "default_branch" ("main"),
    "private", "owner_type"/"owner_id". issue: "number", "title", "body", "labels" (names),
    "state", "user" (login or dict), "pull_request" (bool: an issue that is a PR), and for
    pull_request payloads "head"/"base" (branch) and "head_sha". comment/review: "id", "body",
    "user", plus any field to copy as is (e.g. "path", "line", "state"). label: a label name.
    overrides: top-level keys set last (e.g. changes=...). Every URL ends up on base_url.
    fresh: date the trigger now (see the module doc); False keeps the example's date.
    """
    web = base_url.rstrip("/")
    payload = fill_required(_start(event, action, index))
    if fresh:
        date_trigger(event, payload, time.time())
    spec = parts.RepoSpec.parse(repo) if repo is not None else None
    if spec is not None:
        parts.retarget_repository(payload, spec, web)
    full_name = (payload.get("repository") or {}).get("full_name", "")
    if issue is not None:
        parts.apply_issue(payload, issue, web, full_name)
    if label is not None:
        parts.apply_label(payload, label, web, full_name)
    if comment is not None:
        parts.apply_comment(payload, comment, web)
    if review is not None:
        parts.apply_review(payload, review, web)
    payload["sender"] = parts.user(web, sender_login, sender_id, sender_type)
    _set_installation(payload, event, installation_id, spec, web)
    payload.update(overrides)
    return parts.repoint(payload, web)


def stamp(moment: float) -> str:
    """GitHub's timestamp format, to the second: ``2019-05-15T15:20:18Z``."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(moment))


def date_trigger(event: str, payload: dict[str, Any], moment: float) -> None:
    """Set the field the trigger is dated by to `moment`, in the type the example uses
    (installation times are Unix seconds in some examples); in place."""
    path = TRIGGER_TIMES.get((event, payload.get("action") or ""))
    if path is None:
        return
    *parents, key = path.split(".")
    holder = payload
    for name in parents:
        holder = holder[name]
    holder[key] = int(moment) if isinstance(holder.get(key), int) else stamp(moment)


def _set_installation(
    payload: dict[str, Any], event: str, installation_id: int, spec: parts.RepoSpec | None, web: str
) -> None:
    """Every App delivery names its installation; installation events carry the full object."""
    if event in NO_INSTALLATION_EVENTS:
        return
    if event not in FULL_INSTALLATION_EVENTS:
        payload["installation"] = {
            "id": installation_id,
            "node_id": parts.node_id("IntegrationInstallation", installation_id),
        }
        return
    parts.retarget_installation(payload, installation_id, spec, web)


def issues_labeled(label: str, **kwargs: Any) -> dict[str, Any]:
    """issues.labeled: label added to the issue (it is also put in issue.labels)."""
    return build("issues", "labeled", label=label, **kwargs)


def issue_comment_created(*, on_pull_request: bool = False, **kwargs: Any) -> dict[str, Any]:
    """issue_comment.created; on_pull_request makes the issue a PR (issue.pull_request set)."""
    issue = dict(kwargs.pop("issue", None) or {})
    if on_pull_request:
        issue["pull_request"] = True
    return build("issue_comment", "created", issue=issue, **kwargs)


def pull_request_review_submitted(**kwargs: Any) -> dict[str, Any]:
    """pull_request_review.submitted (review=... sets id, body, state, user)."""
    return build("pull_request_review", "submitted", **kwargs)


def pull_request_review_comment_created(**kwargs: Any) -> dict[str, Any]:
    """pull_request_review_comment.created (comment=... sets id, body, user, path, line)."""
    return build("pull_request_review_comment", "created", **kwargs)


def installation_event(action: str, **kwargs: Any) -> dict[str, Any]:
    """installation.<action>; repo, when given, is the installation's repository and account."""
    return build("installation", action, **kwargs)


def sign(body: bytes, secret: str) -> str:
    """GitHub's X-Hub-Signature-256 value: "sha256=" + hex HMAC-SHA256 of the raw body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def delivery_headers(
    event: str,
    body: bytes,
    secret: str,
    delivery_id: str | None = None,
    app_id: int | None = None,
    *,
    hook_id: int = DEFAULT_HOOK_ID,
) -> dict[str, str]:
    """The headers GitHub sends with an App webhook delivery.

    The installation target of an App hook is the App itself, so the target id is app_id.
    GitHub still sends the legacy SHA-1 X-Hub-Signature next to the SHA-256 one.
    """
    sha1 = hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()
    return {
        "Content-Type": "application/json",
        "User-Agent": HOOKSHOT_AGENT,
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery_id or str(uuid.uuid4()),
        "X-GitHub-Hook-ID": str(hook_id),
        "X-GitHub-Hook-Installation-Target-Type": "integration",
        "X-GitHub-Hook-Installation-Target-ID": str(app_id or DEFAULT_APP_ID),
        "X-Hub-Signature": f"sha1={sha1}",
        "X-Hub-Signature-256": sign(body, secret),
    }


def encode(payload: dict[str, Any]) -> bytes:
    """Serialise a payload the way GitHub does (compact JSON, UTF-8)."""
    return json.dumps(payload, separators=(",", ":")).encode()


def deliver(
    url: str,
    event: str,
    payload: dict[str, Any],
    secret: str,
    delivery_id: str | None = None,
    *,
    app_id: int | None = None,
    timeout: float = 10.0,
) -> tuple[int, dict[str, Any]]:
    """POST a signed delivery over real HTTP; returns (status, parsed JSON body or {}).

    timeout defaults to GitHub's own 10-second budget for a webhook response
    (https://docs.github.com/en/webhooks/using-webhooks/best-practices-for-using-webhooks).
    """
    body = encode(payload)
    headers = delivery_headers(event, body, secret, delivery_id, app_id)
    req = request.Request(url, data=body, headers=headers, method="POST")
    try:
        with request.urlopen(req, timeout=timeout) as resp:
            return resp.status, _parse(resp.read())
    except error.HTTPError as exc:
        return exc.code, _parse(exc.read())


def _parse(raw: bytes) -> dict[str, Any]:
    try:
        parsed = json.loads(raw)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}
