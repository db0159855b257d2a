"""Verified pull requests (#15): Orca runs the repository's tests itself, at the base commit and
on the agent's result, gives a regression back to the agent for one round, and says what it
found in the pull request; a draft when the change still breaks tests, and never a claim of
green without a run."""

from __future__ import annotations

from core.runs import RunStore
from tests.e2e.conftest import comments_on, labeled_payload, make_scene, pulls
from tests.e2e.conversation_scenes import bodies, pull_scene, review_payload
from tests.fakes.model import defects, error, looks_right, reply, text, tool_use

CALC = "def add(a, b):\n    return a + b\n"
TEST = ("import unittest\n\nfrom calc import add\n\n\nclass Add(unittest.TestCase):\n"
        "    def test_two_and_two(self):\n        self.assertEqual(add(2, 2), 4)\n")
COMMAND = "python3 -m unittest discover -s tests -t ."
FILES = {"calc.py": CALC, "tests/__init__.py": "", "tests/test_calc.py": TEST,
         ".github/orca.yml": f"test: {COMMAND}\n"}


def edit(old: str, new: str):
    return tool_use("str_replace_based_edit_tool", {
        "command": "str_replace", "path": "/workspace/calc.py", "old_str": old, "new_str": new})


def run(orca, files, *steps):
    scene = make_scene(orca.github, files=files, body="Make add() faster.")
    orca.model.script(*steps)
    orca.deliver("issues", labeled_payload(orca.github, scene))
    orca.drain()
    assert orca.model.remaining == 0 and orca.model.violations == []
    [pull] = pulls(orca.github)
    [comment], _ = comments_on(orca.github, scene)
    return scene, pull, comment.body


def user_text(request) -> str:
    return "\n".join(b.get("text", "") for b in request["messages"][-1]["content"])


def test_a_broken_test_goes_back_to_the_agent_once_and_the_fixed_change_says_so(orca):
    scene, pull, comment = run(
        orca, FILES,
        reply(edit("return a + b", "return a - b  # faster")),
        reply(text("Done.")),                                   # → the diff review
        reply(text("The diff is what I meant.")),               # → Orca's test run: broken
        reply(edit("return a - b  # faster", "return a + b  # checked")),
        reply(text("Made add() correct again.")))
    repair = user_text(orca.model.requests[3])
    assert f"Orca ran the repository's tests (`{COMMAND}`)" in repair
    assert "The command passed at the base and fails now." in repair
    assert "FAILED" in repair  # the output's end, so the agent sees what broke
    assert pull.pull.draft is False
    body = pull.body
    assert "## Verification" in body and f"`{COMMAND}`: passed" in body
    assert "passed (exit code 0" in body.split("→")[1]
    assert "## Verification" in comment and "Orca's tests" in comment
    [run_id] = RunStore(orca.redis).runs_on(f"{scene.full_name}#{scene.number}")
    kinds = [(e["data"]["at"], e["data"]["passed"]) for e in RunStore(orca.redis).events(run_id)
             if e["kind"] == "tests"]
    assert kinds == [("base", True), ("after", False), ("final", True)]


def test_a_change_that_still_breaks_tests_is_a_draft_that_says_so(orca):
    _scene, pull, comment = run(
        orca, FILES,
        reply(edit("return a + b", "return a - b  # faster")),
        reply(text("Done.")),
        reply(text("The diff is what I meant.")),
        reply(text("I think the test is wrong; leaving it.")))
    assert pull.pull.draft is True
    assert "**Draft:** the change still breaks tests that passed before it" in pull.body
    assert f"`{COMMAND}`: passed" in pull.body and "→ failed" in pull.body
    assert comment.startswith("⚠️ Opened draft #")


def test_passing_tests_are_shown_base_to_after_and_no_round_is_added(orca):
    _scene, pull, comment = run(
        orca, FILES,
        reply(edit("return a + b", "return a + b  # fine")),
        reply(text("Done.")),
        reply(text("Looks right.")),
        looks_right())
    assert len(orca.model.requests) == 4  # the check, and no repair round
    assert pull.pull.draft is False and "→ passed" in pull.body
    assert "The change adds, removes and edits no test files." in pull.body
    assert "found no defects." in pull.body and "found no defects." in comment


def test_a_repository_without_a_test_command_says_nothing_was_verified(orca):
    files = {"calc.py": CALC}
    _scene, pull, comment = run(
        orca, files,
        reply(edit("return a + b", "return a + b  # fine")),
        reply(text("Done.")),
        reply(text("Looks right.")),
        looks_right())
    assert "## Verification\n\nOrca did not run any tests:" in pull.body
    assert "Orca did not run any tests:" in comment
    assert "passed" not in pull.body.split("## Verification")[1]


# The fresh-context check (#16): after Orca's tests pass, one model call that sees only the
# request, the diff and the test output; its defects go back to the agent once.

