"""The pure parts of Orca's reviews (#17): the diff's commentable lines, the findings' checks
and placement, the review's words, its event and budget, and the automatic review's decision."""

from __future__ import annotations

import subprocess

import pytest

from core.settings import AgentSettings
from jobs.review.diff import FileDiff, diff_files, fit, is_ancestor, merge_base, parse
from jobs.review.findings import MAX_INLINE, BadFinding, Findings, suggestion_block
from jobs.review.publish import event_for
from jobs.review.session import review_budget
from jobs.review.words import Checked, review_body
from jobs.steer.auto_review import should_review
from jobs.workspace.config import ReviewConfig, parse_config

DIFF = """diff --git a/calc.py b/calc.py
index 1111111..2222222 100644
--- a/calc.py
+++ b/calc.py
@@ -1,4 +1,5 @@
 def add(a, b):
-    return a+b
+    return a + b
+
 
 def sub(a, b):
@@ -20,2 +21,3 @@ def mul(a, b):
     x = 1
+    y = 2
     return x
diff --git a/gone.py b/gone.py
deleted file mode 100644
index 3333333..0000000
--- a/gone.py
+++ /dev/null
@@ -1,2 +0,0 @@
-a = 1
-b = 2
diff --git a/new.py b/new.py
new file mode 100644
--- /dev/null
+++ b/new.py
@@ -0,0 +1 @@
+c = 3
"""


def test_the_lines_a_review_comment_may_be_on():
    calc, gone, new = parse(DIFF)
    assert (calc.path, calc.status, calc.added, calc.deleted) == ("calc.py", "M", 3, 1)
    assert calc.right == {1, 2, 3, 4, 5, 21, 22, 23}
    assert calc.left == {1, 2, 3, 4, 20, 21}
    assert calc.takes("RIGHT", 21, 23) and not calc.takes("RIGHT", 5, 21)  # across hunks: no
    assert calc.takes("LEFT", 2, 2) and not calc.takes("RIGHT", 6, 6)
    assert (gone.path, gone.status, gone.left, gone.right) == ("gone.py", "D", {1, 2}, set())
    assert (new.path, new.status, new.right) == ("new.py", "A", {1})


def test_the_diff_shown_is_capped_and_says_what_it_left_out():
    files = [FileDiff(f"f{n}.py", "x" * 100) for n in range(5)] + [FileDiff("big.py", "y" * 300)]
    shown, left_out = fit(files, cap=350, file_cap=250)
    assert shown.count("x" * 100) == 3 and "y" not in shown
    assert left_out == ["f3.py", "f4.py", "big.py (cut at 250 of 300 characters)", "big.py"]


def book() -> Findings:
    return Findings({f.path: f for f in parse(DIFF)})


@pytest.mark.parametrize("given, error", [
    ("not an object", "must be an object"),
    ({"severity": "huge", "path": "calc.py", "title": "t", "body": "b"}, "`severity` must be one of"),
    ({"severity": "nit", "path": "calc.py", "title": " ", "body": "b"}, "`title` must be a non-empty"),
    ({"severity": "nit", "path": "calc.py", "title": "t", "body": "b", "line": 0}, "positive whole"),
    ({"severity": "nit", "path": "calc.py", "title": "t", "body": "b", "line": "3"}, "positive whole"),
    ({"severity": "nit", "path": "calc.py", "title": "t", "body": "b", "end_line": 3}, "`end_line` needs"),
    ({"severity": "nit", "path": "calc.py", "title": "t", "body": "b", "line": 3, "side": "UP"}, "`side`"),
    ({"severity": "nit", "path": "calc.py", "title": "t", "body": "b" * 5000}, "at most 4,000"),
    ({"severity": "nit", "path": "calc.py", "title": "<!-- hidden -->", "body": "b"}, "must say something"),
])
def test_bad_findings_are_refused_with_what_to_fix(given, error):
    with pytest.raises(BadFinding, match=error):
        book().record(given)


