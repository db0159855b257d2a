"""REST handlers of the fake for reviews Orca writes: the pull's files, its reviews, a new one.

``POST .../pulls/{n}/reviews`` behaves as GitHub does with inline comments: each comment's
``line`` (and ``start_line``) on its ``side`` must be part of the pull request's diff, else the
whole review is refused with 422 "Pull request review thread line must be part of the diff"
(the text GitHub gives; it names no comment). The diff is real git's, from the merge base to
the review's commit, with three lines of context as GitHub shows it; the lines are read here
by this module's own small parser, not Orca's, so a test of Orca's check is not circular.
"""

from __future__ import annotations

import re

from werkzeug.wrappers import Response

from tests.fakes import github_git as gitops
from tests.fakes import github_objects_threads as threads
from tests.fakes.github_api_common import (
    ApiError, Ctx, Route, json_response, not_found, paginate,
)
from tests.fakes.github_api_pulls import _pull
from tests.fakes.github_state import Issue, Review, ReviewComment

_HUNK = re.compile(r"^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@")
EVENTS = {"COMMENT": "COMMENTED", "REQUEST_CHANGES": "CHANGES_REQUESTED", "APPROVE": "APPROVED"}
LINE_NOT_IN_DIFF = "Pull request review thread line must be part of the diff"


def pull_diff(ctx: Ctx, issue: Issue, commit: str) -> str:
    """``git diff`` from the merge base of the pull's base branch and ``commit`` to it."""
    assert issue.pull is not None
    where = ctx.fake.git_dir(issue.repo.full_name)
    base = gitops.git("merge-base", issue.pull.base_sha, commit, cwd=where).stdout.strip()
    return gitops.git("-c", "core.quotePath=false", "diff", "--no-color", "-U3", base, commit,
                      cwd=where).stdout


def diff_lines(diff: str) -> dict[str, dict[str, set[int]]]:
    """path → side → the lines a review comment may be on (RIGHT: added and context by their
    new number; LEFT: deleted and context by their old number)."""
    found: dict[str, dict[str, set[int]]] = {}
    path, old, new = "", 0, 0
    for line in diff.splitlines():
        if line.startswith("+++ "):
            path = line[6:] if line.startswith("+++ b/") else ""
            found.setdefault(path, {"LEFT": set(), "RIGHT": set()})
        elif (hunk := _HUNK.match(line)) and path:
            old, new = int(hunk[1]), int(hunk[2])
        elif line.startswith(("--- ", "diff ")) or not path:
            continue
        elif line.startswith("+"):
            found[path]["RIGHT"].add(new)
            new += 1
        elif line.startswith("-"):
            found[path]["LEFT"].add(old)
            old += 1
        elif line.startswith(" "):
            found[path]["RIGHT"].add(new)
            found[path]["LEFT"].add(old)
            old, new = old + 1, new + 1
    return found


def list_files(ctx: Ctx, owner: str, repo: str, pull_number: int) -> Response:
    """``GET .../pulls/{pull_number}/files``: one diff entry per changed file."""
    issue = _pull(ctx, owner, repo, pull_number)
    assert issue.pull is not None
    where = ctx.fake.git_dir(issue.repo.full_name)
    head = issue.pull.head_sha
    base = gitops.git("merge-base", issue.pull.base_sha, head, cwd=where).stdout.strip()
    out = gitops.git("diff", "--numstat", "--no-renames", "-z", base, head, cwd=where).stdout
    items = []
    for entry in filter(None, out.split("\0")):
        added, deleted, name = entry.split("\t", 2)
        plus, minus = int(added) if added != "-" else 0, int(deleted) if deleted != "-" else 0
        blob = f"{ctx.site.web}/{issue.repo.full_name}/blob/{head}/{name}"
        items.append({"sha": None, "filename": name, "status": "modified", "additions": plus,
                      "deletions": minus, "changes": plus + minus, "blob_url": blob,
                      "raw_url": blob.replace("/blob/", "/raw/"),
                      "contents_url": f"{ctx.site.api}/repos/{issue.repo.full_name}/contents/{name}?ref={head}"})
    return paginate(ctx, items)


