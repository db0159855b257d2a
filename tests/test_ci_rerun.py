"""jobs/steer/ci_rerun.py's pure parts: what the CI line says of a re-run, whether a reading
predates the re-run, and what a round says of it."""

from __future__ import annotations

import pytest

from jobs.github.ci import CiState, Failure
from jobs.steer.ci_rerun import RerunRecord, note, outcome, waiting

RERUN = RerunRecord((11,), ("test",))


def failing(name: str, check_run_id: int | None) -> Failure:
    return Failure(name, "failure", "github-actions", check_run_id=check_run_id)


@pytest.mark.parametrize(("state", "rerun", "said"), [
    (CiState("s", "pending", False, (), ("test",)), RERUN, "Orca re-ran `test` once"),
    (CiState("s", "failed", False, ("lint",), ("test",)), RERUN, "Orca re-ran `test` once"),
    (CiState("s", "pending", False, (), ("lint",)), RERUN, ""),  # the re-run is over
    (CiState("s", "passed", True), RERUN, "`test` failed, then passed when Orca re-ran it"),
    (CiState("s", "failed", True, ("test",)), RERUN, ""),  # decided by the round's path
    (CiState("s", "passed", True), None, ""),  # nothing re-run
    (CiState("s", "pending", False, (), ("test",)), RerunRecord(), ""),  # none started
])
def test_what_the_ci_line_says_of_a_re_run(state, rerun, said):
    words = note(state, rerun)
    assert words.startswith(said) if said else words == ""


@pytest.mark.parametrize(("found", "expected"), [
    ([failing("test", 11)], True),  # the very check run re-run: read before the re-run began
    ([failing("test", 12)], False),  # the re-run's own check run: its outcome
    ([failing("lint", 13), failing("ci/jenkins", None)], False),
    ([], False),
])
def test_a_reading_waits_only_while_it_shows_a_check_run_that_was_re_run(found, expected):
    assert waiting(RERUN, found) is expected


def test_the_round_says_which_re_run_checks_passed_and_which_failed_again():
    rerun = RerunRecord((11, 12), ("test", "e2e"))
    passed, again = outcome(rerun, [failing("e2e", 14), failing("lint", 15)])
    assert passed.startswith("`test` failed, then passed when Orca re-ran it")
    assert again.startswith("`e2e` failed again when Orca re-ran it")
    assert outcome(RerunRecord(), [failing("lint", 15)]) == []


def test_a_rerun_record_survives_redis():
    assert RerunRecord.decode(RERUN.encode()) == RERUN
    assert RerunRecord.decode("") == RerunRecord()
