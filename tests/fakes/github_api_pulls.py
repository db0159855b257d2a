"""REST handlers of the fake for pull requests, their reviews and review comments."""

from __future__ import annotations

from werkzeug.wrappers import Response

from tests.fakes import github_objects_threads as threads
from tests.fakes.github_api_common import (
    ApiError, Ctx, Route, json_response, not_found, paginate, validation_failed,
)
from tests.fakes.github_state import Issue, Repo, ReviewComment, now


def _pull(ctx: Ctx, owner: str, repo: str, number: int, level: str = "read") -> Issue:
    """Pull ``number`` with fresh head/base shas, after the access check."""
    found = ctx.repo(owner, repo, "pull_requests", level)
    issue = ctx.state.issue(found, number)
    if issue is None or issue.pull is None:
        raise not_found()
    ctx.fake.refresh_pull(issue)
    return issue


def pull_json(ctx: Ctx, issue: Issue) -> dict:
    """The full pull object with live counts."""
    comments = sum(1 for c in ctx.state.comments.values() if c.issue is issue)
    reviews = sum(1 for c in ctx.state.review_comments.values() if c.pull is issue)
    return threads.pull_full(ctx.site, issue, comments, reviews)


def list_pulls(ctx: Ctx, owner: str, repo: str) -> Response:
    """``GET /repos/{owner}/{repo}/pulls`` with the ``state``, ``head`` and ``base`` filters."""
    found = ctx.repo(owner, repo, "pull_requests", "read")
    state = ctx.request.args.get("state", "open")
    head = ctx.request.args.get("head")
    base = ctx.request.args.get("base")
    items = []
    for issue in sorted(ctx.state.issues.values(), key=lambda i: -i.number):
        if issue.repo is not found or issue.pull is None:
            continue
        ctx.fake.refresh_pull(issue)
        label = f"{issue.pull.head_repo.owner.login}:{issue.pull.head_ref}"
        if state != "all" and issue.state != state:
            continue
        if head and head not in (label, issue.pull.head_ref) or base and base != issue.pull.base_ref:
            continue
        items.append(threads.pull_simple(ctx.site, issue))
    return paginate(ctx, items)


def create_pull(ctx: Ctx, owner: str, repo: str) -> Response:
    """``POST /repos/{owner}/{repo}/pulls``: head must exist and have no open pull yet."""
    found = ctx.repo(owner, repo, "pull_requests", "write")
    body = ctx.body()
    title, head, base = body.get("title"), body.get("head"), body.get("base")
    if not all(isinstance(v, str) and v for v in (title, head, base)):
        raise validation_failed("title, head and base are required", "head", "missing_field")
    head_repo, head_ref = _resolve_head(ctx, found, str(head))
    if ctx.fake.branch_sha(head_repo.full_name, head_ref) is None:
        raise validation_failed(f"head {head!r} does not exist", "head", "invalid")
    if ctx.fake.branch_sha(found.full_name, str(base)) is None:
        raise validation_failed(f"base {base!r} does not exist", "base", "invalid")
    for other in ctx.state.issues.values():
        pull = other.pull
        if (pull and other.repo is found and other.state == "open"
                and pull.head_repo is head_repo and pull.head_ref == head_ref):
            raise validation_failed(f"A pull request already exists for {head}.")
    number = ctx.fake.store_pull(found, head_repo, head_ref, str(base), str(title),
                                 body.get("body"), ctx.actor(), bool(body.get("draft")))
    return json_response(pull_json(ctx, ctx.state.issues[(found.id, number)]), 201)


def _resolve_head(ctx: Ctx, base_repo: Repo, head: str) -> tuple[Repo, str]:
    """``owner:branch`` or ``branch`` to (head repository, branch); forks by owner name."""
    owner, sep, ref = head.partition(":")
    if not sep or owner == base_repo.owner.login:
        return base_repo, ref if sep else head
    fork = ctx.state.repo(f"{owner}/{base_repo.name}")
    if fork is None:
        raise validation_failed(f"head {head!r} does not exist", "head", "invalid")
    return fork, ref


def get_pull(ctx: Ctx, owner: str, repo: str, pull_number: int) -> Response:
    """``GET /repos/{owner}/{repo}/pulls/{pull_number}``."""
    return json_response(pull_json(ctx, _pull(ctx, owner, repo, pull_number)))


