"""Attacks on Orca's web process, as a visitor or someone holding a captured delivery makes them.

Each is a real HTTP request to the real app (the end-to-end harness's `orca`, or `orca web`
under gunicorn), and each checks that the attack fails and that nothing was queued or changed.
"""

from __future__ import annotations

import html
import re
import uuid
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
import requests
from rq import Queue

from core.queues import FAST_QUEUE, RUNS_QUEUE
from tests import payloads
from tests.e2e.conftest import make_scene
from tests.e2e.test_cli import web  # noqa: F401  (`orca web` under gunicorn)
from tests.mission_scene import csrf_of

REPO = {"full_name": "octo-org/hello", "id": 4242, "default_branch": "main", "private": True}


def snapshot(orca) -> tuple[frozenset[bytes], int, int]:
    """Every key but the metrics' (which count refused deliveries too), and both queues."""
    keys = frozenset(k for k in orca.redis.keys("*") if not k.startswith(b"orca:metrics:"))
    return (keys, Queue(FAST_QUEUE, connection=orca.redis).count,
            Queue(RUNS_QUEUE, connection=orca.redis).count)


# -- replays and stale deliveries ---------------------------------------------------------------

def _common(orca) -> dict[str, Any]:
    return {"base_url": orca.github.base_url, "installation_id": 7, "repo": REPO}


ORCA_PULL = {"number": 9, "title": "Fix it", "head": "agent/issue-1-fix-it", "base": "main",
             "user": {"login": "orca-test[bot]", "id": 41898282, "type": "Bot"}}
# (event, action, builder arguments): each a trigger when fresh.
TRIGGERS = [
    ("issues", "labeled", {"label": "agent", "issue": {"number": 1}}),
    ("issues", "unlabeled", {"label": "agent", "issue": {"number": 1}}),
    ("issues", "closed", {"issue": {"number": 1}}),
    ("pull_request", "closed", {"issue": {"number": 9}}),
    ("issue_comment", "created", {"comment": {"id": 501, "body": "/agent fix it"}}),
    ("pull_request_review_comment", "created", {"comment": {"id": 502, "body": "/agent do it"}}),
    ("pull_request_review", "submitted", {"issue": ORCA_PULL, "review": {
        "id": 503, "body": "Rename it.", "state": "changes_requested"}}),
    ("installation", "created", {}),
    ("installation", "suspend", {}),
]


@pytest.mark.parametrize("event,action,kwargs", TRIGGERS, ids=[f"{e}.{a}" for e, a, _ in TRIGGERS])
def test_a_stale_delivery_is_refused_and_queues_nothing(orca, event, action, kwargs):
    # GitHub's published example, dated as published (years ago), then the same one fresh.
    stale = payloads.build(event, action, fresh=False, **_common(orca), **kwargs)
    before = snapshot(orca)
    status, answer = orca.deliver(event, stale)
    assert status == 422, answer
    assert "stale delivery" in answer["error"] and "ORCA_REPLAY_WINDOW" in answer["error"]
    assert snapshot(orca) == before

    status, answer = orca.deliver(event, payloads.build(event, action, **_common(orca), **kwargs))
    assert status == 202, answer  # the same trigger, fresh, is acted on


def _label(orca) -> tuple[str, dict[str, Any]]:
    return "issues", payloads.issues_labeled("agent", issue={"number": 1}, **_common(orca))


def _command(orca) -> tuple[str, dict[str, Any]]:
    return "issue_comment", payloads.issue_comment_created(
        comment={"id": 601, "body": "/agent fix the greeting"}, **_common(orca))


def _uninstall(orca) -> tuple[str, dict[str, Any]]:
    return "installation", payloads.installation_event("deleted", **_common(orca))


@pytest.mark.parametrize("make", [_label, _command, _uninstall],
                         ids=["label", "command", "uninstall"])
