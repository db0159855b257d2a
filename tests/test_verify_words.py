"""The Verification section's words: what ran, base → after, and never green without a run."""

from __future__ import annotations

import pytest

from jobs.verify import words
from jobs.verify.compare import TestFiles, verdict
from jobs.verify.detect import CONFIG_WHY, Detected
from jobs.verify.results import Counts, TestRun

PYTEST = Detected("pytest -q", CONFIG_WHY, "config")


def run(counts: Counts | None = None, code: int | None = 0, seconds: float = 12.0,
        tests: dict[str, str] | None = None, timed_out: bool = False, tail: str = "",
        bounds: tuple[str, ...] = (), note: str = "") -> TestRun:
    return TestRun("pytest -q", code, timed_out, seconds, tail, counts, tests, note, bounds)


OUTCOMES = [
    (run(Counts(41)), "41 passed (12 s)"),
    (run(Counts(40, 1, 0, 2), code=1, seconds=3.25), "1 failed, 40 passed, 2 skipped (3.2 s)"),
    (run(Counts(errors=1), code=2), "1 error (12 s)"),
    (run(Counts(), code=5), "no tests ran (exit code 5, 12 s)"),
    (run(Counts(41), code=1), "41 passed (exit code 1, 12 s)"),
    (run(None, code=0), "passed (exit code 0, 12 s)"),
    (run(None, code=2), "failed (exit code 2, 12 s)"),
    (run(None, code=None, timed_out=True, seconds=600), "timed out after 600 s"),
    (run(None, code=127, seconds=0.01), "could not start: command not found (exit code 127, 0.0 s)"),
    (run(None, code=137, bounds=("out of memory (4 GiB)",)),
     "failed (exit code 137, 12 s); out of memory (4 GiB)"),
]


@pytest.mark.parametrize(("test_run", "said"), OUTCOMES)
def test_one_run_in_words(test_run, said):
    assert words.outcome(test_run) == said


def test_all_green_with_test_files_added():
    base = run(Counts(41), tests={f"t{i}": "passed" for i in range(41)})
    after = run(Counts(43), seconds=13, tests={f"t{i}": "passed" for i in range(43)})
    files = TestFiles(added=("tests/test_new.py",), edited=("tests/test_x.py",))
    assert words.section(PYTEST, verdict(base, after), files) == (
        "## Verification\n\n"
        "Orca ran `pytest -q` in its sandbox at the base commit and on this change, because "
        "`.github/orca.yml` names it.\n\n"
        "✅ `pytest -q`: 41 passed (12 s) → 43 passed (13 s)\n\n"
        "Test files: added `tests/test_new.py`; edited `tests/test_x.py`.")


def test_a_regression_is_named_and_the_output_shown():
    base = run(Counts(2), tests={"tests/test_x.py::test_y": "passed", "a": "passed"})
    after = run(Counts(1, 1), code=1, tests={"tests/test_x.py::test_y": "failed", "a": "passed"},
                tail="E   assert 1 == 2\n1 failed, 1 passed in 0.1s")
    section = words.section(PYTEST, verdict(base, after))
    assert "❌ `pytest -q`: 2 passed (12 s) → 1 failed, 1 passed (12 s) (regression: " \
           "`tests/test_x.py::test_y`)" in section
    assert "The change adds, removes and edits no test files." in section
    assert section.endswith("<details><summary>The end of the output after the change</summary>"
                            "\n\n```\nE   assert 1 == 2\n1 failed, 1 passed in 0.1s\n```\n\n</details>")


def test_several_regressions_are_listed_and_capped():
    names = [f"tests/test_x.py::test_{i}" for i in range(12)]
    base = run(Counts(12), tests=dict.fromkeys(names, "passed"))
    after = run(Counts(failed=12), code=1, tests=dict.fromkeys(names, "failed"))
    assert words.result_line(verdict(base, after)).endswith(
        "(regressions: `tests/test_x.py::test_0`, `tests/test_x.py::test_1`, "
        "`tests/test_x.py::test_10`, `tests/test_x.py::test_11`, `tests/test_x.py::test_2`, "
        "`tests/test_x.py::test_3`, `tests/test_x.py::test_4`, `tests/test_x.py::test_5`, "
        "`tests/test_x.py::test_6`, `tests/test_x.py::test_7` and 2 more)")