def test_a_finding_goes_inline_only_on_lines_of_the_hunks():
    found = book()
    said = found.record({"severity": "major", "path": "calc.py", "line": 2, "end_line": 3,
                         "title": "Spacing", "body": "ok", "suggestion": "    return a + b\n"})
    assert said == "Finding 1 recorded, as an inline comment on `calc.py` lines 2–3."
    assert "not in the diff's hunks" in found.record(
        {"severity": "minor", "path": "calc.py", "line": 12, "title": "Far", "body": "b"})
    assert "that file is not part of the diff" in found.record(
        {"severity": "minor", "path": "other.py", "line": 1, "title": "Other", "body": "b"})
    assert "no line was given" in found.record(
        {"severity": "nit", "path": "./calc.py", "title": "General", "body": "b", "suggestion": "x"})
    with pytest.raises(BadFinding, match="already reported"):
        found.record({"severity": "major", "path": "calc.py", "line": 2, "title": "Spacing", "body": "again"})
    first, far, other, general = found.found
    assert first.comment() == {
        "path": "calc.py", "side": "RIGHT", "line": 3, "start_line": 2, "start_side": "RIGHT",
        "body": "**🟠 Major: Spacing**\n\nok\n\n```suggestion\n    return a + b\n```"}
    assert not far.inline and not other.inline and general.suggestion is None


def test_a_suggestion_cannot_close_its_fence_early():
    assert suggestion_block("a\n```\nb") == "````suggestion\na\n```\nb\n````"


def test_the_most_severe_findings_go_inline_up_to_the_cap():
    found = Findings({"a.py": FileDiff("a.py", "", right=set(range(1, 40)))})
    for n in range(1, 23):
        severity = "critical" if n == 21 else "nit" if n == 22 else "minor"
        found.record({"severity": severity, "path": "a.py", "line": n, "title": f"t{n}", "body": "b"})
    inline, rest = found.placed()
    assert len(inline) == MAX_INLINE == 20 and inline[0].line == 21
    assert [f.line for f in rest] == [20, 22]
    body = review_body("Fine.", inline, rest, Checked(1, 3, 0), "run1")
    assert "- `a.py` line 20: **t20** — past the 20 most severe, which are inline" in body


def test_the_review_body_says_what_was_not_checked():
    body = review_body("", [], [], Checked(2, 10, 1, left_out=["big.txt"], tests=None,
                                           tests_not_run="Orca ran none: no test command",
                                           stopped_by="the dollar budget"), "run1")
    assert "No findings." in body
    assert "- Not read (past the diff-size cap): `big.txt`" in body
    assert "- Tests: Orca ran none: no test command." in body
    assert "- The review was stopped by the dollar budget before it finished" in body


@pytest.mark.parametrize("severities, allowed, event", [
    (["critical"], False, "COMMENT"),
    (["critical"], True, "REQUEST_CHANGES"),
    (["major", "nit"], True, "REQUEST_CHANGES"),
    (["minor", "nit"], True, "COMMENT"),
    ([], True, "COMMENT"),
])
def test_the_event_is_never_approve(severities, allowed, event):
    found = Findings({})
    for n, severity in enumerate(severities):
        found.record({"severity": severity, "path": "x.py", "title": f"t{n}", "body": "b"})
    assert event_for(found.found, allowed) == event


def test_a_review_budget_is_the_lowest_of_the_operators_and_the_repositorys(monkeypatch):
    monkeypatch.setenv("ORCA_MAX_REVIEW_DOLLARS", "1.5")
    settings = AgentSettings()
    assert review_budget(settings, parse_config(b"")).max_dollars == 1.5
    assert review_budget(settings, parse_config(b"review: {max_dollars: 0.5}")).max_dollars == 0.5
    assert review_budget(settings, parse_config(b"review: {max_dollars: 9}")).max_dollars == 1.5
    assert review_budget(settings, parse_config(b"budgets: {max_dollars: 0.2}")).max_dollars == 0.2


