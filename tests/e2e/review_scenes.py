"""Scenes for Orca's reviews of pull requests: a repository with tests, a pull request from a
branch or a fork, the model's findings, and what GitHub shows afterwards."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from tests.e2e.conftest import Orca, Scene, make_scene
from tests.fakes.github import FakeGitHub
from tests.fakes.model import tool_use

CALC = "def add(a, b):\n    return a + b\n"
TEST = ("import unittest\n\nfrom calc import add\n\n\nclass Add(unittest.TestCase):\n"
        "    def test_two_and_two(self):\n        self.assertEqual(add(2, 2), 4)\n")
COMMAND = "python3 -m unittest discover -s tests -t ."
FILES = {"calc.py": CALC, "tests/__init__.py": "", "tests/test_calc.py": TEST,
         "README.md": "# Calc\n\nAdds numbers.\n", ".github/orca.yml": f"test: {COMMAND}\n"}
# The change under review: add() loses its second term on a line of the diff.
CHANGED = ("def add(a, b):\n    return a + b\n\n\ndef add_all(numbers):\n    total = 0\n"
           "    for n in numbers[1:]:\n        total = add(total, n)\n    return total\n")
BRANCH = "feature/add-all"


@dataclass
class ReviewScene:
    scene: Scene
    number: int
    head: str
    head_repo: str

    @property
    def full_name(self) -> str:
        return self.scene.full_name


def pull_to_review(github: FakeGitHub, fork: bool = False, files: dict[str, str] | None = None,
                   change: dict[str, str] | None = None, draft: bool = False) -> ReviewScene:
    """octo-org/hello with tests, and a pull request adding add_all() (from a fork: alice's)."""
    scene = make_scene(github, files=FILES if files is None else files)
    head_repo = scene.full_name
    if fork:
        head_repo = "alice/hello"
        github.add_repo(head_repo, None, FILES if files is None else files, private=False)
    head = github.push_commit(head_repo, BRANCH, change or {"calc.py": CHANGED}, "Add add_all",
                              start="main")
    author = "alice" if fork else "octocat"
    number = github.add_pull(scene.full_name, BRANCH, "main", "Add add_all",
                             "Sums a list.", author, head_repo_full_name=head_repo if fork else None)
    if draft:
        github.state.issues[(scene.repo["id"], number)].pull.draft = True
    return ReviewScene(scene, number, head, head_repo)


def finding(severity: str, path: str, line: int | None, title: str, body: str = "Because.",
            **more: Any) -> dict[str, Any]:
    given = {"severity": severity, "path": path, "title": title, "body": body, **more}
    if line is not None:
        given["line"] = line
    return tool_use("report_finding", given)


def reviews_by_orca(github: FakeGitHub) -> list[Any]:
    return [r for r in github.state.reviews.values() if r.user.login == github.bot_login]


def inline_comments(github: FakeGitHub, review_id: int) -> list[Any]:
    return sorted((c for c in github.state.review_comments.values() if c.review_id == review_id),
                  key=lambda c: c.id)


def pushes(github: FakeGitHub) -> int:
    return len(github.calls_to("POST", r"git-receive-pack"))


def minted_tokens(github: FakeGitHub) -> list[str]:
    return list(github.state.tokens)


def anything_sent_to_the_model(orca: Orca) -> str:
    return json.dumps(orca.model.requests)


def as_github_shows(github: FakeGitHub, review: Any) -> str:
    """The review as a person reads it on GitHub: its body, then each inline comment."""
    heading = (f"--- review {review.id} by {review.user.login} ({review.state}) on "
               f"{review.commit_id[:7]} ---")
    parts = [heading, review.body]
    for comment in inline_comments(github, review.id):
        where = (f"{comment.path} lines {comment.start_line}-{comment.line}" if comment.start_line
                 else f"{comment.path} line {comment.line}")
        parts.append(f"--- inline on {where} ({comment.side}) ---\n{comment.body}")
    return "\n\n".join(parts)


def pull_event(orca: Orca, rs: ReviewScene, action: str, sender: str | None = None) -> tuple[int, Any]:
    """Deliver pull_request.<action> for the scene's pull request as the fake holds it now."""
    from tests import payloads
    from tests.e2e.conversation_scenes import repo_spec

    github = orca.github
    pull = github.state.issues[(rs.scene.repo["id"], rs.number)]
    github.refresh_pull(pull)
    author = pull.user
    payload = payloads.build(
        "pull_request", action, base_url=github.base_url, installation_id=rs.scene.installation_id,
        repo=repo_spec(rs.scene), sender_login=sender or author.login,
        sender_id=github.state.user(sender or author.login).id,
        issue={"number": rs.number, "title": pull.title, "body": pull.body, "head": pull.pull.head_ref,
               "base": "main", "head_sha": pull.pull.head_sha,
               "user": {"login": author.login, "id": author.id, "type": author.type}})
    payload["pull_request"]["draft"] = pull.pull.draft
    if action != "ready_for_review":  # no published schema for it (tests/payloads.py)
        assert payloads.validate("pull_request", payload) == []
    return orca.deliver("pull_request", payload)
