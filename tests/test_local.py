"""`orca solve PATH "request"` through the CLI entry, against the fake model and real bubblewrap."""

from __future__ import annotations

import json
import logging
import subprocess
import tempfile

import pytest

from app.cli import main
from tests.fakes.model import defects, reply, text, tool_use
from tests.fakes.model_conversations import Attempts

ENV_SECRETS = ("GITHUB_APP_ID", "GITHUB_PRIVATE_KEY", "GITHUB_PRIVATE_KEY_PATH", "GITHUB_WEBHOOK_SECRET")


def git(*args, cwd):
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout


@pytest.fixture
def checkout(tmp_path, monkeypatch):
    """A user's repository with one commit and a git identity, and no GitHub settings anywhere."""
    repo = tmp_path / "hello"
    repo.mkdir()
    git("init", "--quiet", "-b", "main", cwd=repo)
    git("config", "user.name", "Ada Lovelace", cwd=repo)
    git("config", "user.email", "ada@example.org", cwd=repo)
    (repo / "hello.py").write_text("def greet():\n    return 'helo, world'\n")
    git("add", ".", cwd=repo)
    git("commit", "--quiet", "-m", "first", cwd=repo)
    monkeypatch.chdir(tmp_path)  # no stray .env
    for name in ENV_SECRETS:
        monkeypatch.delenv(name, raising=False)
    return repo


@pytest.fixture
def model_env(fake_model, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", fake_model.api_key)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", fake_model.base_url)
    monkeypatch.setenv("ORCA_STRICT_MODEL_RESPONSES", "true")
    monkeypatch.setenv("ORCA_MODEL_TIMEOUT", "60")  # a test that loses an answer fails in a minute
    return fake_model


def test_solve_commits_on_a_new_branch_with_the_users_identity(checkout, model_env, capsys):
    model_env.script(
        reply(tool_use("str_replace_based_edit_tool", {
            "command": "str_replace", "path": "/workspace/hello.py",
            "old_str": "'helo, world'", "new_str": "'hello, world'"})),
        reply(text("Fixed it.")),
        reply(text("Fixed the greeting typo.")),  # after the diff review
    )
    assert main(["solve", str(checkout), "Fix the greeting typo"]) == 0
    out = capsys.readouterr().out
    branch = "agent/local-fix-the-greeting-typo"
    assert "Fixed the greeting typo." in out and f"Branch: {branch}" in out
    assert git("show", f"{branch}:hello.py", cwd=checkout) == "def greet():\n    return 'hello, world'\n"
    assert git("log", "-1", "--format=%an <%ae>|%s", branch, cwd=checkout).strip() == \
        "Ada Lovelace <ada@example.org>|Fix the greeting typo"
    # The user's own checkout is untouched, and the temporary worktree is gone.
    assert git("rev-parse", "--abbrev-ref", "HEAD", cwd=checkout).strip() == "main"
    assert "helo" in (checkout / "hello.py").read_text()
    assert git("worktree", "list", "--porcelain", cwd=checkout).count("worktree ") == 1
    review = model_env.requests[2]["messages"][-1]["content"][0]["text"]
    assert "+    return 'hello, world'" in review and "Checklist" in review
    assert model_env.remaining == 0 and model_env.violations == []


def test_solve_picks_a_fresh_branch_and_says_when_nothing_changed(checkout, model_env, capsys):
    git("branch", "agent/local-look-around", cwd=checkout)
    model_env.script(reply(tool_use("bash", {"command": "ls"})), reply(text("Nothing to do.")))
    assert main(["solve", str(checkout), "Look around"]) == 0
    out = capsys.readouterr().out
    assert "Branch: agent/local-look-around-2 (no changes)" in out


def test_solve_needs_only_the_model_key(checkout, monkeypatch, capsys):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    assert main(["solve", str(checkout), "Anything"]) == 1
    assert "ANTHROPIC_API_KEY is not set" in capsys.readouterr().err


