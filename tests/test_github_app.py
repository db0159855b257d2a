"""The App's signing key: parsed once per process, and the JWTs signed with it verify."""

from __future__ import annotations

import jwt

from core.settings import load_settings
from jobs.github import GitHubApp, signing_key
from tests.fakes.github import FakeGitHub


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
