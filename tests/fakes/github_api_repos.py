"""REST handlers of the fake for repositories, issues, comments and reactions."""

from __future__ import annotations

import base64
from typing import Any

from werkzeug.wrappers import Response

from tests.fakes import github_git as gitops
from tests.fakes import github_objects as objects
from tests.fakes import github_objects_threads as threads
from tests.fakes.github_api_common import (
    ApiError, Ctx, Route, json_response, not_found, paginate, validation_failed,
)
from tests.fakes.github_state import Comment, Issue, Reaction, Repo, now


def get_repo(ctx: Ctx, owner: str, repo: str) -> Response:
    """``GET /repos/{owner}/{repo}``."""
    found = ctx.repo(owner, repo)
    return json_response(objects.full_repository(ctx.site, found, "read"))


def get_permission(ctx: Ctx, owner: str, repo: str, username: str) -> Response:
    """``GET /repos/{owner}/{repo}/collaborators/{username}/permission``."""
    found = ctx.repo(owner, repo)
    user = ctx.state.users.get(username)
    if user is None:
        raise not_found()
    role = ctx.state.role(found, username)
    return json_response(objects.collaborator_permission(ctx.site, user, role))


def get_branch(ctx: Ctx, owner: str, repo: str, branch: str) -> Response:
    """``GET /repos/{owner}/{repo}/branches/{branch}``."""
    found = ctx.repo(owner, repo, "contents", "read")
    sha = gitops.branch_sha(ctx.fake.git_dir(found.full_name), branch)
    if sha is None:
        raise ApiError(404, "Branch not found")
    url = f"{ctx.site.api}/repos/{found.full_name}/branches/{branch}"
    return json_response({
        "name": branch, "commit": _commit_json(ctx, found, sha), "protected": False,
        "protection": {"enabled": False}, "protection_url": url + "/protection",
        "_links": {"self": url, "html": f"{ctx.site.web}/{found.full_name}/tree/{branch}"},
    })


def get_commit(ctx: Ctx, owner: str, repo: str, ref: str) -> Response:
    """``GET /repos/{owner}/{repo}/commits/{ref}`` (without its files and stats; a branch
    name with a slash is not routed here, a sha or a plain name is)."""
    found = ctx.repo(owner, repo, "contents", "read")
    sha = gitops.rev_parse(ctx.fake.git_dir(found.full_name), ref)
    if sha is None:
        raise ApiError(422, f"No commit found for SHA: {ref}")
    return json_response(_commit_json(ctx, found, sha))


def _commit_json(ctx: Ctx, repo: Repo, sha: str) -> dict[str, Any]:
    """The ``commit`` object for ``sha``, read from the bare repository."""
    info = gitops.commit_info(ctx.fake.git_dir(repo.full_name), sha)
    api = f"{ctx.site.api}/repos/{repo.full_name}"
    html = f"{ctx.site.web}/{repo.full_name}/commit/{sha}"
    person = {
        "author": {"name": info["author_name"], "email": info["author_email"],
                   "date": info["author_date"]},
        "committer": {"name": info["committer_name"], "email": info["committer_email"],
                      "date": info["committer_date"]},
    }
    return {
        "sha": sha, "node_id": objects.node_id("C", int(sha[:7], 16)), "url": f"{api}/commits/{sha}",
        "html_url": html, "comments_url": f"{api}/commits/{sha}/comments",
        "commit": {**person, "message": info["message"].rstrip("\n"), "comment_count": 0,
                   "url": f"{api}/git/commits/{sha}",
                   "tree": {"sha": info["tree"], "url": f"{api}/git/trees/{info['tree']}"}},
        # GitHub sends null for authors without an account; the description's nullable oneOf
        # only admits a user or the empty object under openapi-core.
        "author": {}, "committer": {},
        "parents": [{"sha": p, "url": f"{api}/commits/{p}"} for p in info["parents"].split()],
    }


