"""What the change did to the tests: the run at the base commit against the run after. Pure.

Per test when both runs reported per test (JUnit XML, `go test -json`); otherwise the command
as a whole. Held against the change (`Verdict.regressed`): a test that passed at the base and
fails after (a regression), a test the base did not have that fails after (a new failure: a
new test, or a module or package that no longer loads), and a command that passed at the base
and fails after with no test to show for it. Tests already failing at the base are reported,
never held against it.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass

from jobs.verify.results import FAILING, PASSED, SKIPPED, TestRun

# Folders whose files are tests or their fixtures, and test files' own names.
TEST_FOLDERS = frozenset({"tests", "test", "__tests__", "spec", "specs"})
TEST_NAMES = (
    "test_*.py", "*_test.py", "conftest.py", "*_test.go", "*_test.rs", "*.test.*", "*.spec.*",
    "*_spec.rb", "*_test.rb", "*Test.java", "*Tests.java", "*Test.kt", "*Tests.cs", "*Test.php",
)


@dataclass(frozen=True)
class Verdict:
    """The base run against the run after, test by test where both say."""

    base: TestRun | None
    after: TestRun
    per_test: bool = False
    """Both runs reported each test's outcome, and the lists below are filled."""
    regressions: tuple[str, ...] = ()
    """Passed at the base, failing after."""
    new_failures: tuple[str, ...] = ()
    """Not run at the base, failing after."""
    already_failing: tuple[str, ...] = ()
    """Failing at the base (whatever they do after): not held against the change."""
    fixed: tuple[str, ...] = ()
    """Failing at the base, passing after."""
    added: tuple[str, ...] = ()
    """Run after, not at the base."""
    gone: tuple[str, ...] = ()
    """Run at the base, not after (removed, renamed, or no longer collected)."""
    newly_skipped: tuple[str, ...] = ()
    """Passed at the base, skipped after."""
    command_broke: bool = False
    """The command passed at the base and fails after, and no test above shows why (a
    timeout, a crash, a coverage threshold, or no per-test data)."""

    @property
    def judged(self) -> bool:
        """There is a base result to compare with."""
        return self.base is not None

    @property
    def regressed(self) -> bool:
        """Something that worked at the base does not after: held against the change."""
        return bool(self.regressions or self.new_failures or self.command_broke)

    @property
    def base_failed(self) -> bool:
        """The command already failed at the base as a whole."""
        return self.base is not None and not self.base.passed


def verdict(base: TestRun | None, after: TestRun) -> Verdict:
    """Compare; with no base run, nothing is judged (`Verdict.judged` is False)."""
    if base is None:
        return Verdict(None, after)
    if base.tests is None or after.tests is None:
        return Verdict(base, after, command_broke=base.passed and not after.passed)
    before, now = base.tests, after.tests
    failing_before = sorted(t for t, o in before.items() if o in FAILING)
    regressions = sorted(t for t, o in before.items() if o == PASSED and now.get(t) in FAILING)
    added = sorted(set(now) - set(before))
    new_failures = [t for t in added if now[t] in FAILING]
    return Verdict(
        base, after, per_test=True, regressions=tuple(regressions),
        new_failures=tuple(new_failures), already_failing=tuple(failing_before),
        fixed=tuple(t for t in failing_before if now.get(t) == PASSED),
        added=tuple(added), gone=tuple(sorted(set(before) - set(now))),
        newly_skipped=tuple(sorted(t for t, o in before.items()
                                   if o == PASSED and now.get(t) == SKIPPED)),
        command_broke=(base.passed and not after.passed and not regressions and not new_failures),
    )


@dataclass(frozen=True)
class TestFiles:
    """The test files a change added, removed or edited."""

    __test__ = False  # not a pytest test class, whatever its name

    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    edited: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.edited)


def is_test_file(path: str) -> bool:
    """In a tests folder (`tests/`, `test/`, `__tests__/`, `spec/`), or named as a test
    (`test_*.py`, `*_test.go`, `*.test.ts`, `*.spec.js`, `FooTest.java`...)."""
    *folders, name = path.split("/")
    return (any(folder in TEST_FOLDERS for folder in folders)
            or any(fnmatch.fnmatchcase(name, pattern) for pattern in TEST_NAMES))


def changed_test_files(changes: Iterable[tuple[str, str]]) -> TestFiles:
    """The test files among `(status, path)` pairs, with git's status letters (`git diff
    --name-status --no-renames`): A added, D removed, anything else (M, T) edited."""
    found: dict[str, list[str]] = {"A": [], "D": [], "M": []}
    for status, path in changes:
        if is_test_file(path):
            found.get(status[:1].upper(), found["M"]).append(path)
    return TestFiles(*(tuple(sorted(set(found[k]))) for k in ("A", "D", "M")))


def name_status(output: str) -> list[tuple[str, str]]:
    """`(status, path)` pairs from `git diff --name-status -z --no-renames` output."""
    fields = output.split("\0")
    return [(fields[i], fields[i + 1]) for i in range(0, len(fields) - 1, 2) if fields[i]]