@pytest.mark.parametrize("review, draft, files, writes, budget, why, asked", [
    ({}, False, [], True, False, "`review.auto` is off", []),
    ({"auto": True}, False, [], True, False, None, ["permission"]),
    ({"auto": True}, True, [], True, False, "a draft", []),
    ({"auto": True, "skip_drafts": False}, True, [], True, False, None, ["permission"]),
    ({"auto": True, "paths": ["src/**"]}, False, ["docs/a.md"], True, False, "touches none", ["files"]),
    ({"auto": True, "paths": ["src/**"]}, False, ["src/a/b.py"], True, False, None,
     ["files", "permission"]),
    ({"auto": True}, False, [], False, True, "`review.authors: writers`", ["permission"]),
    ({"auto": True, "authors": "everyone"}, False, [], False, False, "needs a daily budget",
     ["permission"]),
    ({"auto": True, "authors": "everyone"}, False, [], False, True, None, ["permission"]),
])
def test_whether_to_review_automatically(review, draft, files, writes, budget, why, asked):
    """Pure but for two questions to GitHub, asked only when the answer decides."""
    questions: list[str] = []

    def changed() -> list[str]:
        questions.append("files")
        return files

    def author_writes() -> bool:
        questions.append("permission")
        return writes

    said = should_review(ReviewConfig(**review), draft, changed, author_writes, budget)
    assert (said is None) if why is None else (said is not None and why in said)
    assert questions == asked


def test_a_real_diff_read_from_git_objects_names_paths_as_they_are(tmp_path):
    """Renames, a deleted file and a non-ASCII path, from real git (objects only)."""
    def run(*args: str) -> str:
        env = {"GIT_AUTHOR_NAME": "a", "GIT_AUTHOR_EMAIL": "a@b", "GIT_COMMITTER_NAME": "a",
               "GIT_COMMITTER_EMAIL": "a@b", "GIT_CONFIG_GLOBAL": "/dev/null", "HOME": str(tmp_path)}
        return subprocess.run(["git", *args], cwd=tmp_path, env=env, check=True,
                              capture_output=True, text=True).stdout.strip()

    run("init", "-q", "-b", "main")
    (tmp_path / "keep.py").write_text("".join(f"line {n}\n" for n in range(1, 21)))
    (tmp_path / "old.py").write_text("x = 1\n")
    run("add", "-A")
    run("commit", "-qm", "base")
    base = run("rev-parse", "HEAD")
    run("mv", "keep.py", "kept.py")
    (tmp_path / "kept.py").write_text((tmp_path / "kept.py").read_text().replace("line 10\n", "line ten\n"))
    (tmp_path / "old.py").unlink()
    (tmp_path / "données.py").write_text("y = 2\n")
    run("add", "-A")
    run("commit", "-qm", "change")
    head = run("rev-parse", "HEAD")

    git_dir = tmp_path / ".git"
    files = {f.path: f for f in diff_files(git_dir, base, head)}
    assert set(files) == {"kept.py", "old.py", "données.py"}
    assert files["kept.py"].right == set(range(7, 14)) and files["kept.py"].added == 1
    assert (files["old.py"].status, files["données.py"].status) == ("D", "A")
    assert merge_base(git_dir, base, head) == base
    assert is_ancestor(git_dir, base, head) and not is_ancestor(git_dir, head, base)
    assert not is_ancestor(git_dir, "0" * 40, head)


def test_a_review_body_stays_within_githubs_size():
    found = Findings({})
    for n in range(40):
        found.record({"severity": "minor", "path": "x.py", "title": f"Finding {n}", "body": "b" * 3_000})
    body = review_body("s" * 20_000, [], found.ranked(), Checked(1, 1, 1), "run1")
    assert len(body) <= 60_000 and "- `x.py`: **Finding 39** — outside the diff, so not inline" in body
    assert "b" * 3_000 not in body
    small = review_body("fine", [], found.ranked()[:2], Checked(1, 1, 1), "run1")
    assert "b" * 3_000 in small
