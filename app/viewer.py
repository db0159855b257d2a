"""Who is looking at mission control, and what they may see and stop.

The signed session cookie says who signed in; what they can read is kept in Redis under a
random key the cookie names (`orca:viewer:<key>`), because a person in a large organisation
can read thousands of repositories and a cookie holds 4 KB. Both last `SESSION_SECONDS`:
GitHub's user tokens last eight hours too, so access is never older than a fresh sign-in
would give.

Also the CSRF token: one random value per session, required on every POST.
"""

from __future__ import annotations

import hmac
import json
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import redis
from flask import session

from core import keys

SESSION_SECONDS = 8 * 3600


@dataclass(frozen=True)
class Viewer:
    """A signed-in person (repository ids they can read and write) or an operator (admin)."""

    login: str
    admin: bool = False
    readable: frozenset[int] = field(default_factory=frozenset)
    writable: frozenset[int] = field(default_factory=frozenset)

    def can_see(self, run: dict[str, Any]) -> bool:
        return self.admin or run.get("repository_id") in self.readable

    def can_see_installation(self, repository_ids: Iterable[int]) -> bool:
        """An installation's figures: for operators, and people who can read one of the
        repositories given (those that ran on it)."""
        return self.admin or not self.readable.isdisjoint(repository_ids)

    def can_stop(self, run: dict[str, Any]) -> bool:
        """Only people who could have started the run (write access) may stop it."""
        return self.admin or run.get("repository_id") in self.writable


def _key(session_key: str) -> str:
    return keys.viewer(session_key)


def remember(connection: redis.Redis, login: str, readable: set[int], writable: set[int]) -> str:
    """Keep what `login` can read and write; returns the key their session carries."""
    key = secrets.token_urlsafe(24)
    access = {"login": login, "read": sorted(readable), "write": sorted(writable)}
    connection.set(_key(key), json.dumps(access), ex=SESSION_SECONDS)
    return key


def sign_in(connection: redis.Redis, login: str, readable: set[int], writable: set[int]) -> None:
    """Start a fresh session for `login` (a new cookie: no fixation) with their access."""
    key = remember(connection, login, readable, writable)
    session.clear()
    session.permanent = True
    session.update(viewer=key, login=login)


def sign_in_admin() -> None:
    """An operator who gave ORCA_ADMIN_TOKEN: sees and stops every run."""
    session.clear()
    session.permanent = True
    session.update(admin=True, login="operator")


def sign_out(connection: redis.Redis) -> None:
    key = session.get("viewer")
    if key:
        connection.delete(_key(key))
    session.clear()


def current(connection: redis.Redis) -> Viewer | None:
    """The viewer of this request, or None when nobody (still) is signed in."""
    if session.get("admin"):
        return Viewer(login=session.get("login", "operator"), admin=True)
    key = session.get("viewer")
    raw = connection.get(_key(key)) if key else None
    if raw is None:
        return None
    access = json.loads(raw)
    return Viewer(access["login"], readable=frozenset(access["read"]),
                  writable=frozenset(access["write"]))


def csrf_token() -> str:
    """This session's CSRF token, made on first use (templates put it in every form)."""
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(24)
    return session["csrf"]


def csrf_ok(sent: str | None) -> bool:
    """Whether a POST carried this session's token (constant-time comparison)."""
    expected = session.get("csrf")
    return bool(expected and sent) and hmac.compare_digest(str(expected), str(sent))
