"""Pushing safely to a branch people also push to: rebase onto their commits, never force."""

from __future__ import annotations

import subprocess

from tests.e2e.conversation_scenes import (
    BackgroundRuns,
    bodies,
    command,
    drain_fast,
    pull_scene,
    wait_for,
)
from tests.fakes.model import looks_right, reply, text, tool_use


def script_slow_edit(model, new="'hello, world'") -> None:
    model.script(
        reply(tool_use("str_replace_based_edit_tool", {
            "command": "str_replace", "path": "/workspace/hello.py",
            "old_str": "'helo, world'", "new_str": new}), delay=1.0),
        reply(text("Done.")), reply(text("Fixed the greeting.")), looks_right(),
    )


def history(github, full_name, ref) -> list[str]:
    out = subprocess.run(["git", "log", "--format=%H %s", ref], cwd=github.git_dir(full_name),
                         capture_output=True, text=True, check=True).stdout
    return out.splitlines()


def run_while_someone_pushes(orca, ps, files) -> str:
    """Start a `/agent` run on the PR; push a person's commit while the agent works."""
    command(orca, ps.scene, ps.number, "/agent fix the greeting", on_pull_request=True)
    drain_fast(orca)
    runs = BackgroundRuns(orca).start()
    wait_for(lambda: orca.model.requests, what="the first model request")
    human = orca.github.push_commit(ps.full_name, ps.branch, files, "A person's commit")
    runs.join()
    return human


def test_a_commit_pushed_during_the_run_is_kept(orca):
    github = orca.github
    ps = pull_scene(github)
    script_slow_edit(orca.model)
    human = run_while_someone_pushes(orca, ps, {"CHANGELOG.md": "- greeting fixed\n"})

    log = history(github, ps.full_name, ps.branch)
    assert log[0].endswith(f"fix the greeting (#{ps.number})")
    assert log[1] == f"{human} A person's commit"  # rebased onto it, not overwritten
    assert github.read_file(ps.full_name, ps.branch, "CHANGELOG.md") == "- greeting fixed\n"
    assert "'hello, world'" in github.read_file(ps.full_name, ps.branch, "hello.py")
    final = bodies(github, ps.full_name, ps.number)[-1]
    assert "the commit was rebased onto its tip" in final
    assert github.violations == []


def test_a_conflicting_push_moves_the_work_aside_and_says_so(orca):
    github = orca.github
    ps = pull_scene(github)
    script_slow_edit(orca.model)
    human = run_while_someone_pushes(orca, ps, {"hello.py": "def greet():\n    return 'hi'\n"})

    assert github.branch_sha(ps.full_name, ps.branch) == human  # the person's work stands
    final = bodies(github, ps.full_name, ps.number)[-1]
    assert final.startswith(f"⚠️ `{ps.branch}` changed during the run in a way that conflicts")
    side = final.split("pushed its work to `")[1].split("`")[0]
    assert side.startswith("agent/run-")
    assert "'hello, world'" in github.read_file(ps.full_name, side, "hello.py")
