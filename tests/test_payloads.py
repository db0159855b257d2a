"""The webhook payload helpers: vendored real examples, schema checks, builders, signing."""

from __future__ import annotations

import hashlib
import hmac
import importlib.util
import json
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests import payloads as P
from tests.serving import Background

BASE = "http://127.0.0.1:9999"
REPO = {"full_name": "acme/widgets", "id": 4242, "default_branch": "trunk"}
COMMON: dict[str, Any] = dict(base_url=BASE, installation_id=31337, repo=REPO, sender_login="alice")


def _load_vendor_script() -> Any:
    path = Path(__file__).resolve().parent.parent / "scripts" / "vendor_webhooks.py"
    spec = importlib.util.spec_from_file_location("vendor_webhooks", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


VENDOR = _load_vendor_script()
WANTED_PAIRS = [(event, action) for event, actions in VENDOR.WANTED.items() for action in actions]
# (event, action, index among that action's examples) for every vendored example.
ALL_EXAMPLES = [
    (event, action, i)
    for event in P.vendored_events()
    for action in dict.fromkeys(e.get("action") for e in P.examples_for(event))
    for i in range(len(P.examples_for(event, action)))
]


def _ids(value: Any) -> str:
    return str(value)


# --- signing and headers ---------------------------------------------------------------------

def test_sign_matches_githubs_test_vector() -> None:
    assert P.sign(b"Hello, World!", "It's a Secret to Everybody") == (
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    )


def test_delivery_headers_carry_githubs_full_set() -> None:
    body = b'{"zen":"Keep it logically awesome."}'
    headers = P.delivery_headers("ping", body, "s3cret", "abc-123", app_id=99)
    assert headers["X-GitHub-Event"] == "ping"
    assert headers["X-GitHub-Delivery"] == "abc-123"
    assert headers["X-GitHub-Hook-ID"].isdigit()
    assert headers["X-GitHub-Hook-Installation-Target-Type"] == "integration"
    assert headers["X-GitHub-Hook-Installation-Target-ID"] == "99"
    assert headers["X-Hub-Signature-256"] == P.sign(body, "s3cret")
    assert headers["X-Hub-Signature"] == "sha1=" + hmac.new(b"s3cret", body, hashlib.sha1).hexdigest()
    assert headers["User-Agent"].startswith("GitHub-Hookshot/")
    assert headers["Content-Type"] == "application/json"


def test_delivery_id_defaults_to_a_fresh_uuid4() -> None:
    first = P.delivery_headers("ping", b"{}", "s")["X-GitHub-Delivery"]
    second = P.delivery_headers("ping", b"{}", "s")["X-GitHub-Delivery"]
    assert first != second and uuid.UUID(first).version == 4


# --- vendored data ---------------------------------------------------------------------------

@pytest.mark.parametrize("event,action", WANTED_PAIRS, ids=_ids)
def test_every_wanted_action_has_a_schema(event: str, action: str | None) -> None:
    assert P._validator(VENDOR.definition_name(event, action)) is not None


@pytest.mark.parametrize("event,action", [p for p in WANTED_PAIRS if p not in P.SYNTHESISED], ids=_ids)
def test_every_wanted_action_has_a_vendored_example(event: str, action: str | None) -> None:
    example = P.load_example(event, action)
    assert example.get("action") == action


def test_vendored_examples_are_only_the_wanted_ones() -> None:
    for event, action, _ in ALL_EXAMPLES:
        assert action in VENDOR.WANTED[event]


def test_load_example_returns_a_deep_copy() -> None:
    P.load_example("issues", "labeled")["issue"]["title"] = "changed"
    assert P.load_example("issues", "labeled")["issue"]["title"] != "changed"


@pytest.mark.parametrize("event,action,index", ALL_EXAMPLES, ids=_ids)
def test_filled_examples_validate(event: str, action: str | None, index: int) -> None:
    assert P.validate(event, P.fill_required(P.load_example(event, action, index))) == []


def test_some_raw_examples_miss_required_keys() -> None:
    # The reason fill_required exists; if upstream catches up this shows it.
    errors = P.validate("issue_comment", P.load_example("issue_comment", "created", 0))
    assert any("'reactions' is a required property" in e for e in errors)


def test_prune_schema_keeps_transitive_refs_only() -> None:
    schema = {"$schema": "x", "definitions": {
        "a$b": {"$ref": "#/definitions/c"}, "c": {"items": [{"$ref": "#/definitions/d"}]},
        "d": {}, "unused": {},
    }}
    pruned = VENDOR.prune_schema(schema, ["a$b"])
    assert sorted(pruned["definitions"]) == ["a$b", "c", "d"]
    assert pruned["oneOf"] == [{"$ref": "#/definitions/a$b"}]


# --- builders --------------------------------------------------------------------------------

def _all_strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from _all_strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _all_strings(value)


@pytest.mark.parametrize("event,action,index", ALL_EXAMPLES + [("issues", "closed", 0)], ids=_ids)
def test_build_from_every_example_is_valid_and_repointed(event: str, action: str | None, index: int) -> None:
    payload = P.build(event, action, index=index, **COMMON)
    assert P.validate(event, payload) == []
    assert not [s for s in _all_strings(payload) if "github.com" in s]
    if event == "ping":
        assert "installation" not in payload  # App pings name no installation
    else:
        assert payload["installation"]["id"] == 31337
        if event not in P.FULL_INSTALLATION_EVENTS:
            assert set(payload["installation"]) == {"id", "node_id"}
    assert payload["sender"]["login"] == "alice"


def test_build_repoints_the_repository() -> None:
    repo = P.build("issues", "opened", **COMMON)["repository"]
    assert (repo["full_name"], repo["name"], repo["id"], repo["default_branch"]) == (
        "acme/widgets", "widgets", 4242, "trunk")
    assert repo["owner"]["login"] == "acme"
    assert repo["html_url"] == f"{BASE}/acme/widgets"
    assert repo["url"] == f"{BASE}/api/v3/repos/acme/widgets"
    assert repo["issues_url"].startswith(f"{BASE}/api/v3/repos/acme/widgets/issues")
    assert repo["clone_url"] == f"{BASE}/acme/widgets.git"


def test_build_accepts_owner_and_name() -> None:
    repo = {"owner": "acme", "name": "gears", "id": 5, "owner_type": "Organization"}
    payload = P.build("issues", "opened", **{**COMMON, "repo": repo})
    assert payload["repository"]["full_name"] == "acme/gears"
    assert payload["organization"]["login"] == "acme"
    assert P.validate("issues", payload) == []


def test_issues_labeled_sets_label_issue_and_installation() -> None:
    issue = {"number": 17, "title": "Crash on start", "body": "Trace...", "labels": ["bug"]}
    payload = P.issues_labeled("orca", issue=issue, **COMMON)
    assert P.validate("issues", payload) == []
    assert payload["installation"] == {"id": 31337, "node_id": payload["installation"]["node_id"]}
    assert payload["label"]["name"] == "orca"
    assert [label["name"] for label in payload["issue"]["labels"]] == ["bug", "orca"]
    assert payload["issue"]["number"] == 17
    assert payload["issue"]["url"] == f"{BASE}/api/v3/repos/acme/widgets/issues/17"
    assert payload["issue"]["html_url"] == f"{BASE}/acme/widgets/issues/17"
    assert "pull_request" not in payload["issue"]


def test_issue_comment_on_a_pull_request_has_issue_pull_request() -> None:
    comment = {"id": 901, "body": "@orca please fix", "user": "bob"}
    payload = P.issue_comment_created(on_pull_request=True, issue={"number": 5}, comment=comment, **COMMON)
    assert P.validate("issue_comment", payload) == []
    pull = payload["issue"]["pull_request"]
    assert pull["url"] == f"{BASE}/api/v3/repos/acme/widgets/pulls/5"
    assert pull["html_url"] == payload["issue"]["html_url"] == f"{BASE}/acme/widgets/pull/5"
    assert payload["comment"]["id"] == 901 and payload["comment"]["user"]["login"] == "bob"
    assert payload["comment"]["url"] == f"{BASE}/api/v3/repos/acme/widgets/issues/comments/901"
    assert payload["comment"]["issue_url"] == payload["issue"]["url"]


def test_issue_comment_on_an_issue_has_no_pull_request() -> None:
    payload = P.issue_comment_created(comment={"body": "hi"}, **COMMON)
    assert "pull_request" not in payload["issue"]
    assert payload["comment"]["body"] == "hi"


def test_bot_sender_looks_like_an_app() -> None:
    payload = P.issue_comment_created(**{**COMMON, "sender_login": "orca[bot]", "sender_type": "Bot"})
    assert payload["sender"]["type"] == "Bot"
    assert payload["sender"]["html_url"] == f"{BASE}/apps/orca"
    assert P.validate("issue_comment", payload) == []


def test_pull_request_review_submitted() -> None:
    review = {"id": 77, "body": "Please rename", "state": "changes_requested", "user": "bob"}
    payload = P.pull_request_review_submitted(issue={"number": 12}, review=review, **COMMON)
    assert P.validate("pull_request_review", payload) == []
    assert payload["pull_request"]["number"] == 12
    assert payload["pull_request"]["base"]["ref"] == "trunk"
    assert payload["review"]["state"] == "changes_requested"
    assert payload["review"]["pull_request_url"] == f"{BASE}/api/v3/repos/acme/widgets/pulls/12"


def test_pull_request_review_comment_created() -> None:
    comment = {"id": 66, "body": "nit: typo", "user": "bob", "path": "src/app.py", "line": 3}
    issue = {"number": 12, "head": "orca/fix-12", "head_sha": "a" * 40}
    payload = P.pull_request_review_comment_created(issue=issue, comment=comment, **COMMON)
    assert P.validate("pull_request_review_comment", payload) == []
    assert payload["pull_request"]["head"]["ref"] == "orca/fix-12"
    assert payload["pull_request"]["head"]["sha"] == "a" * 40
    assert (payload["comment"]["path"], payload["comment"]["line"]) == ("src/app.py", 3)
    assert payload["comment"]["html_url"] == f"{BASE}/acme/widgets/pull/12#discussion_r66"


@pytest.mark.parametrize("action", VENDOR.WANTED["installation"])
def test_installation_event(action: str) -> None:
    payload = P.installation_event(action, **COMMON)
    assert P.validate("installation", payload) == []
    installation = payload["installation"]
    assert installation["id"] == 31337
    assert installation["account"]["login"] == "acme"
    assert installation["access_tokens_url"] == f"{BASE}/api/v3/app/installations/31337/access_tokens"
    if "repositories" in payload:
        assert [r["full_name"] for r in payload["repositories"]] == ["acme/widgets"]


def test_issues_closed_is_synthesised_as_closed() -> None:
    payload = P.build("issues", "closed", **COMMON)
    assert payload["issue"]["state"] == "closed" and payload["issue"]["closed_at"]


def test_overrides_are_applied_last() -> None:
    changes = {"body": {"from": "old text"}}
    payload = P.build("issue_comment", "edited", changes=changes, **COMMON)
    assert payload["changes"] == changes
    assert P.validate("issue_comment", payload) == []


# --- delivery over HTTP ----------------------------------------------------------------------

class _Recorder(BaseHTTPRequestHandler):
    received: list[tuple[Any, bytes]] = []  # (headers, case-insensitive as in HTTP; body)

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((self.headers, body))
        ok = hmac.compare_digest(self.headers["X-Hub-Signature-256"], P.sign(body, "s3cret"))
        reply = json.dumps({"ok": ok}).encode()
        self.send_response(202 if ok else 401)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture()
def receiver() -> Iterator[str]:
    _Recorder.received = []
    serving = Background(ThreadingHTTPServer(("127.0.0.1", 0), _Recorder), "receiver")
    yield f"{serving.url}/webhook"
    serving.stop()


def test_deliver_posts_a_signed_body(receiver: str) -> None:
    payload = P.issues_labeled("orca", **COMMON)
    status, reply = P.deliver(receiver, "issues", payload, "s3cret", delivery_id="d-1")
    assert (status, reply) == (202, {"ok": True})
    headers, body = _Recorder.received[0]
    assert json.loads(body) == payload
    assert headers["X-GitHub-Event"] == "issues" and headers["X-GitHub-Delivery"] == "d-1"


def test_deliver_returns_error_statuses(receiver: str) -> None:
    status, reply = P.deliver(receiver, "ping", P.load_example("ping"), "wrong")
    assert (status, reply) == (401, {"ok": False})
