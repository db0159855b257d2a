"""The fleet bench's scene: repositories, labelled issues and their deliveries, the model's
side of every run's conversation, and the check that every run ended as it should.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bench._world import World
from jobs.workspace import issue_branch
from tests import payloads
from tests.fakes.model import reply, text, tool_use

# -- the model's side ----------------------------------------------------------------------

def conversation(turns: int, latency: float):
    """Answers each request from the run's own history: turns - 2 bash commands, "done", and
    after Orca's diff review (a text block from the user) the summary. The latency is paid
    per request in the fake's handler thread, so concurrent runs wait side by side."""
    def answer(body: dict[str, Any]):
        if "tools" not in body:  # the fresh-context check, or the judge of attempts (a tie)
            return reply(text("LOOKS RIGHT"), delay=latency)
        messages = body["messages"]
        blocks = [b for m in messages if m["role"] == "user" and isinstance(m["content"], list)
                  for b in m["content"]]
        ran = sum(1 for b in blocks if b.get("type") == "tool_result")
        last = messages[-1]["content"]
        reviewing = len(messages) > 1 and isinstance(last, list) and any(
            b.get("type") == "text" for b in last)
        if reviewing:
            return reply(text(f"Appended {ran} lines to notes.txt, one per turn."), delay=latency)
        if ran < turns - 2:
            command = f"echo turn {ran + 1} >> notes.txt"
            return reply(tool_use("bash", {"command": command}), delay=latency)
        return reply(text("Done, I think."), delay=latency)
    return answer


# -- the GitHub side -------------------------------------------------------------------------

@dataclass
class Issue:
    full_name: str
    installation_id: int
    repo_id: int
    number: int
    title: str
    requester_id: int


def make_issues(world: World, runs: int, repos: int, attempts: int = 1) -> list[Issue]:
    """`repos` repositories, each in an installation of its own, and `runs` labelled issues
    dealt round-robin over them; octocat may write to all of them. With `attempts` over one,
    each repository's `.github/orca.yml` asks for that many attempts per labelled issue."""
    github = world.github
    requester = github.add_user("octocat")
    homes = []
    for k in range(1, min(repos, runs) + 1):
        installation = github.add_installation(f"fleet-org-{k}")
        files = {"README.md": "# Service\n", "notes.txt": ""}
        if attempts > 1:
            files[".github/orca.yml"] = f"attempts: {attempts}\n"
        repo = github.add_repo(f"fleet-org-{k}/service", installation, files, private=True)
        github.set_permission(repo["full_name"], "octocat", "write")
        homes.append((repo["full_name"], installation, repo["id"]))
    issues = []
    for n in range(runs):
        full_name, installation, repo_id = homes[n % len(homes)]
        title = f"Fleet task {n + 1}"
        number = github.add_issue(full_name, title, "Keep notes, one line per turn.", "octocat",
                                  labels=["agent"])
        issues.append(Issue(full_name, installation, repo_id, number, title, requester["id"]))
    return issues


def deliver(world: World, issue: Issue) -> str:
    """The label delivery through the real webhook view; returns the run id."""
    payload = payloads.issues_labeled(
        base_url=world.github.base_url, installation_id=issue.installation_id,
        repo={"full_name": issue.full_name, "id": issue.repo_id, "default_branch": "main",
              "private": True},
        sender_login="octocat", sender_id=issue.requester_id,
        issue={"number": issue.number, "title": issue.title,
               "body": "Keep notes, one line per turn."},
        label="agent")
    status, answer = world.deliver("issues", payload)
    if status != 202 or "run" not in answer:
        raise SystemExit(f"delivery for {issue.full_name}#{issue.number} answered {status}: {answer}")
    return answer["run"]


def check(world: World, issues: list[Issue], records: dict[str, dict], turns: int) -> str | None:
    """Why the level failed (a run not done, no PR, missing notes, a fake's complaint), or None."""
    bad = {r: (rec.get("status"), rec.get("reason")) for r, rec in records.items()
           if rec.get("status") != "done" or not rec.get("pr_number")}
    if bad:
        return f"runs not done with a pull request: {bad}"
    for issue in issues:
        notes = world.github.read_file(issue.full_name, issue_branch(issue.number, issue.title),
                                       "notes.txt") or ""
        if len(notes.splitlines()) != turns - 2:
            return f"{issue.full_name}#{issue.number}: notes.txt has {notes!r}"
    complaints = world.model.violations + world.github.violations
    return f"the fakes saw invalid requests: {complaints[:5]}" if complaints else None
