"""Orca's own earlier review threads on a pull request, and resolving those new commits fixed.

A re-review shows the model Orca's open threads; the model names the ones the new commits
fixed with `resolve_thread`, and Orca checks each claim before acting on it: the thread must
be one of Orca's open threads it was shown, and its file must be among those the new commits
changed. Orca then replies in the thread and resolves it (GraphQL `resolveReviewThread`; REST
has no thread state).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from github import Github

from jobs.agent.prompt import sanitise

RESOLVE_TOOL = "resolve_thread"
MAX_WHY = 1_000
# One page of threads: a pull request with more than 100 is past what one review takes.
OPEN_THREADS_QUERY = """
query OrcaOwnThreads($owner: String!, $name: String!, $number: Int!) {
  repository(owner: $owner, name: $name) {
    pullRequest(number: $number) {
      reviewThreads(first: 100) {
        nodes {
          id
          isResolved
          path
          line
          comments(first: 1) {
            nodes { databaseId body author { __typename login } }
          }
        }
      }
    }
  }
}
"""
TOOL_DEFINITION: dict[str, Any] = {
    "name": RESOLVE_TOOL,
    "description": ("Mark one of your earlier review threads (listed in <earlier-threads>) as "
                    "fixed by the new commits. Only for threads whose problem the new commits "
                    "really fixed; Orca resolves them on GitHub."),
    "input_schema": {
        "type": "object",
        "properties": {"thread": {"type": "integer", "minimum": 1},
                       "why": {"type": "string", "description": "What fixed it, in one line."}},
        "required": ["thread", "why"],
    },
}


@dataclass
class OwnThread:
    """One of Orca's open threads, numbered for the prompt."""

    number: int
    node_id: str
    root_id: int
    path: str
    line: int | None
    body: str
    fixed_by: str | None = None
    """What the model said fixed it, once Orca has checked the claim."""


def own_open_threads(client: Github, repository: str, number: int, slug: str) -> list[OwnThread]:
    """Orca's unresolved threads on the pull request (their first comment is Orca's)."""
    owner, name = repository.split("/", 1)
    _headers, data = client.requester.graphql_query(
        OPEN_THREADS_QUERY, {"owner": owner, "name": name, "number": number})
    nodes = data["data"]["repository"]["pullRequest"]["reviewThreads"]["nodes"]
    found: list[OwnThread] = []
    for node in nodes:
        first = (node["comments"]["nodes"] or [None])[0]
        author = (first or {}).get("author") or {}
        if node["isResolved"] or author.get("__typename") != "Bot" or author.get("login") != slug:
            continue
        found.append(OwnThread(len(found) + 1, node["id"], first["databaseId"], node["path"],
                               node.get("line"), first["body"]))
    return found


@dataclass
class Resolutions:
    """The model's claims that new commits fixed a thread, checked."""

    threads: list[OwnThread]
    changed: set[str]
    """The files the new commits changed."""
    claimed: list[OwnThread] = field(default_factory=list)

    def record(self, given: Any) -> str:
        """Check one claim; ValueError with what is wrong for the model."""
        if not isinstance(given, dict) or type(given.get("thread")) is not int:
            raise ValueError("`thread` must be the number of one of your earlier threads.")
        why = given.get("why")
        if not isinstance(why, str) or not why.strip() or len(why) > MAX_WHY:
            raise ValueError(f"`why` must say what fixed it, in at most {MAX_WHY} characters.")
        thread = next((t for t in self.threads if t.number == given["thread"]), None)
        if thread is None:
            raise ValueError(f"There is no earlier thread {given['thread']}.")
        if thread.path not in self.changed:
            raise ValueError(f"The new commits do not change `{thread.path}`, so they cannot "
                             "have fixed that thread; leave it open.")
        thread.fixed_by = " ".join(sanitise(why).split())
        if thread not in self.claimed:
            self.claimed.append(thread)
        return f"Thread {thread.number} will be resolved."


def resolve(client: Github, thread: OwnThread, repository: str, number: int, sha: str) -> None:
    """Say in the thread what fixed it, then resolve the thread."""
    client.requester.requestJsonAndCheck(
        "POST", f"/repos/{repository}/pulls/{number}/comments/{thread.root_id}/replies",
        input={"body": f"Fixed in {sha[:7]}: {thread.fixed_by}"})
    client.requester.graphql_named_mutation("resolveReviewThread", {"threadId": thread.node_id},
                                            "thread { isResolved }")
