"""Run a test command in a sandbox and read what it said: pass or fail, the duration, the
runner's counts, each test's outcome where the runner reports them, the output's tail.

The command runs as the agent's do (`bash -c`, at the worktree's root), in a small script that
first puts a `.venv` at the root on the PATH when setup made one (as a developer would
activate it) and asks pytest, wherever the command runs it, for a JUnit report through
`PYTEST_ADDOPTS` (`--junitxml` in a fresh `mktemp -d` folder under the command's own /tmp,
`-o junit_family=xunit1` for the file names). After the command, the script prints a marker
line with a per-run random nonce and then the report, capped, so the report comes back in the
same output and Orca never opens a file the sandbox could have replaced with a link or a FIFO.
A `go test` command given as one plain invocation gets `-json`; its events are read from the
output itself. Everything after the marker is read as hostile data (jobs.verify.reports).

Known limits: a repository that disables pytest's junitxml plugin (`-p no:junitxml`) makes
pytest refuse `--junitxml`, so name a command that does not; a command that runs pytest more
than once reports the last run's tests only; a flaky test can look like a regression.
"""

from __future__ import annotations

import re
import secrets
import shlex
import time

from jobs.sandbox import CommandResult, Sandbox
from jobs.verify.reports import MAX_REPORT_CHARS, Report, go_events, junit
from jobs.verify.results import Counts, TestRun
from jobs.verify.summary import summary_counts

# The output kept: room for the capped report and a long tail of the runner's own words in
# the kept tail half (jobs.sandbox.process keeps the head and tail of a longer output).
MAX_OUTPUT = 2 * (MAX_REPORT_CHARS + 1_000_000)
TAIL_CHARS = 3_000
# `go test` alone with its flags and packages, maybe after `NAME=value` words: no quotes, no
# operators, no expansions, so `-json` can go right after `go test` without changing what runs.
_PLAIN_WORD = r"[^\s;&|<>()$`'\"\\*?\[\]{}~#!]+"
_GO_TEST = re.compile(rf"^(\s*(?:[A-Za-z_][A-Za-z0-9_]*={_PLAIN_WORD}?\s+)*go\s+test)"
                      rf"((?:\s+{_PLAIN_WORD})*\s*)$")
# The command's own environment gets the venv and the report's path; the script's keeps the
# clean PATH, so its `head` and `rm` are the system's whatever the worktree holds. Python
# compiles afresh into the run's own folder (PYTHONPYCACHEPREFIX): a `__pycache__` in the
# worktree records a source's mtime in whole seconds and its size, so an edit of the same
# size within the second after it was written would run the old code, and pass.
_SCRIPT = """\
orca_report=$(mktemp -d /tmp/orca-verify.XXXXXX) || orca_report=/nonexistent
orca_env=()
if [ -x "$PWD/.venv/bin/python3" ]; then
  orca_env=(VIRTUAL_ENV="$PWD/.venv" PATH="$PWD/.venv/bin:$PATH")
fi
orca_junit="--junitxml=$orca_report/junit.xml -o junit_family=xunit1"
env "${{orca_env[@]}}" PYTEST_ADDOPTS="${{PYTEST_ADDOPTS:+$PYTEST_ADDOPTS }}$orca_junit" \\
  PYTHONPYCACHEPREFIX="$orca_report/pycache" bash -c {command}
orca_code=$?
printf '\\n%s\\n' {marker}
if [ -f "$orca_report/junit.xml" ] && [ ! -L "$orca_report/junit.xml" ]; then
  head -c {cap} -- "$orca_report/junit.xml"
fi
rm -rf -- "$orca_report"
exit $orca_code
"""


def run_tests(sandbox: Sandbox, command: str, timeout: float) -> TestRun:
    """Run `command` in `sandbox` with `timeout` seconds and read the result."""
    go = go_json(command)
    marker = f"orca-verify-report-{secrets.token_hex(12)}"
    # One byte past the cap, so a report too large says so rather than looking cut short.
    script = _SCRIPT.format(command=shlex.quote(go or command), marker=marker,
                            cap=MAX_REPORT_CHARS + 1)
    started = time.monotonic()
    result = sandbox.run(script, timeout, MAX_OUTPUT)
    seconds = time.monotonic() - started
    text, report = read_output(result, marker, go=go is not None)
    counts = Counts.of(report.tests.values()) if report.tests is not None else summary_counts(text)
    return TestRun(command=command, exit_code=result.exit_code, timed_out=result.timed_out,
                   seconds=round(seconds, 2), output_tail=_tail(text), counts=counts,
                   tests=report.tests, per_test_note=report.note,
                   bounds=tuple(hit.name for hit in result.bounds))


def go_json(command: str) -> str | None:
    """`command` with `-json` after `go test` (as it is when it has it already), when it is one
    plain `go test` invocation; else None."""
    match = _GO_TEST.match(command)
    if match is None:
        return None
    return command if "-json" in command.split() else f"{match.group(1)} -json{match.group(2)}"


def read_output(result: CommandResult, marker: str, go: bool = False) -> tuple[str, Report]:
    """The runner's own output, and the per-test report: after the last marker line (JUnit),
    or the output itself (`go test -json`)."""
    output, found, after = result.output.rpartition(f"\n{marker}\n")
    if not found:
        output, after = result.output, ""
    if result.timed_out:
        return output, Report(None, "the command timed out")
    if go:
        return go_events(output, complete=not result.truncated)
    return output, junit(after) if found else Report(None, "the report did not come back")


def _tail(text: str) -> str:
    text = text.rstrip()
    if len(text) <= TAIL_CHARS:
        return text
    cut = text[-TAIL_CHARS:]
    return "…" + cut[cut.find("\n") + 1:] if "\n" in cut[:200] else "…" + cut
