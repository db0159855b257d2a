"""Signing in to mission control with GitHub, against the fake GitHub's OAuth web flow."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from app import create_app
from app.auth import session_key
from core.settings import Settings
from tests.mission_scene import SECRET, add_run, csrf_of


@pytest.fixture
def scene(fake_github):
    """alice writes to octo-org/hello, reads octo-org/docs; other-org/secret is not hers."""
    first, second = fake_github.add_installation("octo-org"), fake_github.add_installation("other-org")
    repos = {name: fake_github.add_repo(name, inst, {"README.md": "hi\n"}, private=True)["id"]
             for name, inst in (("octo-org/hello", first), ("octo-org/docs", first),
                                ("other-org/secret", second))}
    fake_github.set_permission("octo-org/hello", "alice", "write")
    fake_github.set_permission("octo-org/docs", "alice", "read")
    fake_github.state.web_login = "alice"
    return repos


@pytest.fixture
def client(fake_github, redis_client):
    settings = Settings(GITHUB_APP_ID=fake_github.app_id, GITHUB_PRIVATE_KEY="k",
                        GITHUB_WEBHOOK_SECRET=SECRET, GITHUB_URL=fake_github.base_url,
                        GITHUB_CLIENT_ID=fake_github.app_json()["client_id"],
                        GITHUB_CLIENT_SECRET="fake-client-secret")
    return create_app(settings, redis_client).test_client()


def sign_in_with_github(client, next_path="/runs"):
    """Follow the web flow: Orca → the fake's authorize page → Orca's callback."""
    start = client.get("/auth/login", query_string={"next": next_path})
    assert start.status_code == 302
    approved = requests.get(start.headers["Location"], allow_redirects=False, timeout=10)
    assert approved.status_code == 302
    back = urlsplit(approved.headers["Location"])
    assert back.path == "/auth/callback"
    return client.get(f"{back.path}?{back.query}")


def test_sign_in_shows_the_runs_of_readable_repositories(client, fake_github, redis_client, scene):
    add_run(redis_client, "hello1", repo=("octo-org/hello", scene["octo-org/hello"]))
    add_run(redis_client, "docs22", repo=("octo-org/docs", scene["octo-org/docs"]))
    add_run(redis_client, "secret", repo=("other-org/secret", scene["other-org/secret"]))

    answer = sign_in_with_github(client, "/runs?status=queued")
    assert (answer.status_code, answer.headers["Location"]) == (302, "/runs?status=queued")
    page = client.get("/runs")
    assert 'id="signed-in-as">alice<' in page.text
    assert "run-hello1" in page.text and "run-docs22" in page.text
    assert "run-secret" not in page.text
    # Write access to hello, read-only to docs: Stop only where she could have started it.
    assert "stop-button" in client.get("/runs/hello1").text
    assert "stop-button" not in client.get("/runs/docs22").text
    assert fake_github.calls_to("GET", "/user/installations$")
    assert fake_github.violations == []


def test_the_authorize_url_carries_client_id_state_and_callback(client, fake_github):
    location = urlsplit(client.get("/auth/login").headers["Location"])
    query = parse_qs(location.query)
    assert f"{location.scheme}://{location.netloc}{location.path}" == \
        f"{fake_github.base_url}/login/oauth/authorize"
    assert query["client_id"] == [fake_github.app_json()["client_id"]]
    assert query["redirect_uri"] == ["http://localhost/auth/callback"]
    assert len(query["state"][0]) >= 32


def test_a_callback_with_a_forged_state_signs_nobody_in(client, fake_github, scene):
    client.get("/auth/login")
    fake_github.oauth_codes["planted"] = "alice"
    answer = client.get("/auth/callback?code=planted&state=not-the-one-we-sent")
    assert answer.status_code == 400
    assert client.get("/runs").status_code == 302
    assert "planted" in fake_github.oauth_codes  # never exchanged


def test_a_refused_code_is_a_clear_failure(client, fake_github, scene):
    start = client.get("/auth/login")
    state = parse_qs(urlsplit(start.headers["Location"]).query)["state"][0]
    answer = client.get(f"/auth/callback?code=never-issued&state={state}")
    assert answer.status_code == 502
    assert "The code passed is incorrect or expired." in answer.text


def test_next_never_leaves_mission_control(client, fake_github, scene):
    answer = sign_in_with_github(client, "//evil.example/steal")
    assert answer.headers["Location"] == "/runs"


def test_sign_out_needs_the_form_token(client, fake_github, scene):
    sign_in_with_github(client)
    page = client.get("/runs")
    assert client.post("/auth/logout").status_code == 400
    assert client.get("/runs").status_code == 200
    assert client.post("/auth/logout", data={"csrf_token": csrf_of(page.text)}).status_code == 303
    assert client.get("/runs").status_code == 302


def test_the_session_key_is_the_setting_or_derived_from_the_webhook_secret():
    base = {"GITHUB_APP_ID": 1, "GITHUB_PRIVATE_KEY": "k", "GITHUB_WEBHOOK_SECRET": SECRET}
    derived = session_key(Settings(**base))
    assert derived != SECRET.encode() and len(derived) == 32
    assert session_key(Settings(**base, ORCA_SESSION_SECRET="chosen")) == b"chosen"