def test_failures_already_at_the_base_are_reported_not_held_against_the_change():
    base = run(Counts(1, 2), code=1, tests={"a": "passed", "b": "failed", "c": "failed"})
    after = run(Counts(2, 1), code=1, tests={"a": "passed", "b": "failed", "c": "passed"})
    section = words.section(PYTEST, verdict(base, after))
    assert "⚠️ `pytest -q`: 2 failed, 1 passed (12 s) → 1 failed, 2 passed (12 s)\n" in section
    assert "- Already failing at the base, not held against the change: `b`." in section
    assert "- Failing at the base, passing after the change: `c`." in section
    assert "regression" not in section


def test_judged_on_the_whole_command_it_says_so():
    base = run(None, code=0, note="the runner wrote no per-test report Orca reads")
    after = run(None, code=1, note="the runner wrote no per-test report Orca reads")
    section = words.section(Detected("npm test", "npm test: `package.json` has a test script "
                                     "other than npm's default", "npm"), verdict(base, after))
    assert "because it found npm test: `package.json` has a test script" in section
    assert "- The command passed at the base and fails after the change." in section
    assert "- Judged on the whole command: the runner wrote no per-test report Orca reads." in section


def test_without_a_base_result_there_is_nothing_to_compare_and_it_says_so():
    section = words.section(PYTEST, verdict(None, run(Counts(43))))
    assert "in its sandbox on this change, because" in section
    assert "✅ `pytest -q`: 43 passed (12 s); there is no result at the base commit to compare " \
           "with." in section
    cached = words.section(PYTEST, verdict(run(Counts(41)), run(Counts(43))), base_cached=True)
    assert "(the base result from an earlier run at the same commit)" in cached


def test_no_command_no_claim():
    said = words.not_run("`.github/orca.yml` names no `test` command, and Orca found no test "
                         "runner it could pick with confidence",
                         TestFiles(removed=("tests/test_old.py",)))
    assert said == ("## Verification\n\nOrca did not run any tests: `.github/orca.yml` names no "
                    "`test` command, and Orca found no test runner it could pick with "
                    "confidence.\n\nTest files: removed `tests/test_old.py`.")
    assert "✅" not in said and "pass" not in said


@pytest.mark.parametrize(("text", "quoted"), [
    ("tests/test_x.py::test_y", "`tests/test_x.py::test_y`"),
    ("a`b", "`` a`b ``"),
    ("``x", "``` ``x ```"),
    ("@everyone [link](http://x) <img src=x>", "`@everyone [link](http://x) <img src=x>`"),
    ("two\nlines", "`two lines`"),
    ("x" * 300, "`" + "x" * 199 + "…`"),
])
def test_names_from_the_sandbox_are_quoted_as_code(text, quoted):
    assert words.code(text) == quoted


def test_long_lists_are_capped():
    assert words.listed(["a"]) == "`a`"
    assert words.listed(["a", "b", "c"]) == "`a`, `b` and `c`"
    assert words.listed([f"t{i}" for i in range(25)]).endswith("`t9` and 15 more")


def test_output_with_fences_cannot_close_the_block():
    after = run(None, code=1, tail="```\n</details>\n# Pwned\n````")
    section = words.section(PYTEST, verdict(None, after))
    assert "`````\n```\n</details>\n# Pwned\n````\n`````" in section


def test_what_the_agent_reads_after_a_regression():
    base = run(Counts(1), tests={"a": "passed"})
    after = run(Counts(failed=1), code=1, tests={"a": "failed", "n": "failed"}, tail="E boom")
    said = words.for_agent(verdict(base, after))
    assert "These passed at the base and fail now: a" in said
    assert "These are new and fail: n" in said
    assert said.endswith("without weakening, skipping or deleting tests. The end of the "
                         "output:\n\nE boom")
