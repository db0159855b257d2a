"""The conversation that was there at the trigger, reduced to what may instruct the agent.

Only comments written before the trigger and not edited since, by people (not bots) with
write access, become context. Everyone else's words are left out: an issue is public, and
a comment is the easiest place to hide instructions for an agent.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from github.GithubException import GithubException
from github.Repository import Repository

from core.triggers import Trigger
from jobs.task.gate import ALLOWED_PERMISSIONS

# The newest comments matter most, and a long thread would crowd out the task.
MAX_REMARKS = 20


@dataclass(frozen=True)
class Remark:
    """One comment the agent may read as the team's words."""

    author: str
    body: str


def parse_time(value: str | None) -> dt.datetime | None:
    """GitHub's ISO 8601 timestamps (`...Z`), or None."""
    if not value:
        return None
    return dt.datetime.fromisoformat(value)


def before_trigger(created: dt.datetime | None, updated: dt.datetime | None,
                   at: dt.datetime | None) -> bool:
    """Written, and last edited, no later than the trigger."""
    if at is None:
        return True
    return all(moment is None or moment <= at for moment in (created, updated))


def _was_there(comment_id: int, created: dt.datetime, updated: dt.datetime,
               at: dt.datetime | None, trigger_comment: int | None) -> bool:
    """Timestamps have whole seconds: within the trigger's second, only a comment with a
    smaller id than the command's is known to be older; for a label, none is."""
    if at is None:
        return True
    if created == at:
        return trigger_comment is not None and comment_id < trigger_comment and updated <= at
    return created < at and updated <= at


class Writers:
    """Who may instruct the agent here, asked of GitHub once per person per run."""

    def __init__(self, repo: Repository, requester: str) -> None:
        self.repo = repo
        self.known: dict[str, bool] = {requester: True}

    def __contains__(self, login: str) -> bool:
        if login not in self.known:
            try:
                permission = self.repo.get_collaborator_permission(login)
            except GithubException:
                permission = "none"
            self.known[login] = permission in ALLOWED_PERMISSIONS
        return self.known[login]


def earlier_remarks(t: Trigger, repo: Repository, writers: Writers | None = None) -> list[Remark]:
    """Comments on the target from writers, before the trigger, oldest first."""
    at = parse_time(t.at)
    writers = writers or Writers(repo, t.requester)
    kept: list[Remark] = []
    for comment in repo.get_issue(t.number).get_comments():
        user = comment.user
        if comment.id == t.comment_id or user is None or user.type == "Bot":
            continue
        if not _was_there(comment.id, comment.created_at, comment.updated_at, at, t.comment_id):
            continue
        if user.login in writers:
            kept.append(Remark(user.login, comment.body or ""))
    return kept[-MAX_REMARKS:]