def get_contents(ctx: Ctx, owner: str, repo: str, path: str) -> Response:
    """``GET /repos/{owner}/{repo}/contents/{path}`` for a file (directories: 404)."""
    found = ctx.repo(owner, repo, "contents", "read")
    ref = ctx.request.args.get("ref") or found.default_branch
    got = gitops.blob(ctx.fake.git_dir(found.full_name), ref, path)
    if got is None:
        raise not_found()
    sha, content = got
    api = f"{ctx.site.api}/repos/{found.full_name}"
    html = f"{ctx.site.web}/{found.full_name}/blob/{ref}/{path}"
    url, git_url = f"{api}/contents/{path}?ref={ref}", f"{api}/git/blobs/{sha}"
    return json_response({
        "type": "file", "encoding": "base64", "size": len(content), "name": path.split("/")[-1],
        "path": path, "sha": sha, "content": base64.b64encode(content).decode(), "url": url,
        "git_url": git_url, "html_url": html, "download_url": None,
        "_links": {"self": url, "git": git_url, "html": html},
    })


def _issue(ctx: Ctx, owner: str, repo: str, number: int, permission: str = "issues",
           level: str = "read") -> Issue:
    """Issue or pull ``number``, after the access check."""
    found = ctx.repo(owner, repo, permission, level)
    issue = ctx.state.issue(found, number)
    if issue is None:
        raise not_found()
    return issue


def issue_json(ctx: Ctx, issue: Issue) -> dict[str, Any]:
    """An issue with its live comment count and reactions."""
    count = sum(1 for c in ctx.state.comments.values() if c.issue is issue)
    return threads.issue(ctx.site, issue, count, ctx.fake.reactions_on(f"issue:{issue.id}"))


def comment_json(ctx: Ctx, comment: Comment) -> dict[str, Any]:
    """A comment with its reactions."""
    return threads.comment(ctx.site, comment, ctx.fake.reactions_on(f"comment:{comment.id}"))


def get_issue(ctx: Ctx, owner: str, repo: str, issue_number: int) -> Response:
    """``GET /repos/{owner}/{repo}/issues/{issue_number}``."""
    return json_response(issue_json(ctx, _issue(ctx, owner, repo, issue_number)))


def list_comments(ctx: Ctx, owner: str, repo: str, issue_number: int) -> Response:
    """``GET /repos/{owner}/{repo}/issues/{issue_number}/comments``, oldest first."""
    issue = _issue(ctx, owner, repo, issue_number)
    items = [comment_json(ctx, c) for c in ctx.state.comments.values() if c.issue is issue]
    return paginate(ctx, items)


def create_comment(ctx: Ctx, owner: str, repo: str, issue_number: int) -> Response:
    """``POST /repos/{owner}/{repo}/issues/{issue_number}/comments``."""
    issue = _issue(ctx, owner, repo, issue_number, "issues", "write")
    body = ctx.body().get("body")
    if not isinstance(body, str) or not body:
        raise validation_failed("body cannot be blank", "body", "missing_field")
    comment = ctx.fake.store_comment(issue, body, ctx.actor())
    return json_response(comment_json(ctx, comment), 201)


def _comment(ctx: Ctx, owner: str, repo: str, comment_id: int, level: str = "read") -> Comment:
    """Comment ``comment_id`` of the repository, after the access check."""
    found = ctx.repo(owner, repo, "issues", level)
    comment = ctx.state.comments.get(comment_id)
    if comment is None or comment.issue.repo is not found:
        raise not_found()
    return comment


def get_comment(ctx: Ctx, owner: str, repo: str, comment_id: int) -> Response:
    """``GET /repos/{owner}/{repo}/issues/comments/{comment_id}``."""
    return json_response(comment_json(ctx, _comment(ctx, owner, repo, comment_id)))


def edit_comment(ctx: Ctx, owner: str, repo: str, comment_id: int) -> Response:
    """``PATCH /repos/{owner}/{repo}/issues/comments/{comment_id}``."""
    comment = _comment(ctx, owner, repo, comment_id, "write")
    body = ctx.body().get("body")
    if not isinstance(body, str):
        raise validation_failed("body is missing", "body", "missing_field")
    with ctx.state.lock:
        comment.body, comment.updated_at = body, now()
    return json_response(comment_json(ctx, comment))


def delete_comment(ctx: Ctx, owner: str, repo: str, comment_id: int) -> Response:
    """``DELETE /repos/{owner}/{repo}/issues/comments/{comment_id}``."""
    comment = _comment(ctx, owner, repo, comment_id, "write")
    with ctx.state.lock:
        ctx.state.comments.pop(comment.id, None)
    return Response(status=204)