def test_solve_reports_a_malformed_config(checkout, model_env, capsys):
    (checkout / ".github").mkdir()
    (checkout / ".github" / "orca.yml").write_text("budgets: {max_turns: many}\n")
    git("add", ".", cwd=checkout)
    git("commit", "--quiet", "-m", "config", cwd=checkout)
    assert main(["solve", str(checkout), "Anything"]) == 1
    assert "budgets.max_turns: Input should be a valid integer" in capsys.readouterr().err
    assert model_env.requests == []


def with_a_test_command(checkout):
    """A test of greet() and `.github/orca.yml` naming the command, committed."""
    (checkout / "test_hello.py").write_text(
        "import unittest\n\nfrom hello import greet\n\n\nclass Greet(unittest.TestCase):\n"
        "    def test_greets(self):\n        self.assertTrue(greet().startswith('hel'))\n")
    (checkout / ".github").mkdir()
    (checkout / ".github" / "orca.yml").write_text("test: python3 -m unittest -q\n")
    git("add", ".", cwd=checkout)
    git("commit", "--quiet", "-m", "tests", cwd=checkout)


def test_solve_verify_ends_as_a_run_on_github_does(checkout, model_env, capsys):
    with_a_test_command(checkout)
    model_env.script(
        reply(tool_use("str_replace_based_edit_tool", {
            "command": "str_replace", "path": "/workspace/hello.py",
            "old_str": "'helo, world'", "new_str": "'hello, world'"})),
        reply(text("Fixed it.")),
        reply(text("Fixed the greeting typo.")),   # after the diff review: Orca's tests pass
        defects("hello.py:2 the docstring still says helo"),
        reply(text("There is no docstring; nothing to fix.")),
    )
    assert main(["solve", "--verify", str(checkout), "Fix the greeting typo"]) == 0
    out = capsys.readouterr().out
    assert "## Verification" in out and "`python3 -m unittest -q`: passed" in out
    assert "found 1 defect; the agent had one round to fix them" in out
    assert "There is no docstring; nothing to fix." in out
    assert model_env.remaining == 0 and model_env.violations == []


def test_solve_attempts_keeps_each_on_a_branch_and_picks_by_evidence(checkout, model_env, capsys,
                                                                     tmp_path):
    with_a_test_command(checkout)

    def edit(new, script):
        return reply(tool_use("str_replace_based_edit_tool", {
            "command": "str_replace", "path": "/workspace/hello.py", "old_str": "'helo, world'",
            "new_str": new}, id=f"toolu_s{script}_first"))

    model_env.respond_with(Attempts([
        [edit("'jello, world'", 0), reply(text("Done.")), reply(text("Done.")), reply(text("Kept."))],
        [edit("'hello, world'", 1), reply(text("Done.")), reply(text("Fixed the typo."))],
    ]))
    transcript = tmp_path / "attempts.jsonl"
    assert main(["solve", "--attempts", "2", "--transcript", str(transcript), str(checkout),
                 "Fix the greeting typo"]) == 0
    out, err = capsys.readouterr()
    for number in (1, 2):  # each attempt's lines say whose they are
        assert f"[{number}]   edit: str_replace /workspace/hello.py → ok" in err.splitlines()
        assert f"[{number}] turn 1: " in err
    records = [json.loads(line) for line in transcript.read_text().splitlines()]
    assert {r.get("attempt") for r in records if r["kind"] == "tool"} == {1, 2}
    assert records[-1]["kind"] == "outcome" and len(records[-1]["data"]["attempts"]) == 2
    lines = [line for line in out.splitlines() if line.startswith("attempt ")]
    assert len(lines) == 2 and sum("tests regressed" in line for line in lines) == 1
    [good] = [line for line in lines if "no test regression" in line]
    branch = good.rsplit(" · ", 1)[1]
    assert f"Picked {branch}. It is the only attempt without a test regression." in out
    assert f"Branch: {branch} (commit " in out
    assert git("show", f"{branch}:hello.py", cwd=checkout) == "def greet():\n    return 'hello, world'\n"
    assert git("worktree", "list", "--porcelain", cwd=checkout).count("worktree ") == 1
    assert main(["solve", "--attempts", "9", str(checkout), "Fix it"]) == 1
    assert "--attempts must be 1 to 3 (ORCA_MAX_ATTEMPTS)" in capsys.readouterr().err


