"""Orca's scratch branches on GitHub: the attempts kept beside a pull request
(jobs.run.attempts), deleted when the pull request closes."""

from __future__ import annotations

import re

from github.Repository import Repository

# `agent/issue-<n>-<slug>`: the branch of issue n's one pull request (jobs.workspace).
ISSUE_BRANCH = re.compile(r"^agent/issue-(?P<n>\d+)-")


def attempts_prefix(issue: int) -> str:
    """`agent/attempts/<issue>/`: where the attempts of the issue's last request are kept."""
    return f"agent/attempts/{issue}/"


def delete_attempt_branches(repo: Repository, head_ref: str) -> list[str]:
    """Delete the attempts kept for the pull request whose branch is `head_ref`; the branches
    deleted. Only `agent/attempts/<n>/<k>` for that issue's n: never a person's branch."""
    found = ISSUE_BRANCH.match(head_ref)
    if found is None:
        return []
    prefix = attempts_prefix(int(found["n"]))
    deleted = []
    for ref in repo.get_git_matching_refs(f"heads/{prefix}"):
        if re.fullmatch(rf"refs/heads/{re.escape(prefix)}\d+", ref.ref):
            ref.delete()
            deleted.append(ref.ref.removeprefix("refs/heads/"))
    return deleted
