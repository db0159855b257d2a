"""What one run of a test command left: the shared types of jobs.verify, and their JSON form
for the cache of base results (jobs.verify.cache)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

PASSED, FAILED, ERROR, SKIPPED = "passed", "failed", "error", "skipped"
OUTCOMES = (PASSED, FAILED, ERROR, SKIPPED)
FAILING = (FAILED, ERROR)
# bash's status for a command it could not find (`pytest: command not found`).
NOT_FOUND = 127


@dataclass(frozen=True)
class Counts:
    """How many tests ended each way, as the runner (or its per-test report) said."""

    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0

    @property
    def total(self) -> int:
        return self.passed + self.failed + self.errors + self.skipped

    @classmethod
    def of(cls, outcomes: Iterable[str]) -> Counts:
        """The counts of per-test outcomes (PASSED, FAILED, ERROR, SKIPPED)."""
        seen = list(outcomes)
        return cls(*(seen.count(outcome) for outcome in OUTCOMES))

    def words(self) -> str:
        """"1 failed, 40 passed, 2 skipped": failures first, zeros left out."""
        parts = [(self.failed, "failed"), (self.errors, "error" if self.errors == 1 else "errors"),
                 (self.passed, "passed"), (self.skipped, "skipped")]
        said = [f"{number:,} {word}" for number, word in parts if number]
        return ", ".join(said) if said else "no tests ran"


@dataclass(frozen=True)
class TestRun:
    """One run of the test command in a sandbox."""

    __test__ = False  # not a pytest test class, whatever its name

    command: str
    exit_code: int | None
    """The command's exit status; None when it timed out."""
    timed_out: bool
    seconds: float
    output_tail: str
    """The end of what the runner printed (Orca's report section taken out)."""
    counts: Counts | None = None
    """From the per-test report when there is one, else the runner's summary line; None when
    neither said."""
    tests: Mapping[str, str] | None = None
    """Each test's outcome by its id (`tests/test_x.py::test_y`, `pkg::TestY`); None when the
    runner gave no per-test report Orca could read."""
    per_test_note: str = ""
    """Why there is no per-test data, when there is none."""
    bounds: tuple[str, ...] = ()
    """The sandbox's bounds the command ran into ("out of memory (4 GiB)")."""

    @property
    def passed(self) -> bool:
        """The command succeeded as a whole: exit status 0 within its time."""
        return self.exit_code == 0 and not self.timed_out

    @property
    def not_found(self) -> bool:
        return self.exit_code == NOT_FOUND

    def failing(self) -> list[str]:
        """The ids of the tests that failed or errored, sorted."""
        return sorted(t for t, outcome in (self.tests or {}).items() if outcome in FAILING)

    def to_json(self) -> dict[str, Any]:
        return {"command": self.command, "exit_code": self.exit_code,
                "timed_out": self.timed_out, "seconds": self.seconds,
                "output_tail": self.output_tail,
                "counts": None if self.counts is None else list(_counts_tuple(self.counts)),
                "tests": None if self.tests is None else dict(self.tests),
                "per_test_note": self.per_test_note, "bounds": list(self.bounds)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TestRun:
        """The run `to_json` wrote; ValueError, KeyError or TypeError when it is not one."""
        counts = data["counts"]
        tests = data["tests"]
        if tests is not None and not all(
                isinstance(k, str) and v in OUTCOMES for k, v in dict(tests).items()):
            raise ValueError("malformed per-test outcomes")
        return cls(
            command=str(data["command"]),
            exit_code=None if data["exit_code"] is None else int(data["exit_code"]),
            timed_out=bool(data["timed_out"]), seconds=float(data["seconds"]),
            output_tail=str(data["output_tail"]),
            counts=None if counts is None else Counts(*(int(n) for n in counts[:4])),
            tests=None if tests is None else dict(tests),
            per_test_note=str(data["per_test_note"]),
            bounds=tuple(str(b) for b in data["bounds"]))


def _counts_tuple(counts: Counts) -> tuple[int, int, int, int]:
    return counts.passed, counts.failed, counts.errors, counts.skipped
