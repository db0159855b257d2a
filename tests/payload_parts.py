"""The pieces tests/payloads.py assembles: GitHub objects (users, labels, repositories...) and
the edits that re-point an example payload at another repository, issue and fake host.

Pure functions over payload dicts; every URL they make is on the given web base
(``http://host:port``), with the REST API at ``<web>/api/v3`` as on GitHub Enterprise Server.
"""

from __future__ import annotations

import base64
import re
import zlib
from dataclasses import dataclass
from typing import Any, Iterator
from urllib.parse import quote, urlsplit

REACTION_KINDS = ("+1", "-1", "laugh", "hooray", "confused", "heart", "rocket", "eyes")


def api(web: str) -> str:
    """The REST base for a web base, GHES style."""
    return f"{web}/api/v3"


def stable_id(text: str) -> int:
    """A deterministic, realistic-looking positive id for a name (same name, same id)."""
    return zlib.crc32(text.encode()) % 900_000_000 + 100_000_000


def node_id(kind: str, number: int) -> str:
    """A legacy GraphQL node id, as GitHub mints them: base64("0<len>:<Kind><id>")."""
    return base64.b64encode(f"0{len(kind)}:{kind}{number}".encode()).decode()


def reactions(url: str) -> dict[str, Any]:
    """The reactions rollup of an object nobody has reacted to."""
    return {"url": f"{url}/reactions", "total_count": 0, **{k: 0 for k in REACTION_KINDS}}


def user(web: str, login: str, user_id: int | None = None, kind: str = "User") -> dict[str, Any]:
    """A full user object; Bot logins (``slug[bot]``) get their App page as html_url."""
    uid = user_id if user_id is not None else stable_id(login)
    base = f"{api(web)}/users/{quote(login)}"
    html = f"{web}/apps/{login.removesuffix('[bot]')}" if kind == "Bot" else f"{web}/{login}"
    return {
        "login": login, "id": uid, "node_id": node_id("Bot" if kind == "Bot" else "User", uid),
        "avatar_url": f"{web}/avatars/u/{uid}?v=4", "gravatar_id": "", "url": base, "html_url": html,
        "followers_url": f"{base}/followers", "following_url": f"{base}/following{{/other_user}}",
        "gists_url": f"{base}/gists{{/gist_id}}", "starred_url": f"{base}/starred{{/owner}}{{/repo}}",
        "subscriptions_url": f"{base}/subscriptions", "organizations_url": f"{base}/orgs",
        "repos_url": f"{base}/repos", "events_url": f"{base}/events{{/privacy}}",
        "received_events_url": f"{base}/received_events", "type": kind, "site_admin": False,
    }


def as_user(web: str, spec: str | dict[str, Any]) -> dict[str, Any]:
    """A user object from a login or a {"login", "id", "type"} dict."""
    if isinstance(spec, str):
        return user(web, spec)
    return user(web, spec["login"], spec.get("id"), spec.get("type", "User"))


def organization(web: str, login: str, org_id: int) -> dict[str, Any]:
    """A full organization object (the payload's ``organization`` key)."""
    base = f"{api(web)}/orgs/{login}"
    return {
        "login": login, "id": org_id, "node_id": node_id("Organization", org_id), "url": base,
        "repos_url": f"{base}/repos", "events_url": f"{base}/events", "hooks_url": f"{base}/hooks",
        "issues_url": f"{base}/issues", "members_url": f"{base}/members{{/member}}",
        "public_members_url": f"{base}/public_members{{/member}}",
        "avatar_url": f"{web}/avatars/u/{org_id}?v=4", "description": None,
    }


def label(web: str, full_name: str, name: str) -> dict[str, Any]:
    """A label object of the repository."""
    lid = stable_id(f"{full_name}#{name}")
    return {
        "id": lid, "node_id": node_id("Label", lid), "name": name, "color": "ededed",
        "url": f"{api(web)}/repos/{full_name}/labels/{quote(name)}", "default": False,
        "description": None,
    }