def test_a_delivery_replayed_under_a_fresh_id_starts_nothing(orca, make):
    event, payload = make(orca)
    first, replay = f"{uuid.uuid4()}", f"{uuid.uuid4()}"
    status, answer = orca.deliver(event, payload, delivery_id=first)
    assert status == 202, answer
    before = snapshot(orca)

    status, refused = orca.deliver(event, payload, delivery_id=replay)
    assert status == 409, refused
    assert refused["error"].startswith("replayed delivery") and first in refused["error"]
    assert snapshot(orca) == before
    assert not orca.redis.exists(f"orca:delivery:{replay}")
    assert len(Queue(FAST_QUEUE, connection=orca.redis).job_ids) == 1
    assert orca.redis.zcard("orca:runs") == (0 if event == "installation" else 1)

    # GitHub's own redelivery (same id, same body) is answered as it always was.
    status, again = orca.deliver(event, payload, delivery_id=first)
    assert (status, again["duplicate"]) == (200, True)
    assert again.get("run") == answer.get("run")
    assert snapshot(orca) == before


# -- the sign-in redirect, with the settings an operator sets before Orca starts ----------------

ADMIN_TOKEN = "operator-" + "7" * 32
# Where a captured or crafted `next` would send the browser: each must end at the default.
HOSTILE_NEXT = [
    "//evil.example", "///evil.example", "/\t/evil.example", "/\n/evil.example",
    "/\r\n/evil.example", "/runs\r\nSet-Cookie: orca_session=planted", "\t//evil.example",
    " //evil.example", "//evil.example ", "/\\evil.example", "\\\\evil.example", "\\/evil.example",
    "/\\/evil.example", "%2F%2Fevil.example", "/%2F%2Fevil.example", "/%2f%5cevil.example",
    "/%09/evil.example", "https://evil.example", "https:evil.example", "http:/evil.example",
    "//user@evil.example", "javascript:alert(1)", " JaVaScRiPt:alert(1)", "data:text/html,hi",
    "evil.example", "/\u00a0/evil.example", "/\u2028/evil.example", "/\u3000/evil.example",
    "\u200b//evil.example", "/\u202e/evil.example", "/\x00/evil.example", "/\x7f/evil.example",
    "\uff0f\uff0fevil.example", "",
]


@pytest.fixture
def operator_env(monkeypatch: pytest.MonkeyPatch, fake_github) -> None:
    monkeypatch.setenv("ORCA_ADMIN_TOKEN", ADMIN_TOKEN)
    monkeypatch.setenv("ORCA_METRICS_TOKEN", METRICS_TOKEN)
    monkeypatch.setenv("GITHUB_CLIENT_ID", fake_github.app_json()["client_id"])
    monkeypatch.setenv("GITHUB_CLIENT_SECRET", "fake-client-secret")


@pytest.fixture
def orca(operator_env, orca):
    """The harness's Orca, started with `operator_env` (named first, so it is set in time)."""
    return orca


C0_AND_SPACE = "".join(map(chr, range(0x21)))


def _stays_on_site(base: str, location: str) -> bool:
    """Where a browser would go: it drops tabs and newlines, trims control characters and
    spaces at either end, and reads \\ as / (the WHATWG URL standard)."""
    cleaned = location.translate({9: None, 10: None, 13: None}).strip(C0_AND_SPACE)
    cleaned = cleaned.replace("\\", "/")
    target = urlsplit(urljoin(base, cleaned))
    return (target.scheme, target.netloc) == tuple(urlsplit(base)[:2])


def test_the_operator_sign_in_never_redirects_off_site(orca):
    wrong: list[tuple[str, Any]] = []
    for value in HOSTILE_NEXT:
        browser = requests.Session()
        page = browser.get(f"{orca.url}/auth/signin", params={"next": value}, timeout=10)
        shown = _shown_next(page.text) if page.status_code == 200 else None
        if shown != ("/runs", "/runs"):
            wrong.append((value, f"sign-in page {page.status_code}, next {shown}"))
            continue
        answer = browser.post(f"{orca.url}/auth/admin", allow_redirects=False, timeout=10, data={
            "csrf_token": csrf_of(page.text), "token": ADMIN_TOKEN, "next": value})
        location = answer.headers.get("Location", "")
        went = (answer.status_code, location)
        if went != (303, "/runs") or not _stays_on_site(orca.url, location):
            wrong.append((value, f"{answer.status_code} to {location!r}"))
    assert wrong == []


