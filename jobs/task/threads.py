"""Review threads on Orca's pull request: which to address, and the agent's answer to each.

REST has no resolved or outdated state for review comments, so the threads come from
GraphQL (`PullRequest.reviewThreads`). A thread is addressed when it is unresolved, not
outdated, and its newest comment from before the trigger is a writer's (a thread whose
newest word is Orca's is waiting for a person). Threads opened by people without write
access are listed as not acted on, with the reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from github.Repository import Repository

from core.triggers import Trigger
from jobs.task.conversation import Writers, before_trigger, parse_time

# One page: a review round with more than 100 open threads is past what one run should take.
THREADS_QUERY = """
query OrcaReviewThreads($owner: String!, $name: String!, $number: Int!) {
  repository(owner: $owner, name: $name) {
    pullRequest(number: $number) {
      reviewThreads(first: 100) {
        nodes {
          isResolved
          isOutdated
          path
          line
          startLine
          comments(first: 50) {
            nodes {
              databaseId
              body
              diffHunk
              createdAt
              lastEditedAt
              author { __typename login }
            }
          }
        }
      }
    }
  }
}
"""
_ANSWER = re.compile(r'<(?P<tag>reply|skip)\s+thread="(?P<n>\d+)"\s*>(?P<text>.*?)</(?P=tag)>',
                     re.DOTALL)


@dataclass
class Thread:
    """One review thread, as it was at the trigger."""

    number: int
    """1-based, as the agent refers to it."""
    root_id: int
    """The first comment's id: replies go there."""
    path: str
    lines: str
    diff_hunk: str
    comments: list[tuple[str, str]]
    """(author, body), oldest first."""
    instruction: bool
    """False when no writer spoke in it: shown to nobody, answered with why."""
    why_not: str = ""


@dataclass
class Answer:
    """What the agent said about one thread."""

    acted: bool
    text: str


@dataclass
class Answers:
    """The agent's answers by thread number, and its summary without them."""

    by_thread: dict[int, Answer] = field(default_factory=dict)
    summary: str = ""


def review_threads(t: Trigger, repo: Repository) -> list[Thread]:
    """The PR's open threads worth a word, numbered for the prompt."""
    owner, name = t.repository.split("/", 1)
    _headers, data = repo.requester.graphql_query(
        THREADS_QUERY, {"owner": owner, "name": name, "number": t.number})
    nodes = data["data"]["repository"]["pullRequest"]["reviewThreads"]["nodes"]
    writers, found = Writers(repo, t.requester), []
    for node in nodes:
        thread = _thread(node, len(found) + 1, t.at, writers)
        if thread is not None:
            found.append(thread)
    return found


def _thread(node: dict, number: int, at: str, writers: Writers) -> Thread | None:
    if node["isResolved"] or node["isOutdated"]:
        return None
    moment = parse_time(at)
    comments = [c for c in node["comments"]["nodes"]
                if before_trigger(parse_time(c["createdAt"]), parse_time(c["lastEditedAt"]), moment)]
    people = [c for c in comments if (c.get("author") or {}).get("__typename") != "Bot"]
    if not comments or comments[-1] not in people:
        return None  # nothing said, or Orca spoke last: waiting for a person
    spoken = [(_login(c), c["body"]) for c in comments]
    from_writers = [login for login, _ in spoken if login in writers]
    start, end = node.get("startLine") or node.get("line"), node.get("line")
    lines = f"{start}-{end}" if start and end and start != end else str(end or "?")
    thread = Thread(number, comments[0]["databaseId"], node["path"], lines,
                    comments[0].get("diffHunk") or "", spoken, bool(from_writers))
    if not from_writers:
        thread.why_not = (f"@{spoken[0][0]} does not have write access here, so Orca does not "
                          "take instructions from this thread.")
    return thread


def _login(comment: dict) -> str:
    author = comment.get("author") or {}
    return author.get("login") or "ghost"


def parse_answers(final_text: str) -> Answers:
    """`<reply thread="n">…</reply>` (acted) and `<skip thread="n">…</skip>` (did not)."""
    answers = Answers()
    for match in _ANSWER.finditer(final_text):
        answers.by_thread[int(match["n"])] = Answer(match["tag"] == "reply", match["text"].strip())
    answers.summary = _ANSWER.sub("", final_text).strip()
    return answers


def nothing_asked(request: str, comments: list[tuple[str, int | None]],
                  answered: set[int]) -> str | None:
    """Why a review asks Orca for nothing, or None when it may ask for something.

    GitHub delivers every reply in a review thread as a review of its own. A review whose
    body is empty and whose comments are all replies in threads Orca already answered, none
    with an `/agent` command or a question, is a conversation ("Thanks!"), not a request:
    it gets no run. `comments` are the review's (body, in_reply_to_id); `answered` the ids
    of the threads (their first comment) Orca has spoken in."""
    if request.strip() or not comments:
        return None
    for body, thread in comments:
        if thread is None or thread not in answered or "/agent" in body or "?" in body:
            return None
    return ("only replies in threads Orca had answered, with no `/agent` command and no "
            "question: nothing to do")
