"""The fake's issue writes: opening an issue, and GitHub's sub-issues API.

``sub_issues_missing`` on the fake makes the sub-issues endpoints answer 404, as a GitHub
Enterprise Server older than the API does.
"""

from __future__ import annotations

from werkzeug.wrappers import Response

from tests.fakes.github_api_common import (
    ApiError,
    Ctx,
    Route,
    json_response,
    not_found,
    validation_failed,
)
from tests.fakes.github_api_repos import _issue, issue_json

_REPO = "/repos/<owner>/<repo>"


def create_issue(ctx: Ctx, owner: str, repo: str) -> Response:
    """``POST /repos/{owner}/{repo}/issues``: 201 with the new issue."""
    found = ctx.repo(owner, repo, "issues", "write")
    given = ctx.body()
    title = given.get("title")
    if not isinstance(title, str) or not title.strip():
        raise validation_failed("title cannot be blank", "title", "missing_field")
    body = given.get("body")
    number = ctx.fake._store_issue(found, title, body if isinstance(body, str) else None,
                                   ctx.actor(), [])
    return json_response(issue_json(ctx, ctx.state.issues[(found.id, number)]), 201)


def add_sub_issue(ctx: Ctx, owner: str, repo: str, issue_number: int) -> Response:
    """``POST /repos/{owner}/{repo}/issues/{issue_number}/sub_issues``: 201 with the parent.
    ``sub_issue_id`` is the child's id (not its number), in a repository of the same owner;
    an issue has one parent (422 without ``replace_parent``)."""
    if ctx.fake.sub_issues_missing:
        raise not_found()
    parent = _issue(ctx, owner, repo, issue_number, "issues", "write")
    child_id = ctx.body().get("sub_issue_id")
    child = next((i for i in ctx.state.issues.values() if i.id == child_id), None)
    if child is None or child.repo.owner is not parent.repo.owner or child is parent:
        raise ApiError(422, "Validation Failed")
    with ctx.state.lock:
        links = ctx.fake.sub_issues
        if child.id in links and not ctx.body().get("replace_parent"):
            raise ApiError(422, "Validation Failed: the issue already has a parent")
        links[child.id] = parent.id
    return json_response(issue_json(ctx, parent), 201)


def sub_issues_of(fake, parent_id: int) -> list[int]:  # type: ignore[no-untyped-def]
    """The ids of the issues linked under ``parent_id``."""
    return [child for child, parent in fake.sub_issues.items() if parent == parent_id]


ROUTES: list[Route] = [
    ("POST", _REPO + "/issues", create_issue),
    ("POST", _REPO + "/issues/<int:issue_number>/sub_issues", add_sub_issue),
]