def test_the_github_sign_in_never_redirects_off_site(orca):
    make_scene(orca.github)
    orca.github.state.web_login = "octocat"
    wrong: list[tuple[str, Any]] = []
    for value in HOSTILE_NEXT:
        browser = requests.Session()
        start = browser.get(f"{orca.url}/auth/login", params={"next": value},
                            allow_redirects=False, timeout=10)
        if start.status_code != 302:
            wrong.append((value, f"sign-in answered {start.status_code}"))
            continue
        github = requests.get(start.headers["Location"], allow_redirects=False, timeout=10)
        back = browser.get(github.headers["Location"], allow_redirects=False, timeout=10)
        location = back.headers.get("Location", "")
        went = (back.status_code, location)
        if went != (302, "/runs") or not _stays_on_site(orca.url, location):
            wrong.append((value, f"{back.status_code} to {location!r}"))
    assert wrong == []


def _shown_next(page: str) -> tuple[str | None, str | None]:
    """The `next` the sign-in page carries: in its GitHub link, and in its operator form."""
    link = re.search(r'id="sign-in-github" href="([^"]*)"', page)
    field = re.search(r'name="next" value="([^"]*)"', page)
    query = parse_qs(urlsplit(html.unescape(link[1])).query) if link else {}
    return (query.get("next", [None])[0], html.unescape(field[1]) if field else None)


# -- the session cookie -------------------------------------------------------------------------

def test_the_session_cookie_is_secure_when_the_proxy_says_https(web):
    """`orca web` as the README runs it (gunicorn), from the CLI tests' fixture."""
    # gunicorn takes the scheme from X-Forwarded-Proto when the proxy is trusted (127.0.0.1).
    over_https = requests.get(f"{web}/auth/signin", headers={"X-Forwarded-Proto": "https"},
                              timeout=10)
    cookie = over_https.headers["Set-Cookie"]
    assert cookie.startswith("orca_session=") and "; Secure" in cookie, cookie
    assert "; HttpOnly" in cookie and "SameSite=Lax" in cookie
    # Plain http (a local trial) keeps a cookie the browser will send back over http.
    plain = requests.get(f"{web}/auth/signin", timeout=10).headers["Set-Cookie"]
    assert "Secure" not in plain, plain


# -- /metrics -----------------------------------------------------------------------------------

METRICS_TOKEN = "scraper-" + "5" * 32
# Anything but the header `Authorization: Bearer <ORCA_METRICS_TOKEN>`.
NOT_THE_TOKEN = [
    None, "", "Bearer", "Bearer ", "Bearer wrong", f"Bearer {METRICS_TOKEN}x",
    f"bearer{METRICS_TOKEN}", f"Basic {METRICS_TOKEN}", f"Token {METRICS_TOKEN}",
    f"Bearer {METRICS_TOKEN[:-1]}", f"Bearer  {METRICS_TOKEN}", "Bearer \u00e9t\u00e9",
    METRICS_TOKEN,
]


def test_metrics_without_the_token_is_401(orca):
    wrong = []
    for authorization in NOT_THE_TOKEN:
        headers = {} if authorization is None else {"Authorization": authorization}
        answer = requests.get(f"{orca.url}/metrics", headers=headers, timeout=10)
        if (answer.status_code != 401 or "orca_" in answer.text
                or not answer.headers.get("WWW-Authenticate", "").startswith("Bearer")):
            wrong.append((authorization, answer.status_code))
    assert wrong == []
    only_the_header = requests.get(f"{orca.url}/metrics", params={"token": METRICS_TOKEN},
                                   timeout=10)
    assert only_the_header.status_code == 401


def test_metrics_with_the_token_answers(orca):
    answer = requests.get(f"{orca.url}/metrics", timeout=10,
                          headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert answer.status_code == 200 and "orca_queue_jobs" in answer.text
