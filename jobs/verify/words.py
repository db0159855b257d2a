"""The Verification section of the pull request body and the tracking comment, and the words
the agent reads when its change broke tests. Pure.

Never a claim of success without a run: with no command, the section says Orca did not run any
tests and why; with no base result, it says there was nothing to compare with. Test ids, paths
and output come from the sandbox, so they are quoted as code (no mentions, links or HTML) and
the lists are capped.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from jobs.verify.compare import TestFiles, Verdict
from jobs.verify.detect import Detected
from jobs.verify.results import TestRun

HEADING = "## Verification"
MAX_LISTED = 10
MAX_CODE_CHARS = 200
_TICKS = re.compile(r"`+")


def section(detected: Detected, verdict: Verdict, files: TestFiles = TestFiles(),
            heading: str = HEADING, base_cached: bool = False) -> str:
    """The whole section: what ran and why, base → after, what is held against the change,
    what is not, the test files changed, and the output's end when it failed."""
    where = "at the base commit and on this change" if verdict.judged else "on this change"
    cached = " (the base result from an earlier run at the same commit)" if base_cached else ""
    parts = [heading,
             f"Orca ran {code(detected.command)} in its sandbox {where}{cached}, because "
             f"{_why(detected)}.",
             f"{_mark(verdict)} {result_line(verdict)}"]
    if notes := _notes(verdict):
        parts.append("\n".join(f"- {note}" for note in notes))
    parts.append(test_files_line(files))
    if not verdict.after.passed and verdict.after.output_tail:
        parts.append(_details("The end of the output after the change", verdict.after.output_tail))
    return "\n\n".join(parts)


def not_run(why: str, files: TestFiles = TestFiles(), heading: str = HEADING) -> str:
    """The section when Orca ran no tests: it says so, and why."""
    return "\n\n".join([heading, f"Orca did not run any tests: {why}.", test_files_line(files)])


def result_line(verdict: Verdict) -> str:
    """"`pytest -q`: 41 passed (12 s) → 43 passed (13 s)", with the regressions after it."""
    after = outcome(verdict.after)
    if regressions := verdict.regressions:
        word = "regression" if len(regressions) == 1 else "regressions"
        after += f" ({word}: {listed(regressions)})"
    command = code(verdict.after.command)
    if verdict.base is None:
        return f"{command}: {after}; there is no result at the base commit to compare with."
    return f"{command}: {outcome(verdict.base)} → {after}"


def outcome(run: TestRun) -> str:
    """One run in words: its counts or exit code, its time, the bounds it ran into."""
    seconds = f"{run.seconds:.0f} s" if run.seconds >= 10 else f"{run.seconds:.1f} s"
    if run.timed_out:
        said = f"timed out after {seconds}"
    elif run.not_found:
        said = f"could not start: command not found (exit code {run.exit_code}, {seconds})"
    else:
        if run.counts is None:
            said = "passed" if run.passed else "failed"
            said += f" (exit code {run.exit_code}, {seconds})"
        else:
            said = run.counts.words()
            quiet = not (run.passed or run.counts.failed or run.counts.errors)
            said += f" (exit code {run.exit_code}, {seconds})" if quiet else f" ({seconds})"
    return said + "".join(f"; {bound}" for bound in run.bounds)


def test_files_line(files: TestFiles) -> str:
    """"Test files: added `a`; edited `b`." or that none changed."""
    said = [f"{how} {listed(paths)}" for how, paths in
            (("added", files.added), ("removed", files.removed), ("edited", files.edited))
            if paths]
    return f"Test files: {'; '.join(said)}." if said else \
        "The change adds, removes and edits no test files."


def for_agent(verdict: Verdict) -> str:
    """What the agent reads when its change is held against: what broke and the output's end."""
    lines = [f"Orca ran the repository's tests (`{verdict.after.command}`) at the base commit "
             f"and after your change: {result_line(verdict)}."]
    if verdict.regressions:
        lines.append(f"These passed at the base and fail now: {', '.join(verdict.regressions[:50])}")
    if verdict.new_failures:
        lines.append("These are new and fail: " + ", ".join(verdict.new_failures[:50]))
    if verdict.command_broke:
        lines.append("The command passed at the base and fails now.")
    lines.append("Fix the change so they pass, without weakening, skipping or deleting tests. "
                 f"The end of the output:\n\n{verdict.after.output_tail}")
    return "\n".join(lines)


def listed(items: Sequence[str]) -> str:
    """`a`, `b` and `c`, at most MAX_LISTED, then how many more."""
    shown = [code(item) for item in items[:MAX_LISTED]]
    if len(items) > MAX_LISTED:
        shown.append(f"{len(items) - MAX_LISTED:,} more")
    return shown[0] if len(shown) == 1 else f"{', '.join(shown[:-1])} and {shown[-1]}"


def code(text: str) -> str:
    """`text` as inline code, on one line and cut, whatever backticks it holds."""
    text = " ".join(text.split())
    if len(text) > MAX_CODE_CHARS:
        text = text[:MAX_CODE_CHARS - 1] + "…"
    longest = max((len(run) for run in _TICKS.findall(text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if longest else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _why(detected: Detected) -> str:
    return detected.why if detected.runner == "config" else f"it found {detected.why}"


def _mark(verdict: Verdict) -> str:
    if verdict.regressed:
        return "❌"
    return "✅" if verdict.after.passed else "⚠️"


def _notes(verdict: Verdict) -> list[str]:
    notes = []
    if verdict.new_failures:
        notes.append(f"Failing, and not run at the base: {listed(verdict.new_failures)}.")
    if verdict.command_broke:
        notes.append("The command passed at the base and fails after the change.")
    still = [t for t in verdict.already_failing if t not in verdict.fixed]
    if still:
        notes.append(f"Already failing at the base, not held against the change: {listed(still)}.")
    elif verdict.base_failed and not verdict.after.passed:
        notes.append("The command already failed at the base; that is not held against the change.")
    if verdict.fixed:
        notes.append(f"Failing at the base, passing after the change: {listed(verdict.fixed)}.")
    if verdict.newly_skipped:
        skipped = listed(verdict.newly_skipped)
        notes.append(f"Passed at the base, skipped after the change: {skipped}.")
    if verdict.gone:
        notes.append(f"Ran at the base, not after the change: {listed(verdict.gone)}.")
    if verdict.judged and not verdict.per_test:
        notes.append("Judged on the whole command: " + _per_test_note(verdict) + ".")
    return notes


def _per_test_note(verdict: Verdict) -> str:
    run = verdict.after if verdict.after.tests is None else verdict.base
    return run.per_test_note if run is not None and run.per_test_note else \
        "the runner gave no per-test results"


def _details(summary: str, text: str) -> str:
    longest = max((len(run) for run in _TICKS.findall(text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"<details><summary>{summary}</summary>\n\n{fence}\n{text}\n{fence}\n\n</details>"
