"""The App's signing key: parsed once per process, and the JWTs signed with it verify; tokens
reused where a fast worker turns that on, for the same scope only and for minutes only."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import jwt
import pytest

import jobs.github
from core.settings import load_settings
from jobs.github import (
    REUSE_SECONDS,
    REUSED_TOKENS,
    GitHubApp,
    ReusedTokens,
    signing_key,
)
from tests.fakes.github import FakeGitHub

FILES = {"README.md": "hello\n"}


def test_the_key_is_parsed_once_and_signs_jwts_that_verify(fake_github: FakeGitHub,
                                                            monkeypatch) -> None:
    monkeypatch.setenv("GITHUB_APP_ID", str(fake_github.app_id))
    monkeypatch.setenv("GITHUB_PRIVATE_KEY", fake_github.private_key_pem)
    monkeypatch.setenv("GITHUB_WEBHOOK_SECRET", "s" * 20)
    app = GitHubApp(load_settings())
    key = signing_key(fake_github.private_key_pem)
    assert signing_key(fake_github.private_key_pem) is key
    claims = jwt.decode(app.auth.token, key=key.public_key(), algorithms=["RS256"])
    assert claims["iss"] == str(fake_github.app_id)


@pytest.fixture
def app(fake_github: FakeGitHub, monkeypatch) -> GitHubApp:
    monkeypatch.setenv("GITHUB_APP_ID", str(fake_github.app_id))
    monkeypatch.setenv("GITHUB_PRIVATE_KEY", fake_github.private_key_pem)
    monkeypatch.setenv("GITHUB_WEBHOOK_SECRET", "s" * 20)
    monkeypatch.setenv("GITHUB_URL", fake_github.base_url)
    yield GitHubApp(load_settings())
    REUSED_TOKENS.enabled = False
    REUSED_TOKENS.clear()


def test_tokens_are_minted_afresh_unless_reuse_is_on(fake_github: FakeGitHub,
                                                      app: GitHubApp) -> None:
    installation_id = fake_github.add_installation("octo-org")
    repo = fake_github.add_repo("octo-org/hello", installation_id, FILES)
    first = app.mint_token(installation_id, repo["id"], {"issues": "write"})
    assert app.mint_token(installation_id, repo["id"], {"issues": "write"}) != first
    assert len(fake_github.token_requests) == 2


def test_a_reused_token_has_the_same_scope_and_is_minutes_old_at_most(
        fake_github: FakeGitHub, app: GitHubApp, monkeypatch) -> None:
    installation_id = fake_github.add_installation("octo-org")
    hello = fake_github.add_repo("octo-org/hello", installation_id, FILES)
    other = fake_github.add_repo("octo-org/other", installation_id, FILES)
    REUSED_TOKENS.enabled = True
    ack = {"issues": "write", "pull_requests": "write"}
    token = app.mint_token(installation_id, hello["id"], ack)
    assert app.mint_token(installation_id, hello["id"], dict(reversed(ack.items()))) == token
    assert len(fake_github.token_requests) == 1
    # Another repository, or other permissions: a token of its own.
    assert app.mint_token(installation_id, other["id"], ack) != token
    assert app.mint_token(installation_id, hello["id"], {"contents": "write"}) != token
    assert len(fake_github.token_requests) == 3
    # Past REUSE_SECONDS the next one is minted afresh.
    now = time.monotonic()
    monkeypatch.setattr(jobs.github.time, "monotonic", lambda: now + REUSE_SECONDS + 1)
    assert app.mint_token(installation_id, hello["id"], ack) != token
    assert len(fake_github.token_requests) == 4


@pytest.mark.parametrize(("minutes_left", "kept"), [(60, True), (55, True), (49, False)])
def test_a_token_is_kept_only_while_fifty_minutes_of_it_are_left(minutes_left: int,
                                                                 kept: bool) -> None:
    tokens = ReusedTokens()
    tokens.enabled = True
    expires = datetime.now(UTC) + timedelta(minutes=minutes_left)
    tokens.keep(("k",), "ghs_x", expires.isoformat().replace("+00:00", "Z"))
    assert (tokens.get(("k",)) == "ghs_x") is kept