def test_solve_shows_each_command_its_status_and_last_line_and_keeps_a_transcript(
        checkout, model_env, capsys, caplog, tmp_path):
    model_env.script(
        reply(tool_use("bash", {"command": "echo one; echo two; exit 3"})),
        reply(tool_use("str_replace_based_edit_tool", {
            "command": "view", "path": "/workspace/missing.py"})),
        reply(text("Looked around.")),
    )
    transcript = tmp_path / "run.jsonl"
    with caplog.at_level(logging.INFO):
        assert main(["solve", "--transcript", str(transcript), str(checkout), "Look around"]) == 0
    err = capsys.readouterr().err.splitlines()
    assert "  $ echo one; echo two; exit 3 → exit 3 · two" in err
    assert any(line.startswith("  edit: view /workspace/missing.py → error · ") for line in err)
    assert next(line for line in err if line.startswith("turn ")).startswith("turn 1: ")
    # The model client's request lines are not among the progress lines.
    assert not [r for r in caplog.records if r.name.startswith("httpx")]
    records = [json.loads(line) for line in transcript.read_text().splitlines()]
    kinds = [r["kind"] for r in records]
    assert kinds[0] == "config" and kinds[-1] == "outcome" and kinds.count("tool") == 2
    bash = next(r["data"] for r in records if r["kind"] == "tool")
    assert bash["exit_code"] == 3 and "one\ntwo" in bash["output"]
    assert [r["data"]["text"] for r in records if r["kind"] == "model"][-1] == "Looked around."
    assert records[-1]["data"]["branch"] == "agent/local-look-around"
    assert records[-1]["data"]["commit"] is None and "attempt" not in records[-1]


def test_a_path_that_does_not_exist_is_one_line(checkout, model_env, capsys, tmp_path):
    missing = tmp_path / "nowhere"
    assert main(["solve", "--transcript", str(tmp_path / "run.jsonl"), str(missing), "Anything"]) == 1
    assert capsys.readouterr().err == f"orca: {missing} is not a folder\n"
    [record] = [json.loads(line) for line in (tmp_path / "run.jsonl").read_text().splitlines()]
    assert record["kind"] == "error" and record["data"]["message"] == f"{missing} is not a folder"
    assert main(["solve", "--transcript", str(missing / "run.jsonl"), str(checkout), "Anything"]) == 1
    assert capsys.readouterr().err == (f"orca: cannot write the transcript {missing / 'run.jsonl'}: "
                                       "No such file or directory\n")
    assert model_env.requests == []


def test_a_failed_run_leaves_no_scratch_folder_and_the_transcript_says_why(
        checkout, model_env, capsys, tmp_path, monkeypatch):
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))
    monkeypatch.setattr(tempfile, "tempdir", None)  # read TMPDIR again
    plain = tmp_path / "not-a-repository"
    plain.mkdir()
    transcript = tmp_path / "run.jsonl"
    assert main(["solve", "--transcript", str(transcript), str(plain), "Anything"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("orca: git rev-parse failed: ") and err.count("\n") == 1
    assert list(scratch.iterdir()) == []
    [record] = [json.loads(line) for line in transcript.read_text().splitlines()]
    assert record["kind"] == "error" and "git rev-parse failed" in record["data"]["message"]


def test_solve_commits_no_bytecode_or_cache_the_repository_does_not_ignore(checkout, model_env, capsys):
    model_env.script(
        reply(tool_use("bash", {"command": "sed -i s/helo/hello/ hello.py && python3 -c 'import hello' "
                                           "&& mkdir -p node_modules && touch node_modules/a.js && ls __pycache__"})),
        reply(text("Fixed it.")), reply(text("Fixed it.")))
    assert main(["solve", str(checkout), "Fix the greeting typo"]) == 0
    assert ".cpython-" in capsys.readouterr().err  # the bytecode was made, and shown
    files = git("ls-tree", "-r", "--name-only", "agent/local-fix-the-greeting-typo", cwd=checkout)
    assert files.split() == ["hello.py"]
