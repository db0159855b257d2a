"""GitHub's JSON for accounts, the App, installations, tokens and repositories.

Each builder returns what api.github.com would, with every URL on the fake's own base: PyGithub
asserts that absolute URLs in a response share the scheme, host, port and prefix of its base.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tests.fakes.github_state import COARSE_ROLE, ROLE_LEVELS, Installation, Repo, Token, User, iso, now


@dataclass(frozen=True)
class Site:
    """Where the fake lives: ``web`` is the html host, ``api`` the REST root (web + /api/v3)."""

    web: str

    @property
    def api(self) -> str:
        """The REST API root."""
        return self.web + "/api/v3"


def node_id(kind: str, number: int) -> str:
    """An opaque GraphQL-style node id, stable for a given object."""
    return f"{kind}_kw{number:08d}"


_USER_LINKS = ("events_url", "followers_url", "following_url", "gists_url",
               "organizations_url", "received_events_url", "repos_url", "starred_url",
               "subscriptions_url")


def simple_user(site: Site, user: User) -> dict[str, Any]:
    """The ``simple-user`` object."""
    url = f"{site.api}/users/{user.login}"
    links = {name: f"{url}/{name.removesuffix('_url')}" for name in _USER_LINKS}
    return {
        "login": user.login, "id": user.id, "node_id": node_id("U", user.id),
        "avatar_url": f"{site.web}/avatars/{user.id}", "gravatar_id": "",
        "url": url, "html_url": f"{site.web}/{user.login}", "type": user.type,
        "site_admin": False, "user_view_type": "public", **links,
    }


def public_user(site: Site, user: User) -> dict[str, Any]:
    """The ``public-user`` object returned by ``GET /users/{username}``."""
    stamp = iso(now())
    return {
        **simple_user(site, user), "name": user.login, "company": None, "blog": "",
        "location": None, "email": None, "hireable": None, "bio": None, "public_repos": 0,
        "public_gists": 0, "followers": 0, "following": 0, "created_at": stamp,
        "updated_at": stamp,
    }


def app(site: Site, app_id: int, slug: str, owner: User, permissions: dict[str, str]) -> dict[str, Any]:
    """The ``integration`` object returned by ``GET /app``."""
    return {
        "id": app_id, "slug": slug, "node_id": node_id("A", app_id), "client_id": f"Iv1.{app_id}",
        "owner": simple_user(site, owner), "name": slug, "description": "Orca under test",
        "external_url": f"{site.web}/apps/{slug}", "html_url": f"{site.web}/apps/{slug}",
        "created_at": "2024-01-01T00:00:00Z", "updated_at": "2024-01-01T00:00:00Z",
        "permissions": dict(permissions), "installations_count": 1,
        "events": ["issues", "issue_comment", "pull_request_review_comment",
                   "pull_request_review"],
    }


def installation(site: Site, inst: Installation, app_id: int, slug: str,
                 events: list[str]) -> dict[str, Any]:
    """The ``installation`` object."""
    return {
        "id": inst.id, "app_id": app_id, "app_slug": slug, "client_id": f"Iv1.{app_id}",
        "account": simple_user(site, inst.account), "target_id": inst.account.id,
        "target_type": inst.account.type, "repository_selection": "selected",
        "single_file_name": None, "permissions": dict(inst.permissions), "events": events,
        "access_tokens_url": f"{site.api}/app/installations/{inst.id}/access_tokens",
        "repositories_url": f"{site.api}/installation/repositories",
        "html_url": f"{site.web}/settings/installations/{inst.id}",
        "created_at": iso(inst.created_at), "updated_at": iso(inst.created_at),
        "suspended_by": None, "suspended_at": None,
    }


def installation_token(site: Site, token: Token, repos: list[Repo] | None) -> dict[str, Any]:
    """The ``installation-token`` object; ``repos`` when the token was scoped to some."""
    body: dict[str, Any] = {
        "token": token.token, "expires_at": iso(token.expires_at),
        "permissions": dict(token.permissions),
        "repository_selection": "all" if repos is None else "selected",
    }
    if repos is not None:
        body["repositories"] = [repository(site, r) for r in repos]
    return body


# Repository URL templates, as GitHub spells them (path suffix after the repo's API url).
_REPO_LINKS = {
    "archive_url": "/{archive_format}{/ref}", "assignees_url": "/assignees{/user}",
    "blobs_url": "/git/blobs{/sha}", "branches_url": "/branches{/branch}",
    "collaborators_url": "/collaborators{/collaborator}", "comments_url": "/comments{/number}",
    "commits_url": "/commits{/sha}", "compare_url": "/compare/{base}...{head}",
    "contents_url": "/contents/{+path}", "contributors_url": "/contributors",
    "deployments_url": "/deployments", "downloads_url": "/downloads", "events_url": "/events",
    "forks_url": "/forks", "git_commits_url": "/git/commits{/sha}",
    "git_refs_url": "/git/refs{/sha}", "git_tags_url": "/git/tags{/sha}",
    "hooks_url": "/hooks", "issue_comment_url": "/issues/comments{/number}",
    "issue_events_url": "/issues/events{/number}", "issues_url": "/issues{/number}",
    "keys_url": "/keys{/key_id}", "labels_url": "/labels{/name}", "languages_url": "/languages",
    "merges_url": "/merges", "milestones_url": "/milestones{/number}",
    "notifications_url": "/notifications{?since,all,participating}", "pulls_url": "/pulls{/number}",
    "releases_url": "/releases{/id}", "stargazers_url": "/stargazers",
    "statuses_url": "/statuses/{sha}", "subscribers_url": "/subscribers",
    "subscription_url": "/subscription", "tags_url": "/tags", "teams_url": "/teams",
    "trees_url": "/git/trees{/sha}",
}


def repository(site: Site, repo: Repo) -> dict[str, Any]:
    """The ``repository`` object (as nested in pulls and tokens)."""
    url = f"{site.api}/repos/{repo.full_name}"
    html = f"{site.web}/{repo.full_name}"
    stamp = iso(repo.created_at)
    return {
        "id": repo.id, "node_id": node_id("R", repo.id), "name": repo.name,
        "full_name": repo.full_name, "owner": simple_user(site, repo.owner),
        "private": repo.private, "visibility": "private" if repo.private else "public",
        "html_url": html, "description": None, "fork": False, "url": url,
        **{name: url + suffix for name, suffix in _REPO_LINKS.items()},
        "git_url": f"{html}.git", "ssh_url": f"{html}.git", "clone_url": f"{html}.git",
        "svn_url": html, "mirror_url": None, "homepage": None, "language": None,
        "forks": 0, "forks_count": 0, "stargazers_count": 0, "watchers_count": 0,
        "watchers": 0, "size": 1, "default_branch": repo.default_branch,
        "open_issues": 0, "open_issues_count": 0, "is_template": False, "topics": [],
        "has_issues": True, "has_projects": False, "has_wiki": False, "has_pages": False,
        "has_downloads": False, "has_discussions": False, "archived": False,
        "disabled": False, "license": None, "pushed_at": stamp, "created_at": stamp,
        "updated_at": stamp, "allow_forking": True, "web_commit_signoff_required": False,
    }


def role_flags(role: str) -> dict[str, bool]:
    """The ``permissions`` flags GitHub derives from a fine-grained role."""
    level = ROLE_LEVELS.index(role)
    names = ("pull", "triage", "push", "maintain", "admin")
    return {name: level > i for i, name in enumerate(names)}


def full_repository(site: Site, repo: Repo, role: str) -> dict[str, Any]:
    """The ``full-repository`` object of ``GET /repos/{owner}/{repo}``, seen with ``role``."""
    return {
        **repository(site, repo), "network_count": 0, "subscribers_count": 0,
        "permissions": role_flags(role),
    }


def collaborator_permission(site: Site, user: User, role: str) -> dict[str, Any]:
    """The ``repository-collaborator-permission`` object for ``user`` holding ``role``."""
    collaborator = {**simple_user(site, user), "role_name": role, "permissions": role_flags(role)}
    return {"permission": COARSE_ROLE[role], "role_name": role, "user": collaborator}
