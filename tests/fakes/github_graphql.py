"""The fake's GraphQL endpoint (`POST /api/graphql` on Enterprise-style hosts): review threads.

GitHub keeps whether a review thread is resolved or outdated in GraphQL only, so Orca asks
`repository.pullRequest.reviewThreads` there, and resolves its own threads with the
`resolveReviewThread` mutation. This is not a GraphQL engine: it answers that one query shape
and that one mutation (as PyGithub's `graphql_named_mutation` sends it; it needs a token that
writes pull requests and contents). Every field the query names must be a real field of
GitHub's schema on the type where it appears (the table below, from docs.github.com/en/graphql/reference/objects);
anything else is an error answer and a violation, so a typo fails the test instead of
quietly reading null.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Request, Response

from tests.fakes import github_git as gitops
from tests.fakes.github_api_common import Ctx, can_reach, json_response
from tests.fakes.github_auth import parse_authorization
from tests.fakes.github_state import ReviewComment, grants, iso

if TYPE_CHECKING:
    from tests.fakes.github import FakeGitHub

GRAPHQL_PATH = "/api/graphql"
# Fields of GitHub's GraphQL schema that the answer below fills in, by what they belong to.
SCHEMA_FIELDS = {
    "Query": {"repository"},
    "Mutation": {"resolveReviewThread"},
    "ResolveReviewThreadInput": {"threadId"},
    "ResolveReviewThreadPayload": {"thread"},
    "Repository": {"pullRequest"},
    "PullRequest": {"reviewThreads"},
    "PullRequestReviewThreadConnection": {"nodes"},
    "PullRequestReviewThread": {"id", "isResolved", "isOutdated", "path", "line", "startLine",
                                "comments"},
    "PullRequestReviewCommentConnection": {"nodes"},
    "PullRequestReviewComment": {"databaseId", "body", "diffHunk", "createdAt", "lastEditedAt",
                                 "author"},
    "Actor": {"__typename", "login"},
}
_KNOWN = set().union(*SCHEMA_FIELDS.values()) | {"query", "mutation", "input", "owner", "name",
                                                 "number", "first", "String", "Int", "ResolveReviewThreadInput"}
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_OPERATION = re.compile(r"^\s*(query|mutation)\s+\w+\s*\(")
HUNK_CONTEXT = 3


def answer(fake: FakeGitHub, request: Request) -> Response:
    """Answer a GraphQL POST; errors come back as GraphQL does, in `errors` with status 200."""
    ctx = Ctx(fake, request, parse_authorization(request.headers.get("Authorization")))
    token = ctx.token()
    if token is None:
        return json_response({"message": "This endpoint requires you to be authenticated."}, 401)
    body = ctx.body()
    query, variables = body.get("query"), body.get("variables") or {}
    if isinstance(query, str) and query.lstrip().startswith("mutation"):
        return _resolve(fake, token, query, variables)
    problem = _check(query, variables)
    if problem:
        fake.violation(f"POST {GRAPHQL_PATH}: {problem}")
        return json_response({"errors": [{"message": problem}]}, 200)
    repo = fake.state.repo(f"{variables['owner']}/{variables['name']}")
    if repo is None or not can_reach(token, repo) or not grants(token.permissions.get("pull_requests"), "read"):
        return _not_found(f"Could not resolve to a Repository with the name "
                          f"'{variables['owner']}/{variables['name']}'.")
    pull = fake.state.issue(repo, variables["number"])
    if pull is None or pull.pull is None:
        return _not_found(f"Could not resolve to a PullRequest with the number of {variables['number']}.")
    threads = [_thread(fake, root) for root in _roots(fake, pull)]
    data = {"repository": {"pullRequest": {"reviewThreads": {"nodes": threads}}}}
    return json_response({"data": data}, 200)


def _resolve(fake: FakeGitHub, token: Any, query: str, variables: Any) -> Response:
    """`resolveReviewThread(input: {threadId})`: the thread, now resolved."""
    given = variables.get("input") if isinstance(variables, dict) else None
    wanted = given.get("threadId") if isinstance(given, dict) else None
    problem = _unknown_fields(query) or (None if isinstance(wanted, str)
                                         else "variables must be input: {threadId: ID!}")
    if problem:
        fake.violation(f"POST {GRAPHQL_PATH}: {problem}")
        return json_response({"errors": [{"message": problem}]}, 200)
    roots = {thread_id(c): c for c in fake.state.review_comments.values() if c.in_reply_to_id is None}
    root = roots.get(str(wanted))
    if root is None or not can_reach(token, root.pull.repo):
        return _not_found(f"Could not resolve to a node with the global id of '{wanted}'")
    if not (grants(token.permissions.get("pull_requests"), "write")
            and grants(token.permissions.get("contents"), "write")):
        return json_response({"data": {"resolveReviewThread": None}, "errors": [
            {"type": "FORBIDDEN", "message": "Resource not accessible by integration"}]}, 200)
    root.resolved = True
    thread = {"id": thread_id(root), "isResolved": True}
    return json_response({"data": {"resolveReviewThread": {"thread": thread}}}, 200)


def thread_id(root: ReviewComment) -> str:
    """A thread's node id (`PRRT_…`), named after its first comment."""
    return f"PRRT_kw{root.id:08d}"


