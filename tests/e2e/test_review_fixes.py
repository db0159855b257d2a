"""`/agent fix` in a thread of Orca's review (#17): a run that makes that change on the pull
request's own branch; refused outside Orca's threads and on a fork's pull request."""

from __future__ import annotations

from tests import payloads
from tests.e2e.conversation_scenes import bodies, command, repo_spec
from tests.e2e.review_scenes import (
    BRANCH,
    CHANGED,
    finding,
    inline_comments,
    pull_to_review,
    pushes,
    reviews_by_orca,
)
from tests.fakes.model import looks_right, reply, text, tool_use

FIX = "`numbers[1:]` skips the first number; loop over `numbers`."


def review_first(orca, fork: bool = False):
    github = orca.github
    rs = pull_to_review(github, fork=fork)
    orca.model.script(reply(finding("major", "calc.py", 7, "add_all skips the first number", FIX,
                                    suggestion="    for n in numbers:")),
                      reply(text("One bug.")))
    command(orca, rs.scene, rs.number, "/agent review", on_pull_request=True)
    orca.drain()
    [review] = reviews_by_orca(github)
    [thread] = inline_comments(github, review.id)
    return rs, thread


def reply_in_thread(orca, rs, root, body: str, sender: str = "octocat"):
    github = orca.github
    reply_id = github.reply_review_comment(root.id, body, sender)
    stored = github.state.review_comments[reply_id]
    pull = github.state.issues[(rs.scene.repo["id"], rs.number)]
    payload = payloads.pull_request_review_comment_created(
        base_url=github.base_url, installation_id=rs.scene.installation_id, repo=repo_spec(rs.scene),
        sender_login=sender, sender_id=github.state.user(sender).id,
        issue={"number": rs.number, "title": pull.title, "body": pull.body or "", "head": BRANCH,
               "base": "main", "head_sha": pull.pull.head_sha,
               "user": {"login": pull.user.login, "id": pull.user.id, "type": pull.user.type}},
        comment={"id": reply_id, "body": body, "user": sender, "path": root.path, "line": root.line,
                 "in_reply_to_id": root.id, "diff_hunk": "@@ -1,2 +1,9 @@",
                 "created_at": stored.created_at.strftime("%Y-%m-%dT%H:%M:%SZ")})
    assert payloads.validate("pull_request_review_comment", payload) == []
    return orca.deliver("pull_request_review_comment", payload)


def test_fix_in_orcas_thread_makes_that_change_on_the_branch(orca):
    github, model = orca.github, orca.model
    rs, thread = review_first(orca)
    asked = len(model.requests)
    model.script(
        reply(tool_use("str_replace_based_edit_tool", {
            "command": "str_replace", "path": "/workspace/calc.py",
            "old_str": "numbers[1:]", "new_str": "numbers"})),
        reply(text("Done.")), reply(text("Loop over every number.")), looks_right())
    status, answer = reply_in_thread(orca, rs, thread, "/agent fix")
    assert status == 202, answer
    orca.drain()

    assert github.read_file(rs.full_name, BRANCH, "calc.py") == CHANGED.replace("numbers[1:]", "numbers")
    prompt = model.requests[asked]["messages"][0]["content"][0]["text"]
    assert "Make the change Orca's review comment in this thread asks for." in prompt
    assert "<finding>\n**🟠 Major: add_all skips the first number**" in prompt and FIX in prompt
    assert "(Written on `calc.py` line 7 of the diff:)" in prompt
    sha = github.branch_sha(rs.full_name, BRANCH)
    assert bodies(github, rs.full_name, rs.number)[-1].startswith(f"✅ Pushed `{sha[:7]}` to `{BRANCH}`.")
    assert github.violations == [] and model.remaining == 0 and model.violations == []


def test_fix_outside_orcas_threads_is_refused(orca):
    github = orca.github
    rs, _ = review_first(orca)
    root = github.add_review_comment(rs.full_name, rs.number, "Rename this?", "octocat", "calc.py", 5)
    person = github.state.review_comments[root["id"]]
    asked, before = len(orca.model.requests), pushes(github)
    status, _ = reply_in_thread(orca, rs, person, "/agent fix")
    assert status == 202
    orca.drain()
    assert "this thread is not one of Orca's" in bodies(github, rs.full_name, rs.number)[-1]
    assert len(orca.model.requests) == asked and pushes(github) == before


def test_fix_on_a_forks_pull_request_is_refused(orca):
    github = orca.github
    rs, thread = review_first(orca, fork=True)
    asked = len(orca.model.requests)
    status, _ = reply_in_thread(orca, rs, thread, "/agent fix")
    assert status == 202
    orca.drain()
    assert bodies(github, rs.full_name, rs.number)[-1].startswith(
        "🚫 Orca cannot do this: this pull request's branch lives in alice/hello")
    assert len(orca.model.requests) == asked and pushes(github) == 0