def update_pull(ctx: Ctx, owner: str, repo: str, pull_number: int) -> Response:
    """``PATCH /repos/{owner}/{repo}/pulls/{pull_number}``: title, body, state, base."""
    issue = _pull(ctx, owner, repo, pull_number, "write")
    body = ctx.body()
    state = body.get("state")
    if state is not None and state not in ("open", "closed"):
        raise validation_failed("state must be open or closed", "state", "invalid")
    with ctx.state.lock:
        issue.title = body.get("title", issue.title)
        issue.body = body.get("body", issue.body)
        assert issue.pull is not None
        issue.pull.base_ref = body.get("base", issue.pull.base_ref)
        if state:
            issue.state = state
            issue.closed_at = now() if state == "closed" else None
        issue.updated_at = now()
    return json_response(pull_json(ctx, issue))


def _review_comment_json(ctx: Ctx, comment: ReviewComment) -> dict:
    """A review comment with its reactions."""
    reactions = ctx.fake.reactions_on(f"review_comment:{comment.id}")
    return threads.review_comment(ctx.site, comment, reactions)


def list_review_comments(ctx: Ctx, owner: str, repo: str, pull_number: int) -> Response:
    """``GET /repos/{owner}/{repo}/pulls/{pull_number}/comments``."""
    issue = _pull(ctx, owner, repo, pull_number)
    items = [_review_comment_json(ctx, c) for c in ctx.state.review_comments.values()
             if c.pull is issue]
    return paginate(ctx, items)


def reply_review_comment(ctx: Ctx, owner: str, repo: str, pull_number: int,
                         comment_id: int) -> Response:
    """``POST .../pulls/{pull_number}/comments/{comment_id}/replies``."""
    issue = _pull(ctx, owner, repo, pull_number, "write")
    parent = ctx.state.review_comments.get(comment_id)
    if parent is None or parent.pull is not issue:
        raise not_found()
    text = ctx.body().get("body")
    if not isinstance(text, str) or not text:
        raise validation_failed("body cannot be blank", "body", "missing_field")
    root = parent.in_reply_to_id or parent.id  # GitHub threads replies to the first comment
    reply = ctx.fake.store_review_comment(issue, text, ctx.actor(), parent.path, parent.line,
                                          in_reply_to_id=root)
    return json_response(_review_comment_json(ctx, reply), 201)


def get_review(ctx: Ctx, owner: str, repo: str, pull_number: int, review_id: int) -> Response:
    """``GET /repos/{owner}/{repo}/pulls/{pull_number}/reviews/{review_id}``."""
    issue = _pull(ctx, owner, repo, pull_number)
    review = ctx.state.reviews.get(review_id)
    if review is None or review.pull is not issue:
        raise not_found()
    return json_response(threads.review(ctx.site, review))


def list_review_comments_of_review(ctx: Ctx, owner: str, repo: str, pull_number: int,
                                   review_id: int) -> Response:
    """``GET .../pulls/{pull_number}/reviews/{review_id}/comments``."""
    issue = _pull(ctx, owner, repo, pull_number)
    if ctx.state.reviews.get(review_id) is None:
        raise ApiError(404, "Not Found")
    items = [_review_comment_json(ctx, c) for c in ctx.state.review_comments.values()
             if c.pull is issue and c.review_id == review_id]
    return paginate(ctx, items)


_PULLS = "/repos/<owner>/<repo>/pulls"
ROUTES: list[Route] = [
    ("GET", _PULLS, list_pulls),
    ("POST", _PULLS, create_pull),
    ("GET", _PULLS + "/<int:pull_number>", get_pull),
    ("PATCH", _PULLS + "/<int:pull_number>", update_pull),
    ("GET", _PULLS + "/<int:pull_number>/comments", list_review_comments),
    ("POST", _PULLS + "/<int:pull_number>/comments/<int:comment_id>/replies",
     reply_review_comment),
    ("GET", _PULLS + "/<int:pull_number>/reviews/<int:review_id>", get_review),
    ("GET", _PULLS + "/<int:pull_number>/reviews/<int:review_id>/comments",
     list_review_comments_of_review),
]