def test_the_fresh_check_sees_only_the_request_diff_and_tests_and_its_defects_go_back_once(orca):
    scene, pull, comment = run(
        orca, FILES,
        reply(edit("return a + b", "return a + b  # faster\n\n\ndef sub(a, b):\n    return a + b")),
        reply(text("Done.")),                                     # → the diff review
        reply(text("The diff is what I meant.")),                 # → tests pass → the check
        defects("calc.py:5 sub() adds instead of subtracting"),   # → one repair round
        reply(tool_use("str_replace_based_edit_tool", {
            "command": "str_replace", "path": "/workspace/calc.py",
            "old_str": "def sub(a, b):\n    return a + b", "new_str": "def sub(a, b):\n    return a - b"})),
        reply(text("Made add() faster; sub() subtracts.")))       # → publish: nothing reopens
    check = orca.model.requests[3]
    assert "tools" not in check and len(check["messages"]) == 1
    seen = check["messages"][0]["content"][0]["text"]
    assert "<body>\ngreet() says helo instead of hello.\n</body>" in seen  # the request
    assert "+def sub(a, b):" in seen                          # the diff
    assert f"`{COMMAND}`: passed" in seen and "OK" in seen    # the test result and output's end
    assert "The diff is what I meant." not in seen and "Done." not in seen  # no agent context
    repair = user_text(orca.model.requests[4])
    assert "- calc.py:5 sub() adds instead of subtracting" in repair
    assert "\n\n+def sub" not in repair
    assert pull.pull.draft is False
    assert ("A fresh-context check (a separate model call that saw only the request, the diff "
            "and the test output, under $0.01) found 1 defect; the agent had one round to fix "
            "them:\n- `calc.py:5 sub() adds instead of subtracting`") in pull.body
    assert "found 1 defect" in comment
    [run_id] = RunStore(orca.redis).runs_on(f"{scene.full_name}#{scene.number}")
    events = RunStore(orca.redis).events(run_id)
    order = [e["kind"] if e["kind"] != "tests" else f"tests {e['data']['at']}" for e in events
             if e["kind"] in ("tests", "fresh_check")]
    assert order == ["tests base", "tests after", "fresh_check", "tests final"]
    # its tokens are the run's: the running figures after it count every request's
    models = [e["data"] for e in events if e["kind"] == "model"]
    [checked] = [m for m in models if m.get("purpose") == "check"]
    assert checked["turn"] == 0 and checked["spent"]["turns"] == 3  # not a turn of the agent's
    assert models[-1]["spent"]["tokens"] == sum(
        sum(m["usage"][name] for name in ("input_tokens", "output_tokens",
                                          "cache_creation_input_tokens", "cache_read_input_tokens"))
        for m in models)


def test_the_check_is_not_asked_about_a_change_that_broke_tests(orca):
    run(orca, FILES,
        reply(edit("return a + b", "return a - b  # faster")),
        reply(text("Done.")),
        reply(text("The diff is what I meant.")),     # tests fail → the repair round, no check
        reply(edit("return a - b  # faster", "return a + b  # checked")),
        reply(text("Made add() correct again.")))     # the one round was spent: publish
    assert all("tools" in request for request in orca.model.requests)


def test_a_check_the_model_cannot_answer_is_said_and_the_work_is_published(orca):
    _scene, pull, _comment = run(
        orca, FILES,
        reply(edit("return a + b", "return a + b  # fine")),
        reply(text("Done.")),
        reply(text("Looks right.")),
        error(400, message="prompt is too long"))
    assert pull.pull.draft is False
    assert "The fresh-context check did not run: The model API answered 400" in pull.body


def test_a_review_round_says_what_orcas_test_runs_found(orca):
    github = orca.github
    ps = pull_scene(github, by_orca=True, files=FILES)
    review = github.add_review(ps.full_name, ps.number, "octocat", "One thing.",
                               "CHANGES_REQUESTED")
    github.add_review_comment(ps.full_name, ps.number, "Say what add() returns.", "octocat",
                              "calc.py", 1, review_id=review)
    orca.model.script(
        reply(edit("return a + b", "return a + b  # the sum")),
        reply(text("Done.")),                                   # → the diff review
        reply(text('Commented.\n<reply thread="1">Said it returns the sum.</reply>')),
        looks_right())
    orca.deliver("pull_request_review", review_payload(github, ps, review, "One thing."))
    orca.drain()
    assert orca.model.remaining == 0 and orca.model.violations == []
    [summary] = bodies(github, ps.full_name, ps.number)
    assert summary.startswith("@octocat Orca addressed your review in ")
    verification = summary.split("## Verification", 1)[1]
    assert f"`{COMMAND}`: passed" in verification and "→ passed" in verification
    assert summary.index("## Verification") < summary.index("Run `")


def test_a_review_round_that_still_breaks_tests_says_so_first(orca):
    github = orca.github
    ps = pull_scene(github, by_orca=True, files=FILES)
    review = github.add_review(ps.full_name, ps.number, "octocat", "Faster.", "CHANGES_REQUESTED")
    github.add_review_comment(ps.full_name, ps.number, "Make add() faster.", "octocat",
                              "calc.py", 1, review_id=review)
    orca.model.script(
        reply(edit("return a + b", "return a - b  # faster")),
        reply(text("Done.")),
        reply(text("The diff is what I meant.")),               # → Orca's test run: broken
        reply(text('Left it.\n<reply thread="1">Made it faster.</reply>')))
    orca.deliver("pull_request_review", review_payload(github, ps, review, "Faster."))
    orca.drain()
    assert orca.model.remaining == 0
    [summary] = bodies(github, ps.full_name, ps.number)
    assert "The change still breaks tests that passed before it (see Verification)." in summary
    assert "## Verification" in summary and "→ failed" in summary
