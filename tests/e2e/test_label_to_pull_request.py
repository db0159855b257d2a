"""A labelled issue becomes a pull request: webhook → queue → worker → git → PR, all real."""

from __future__ import annotations

import subprocess

from tests.e2e.conftest import comments_on as comments
from tests.e2e.conftest import labeled_payload, make_scene, pulls
from tests.fakes.model import looks_right, reply, text, tool_use

FIXED = "def greet():\n    return 'hello, world'\n"


def script_fix(model) -> None:
    model.script(
        reply(text("Let me look."), tool_use("str_replace_based_edit_tool",
                                             {"command": "view", "path": "/workspace/hello.py"})),
        reply(tool_use("str_replace_based_edit_tool", {
            "command": "str_replace", "path": "/workspace/hello.py",
            "old_str": "'helo, world'", "new_str": "'hello, world'"})),
        reply(tool_use("bash", {"command": "python3 -c 'import hello; print(hello.greet())'"})),
        reply(text("Done, I think.")),
        # Orca shows the diff and its checklist once; this answer is the one that counts.
        reply(text("Fixed the typo in `greet()`; it now returns 'hello, world'. Verified by calling it.")),
        looks_right(),  # the fresh-context check
    )


def git_log(github, full_name, ref, fmt):
    return subprocess.run(["git", "log", "-1", f"--format={fmt}", ref], cwd=github.git_dir(full_name),
                          capture_output=True, text=True, check=True).stdout


def every_file_under(folder):
    for path in folder.rglob("*"):
        if path.is_file():
            yield path, path.read_bytes()


def test_labelled_issue_becomes_a_pull_request(orca):
    github, model = orca.github, orca.model
    scene = make_scene(github)
    script_fix(model)

    status, answer = orca.deliver("issues", labeled_payload(github, scene))
    assert status == 202, answer
    orca.drain()

    # 👀 on the issue, by the App's bot.
    found, issue = comments(github, scene)
    reactions = github.reactions_on(f"issue:{issue.id}")
    assert [(r.content, r.user.login) for r in reactions] == [("eyes", github.bot_login)]

    # One pull request, from agent/issue-N-..., that closes the issue.
    found_pulls = pulls(github)
    assert len(found_pulls) == 1
    pull = found_pulls[0]
    branch = pull.pull.head_ref
    assert branch == f"agent/issue-{scene.number}-fix-the-greeting-typo"
    assert pull.pull.base_ref == "main" and pull.user.login == github.bot_login
    assert pull.body.startswith(f"Fixes #{scene.number}")
    assert "Fixed the typo" in pull.body

    # One tracking comment, edited to its final form with the PR link.
    assert len(found) == 1
    tracking = found[0]
    assert tracking.user.login == github.bot_login
    assert tracking.body.startswith(f"✅ Opened #{pull.number}: ")
    assert f"/octo-org/hello/pull/{pull.number}" in tracking.body
    assert "5 turns" in tracking.body and "Fixed the typo" in tracking.body
    # Edited once, at the end: a worker was free for the run, so no place in line was shown
    # (the test's one worker, on both queues, was busy only with the acknowledgement).
    assert len(github.calls_to("PATCH", r"/issues/comments/\d+$")) == 1

    # The model's edit is on the branch, committed by the bot with the requester as co-author.
    assert github.read_file(scene.full_name, branch, "hello.py") == FIXED
    assert github.read_file(scene.full_name, "main", "hello.py") != FIXED
    author = git_log(github, scene.full_name, branch, "%an <%ae>").strip()
    assert author == f"{github.bot_login} <{github.bot_user_id}+{github.bot_login}@users.noreply.127.0.0.1>"
    message = git_log(github, scene.full_name, branch, "%B")
    requester = scene.requester
    assert (f"Co-authored-by: octocat <{requester['id']}+octocat@users.noreply.127.0.0.1>"
            in message)

    # Every scripted turn consumed, no request or response off GitHub's OpenAPI description.
    assert model.remaining == 0 and model.violations == []
    assert github.violations == []

    # Tokens were scoped to the one repository, and none is anywhere on disk.
    assert all(body.get("repository_ids") == [scene.repo["id"]] for body in github.token_requests)
    tokens = [t.encode() for t in github.state.tokens]
    assert tokens
    for path, content in every_file_under(orca.data_dir):
        assert not any(t in content for t in tokens), f"a token leaked into {path}"
    assert not list((orca.data_dir / "worktrees").iterdir()), "the worktree was not removed"

    # The run record and its events tell the story.
    from core.runs import RunStore

    store = RunStore(orca.redis)
    run = store.get(answer["run"])
    assert run["status"] == "done" and run["pr_number"] == pull.number and run["turns"] == 5
    kinds = [e["kind"] for e in store.events(answer["run"])]
    assert kinds[0] == "acknowledged" and kinds[-1] == "finished" and kinds.count("tool") == 3
