"""A run's redactor knows every secret Orca holds, not only the ones a run uses."""

from __future__ import annotations

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from jobs.context import RunContext

TRIGGER = {"kind": "label", "installation_id": 1, "repository": "octo-org/hello",
           "repository_id": 2, "number": 3, "requester": "octocat", "requester_id": 4}


def test_every_secret_in_the_settings_is_redacted(monkeypatch, redis_server):
    pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()).decode()
    secrets = {"GITHUB_WEBHOOK_SECRET": "hook-secret-1", "ANTHROPIC_API_KEY": "sk-ant-model-2",
               "GITHUB_CLIENT_SECRET": "oauth-client-3", "ORCA_SESSION_SECRET": "session-4x",
               "ORCA_ADMIN_TOKEN": "admin-token-5", "ORCA_METRICS_TOKEN": "metrics-token-6"}
    for name, value in {**secrets, "GITHUB_APP_ID": "1", "GITHUB_PRIVATE_KEY": pem,
                        "REDIS_URL": redis_server.url}.items():
        monkeypatch.setenv(name, value)
    ctx = RunContext.load("run1", TRIGGER)
    key_line = pem.splitlines()[5]
    text = " | ".join([*secrets.values(), key_line, "ghs_" + "a" * 36])
    redacted = ctx.redactor.text(text)
    assert redacted == " | ".join(["***"] * (len(secrets) + 2)), redacted
