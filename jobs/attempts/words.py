"""What people read about attempts: each one's state while they run, and the table in the pull
request once one is picked. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from jobs.verify import words
from jobs.verify.compare import Verdict

HEADING = "## Attempts"


@dataclass(frozen=True)
class Row:
    """One attempt, as the table shows it."""

    number: int
    state: str
    """queued, running, done, no changes, failed or stopped."""
    verdict: Verdict | None = None
    tests_run: bool = False
    """Whether the repository has a test command Orca ran (else the tests column says so)."""
    added: int = 0
    removed: int = 0
    cost: float | None = None
    branch: str = ""
    error: str = ""


def branch_for(issue: int, number: int) -> str:
    """Where an attempt's commit is kept: outside `agent/issue-<n>-`, which follow-ups search
    (jobs.github.branches deletes them when the pull request closes)."""
    return f"agent/attempts/{issue}/{number}"


def progress(requester: str, rows: Sequence[Row], footer: str) -> str:
    """The tracking comment while the attempts run."""
    lines = [f"- attempt {row.number}: {_state(row)}" for row in rows]
    return (f"👀 Orca is working on this for @{requester} with {len(rows)} attempts at once, "
            "each from the same base commit; the one with the best evidence becomes the pull "
            "request.\n\n" + "\n".join(lines) + f"\n\n{footer}")


def table(rows: Sequence[Row], winner: int, how: str) -> str:
    """The Attempts section of the pull request and the tracking comment."""
    lines = [HEADING,
             (f"{len(rows)} attempts from the same base commit; attempt {winner} is this pull "
              f"request. {how}"),
             "| attempt | tests | diff | cost | branch |", "| --- | --- | --- | --- | --- |"]
    for row in rows:
        name = f"**{row.number}** (this pull request)" if row.number == winner else str(row.number)
        diff = f"+{row.added} −{row.removed}" if row.state == "done" else "—"
        branch = f"`{row.branch}`" if row.branch else "—"
        lines.append(f"| {name} | {_tests(row)} | {diff} | {_dollars(row.cost)} | {branch} |")
    lines.append("`/agent use attempt <k>` moves this pull request to attempt k with a new commit.")
    return "\n\n".join(lines[:2]) + "\n\n" + "\n".join(lines[2:-1]) + "\n\n" + lines[-1]


def _state(row: Row) -> str:
    if row.state == "done":
        return f"done: {_tests(row)}, +{row.added} −{row.removed}"
    if row.state == "failed":
        return f"failed: {words.code(row.error)}" if row.error else "failed"
    return row.state


def _tests(row: Row) -> str:
    if row.state == "failed":
        return f"failed: {words.code(row.error)}" if row.error else "failed"
    if row.state in ("stopped", "no changes", "queued", "running"):
        return row.state
    if not row.tests_run:
        return "not run (no test command)"
    if row.verdict is None:
        return "not run (the attempt ended first)"
    after = row.verdict.after
    said = after.counts.words() if after.counts is not None else ("passed" if after.passed else "failed")
    if row.verdict.regressed:
        broke = row.verdict.regressions or row.verdict.new_failures
        return f"❌ {said}" + (f"; regressions: {words.listed(broke)}" if broke else "")
    return f"✅ {said}" if after.passed else f"⚠️ {said} (failing at the base too)"


def _dollars(value: float | None) -> str:
    return "—" if value is None else f"${value:.2f}"
