"""GitHub's JSON for conversations: issues, comments, reactions, pulls, reviews, branches."""

from __future__ import annotations

from typing import Any

from tests.fakes.github_objects import Site, node_id, repository, simple_user
from tests.fakes.github_state import (
    Comment, Issue, Reaction, Repo, Review, ReviewComment, User, iso,
)

REACTIONS = ("+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes")


def reaction_rollup(url: str, reactions: list[Reaction]) -> dict[str, Any]:
    """The ``reactions`` summary embedded in issues and comments."""
    counts = {content: 0 for content in REACTIONS}
    for reaction in reactions:
        counts[reaction.content] += 1
    return {"url": url + "/reactions", "total_count": len(reactions), **counts}


def reaction(site: Site, item: Reaction) -> dict[str, Any]:
    """The ``reaction`` object."""
    return {"id": item.id, "node_id": node_id("REA", item.id), "content": item.content,
            "user": simple_user(site, item.user), "created_at": iso(item.created_at)}


def _association(issue_repo: Repo, user: User) -> str:
    """``author_association``: OWNER for the repository owner, NONE otherwise."""
    return "OWNER" if user.login == issue_repo.owner.login else "NONE"


def issue(site: Site, item: Issue, comments: int, reactions: list[Reaction]) -> dict[str, Any]:
    """The ``issue`` object; pulls carry a ``pull_request`` key, as on GitHub."""
    repo_url = f"{site.api}/repos/{item.repo.full_name}"
    url = f"{repo_url}/issues/{item.number}"
    kind = "pull" if item.pull else "issues"
    body: dict[str, Any] = {
        "id": item.id, "node_id": node_id("I", item.id), "number": item.number,
        "title": item.title, "body": item.body, "user": simple_user(site, item.user),
        "labels": [_label(site, item.repo, name) for name in item.labels],
        # state_reason is left out while null: GitHub sends null, but the description's
        # nullable enum does not admit it under openapi-core.
        "state": item.state, "locked": False, "assignee": None,
        "assignees": [], "milestone": None, "comments": comments,
        "created_at": iso(item.created_at), "updated_at": iso(item.updated_at),
        "closed_at": iso(item.closed_at), "author_association": _association(item.repo, item.user),
        "url": url, "repository_url": repo_url, "labels_url": url + "/labels{/name}",
        "comments_url": url + "/comments", "events_url": url + "/events",
        "html_url": f"{site.web}/{item.repo.full_name}/{kind}/{item.number}",
        "reactions": reaction_rollup(url, reactions),
    }
    if item.pull:
        pull_url = f"{repo_url}/pulls/{item.number}"
        html = f"{site.web}/{item.repo.full_name}/pull/{item.number}"
        body["pull_request"] = {"url": pull_url, "html_url": html, "diff_url": html + ".diff",
                                "patch_url": html + ".patch", "merged_at": None}
    return body


def _label(site: Site, repo: Repo, name: str) -> dict[str, Any]:
    """A label object; ids are derived from the name so they stay stable."""
    label_id = abs(hash((repo.id, name))) % 10**9
    return {"id": label_id, "node_id": node_id("LA", label_id), "name": name, "color": "ededed",
            "default": False, "description": None,
            "url": f"{site.api}/repos/{repo.full_name}/labels/{name}"}


def comment(site: Site, item: Comment, reactions: list[Reaction]) -> dict[str, Any]:
    """The ``issue-comment`` object."""
    repo = item.issue.repo
    url = f"{site.api}/repos/{repo.full_name}/issues/comments/{item.id}"
    kind = "pull" if item.issue.pull else "issues"
    return {
        "id": item.id, "node_id": node_id("IC", item.id), "url": url, "body": item.body,
        "html_url": f"{site.web}/{repo.full_name}/{kind}/{item.issue.number}#issuecomment-{item.id}",
        "issue_url": f"{site.api}/repos/{repo.full_name}/issues/{item.issue.number}",
        "user": simple_user(site, item.user), "created_at": iso(item.created_at),
        "updated_at": iso(item.updated_at), "author_association": _association(repo, item.user),
        "reactions": reaction_rollup(url, reactions),
    }


def _branch_end(site: Site, repo: Repo, ref: str, sha: str) -> dict[str, Any]:
    """The ``head`` or ``base`` of a pull."""
    return {"label": f"{repo.owner.login}:{ref}", "ref": ref, "sha": sha,
            "user": simple_user(site, repo.owner), "repo": repository(site, repo)}


def _pull_links(site: Site, item: Issue) -> dict[str, dict[str, str]]:
    """The ``_links`` of a pull."""
    repo_url = f"{site.api}/repos/{item.repo.full_name}"
    url = f"{repo_url}/pulls/{item.number}"
    hrefs = {
        "self": url, "html": f"{site.web}/{item.repo.full_name}/pull/{item.number}",
        "issue": f"{repo_url}/issues/{item.number}",
        "comments": f"{repo_url}/issues/{item.number}/comments",
        "review_comments": url + "/comments", "review_comment": f"{repo_url}/pulls/comments{{/number}}",
        "commits": url + "/commits", "statuses": f"{repo_url}/statuses/{item.pull.head_sha}",
    }
    return {name: {"href": href} for name, href in hrefs.items()}


