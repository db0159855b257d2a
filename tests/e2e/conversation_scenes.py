"""Scenes and deliveries for conversations: pull requests, `/agent` comments, reviews.

Every payload is built from the vendored @octokit/webhooks-examples and checked against the
webhook schema before it is sent, with ids and timestamps taken from the fake's own objects.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from rq.timeouts import TimerDeathPenalty

from core.queues import FastWorker, queues
from tests import payloads
from tests.e2e.conftest import Orca, Scene, make_scene
from tests.fakes.github import FakeGitHub

GREET_BRANCH = "feature/greet"
AGENT_BRANCH = "agent/issue-1-fix-the-greeting-typo"


@dataclass
class PullScene:
    """A scene whose repository also has an open pull request."""

    scene: Scene
    number: int
    branch: str

    @property
    def full_name(self) -> str:
        return self.scene.full_name


def repo_spec(scene: Scene) -> dict[str, Any]:
    return {"full_name": scene.full_name, "id": scene.repo["id"], "default_branch": "main",
            "private": True}


def pull_scene(github: FakeGitHub, by_orca: bool = False, **scene_options: Any) -> PullScene:
    """make_scene plus a PR: a person's `feature/greet`, or Orca's own agent branch."""
    scene = make_scene(github, **scene_options)
    branch = AGENT_BRANCH if by_orca else GREET_BRANCH
    github.push_commit(scene.full_name, branch, {"NOTES.md": "notes\n"}, "Start", start="main")
    author = github.bot_login if by_orca else "octocat"
    number = github.add_pull(scene.full_name, branch, "main", "Fix the greeting typo",
                             f"Fixes #{scene.number}", author)
    return PullScene(scene, number, branch)


def comment_payload(github: FakeGitHub, scene: Scene, number: int, comment: dict[str, Any],
                    on_pull_request: bool = False, sender: str = "octocat") -> dict[str, Any]:
    """issue_comment.created for a comment the fake already holds (its JSON)."""
    issue = github.state.issues[(scene.repo["id"], number)]
    payload = payloads.issue_comment_created(
        on_pull_request=on_pull_request, base_url=github.base_url,
        installation_id=scene.installation_id, repo=repo_spec(scene), sender_login=sender,
        sender_id=github.state.user(sender).id,
        issue={"number": number, "title": issue.title, "body": issue.body or ""},
        comment={"id": comment["id"], "body": comment["body"], "user": sender,
                 "created_at": comment["created_at"], "updated_at": comment["updated_at"]})
    assert payloads.validate("issue_comment", payload) == []
    return payload


def command(orca: Orca, scene: Scene, number: int, body: str, on_pull_request: bool = False,
            sender: str = "octocat") -> tuple[int, dict[str, Any], dict[str, Any]]:
    """Post `body` as `sender` in the fake and deliver its webhook; (status, answer, comment)."""
    comment = orca.github.add_comment(scene.full_name, number, body, sender)
    payload = comment_payload(orca.github, scene, number, comment, on_pull_request, sender)
    status, answer = orca.deliver("issue_comment", payload)
    return status, answer, comment


def review_payload(github: FakeGitHub, ps: PullScene, review_id: int, body: str,
                   state: str = "changes_requested", sender: str = "octocat") -> dict[str, Any]:
    """pull_request_review.submitted for a review the fake already holds."""
    scene, review = ps.scene, github.state.reviews[review_id]
    pull = github.state.issues[(scene.repo["id"], ps.number)]
    payload = payloads.pull_request_review_submitted(
        base_url=github.base_url, installation_id=scene.installation_id, repo=repo_spec(scene),
        sender_login=sender, sender_id=github.state.user(sender).id,
        issue={"number": ps.number, "title": pull.title, "body": pull.body, "head": ps.branch,
               "base": "main", "head_sha": pull.pull.head_sha,
               "user": {"login": pull.user.login, "id": pull.user.id, "type": pull.user.type}},
        review={"id": review_id, "body": body, "state": state, "user": sender,
                "submitted_at": review.submitted_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "commit_id": pull.pull.head_sha})
    assert payloads.validate("pull_request_review", payload) == []
    return payload


def bodies(github: FakeGitHub, full_name: str, number: int) -> list[str]:
    """The bodies of every conversation comment on issue or PR `number`, oldest first."""
    issue = github.state.issues[(github.state.repo(full_name).id, number)]
    return [c.body for c in github.state.comments.values() if c.issue is issue]


def thread_replies(github: FakeGitHub, root_id: int) -> list[Any]:
    """Replies in the thread of review comment `root_id`, oldest first."""
    return sorted((c for c in github.state.review_comments.values() if c.in_reply_to_id == root_id),
                  key=lambda c: c.id)


def drain_fast(orca: Orca) -> None:
    """Run only the fast queue's jobs: acknowledgements, stop, retry, help, cancel."""
    fast, _ = queues(orca.redis)
    FastWorker([fast], connection=orca.redis).work(burst=True)


class _ThreadWorker(FastWorker):
    """A burst worker that can live in a thread: signals belong to the main one, so job
    timeouts use a timer instead of SIGALRM."""

    death_penalty_class = TimerDeathPenalty

    def _install_signal_handlers(self) -> None:
        pass


class BackgroundRuns:
    """A worker on the runs queue in a thread, so a test can act while a run is going on."""

    def __init__(self, orca: Orca) -> None:
        _, runs = queues(orca.redis)
        self.worker = _ThreadWorker([runs], connection=orca.redis)
        self.thread = threading.Thread(target=self.worker.work, kwargs={"burst": True}, daemon=True)

    def start(self) -> BackgroundRuns:
        self.thread.start()
        return self

    def join(self, timeout: float = 60) -> None:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the run did not end"


def wait_for(condition, timeout: float = 30, what: str = "condition") -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)