@dataclass(frozen=True)
class RepoSpec:
    """The repository a built payload is about."""

    owner: str
    name: str
    id: int
    default_branch: str = "main"
    private: bool = False
    owner_type: str = "User"
    owner_id: int | None = None

    @property
    def full_name(self) -> str:
        """owner/name."""
        return f"{self.owner}/{self.name}"

    @classmethod
    def parse(cls, repo: dict[str, Any]) -> RepoSpec:
        """From {"full_name"} or {"owner", "name"} (owner a login or a user dict), plus extras."""
        if "full_name" in repo:
            owner, name = repo["full_name"].split("/", 1)
        else:
            owner, name = repo["owner"], repo["name"]
        owner_id = repo.get("owner_id")
        if isinstance(owner, dict):
            owner, owner_id = owner["login"], owner.get("id", owner_id)
        return cls(
            owner=owner, name=name, id=repo.get("id") or stable_id(f"{owner}/{name}"),
            default_branch=repo.get("default_branch", "main"), private=repo.get("private", False),
            owner_type=repo.get("owner_type", "User"), owner_id=owner_id,
        )

    def owner_user(self, web: str) -> dict[str, Any]:
        """The owner as a user object (organisations appear so in ``repository.owner``)."""
        return user(web, self.owner, self.owner_id, self.owner_type)

    def lite(self) -> dict[str, Any]:
        """The short form listed in installation payloads."""
        return {"id": self.id, "node_id": node_id("Repository", self.id), "name": self.name,
                "full_name": self.full_name, "private": self.private}