def _react(ctx: Ctx, subject: str) -> Response:
    """Add a reaction to ``subject``: 201 when new, 200 when the same one already exists."""
    content = ctx.body().get("content")
    if content not in threads.REACTIONS:
        raise validation_failed(f"content {content!r} is not a reaction", "content", "invalid")
    user = ctx.actor()
    with ctx.state.lock:
        for existing in ctx.state.reactions:
            if (existing.subject, existing.content, existing.user) == (subject, content, user):
                return json_response(threads.reaction(ctx.site, existing), 200)
        reaction = Reaction(ctx.state.next_id(), subject, content, user)
        ctx.state.reactions.append(reaction)
    return json_response(threads.reaction(ctx.site, reaction), 201)


def react_issue(ctx: Ctx, owner: str, repo: str, issue_number: int) -> Response:
    """``POST /repos/{owner}/{repo}/issues/{issue_number}/reactions``."""
    issue = _issue(ctx, owner, repo, issue_number, "issues", "write")
    return _react(ctx, f"issue:{issue.id}")


def react_comment(ctx: Ctx, owner: str, repo: str, comment_id: int) -> Response:
    """``POST /repos/{owner}/{repo}/issues/comments/{comment_id}/reactions``."""
    comment = _comment(ctx, owner, repo, comment_id, "write")
    return _react(ctx, f"comment:{comment.id}")


def react_review_comment(ctx: Ctx, owner: str, repo: str, comment_id: int) -> Response:
    """``POST /repos/{owner}/{repo}/pulls/comments/{comment_id}/reactions``."""
    found = ctx.repo(owner, repo, "pull_requests", "write")
    comment = ctx.state.review_comments.get(comment_id)
    if comment is None or comment.pull.repo is not found:
        raise not_found()
    return _react(ctx, f"review_comment:{comment.id}")


_REPO = "/repos/<owner>/<repo>"
def _ref_json(ctx: Ctx, repo: Repo, name: str, sha: str) -> dict[str, Any]:
    api = f"{ctx.site.api}/repos/{repo.full_name}"
    return {"ref": name, "node_id": f"REF_{abs(hash((repo.full_name, name))):x}",
            "url": f"{api}/git/{name}",
            "object": {"type": "commit", "sha": sha, "url": f"{api}/git/commits/{sha}"}}


def matching_refs(ctx: Ctx, owner: str, repo: str, ref: str) -> Response:
    """``GET /repos/{owner}/{repo}/git/matching-refs/{ref}``: every ref starting with it."""
    found = ctx.repo(owner, repo, "contents", "read")
    pairs = gitops.matching_refs(ctx.fake.git_dir(found.full_name), ref)
    return json_response([_ref_json(ctx, found, name, sha) for name, sha in pairs])


def delete_ref(ctx: Ctx, owner: str, repo: str, ref: str) -> Response:
    """``DELETE /repos/{owner}/{repo}/git/refs/{ref}``: 204, or 422 for no such ref."""
    found = ctx.repo(owner, repo, "contents", "write")
    if not gitops.delete_ref(ctx.fake.git_dir(found.full_name), ref):
        raise ApiError(422, "Reference does not exist")
    return Response(status=204)


ROUTES: list[Route] = [
    ("GET", _REPO + "/git/matching-refs/<path:ref>", matching_refs),
    ("DELETE", _REPO + "/git/refs/<path:ref>", delete_ref),
    ("GET", _REPO, get_repo),
    ("GET", _REPO + "/collaborators/<username>/permission", get_permission),
    ("GET", _REPO + "/branches/<path:branch>", get_branch),
    ("GET", _REPO + "/contents/<path:path>", get_contents),
    ("GET", _REPO + "/commits/<ref>", get_commit),
    ("GET", _REPO + "/issues/<int:issue_number>", get_issue),
    ("GET", _REPO + "/issues/<int:issue_number>/comments", list_comments),
    ("POST", _REPO + "/issues/<int:issue_number>/comments", create_comment),
    ("GET", _REPO + "/issues/comments/<int:comment_id>", get_comment),
    ("PATCH", _REPO + "/issues/comments/<int:comment_id>", edit_comment),
    ("DELETE", _REPO + "/issues/comments/<int:comment_id>", delete_comment),
    ("POST", _REPO + "/issues/<int:issue_number>/reactions", react_issue),
    ("POST", _REPO + "/issues/comments/<int:comment_id>/reactions", react_comment),
    ("POST", _REPO + "/pulls/comments/<int:comment_id>/reactions", react_review_comment),
]