def _unknown_fields(query: str) -> str | None:
    unknown = sorted(set(_WORD.findall(re.sub(r"\$\w+", "", query))) - _KNOWN - _operation_name(query))
    return f"fields not in the schema the fake knows: {unknown}" if unknown else None


def _check(query: Any, variables: Any) -> str | None:
    if not isinstance(query, str) or not _OPERATION.match(query):
        return "the fake answers only named queries"
    if problem := _unknown_fields(query):
        return problem
    if not (isinstance(variables, dict) and isinstance(variables.get("owner"), str)
            and isinstance(variables.get("name"), str) and type(variables.get("number")) is int):
        return "variables must be owner: String!, name: String!, number: Int!"
    return None


def _operation_name(query: str) -> set[str]:
    match = re.match(r"\s*(?:query|mutation)\s+(\w+)", query)
    return {match.group(1)} if match else set()


def _not_found(message: str) -> Response:
    return json_response({"data": None, "errors": [{"type": "NOT_FOUND", "message": message}]}, 200)


def _roots(fake: FakeGitHub, pull: Any) -> list[ReviewComment]:
    return [c for c in fake.state.review_comments.values()
            if c.pull is pull and c.in_reply_to_id is None]


def _thread(fake: FakeGitHub, root: ReviewComment) -> dict[str, Any]:
    replies = [c for c in fake.state.review_comments.values() if c.in_reply_to_id == root.id]
    comments = [root, *sorted(replies, key=lambda c: (c.created_at, c.id))]
    return {
        "id": thread_id(root), "isResolved": root.resolved, "isOutdated": root.outdated,
        "path": root.path, "line": None if root.outdated else root.line, "startLine": None,
        "comments": {"nodes": [_comment(fake, c, root) for c in comments]},
    }


def _comment(fake: FakeGitHub, comment: ReviewComment, root: ReviewComment) -> dict[str, Any]:
    user = comment.user
    login = user.login.removesuffix("[bot]") if user.type == "Bot" else user.login
    return {
        "databaseId": comment.id, "body": comment.body, "diffHunk": diff_hunk(fake, root),
        "createdAt": iso(comment.created_at), "lastEditedAt": iso(comment.last_edited_at),
        "author": {"__typename": "Bot" if user.type == "Bot" else "User", "login": login},
    }


def diff_hunk(fake: FakeGitHub, comment: ReviewComment) -> str:
    """The lines up to the commented one, as GitHub shows above a review comment."""
    found = gitops.blob(fake.git_dir(comment.pull.repo.full_name), comment.commit_id, comment.path)
    lines = found[1].decode("utf-8", "replace").splitlines() if found else []
    first = max(1, comment.line - HUNK_CONTEXT)
    shown = lines[first - 1: comment.line]
    header = f"@@ -{first},{len(shown)} +{first},{len(shown)} @@"
    return "\n".join([header, *(f" {line}" for line in shown)])

