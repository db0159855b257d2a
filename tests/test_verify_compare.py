"""What a change did to the tests: base against after, and the test files it touched."""

from __future__ import annotations

import pytest

from jobs.verify.compare import (
    TestFiles,
    changed_test_files,
    is_test_file,
    name_status,
    verdict,
)
from jobs.verify.results import Counts, TestRun


def run(tests: dict[str, str] | None = None, code: int | None = 0,
        timed_out: bool = False) -> TestRun:
    counts = Counts.of(tests.values()) if tests is not None else None
    return TestRun("pytest -q", code, timed_out, 1.0, "", counts, tests)


P, F, E, S = "passed", "failed", "error", "skipped"


def test_per_test_regressions_new_failures_and_what_is_not_held_against_the_change():
    base = run({"a": P, "b": P, "c": F, "d": E, "e": P, "g": P, "h": P}, code=1)
    after = run({"a": P, "b": F, "c": P, "d": E, "e": S, "n1": P, "n2": F, "h": E}, code=1)
    v = verdict(base, after)
    assert v.per_test and v.judged and v.base_failed
    assert v.regressions == ("b", "h")
    assert v.new_failures == ("n2",)
    assert v.already_failing == ("c", "d")
    assert v.fixed == ("c",)
    assert v.added == ("n1", "n2")
    assert v.gone == ("g",)
    assert v.newly_skipped == ("e",)
    assert not v.command_broke and v.regressed


VERDICTS = [
    # (base, after, regressed, command_broke)
    (run({"a": P}), run({"a": P, "b": P}), False, False),
    # a test that fails at both ends is not held against the change
    (run({"a": P, "b": F}, code=1), run({"a": P, "b": F}, code=1), False, False),
    # a module that no longer imports: its tests are gone, its collection error is new
    (run({"m.py::a": P}), run({"m.py": E}, code=2), True, False),
    # per-test data on neither side: the whole command, pass → fail
    (run(code=0), run(code=1), True, True),
    (run(code=1), run(code=1), False, False),
    (run(code=1), run(code=0), False, False),
    # per-test data at the base only: the whole command decides
    (run({"a": P}), run(None, code=None, timed_out=True), True, True),
    (run({"a": P}), run(None, code=0), False, False),
    # every test passes yet the command fails after (a coverage threshold): held against it
    (run({"a": P}), run({"a": P}, code=1), True, True),
    # a command that cannot start at either end (not installed) is not the change's doing
    (run(code=127), run(code=127), False, False),
]


@pytest.mark.parametrize(("base", "after", "regressed", "broke"), VERDICTS)
def test_verdicts(base, after, regressed, broke):
    v = verdict(base, after)
    assert (v.regressed, v.command_broke) == (regressed, broke)


def test_without_a_base_run_nothing_is_judged():
    v = verdict(None, run({"a": F}, code=1))
    assert not v.judged and not v.regressed and not v.per_test and v.regressions == ()


@pytest.mark.parametrize(("path", "is_test"), [
    ("tests/test_x.py", True), ("tests/fixtures/data.json", True), ("pkg/test/helpers.py", True),
    ("test_x.py", True), ("src/x_test.py", True), ("conftest.py", True),
    ("server/handler_test.go", True), ("src/app.test.ts", True), ("web/Button.spec.jsx", True),
    ("src/__tests__/a.js", True), ("spec/models/user_spec.rb", True),
    ("src/test/java/FooTest.java", True), ("FooTests.cs", True),
    ("src/x.py", False), ("testing.md", False), ("contest.py", False), ("latest/x.py", False),
    ("src/testutils.go", False), ("attest_x.py", False),
])
def test_test_files(path, is_test):
    assert is_test_file(path) is is_test


def test_changed_test_files_from_the_diffs_statuses():
    changes = name_status("A\0tests/test_new.py\0M\0tests/test_x.py\0D\0old_test.go\0"
                          "M\0src/x.py\0T\0src/a.test.js\0A\0README.md\0")
    assert changed_test_files(changes) == TestFiles(
        added=("tests/test_new.py",), removed=("old_test.go",),
        edited=("src/a.test.js", "tests/test_x.py"))
    assert not changed_test_files([("M", "src/x.py")])
    assert name_status("") == []