def repositories_in(payload: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The full repository objects of a payload: top level and the PR's base and head."""
    if isinstance(payload.get("repository"), dict):
        yield payload["repository"]
    pull = payload.get("pull_request")
    for side in ("base", "head") if isinstance(pull, dict) else ():
        if isinstance(pull.get(side, {}).get("repo"), dict):
            yield pull[side]["repo"]


def fill_repository(repo: dict[str, Any]) -> None:
    """Keys added to the repository schema after the examples were recorded."""
    repo.setdefault("is_template", False)
    repo.setdefault("web_commit_signoff_required", False)
    repo.setdefault("topics", [])
    repo.setdefault("visibility", "private" if repo.get("private") else "public")
    repo.setdefault("custom_properties", {})


def fill_issue(issue: dict[str, Any]) -> None:
    """Keys added to the issue schema after the examples were recorded."""
    issue.setdefault("active_lock_reason", None)
    issue.setdefault("reactions", reactions(issue["url"]))
    for item in issue.get("labels") or []:
        item.setdefault("description", None)


def fill_pull_request(pull: dict[str, Any]) -> None:
    """Keys added to the pull request schema after the examples were recorded."""
    pull.setdefault("draft", False)
    pull.setdefault("auto_merge", None)
    pull.setdefault("active_lock_reason", None)


def fill_comment(comment: dict[str, Any], review: bool) -> None:
    """Keys added to the issue comment / review comment schemas since the examples."""
    comment.setdefault("reactions", reactions(comment["url"]))
    if not review:
        comment.setdefault("performed_via_github_app", None)
        return
    # A single-line comment on the new side of the diff; position was its old locator.
    for key in ("start_line", "original_start_line", "start_side"):
        comment.setdefault(key, None)
    comment.setdefault("line", comment.get("position"))
    comment.setdefault("original_line", comment.get("original_position"))
    comment.setdefault("side", "RIGHT")


def replace_strings(node: Any, old: str | re.Pattern[str], new: Any) -> Any:
    """Every string in node with old (text or regex) replaced by new; dicts/lists in place."""
    if isinstance(node, str):
        return old.sub(new, node) if isinstance(old, re.Pattern) else node.replace(old, new)
    if isinstance(node, dict):
        for key, value in node.items():
            node[key] = replace_strings(value, old, new)
    elif isinstance(node, list):
        node[:] = [replace_strings(value, old, new) for value in node]
    return node


_GITHUB_URL = re.compile(r"(https?|git)://((?:[\w-]+\.)*)github\.com|([\w-]+)@github\.com:")
# Commit authors' addresses (``noreply@github.com``, ``<id>+<login>@users.noreply.github.com``):
# GitHub Enterprise Server spells them on its own host.
_GITHUB_EMAIL = re.compile(r"(@(?:[\w-]+\.)*)github\.com\b")


def repoint(payload: dict[str, Any], web: str) -> dict[str, Any]:
    """Move every github.com URL onto web (api.* to /api/v3, uploads.* to /api/uploads), and
    every github.com e-mail address onto web's host."""
    # git:// and ssh URLs name the host without the web port, as GHES does.
    host = urlsplit(web).hostname

    def moved(match: re.Match[str]) -> str:
        if match.group(3):  # scp-style ssh URL: user@github.com:owner/repo.git
            return f"{match.group(3)}@{host}:"
        if match.group(1) == "git":
            return f"git://{host}"
        sub = match.group(2)
        return api(web) if sub == "api." else f"{web}/api/uploads" if sub == "uploads." else web

    replace_strings(payload, _GITHUB_URL, moved)
    return replace_strings(payload, _GITHUB_EMAIL, rf"\g<1>{host}")


def retarget_repository(payload: dict[str, Any], spec: RepoSpec, web: str) -> None:
    """Make the payload about spec's repository: names in every URL, ids, owner, branches."""
    old = (payload.get("repository") or {}).get("full_name")
    if old is None:
        return
    replace_strings(payload, re.compile(rf"(?<![\w.-]){re.escape(old)}(?![\w-])"), spec.full_name)
    owner = spec.owner_user(web)
    for repo in repositories_in(payload):
        if repo.get("full_name") != spec.full_name:
            continue  # a fork's head repository stays the fork's
        repo.update(id=spec.id, node_id=node_id("Repository", spec.id), name=spec.name,
                    owner=owner, private=spec.private, default_branch=spec.default_branch,
                    visibility="private" if spec.private else "public")
        repo.pop("master_branch", None)
    base = (payload.get("pull_request") or {}).get("base")
    if base is not None:
        base.update(ref=spec.default_branch, label=f"{spec.owner}:{spec.default_branch}", user=owner)
    payload.pop("organization", None)
    if spec.owner_type == "Organization":
        payload["organization"] = organization(web, spec.owner, owner["id"])


def retarget_installation(
    payload: dict[str, Any], installation_id: int, spec: RepoSpec | None, web: str
) -> None:
    """The full installation object of installation events, on spec's owner and repository."""
    inst = payload["installation"]
    inst.update(id=installation_id,
                access_tokens_url=f"{api(web)}/app/installations/{installation_id}/access_tokens",
                html_url=f"{web}/settings/installations/{installation_id}")
    if spec is None:
        return
    owner = spec.owner_user(web)
    inst.update(account=owner, target_id=owner["id"], target_type=spec.owner_type)
    for key in ("repositories", "repositories_added", "repositories_removed"):
        if payload.get(key):
            payload[key] = [spec.lite()]


def _renumber(payload: dict[str, Any], full_name: str, old: int, new: int) -> None:
    """Rewrite /issues/N, /pull/N and /pulls/N of this repository in every URL."""
    pattern = re.compile(rf"(/{re.escape(full_name)}/(?:issues|pulls?)/){old}(?!\d)")
    replace_strings(payload, pattern, rf"\g<1>{new}")


def apply_issue(payload: dict[str, Any], issue: dict[str, Any], web: str, full_name: str) -> None:
    """Set number, title, body, labels, state, user (and PR-ness), and the ``updated_at`` and
    ``closed_at`` times, on the issue or the PR."""
    target = payload.get("issue") or payload.get("pull_request")
    if "number" in issue and issue["number"] != target["number"]:
        _renumber(payload, full_name, target["number"], issue["number"])
        target["number"] = issue["number"]
        if "number" in payload:
            payload["number"] = issue["number"]
    for key in ("title", "body", "state", "updated_at", "closed_at"):
        if key in issue:
            target[key] = issue[key]
    if "labels" in issue:
        target["labels"] = [label(web, full_name, name) for name in issue["labels"]]
    if "user" in issue:
        target["user"] = as_user(web, issue["user"])
    if "pull_request" in payload:
        _apply_branches(payload["pull_request"], issue)
    elif issue.get("pull_request"):
        _make_pull_request(target, web, full_name)


def _apply_branches(pull: dict[str, Any], issue: dict[str, Any]) -> None:
    """Branch names (and head sha) of a PR; a label is "<owner login>:<branch>"."""
    for side in ("head", "base"):
        if side in issue:
            owner = pull[side]["label"].split(":")[0]
            pull[side].update(ref=issue[side], label=f"{owner}:{issue[side]}")
    if "head_sha" in issue:
        pull["head"]["sha"] = issue["head_sha"]


def _make_pull_request(target: dict[str, Any], web: str, full_name: str) -> None:
    """GitHub marks an issue that is a PR with issue.pull_request, and links it as /pull/N."""
    html = f"{web}/{full_name}/pull/{target['number']}"
    target["html_url"] = html
    target["pull_request"] = {
        "url": f"{api(web)}/repos/{full_name}/pulls/{target['number']}", "html_url": html,
        "diff_url": f"{html}.diff", "patch_url": f"{html}.patch", "merged_at": None,
    }


def apply_label(payload: dict[str, Any], name: str, web: str, full_name: str) -> None:
    """The event's label; labeled puts it on the issue/PR, unlabeled takes it off."""
    payload["label"] = label(web, full_name, name)
    target = payload.get("issue") or payload.get("pull_request")
    kept = [item for item in target.get("labels") or [] if item["name"] != name]
    target["labels"] = kept + ([payload["label"]] if payload.get("action") == "labeled" else [])


def _apply_common(obj: dict[str, Any], spec: dict[str, Any], web: str, kind: str) -> None:
    """id, node_id, body and user, then any other given field verbatim."""
    if "id" in spec:
        obj.update(id=spec["id"], node_id=node_id(kind, spec["id"]))
    if "user" in spec:
        obj["user"] = as_user(web, spec["user"])
    obj.update({k: v for k, v in spec.items() if k not in ("id", "user")})


def apply_comment(payload: dict[str, Any], spec: dict[str, Any], web: str) -> None:
    """The event's comment (issue comment or review comment) with its URLs."""
    comment = payload["comment"]
    review = "pull_request_review_id" in comment
    _apply_common(comment, spec, web, "PullRequestReviewComment" if review else "IssueComment")
    cid, full = comment["id"], payload["repository"]["full_name"]
    if review:
        url, pull = f"{api(web)}/repos/{full}/pulls/comments/{cid}", payload["pull_request"]
        html = f"{pull['html_url']}#discussion_r{cid}"
        comment.update(url=url, html_url=html, pull_request_url=pull["url"])
        comment["_links"] = {
            "self": {"href": url}, "html": {"href": html}, "pull_request": {"href": pull["url"]},
        }
    else:
        url, issue = f"{api(web)}/repos/{full}/issues/comments/{cid}", payload["issue"]
        comment.update(url=url, html_url=f"{issue['html_url']}#issuecomment-{cid}", issue_url=issue["url"])
    comment["reactions"] = reactions(url)


def apply_review(payload: dict[str, Any], spec: dict[str, Any], web: str) -> None:
    """The event's review (pull_request_review) with its URLs."""
    review, pull = payload["review"], payload["pull_request"]
    _apply_common(review, spec, web, "PullRequestReview")
    html = f"{pull['html_url']}#pullrequestreview-{review['id']}"
    review.update(html_url=html, pull_request_url=pull["url"])
    review["_links"] = {"html": {"href": html}, "pull_request": {"href": pull["url"]}}
