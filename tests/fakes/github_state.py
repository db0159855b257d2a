"""The fake GitHub's in-memory world: users, installations, tokens, repositories, threads.

Plain dataclasses, no HTTP. Handlers in ``github_api_*.py`` read and change them under
``State.lock``; ``github_objects*.py`` turn them into GitHub's JSON.
"""

from __future__ import annotations

import datetime as dt
import itertools
import threading
from dataclasses import dataclass, field
from typing import Any

# GitHub's permission levels for a collaborator, weakest first
# (https://docs.github.com/en/rest/collaborators/collaborators#get-repository-permissions-for-a-user).
ROLE_LEVELS = ("none", "read", "triage", "write", "maintain", "admin")
# The coarse ``permission`` field folds the fine-grained roles: triage reads, maintain writes.
COARSE_ROLE = {"none": "none", "read": "read", "triage": "read", "write": "write",
               "maintain": "write", "admin": "admin"}
# App permission levels, weakest first.
ACCESS_LEVELS = ("read", "write", "admin")
DEFAULT_INSTALLATION_PERMISSIONS = {
    "contents": "write", "issues": "write", "pull_requests": "write",
    "metadata": "read", "checks": "read",
}


def now() -> dt.datetime:
    """The current time in UTC, to the second as GitHub reports it."""
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


def iso(moment: dt.datetime | None) -> str | None:
    """GitHub's timestamp format, ``2024-01-31T12:00:00Z``."""
    return None if moment is None else moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def grants(have: str | None, want: object) -> bool:
    """Whether access level ``have`` covers ``want`` (write covers read)."""
    if have not in ACCESS_LEVELS or want not in ACCESS_LEVELS:
        return False
    return ACCESS_LEVELS.index(str(have)) >= ACCESS_LEVELS.index(str(want))


@dataclass
class User:
    """A user, organisation or bot account."""

    id: int
    login: str
    type: str = "User"


@dataclass
class Installation:
    """One installation of the App on an account."""

    id: int
    account: User
    permissions: dict[str, str]
    created_at: dt.datetime = field(default_factory=now)


@dataclass
class Token:
    """An installation access token and what it was scoped to."""

    token: str
    installation_id: int
    permissions: dict[str, str]
    expires_at: dt.datetime
    repository_ids: set[int] | None  # None: every repository of the installation
    request_body: dict[str, Any] | None


@dataclass
class Repo:
    """A repository, backed by a bare git repository on disk."""

    id: int
    owner: User
    name: str
    installation_id: int | None
    default_branch: str
    private: bool
    created_at: dt.datetime = field(default_factory=now)
    next_number: int = 1  # issues and pulls share one sequence, as on GitHub
    permissions: dict[str, str] = field(default_factory=dict)  # login -> role

    @property
    def full_name(self) -> str:
        """``owner/name``."""
        return f"{self.owner.login}/{self.name}"


@dataclass
class PullInfo:
    """The pull-request half of an issue that is a pull request."""

    head_repo: Repo
    head_ref: str
    base_ref: str
    head_sha: str
    base_sha: str
    draft: bool = False
    merged: bool = False


@dataclass
class Issue:
    """An issue or, when ``pull`` is set, a pull request."""

    id: int
    repo: Repo
    number: int
    title: str
    body: str | None
    user: User
    labels: list[str]
    state: str = "open"
    created_at: dt.datetime = field(default_factory=now)
    updated_at: dt.datetime = field(default_factory=now)
    closed_at: dt.datetime | None = None
    pull: PullInfo | None = None


@dataclass
class Comment:
    """A conversation comment on an issue or pull request."""

    id: int
    issue: Issue
    body: str
    user: User
    created_at: dt.datetime = field(default_factory=now)
    updated_at: dt.datetime = field(default_factory=now)


@dataclass
class Review:
    """A pull request review."""

    id: int
    pull: Issue
    user: User
    body: str
    state: str
    commit_id: str
    submitted_at: dt.datetime = field(default_factory=now)


@dataclass
class ReviewComment:
    """A comment on a line of a pull request's diff."""

    id: int
    pull: Issue
    body: str
    user: User
    path: str
    line: int
    commit_id: str
    review_id: int | None = None
    in_reply_to_id: int | None = None
    created_at: dt.datetime = field(default_factory=now)
    updated_at: dt.datetime = field(default_factory=now)
    last_edited_at: dt.datetime | None = None
    resolved: bool = False  # on a thread's first comment: the whole thread
    outdated: bool = False
    side: str = "RIGHT"
    start_line: int | None = None


@dataclass
class Reaction:
    """A reaction on an issue, a comment or a review comment."""

    id: int
    subject: str  # "issue:<id>", "comment:<id>" or "review_comment:<id>"
    content: str
    user: User
    created_at: dt.datetime = field(default_factory=now)


@dataclass
class Delivery:
    """A webhook delivery as listed by ``GET /app/hook/deliveries``."""

    id: int
    guid: str
    event: str
    action: str | None
    installation_id: int | None
    repository_id: int | None
    status_code: int = 200
    redelivery: bool = False
    payload: dict[str, Any] | None = None
    delivered_at: dt.datetime = field(default_factory=now)


@dataclass
class State:
    """Everything the fake knows; guard changes with ``lock``."""

    lock: threading.RLock = field(default_factory=threading.RLock)
    ids: itertools.count = field(default_factory=lambda: itertools.count(1000))
    users: dict[str, User] = field(default_factory=dict)
    installations: dict[int, Installation] = field(default_factory=dict)
    tokens: dict[str, Token] = field(default_factory=dict)
    repos: dict[str, Repo] = field(default_factory=dict)  # lower-case full name -> repo
    issues: dict[tuple[int, int], Issue] = field(default_factory=dict)  # (repo id, number)
    comments: dict[int, Comment] = field(default_factory=dict)
    reviews: dict[int, Review] = field(default_factory=dict)
    review_comments: dict[int, ReviewComment] = field(default_factory=dict)
    reactions: list[Reaction] = field(default_factory=list)
    deliveries: dict[int, Delivery] = field(default_factory=dict)
    redelivery_requests: list[int] = field(default_factory=list)
    manifest_codes: set[str] = field(default_factory=set)
    user_tokens: dict[str, str] = field(default_factory=dict)  # ghu_ token -> login
    web_login: str | None = None  # who is signed in to the fake's web UI (OAuth approvals)

    def next_id(self) -> int:
        """A fresh id, unique across every kind of object."""
        return next(self.ids)

    def user(self, login: str, type: str = "User") -> User:
        """The user called ``login``, created on first use."""
        with self.lock:
            if login not in self.users:
                self.users[login] = User(self.next_id(), login, type)
            return self.users[login]

    def repo(self, full_name: str) -> Repo | None:
        """The repository ``owner/name`` (case-insensitive, as on GitHub)."""
        return self.repos.get(full_name.lower())

    def issue(self, repo: Repo, number: int) -> Issue | None:
        """Issue or pull ``number`` of ``repo``."""
        return self.issues.get((repo.id, number))

    def role(self, repo: Repo, login: str) -> str:
        """A user's fine-grained role on ``repo``; the owner is admin, others read if public."""
        if login in repo.permissions:
            return repo.permissions[login]
        if login == repo.owner.login:
            return "admin"
        return "none" if repo.private else "read"

    def installation_repos(self, installation_id: int) -> list[Repo]:
        """Repositories the installation can reach."""
        return [r for r in self.repos.values() if r.installation_id == installation_id]
