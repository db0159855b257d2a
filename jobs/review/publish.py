"""Posting a review: one `POST /repos/{o}/{r}/pulls/{n}/reviews` with its inline comments.

Its event is COMMENT, or REQUEST_CHANGES when the base branch's config allows it and a
finding is critical or major; never APPROVE: Orca is a first reviewer, not the one who
decides. Each inline comment's lines were checked against the diff's hunks first
(jobs.review.findings); should GitHub still refuse the review (422: its diff and Orca's
disagree, or the head moved), the review is posted again with every finding in its body, so
it is never lost.
"""

from __future__ import annotations

import logging
from typing import Any

from github import Github
from github.GithubException import GithubException

from jobs.review.findings import Finding

log = logging.getLogger("orca.review")
# Severities that may request changes, when the config allows it.
BLOCKING = ("critical", "major")


def event_for(findings: list[Finding], request_changes: bool) -> str:
    """COMMENT, or REQUEST_CHANGES when allowed and something blocks; never APPROVE."""
    if request_changes and any(f.severity in BLOCKING for f in findings):
        return "REQUEST_CHANGES"
    return "COMMENT"


def post_review(client: Github, repository: str, number: int, sha: str, body: str,
                inline: list[Finding], event: str, fallback_body: str) -> dict[str, Any]:
    """The review as GitHub answered it (`html_url`, `id`...)."""
    path = f"/repos/{repository}/pulls/{number}/reviews"
    review = {"commit_id": sha, "body": body, "event": event,
              "comments": [f.comment() for f in inline]}
    try:
        _headers, answer = client.requester.requestJsonAndCheck("POST", path, input=review)
    except GithubException as exc:
        if exc.status != 422 or not inline:
            raise
        log.warning("GitHub refused the review's inline comments (%s); posting them in its body",
                    exc.data)
        review.update(body=fallback_body, comments=[])
        _headers, answer = client.requester.requestJsonAndCheck("POST", path, input=review)
    return answer


def last_reviewed(client: Github, repository: str, number: int, login: str) -> str | None:
    """The commit of Orca's newest review on the pull request, if any."""
    pull = client.get_repo(repository).get_pull(number)
    shas = [r.commit_id for r in pull.get_reviews() if r.user is not None
            and r.user.login == login and r.commit_id]
    return shas[-1] if shas else None