def list_reviews(ctx: Ctx, owner: str, repo: str, pull_number: int) -> Response:
    """``GET .../pulls/{pull_number}/reviews``, oldest first."""
    issue = _pull(ctx, owner, repo, pull_number)
    items = [threads.review(ctx.site, r) for r in sorted(ctx.state.reviews.values(), key=lambda r: r.id)
             if r.pull is issue]
    return paginate(ctx, items)


def create_review(ctx: Ctx, owner: str, repo: str, pull_number: int) -> Response:
    """``POST .../pulls/{pull_number}/reviews``: submitted at once when ``event`` is given."""
    issue = _pull(ctx, owner, repo, pull_number, "write")
    assert issue.pull is not None
    body = ctx.body()
    event, text = body.get("event"), body.get("body") or ""
    if event is not None and event not in EVENTS:
        raise _unprocessable("event must be APPROVE, REQUEST_CHANGES or COMMENT")
    if event in ("COMMENT", "REQUEST_CHANGES") and not text:
        raise _unprocessable(f"Review body is required when the event is {event}")
    commit = body.get("commit_id") or issue.pull.head_sha
    if gitops.rev_parse(ctx.fake.git_dir(issue.repo.full_name), commit) is None:
        raise _unprocessable("Commit not found")
    comments = body.get("comments") or []
    allowed = diff_lines(pull_diff(ctx, issue, commit)) if comments else {}
    for comment in comments:
        _check_comment(comment, allowed)
    with ctx.state.lock:
        review = Review(ctx.state.next_id(), issue, ctx.actor(), text,
                        EVENTS.get(event, "PENDING"), commit)
        ctx.state.reviews[review.id] = review
        for comment in comments:
            stored = ReviewComment(ctx.state.next_id(), issue, comment["body"], ctx.actor(),
                                   comment["path"], comment["line"], commit, review.id,
                                   side=comment.get("side", "RIGHT"),
                                   start_line=comment.get("start_line"))
            ctx.state.review_comments[stored.id] = stored
    return json_response(threads.review(ctx.site, review))


def _check_comment(comment: object, allowed: dict[str, dict[str, set[int]]]) -> None:
    """GitHub's 422 for a comment it cannot place; `position` is not what Orca sends."""
    if not isinstance(comment, dict) or not isinstance(comment.get("body"), str) \
            or not isinstance(comment.get("path"), str) or type(comment.get("line")) is not int:
        raise _unprocessable("comments need path, body and line (the fake takes no position)")
    side = comment.get("side", "RIGHT")
    lines = allowed.get(comment["path"], {}).get(side, set())
    start = comment.get("start_line")
    wanted = range(start, comment["line"] + 1) if isinstance(start, int) else [comment["line"]]
    if side not in ("LEFT", "RIGHT") or not wanted or any(n not in lines for n in wanted):
        raise _unprocessable(LINE_NOT_IN_DIFF)


def _unprocessable(why: str) -> ApiError:
    """The reviews endpoint's 422 (validation-error-simple: its errors are strings)."""
    return ApiError(422, "Unprocessable Entity", [why])  # type: ignore[list-item]


def get_review_comment(ctx: Ctx, owner: str, repo: str, comment_id: int) -> Response:
    """``GET /repos/{owner}/{repo}/pulls/comments/{comment_id}``."""
    found = ctx.repo(owner, repo, "pull_requests", "read")
    comment = ctx.state.review_comments.get(comment_id)
    if comment is None or comment.pull.repo is not found:
        raise not_found()
    reactions = ctx.fake.reactions_on(f"review_comment:{comment.id}")
    return json_response(threads.review_comment(ctx.site, comment, reactions))


_PULLS = "/repos/<owner>/<repo>/pulls"
ROUTES: list[Route] = [
    ("GET", _PULLS + "/<int:pull_number>/files", list_files),
    ("GET", _PULLS + "/<int:pull_number>/reviews", list_reviews),
    ("POST", _PULLS + "/<int:pull_number>/reviews", create_review),
    ("GET", _PULLS + "/comments/<int:comment_id>", get_review_comment),
]
