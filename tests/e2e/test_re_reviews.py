"""Re-reviews after pushes (#17): only what changed since Orca's last review is read, and
Orca's own threads that the new commits fixed are answered and resolved."""

from __future__ import annotations

from tests.e2e.conversation_scenes import command, thread_replies
from tests.e2e.review_scenes import (
    CHANGED,
    finding,
    inline_comments,
    pull_to_review,
    pushes,
    reviews_by_orca,
)
from tests.fakes import github_git as gitops
from tests.fakes.model import reply, text, tool_use

FIXED = CHANGED.replace("numbers[1:]", "numbers")


def test_a_re_review_reads_the_new_commits_and_resolves_the_thread_they_fixed(orca):
    github, model = orca.github, orca.model
    rs = pull_to_review(github, change={"calc.py": CHANGED, "notes.txt": "Sums a list\n"})
    model.script(reply(finding("major", "calc.py", 7, "add_all skips the first number"),
                       finding("nit", "notes.txt", 1, "Say what it returns")),
                 reply(text("One bug, one nit.")))
    command(orca, rs.scene, rs.number, "/agent review", on_pull_request=True)
    orca.drain()
    [first] = reviews_by_orca(github)
    bug, nit = inline_comments(github, first.id)

    # The author fixes the bug (and nothing else); Orca is asked again.
    fixed = github.push_commit(rs.full_name, "feature/add-all", {"calc.py": FIXED}, "Start at the first")
    asked = len(model.requests)
    model.script(
        reply(tool_use("resolve_thread", {"thread": 1, "why": "The loop now starts at the first number."}),
              tool_use("resolve_thread", {"thread": 2, "why": "Fixed too, surely."}),
              tool_use("resolve_thread", {"thread": 9, "why": "?"})),
        reply(text("The fix is right.")))
    command(orca, rs.scene, rs.number, "/agent review", on_pull_request=True)
    orca.drain()

    second = reviews_by_orca(github)[-1]
    assert second.commit_id == fixed and second.id != first.id
    # Only the new commit's diff was read.
    prompt = model.requests[asked]["messages"][0]["content"][0]["text"]
    assert f"The diff: what changed since your last review, at `{rs.head[:12]}`." in prompt
    assert "-    for n in numbers[1:]:\n+    for n in numbers:" in prompt
    assert "+def add_all" not in prompt and "notes.txt" not in prompt.split("<earlier-threads>")[0]
    assert '<thread n="1" file="calc.py" line="7">' in prompt
    # The bug's thread is answered and resolved; the nit's stays open: its file did not change.
    assert github.state.review_comments[bug.id].resolved
    assert [c.body for c in thread_replies(github, bug.id)] == [
        f"Fixed in {fixed[:7]}: The loop now starts at the first number."]
    assert not github.state.review_comments[nit.id].resolved and thread_replies(github, nit.id) == []
    results = [b for b in model.requests[asked + 1]["messages"][-1]["content"] if b["type"] == "tool_result"]
    assert [r.get("is_error", False) for r in results] == [False, True, True]
    assert "do not change `notes.txt`" in results[1]["content"]
    assert f"- Read the changes since Orca's last review (`{rs.head[:7]}`): 1 file, +1 −1" in second.body
    assert "- Resolved 1 earlier thread the new commits fixed." in second.body
    assert pushes(github) == 0 and github.violations == [] and model.remaining == 0


def test_after_a_force_push_the_whole_diff_is_read_again(orca):
    github, model = orca.github, orca.model
    rs = pull_to_review(github)
    model.script(reply(text("Fine.")))
    command(orca, rs.scene, rs.number, "/agent review", on_pull_request=True)
    orca.drain()
    # The branch is rewritten from main: Orca's last reviewed commit is no longer in it.
    rewritten = github.push_commit(rs.full_name, "feature/add-all-2", {"calc.py": FIXED}, "Again",
                                   start="main")
    gitops.git("update-ref", "refs/heads/feature/add-all", rewritten, cwd=github.git_dir(rs.full_name))
    asked = len(model.requests)
    model.script(reply(text("Fine.")))
    command(orca, rs.scene, rs.number, "/agent review", on_pull_request=True)
    orca.drain()
    prompt = model.requests[asked]["messages"][0]["content"][0]["text"]
    assert "The diff: the whole change." in prompt and "+def add_all" in prompt
    assert "resolve_thread" not in [t["name"] for t in model.requests[asked]["tools"]]
