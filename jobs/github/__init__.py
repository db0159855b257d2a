"""GitHub App authentication and clients, through PyGithub.

A run never holds a long-lived credential: it mints an installation token scoped to
the one repository and the permissions its step needs, and mints a fresh one before
pushing (tokens live an hour; a run can outlive one). A fast-queue worker, which runs its
jobs in its own process, reuses a token it minted for the same repository and permissions
for a few minutes (`REUSED_TOKENS`): a burst of acknowledgements then makes one call fewer each.
"""

from __future__ import annotations

import functools
import json
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlparse

import redis
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from github import Auth, Github, GithubIntegration

from core import keys
from core.settings import Settings
from jobs.github.calls import CountingRetry, count_github_calls
from jobs.github.pacing import WritePacer

# Least privilege per step. metadata:read is implied by any repository permission.
ACK_PERMISSIONS = {"issues": "write", "pull_requests": "write"}
RUN_PERMISSIONS = {"contents": "write", "issues": "write", "pull_requests": "write"}
# Reading CI: check runs and suites, commit statuses, Actions runs, jobs and their logs.
CI_PERMISSIONS = {"checks": "read", "statuses": "read", "actions": "read"}
# PyGithub's own spacing is per client; jobs.github.pacing spaces writes per installation instead.
_UNPACED: dict[str, Any] = {"seconds_between_requests": None, "seconds_between_writes": None}
# The App's identity changes only if the App is renamed; a day's cache saves two calls a run.
IDENTITY_TTL = 24 * 3600


# A reused token is at most this old, so it has at least fifty of its sixty minutes left.
REUSE_SECONDS = 600


class ReusedTokens:
    """Installation tokens this process minted, handed out again for a while.

    Off unless turned on: only `orca worker --queues fast` turns it on, where one process runs
    job after job (RQ's SimpleWorker); a run's work-horse is forked per job and would keep
    nothing. A token is reused only for the same GitHub, App, installation, repository and
    permissions, for at most REUSE_SECONDS and while at least fifty minutes of it are left.
    A token reused is no wider than one minted afresh; it may outlive, by those minutes at
    most, a change GitHub would have refused a new mint for (an installation suspended or a
    repository taken out of it), and the call made with it then fails as that mint would have.
    """

    def __init__(self) -> None:
        self.enabled = False
        self._lock = threading.Lock()
        self._kept: dict[tuple[object, ...], tuple[float, str]] = {}

    def get(self, key: tuple[object, ...]) -> str | None:
        if not self.enabled:
            return None
        with self._lock:
            found = self._kept.get(key)
            if found is None or found[0] <= time.monotonic():
                self._kept.pop(key, None)
                return None
            return found[1]

    def keep(self, key: tuple[object, ...], token: str, expires_at: str | None) -> None:
        if not self.enabled:
            return
        until = time.monotonic() + REUSE_SECONDS
        if expires_at:  # GitHub's ISO 8601 time; a token with less left is not kept as long
            left = datetime.fromisoformat(expires_at).timestamp() \
                - time.time()
            until = min(until, time.monotonic() + left - 50 * 60)
        with self._lock:
            self._kept = {k: v for k, v in self._kept.items() if v[0] > time.monotonic()}
            if until > time.monotonic():
                self._kept[key] = (until, token)

    def clear(self) -> None:
        with self._lock:
            self._kept.clear()


REUSED_TOKENS = ReusedTokens()


@functools.cache
def signing_key(pem: str) -> PrivateKeyTypes:
    """The App's private key, parsed once per process.

    Given the PEM text, PyJWT parses it again for every JWT, and cryptography's check of an
    RSA key's consistency costs ~30 ms of CPU: a third of an acknowledgement's CPU and
    ~0.1 s of each run's, which mints three tokens (bench/fleet.py). The key is the
    operator's own, the case cryptography documents for skipping that check
    (https://cryptography.io/en/latest/hazmat/primitives/asymmetric/serialization/).
    """
    return load_pem_private_key(pem.encode(), password=None, unsafe_skip_rsa_key_validation=True)


@dataclass(frozen=True)
class BotIdentity:
    """Who Orca's commits and comments are from."""

    slug: str
    user_id: int
    noreply_domain: str

    @property
    def login(self) -> str:
        return f"{self.slug}[bot]"

    @property
    def email(self) -> str:
        """GitHub's noreply address for the bot, which links commits to the App."""
        return f"{self.user_id}+{self.login}@{self.noreply_domain}"


def noreply_email(login: str, user_id: int, github_url: str) -> str:
    """A user's noreply address, used for the `Co-authored-by:` trailer."""
    return f"{user_id}+{login}@{noreply_domain(github_url)}"


def noreply_domain(github_url: str) -> str:
    """`users.noreply.github.com`, or `users.noreply.<host>` on Enterprise Server."""
    host = urlparse(github_url).hostname or "github.com"
    return f"users.noreply.{host}"


class GitHubApp:
    """The App: signs JWTs, mints scoped installation tokens, builds clients."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        # Every call this process makes is counted for /metrics (no I/O until the first one).
        count_github_calls(settings.redis_url)
        pem = settings.private_key()
        # Parsed at the first JWT, as PyJWT would: a broken key fails the step that mints.
        self.auth = Auth.AppAuth(settings.github_app_id, lambda: signing_key(pem))
        self.integration = GithubIntegration(
            auth=self.auth, base_url=settings.api_url, retry=CountingRetry(), **_UNPACED
        )

    def mint_token(self, installation_id: int, repository_id: int, permissions: dict[str, str]) -> str:
        """An installation token for one repository with only `permissions` (one this
        process minted a few minutes ago for the same, where REUSED_TOKENS is on)."""
        key = (self.settings.api_url, self.settings.github_app_id, installation_id,
               repository_id, tuple(sorted(permissions.items())))
        if (token := REUSED_TOKENS.get(key)) is not None:
            return token
        body = {"repository_ids": [repository_id], "permissions": permissions}
        _headers, data = self.integration.requester.requestJsonAndCheck(
            "POST", f"/app/installations/{installation_id}/access_tokens", input=body
        )
        REUSED_TOKENS.keep(key, data["token"], data.get("expires_at"))
        return data["token"]

    def client(self, token: str, pacer: WritePacer | None = None) -> Github:
        """A REST client acting as the installation, with GitHub's retry policy; its writes
        wait their turn with `pacer` (shared by the installation's runs)."""
        # lazy: objects are fetched only when an attribute is read, saving a GET per step.
        client = Github(auth=Auth.Token(token), base_url=self.settings.api_url,
                        retry=CountingRetry(), lazy=True, **_UNPACED)
        return pacer.pace(client) if pacer else client

    def installation_permissions(self, installation_id: int) -> dict[str, str]:
        """What the installation has granted the App (`GET /app/installations/{id}`)."""
        _headers, data = self.integration.requester.requestJsonAndCheck(
            "GET", f"/app/installations/{installation_id}")
        return dict(data.get("permissions") or {})

    def identity(self, client: Github, cache: redis.Redis | None = None) -> BotIdentity:
        """The App's bot user, cached in Redis for a day."""
        if cache is not None and (raw := cache.get(keys.APP_IDENTITY)):
            return BotIdentity(**json.loads(raw))
        slug = self.integration.get_app().slug
        user = client.get_user(f"{slug}[bot]")
        found = BotIdentity(slug, user.id, noreply_domain(self.settings.github_url))
        if cache is not None:
            cache.set(keys.APP_IDENTITY, json.dumps(found.__dict__), ex=IDENTITY_TTL)
        return found