def pull_simple(site: Site, item: Issue) -> dict[str, Any]:
    """The ``pull-request-simple`` object (list entries)."""
    assert item.pull is not None
    pull = item.pull
    links = _pull_links(site, item)
    html = links["html"]["href"]
    return {
        "id": item.id, "node_id": node_id("PR", item.id), "number": item.number,
        "state": item.state, "locked": False, "title": item.title, "body": item.body,
        "user": simple_user(site, item.user), "labels": [], "milestone": None,
        "assignee": None, "assignees": [], "requested_reviewers": [], "requested_teams": [],
        "created_at": iso(item.created_at), "updated_at": iso(item.updated_at),
        "closed_at": iso(item.closed_at), "merged_at": None, "merge_commit_sha": None,
        "draft": pull.draft, "author_association": _association(item.repo, item.user),
        "auto_merge": None, "url": links["self"]["href"], "html_url": html,
        "diff_url": html + ".diff", "patch_url": html + ".patch",
        "issue_url": links["issue"]["href"], "comments_url": links["comments"]["href"],
        "commits_url": links["commits"]["href"], "statuses_url": links["statuses"]["href"],
        "review_comments_url": links["review_comments"]["href"],
        "review_comment_url": links["review_comment"]["href"],
        "head": _branch_end(site, pull.head_repo, pull.head_ref, pull.head_sha),
        "base": _branch_end(site, item.repo, pull.base_ref, pull.base_sha), "_links": links,
    }


def pull_full(site: Site, item: Issue, comments: int, review_comments: int) -> dict[str, Any]:
    """The ``pull-request`` object."""
    assert item.pull is not None
    return {
        **pull_simple(site, item), "merged": item.pull.merged, "mergeable": True,
        "mergeable_state": "clean", "rebaseable": True, "merged_by": None,
        "maintainer_can_modify": False, "comments": comments,
        "review_comments": review_comments, "commits": 1, "additions": 0, "deletions": 0,
        "changed_files": 0,
    }


def review_comment(site: Site, item: ReviewComment, reactions: list[Reaction]) -> dict[str, Any]:
    """The ``pull-request-review-comment`` object (also valid as ``review-comment``)."""
    repo = item.pull.repo
    url = f"{site.api}/repos/{repo.full_name}/pulls/comments/{item.id}"
    html = f"{site.web}/{repo.full_name}/pull/{item.pull.number}#discussion_r{item.id}"
    pull_url = f"{site.api}/repos/{repo.full_name}/pulls/{item.pull.number}"
    body: dict[str, Any] = {
        "id": item.id, "node_id": node_id("PRRC", item.id), "url": url, "body": item.body,
        "pull_request_review_id": item.review_id, "diff_hunk": f"@@ -{item.line} +{item.line} @@",
        "path": item.path, "position": item.line, "original_position": item.line,
        "line": item.line, "original_line": item.line, "side": item.side,
        "commit_id": item.commit_id, "original_commit_id": item.commit_id,
        "user": simple_user(site, item.user), "created_at": iso(item.created_at),
        "updated_at": iso(item.updated_at), "html_url": html, "pull_request_url": pull_url,
        "author_association": _association(repo, item.user),
        "_links": {"self": {"href": url}, "html": {"href": html},
                   "pull_request": {"href": pull_url}},
        "reactions": reaction_rollup(url, reactions),
    }
    if item.in_reply_to_id is not None:
        body["in_reply_to_id"] = item.in_reply_to_id
    return body


def review(site: Site, item: Review) -> dict[str, Any]:
    """The ``pull-request-review`` object."""
    repo = item.pull.repo
    pull_url = f"{site.api}/repos/{repo.full_name}/pulls/{item.pull.number}"
    html = f"{site.web}/{repo.full_name}/pull/{item.pull.number}#pullrequestreview-{item.id}"
    return {
        "id": item.id, "node_id": node_id("PRR", item.id), "user": simple_user(site, item.user),
        "body": item.body, "state": item.state, "commit_id": item.commit_id,
        "html_url": html, "pull_request_url": pull_url,
        "submitted_at": iso(item.submitted_at),
        "author_association": _association(repo, item.user),
        "_links": {"html": {"href": html}, "pull_request": {"href": pull_url}},
    }


def rate_limit(reset: int) -> dict[str, Any]:
    """The ``rate-limit-overview`` object: always plenty left."""
    window = {"limit": 5000, "remaining": 4999, "reset": reset, "used": 1}
    return {"rate": window, "resources": {"core": window, "search": dict(window, limit=30)}}
