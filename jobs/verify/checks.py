"""Orca's own test runs in one agent session: at the base commit before the agent starts (kept
per base commit and command), on the agent's result when it first says it is done, and once
more after the one repair round a regression earns.

`Checks` is what the session (jobs.agent.session) holds: `at_base` before the loop, `review`
in the loop's follow-up after the diff review (the agent reads what broke, once), `evidence`
for the fresh-context check, `finish` after the loop (again when a repair round was given, for
a regression or for the check's defects); `section` is the Verification section of the pull
request and the comment.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.git import git
from core.snapshot import Worktree, snapshot
from jobs.sandbox import Sandbox
from jobs.verify import detect, words
from jobs.verify.cache import BaseResults, result_key
from jobs.verify.compare import (
    TestFiles,
    Verdict,
    changed_test_files,
    name_status,
    verdict,
)
from jobs.verify.detect import Detected
from jobs.verify.results import TestRun
from jobs.verify.run import run_tests
from jobs.workspace.environments import products

Emit = Callable[[str, dict[str, Any]], None]


@dataclass
class Checks:
    """One session's test runs and what they found."""

    detected: Detected | None
    why_none: str = ""
    base: TestRun | None = None
    base_cached: bool = False
    verdict: Verdict | None = None
    repair_asked: bool = False
    seconds: float = 0.0
    files: TestFiles = field(default_factory=TestFiles)
    view: Worktree | None = None
    """The worktree the tests run in; what a run leaves there that was not there before
    (`__pycache__`, `.pytest_cache`) is `made`, never committed."""
    made: tuple[str, ...] = ()

    @classmethod
    def detect(cls, mirror: Path, revision: str, config_test: str | None) -> Checks:
        """What to run, from the config or the files at `revision` (git objects, never the
        worktree)."""
        files = detect.files_at(mirror, revision)
        found = detect.test_command(config_test, files)
        return cls(found, "" if found else detect.why_none(files))

    @property
    def regressed(self) -> bool:
        """The final verdict holds a regression against the change."""
        return bool(self.verdict and self.verdict.regressed)

    def at_base(self, sandbox: Sandbox, timeout: float, cache: BaseResults | None,
                base_sha: str, setup: Sequence[str], toolchain: str, emit: Emit) -> None:
        """The result at the base commit: kept from an earlier run (same commit, command,
        setup and toolchain), or run now."""
        if self.detected is None:
            return
        key = result_key(base_sha, self.detected.command, setup, toolchain)
        kept = cache.get(key) if cache is not None else None
        if kept is not None:
            self.base, self.base_cached = kept, True
        else:
            self.base = self._run(sandbox, timeout, emit, "base")
            if cache is not None:
                cache.put(key, self.base)
        emit("tests", {"at": "base", "cached": self.base_cached, **_figures(self.base)})

    def review(self, sandbox: Sandbox, timeout: float, emit: Emit) -> str | None:
        """The loop's follow-up when the agent is done: run the tests on its result; on a
        regression, what broke for one more round (asked once)."""
        if self.detected is None or self.repair_asked:
            return None
        after = self._run(sandbox, timeout, emit, "after")
        self.verdict = verdict(self.base, after)
        emit("tests", {"at": "after", "regressed": self.verdict.regressed, **_figures(after)})
        if not self.verdict.regressed:
            return None
        self.repair_asked = True
        return words.for_agent(self.verdict)

    def finish(self, sandbox: Sandbox, timeout: float, view: Worktree,
               left_out: tuple[str, ...], emit: Emit) -> None:
        """After the loop: run again when the agent had a repair round (`repair_asked`, set by
        the session for the check's defects too) or the loop ended before the tests ran (a
        budget); and which test files the change touches."""
        self.files = changed_files(view, left_out)
        if self.detected is None or (self.verdict is not None and not self.repair_asked):
            return
        after = self._run(sandbox, timeout, emit, "final")
        self.verdict = verdict(self.base, after)
        emit("tests", {"at": "final", "regressed": self.verdict.regressed, **_figures(after)})

    def evidence(self) -> str:
        """The last test result in words, with its output's end: what the fresh-context check
        reads (jobs.agent.fresh_check)."""
        if self.detected is None:
            return f"Orca ran no tests: {self.why_none}"
        if self.verdict is None:
            return "Orca has not run the tests on this change."
        return f"{words.result_line(self.verdict)}\n\n{self.verdict.after.output_tail}"

    def section(self) -> str:
        """The Verification section: what ran and how, or why nothing did."""
        if self.detected is None:
            return words.not_run(self.why_none.rstrip("."), self.files)
        if self.verdict is None:
            return words.not_run("the run ended before Orca could run "
                                 f"{words.code(self.detected.command)}", self.files)
        return words.section(self.detected, self.verdict, self.files, base_cached=self.base_cached)

    def _run(self, sandbox: Sandbox, timeout: float, emit: Emit, at: str) -> TestRun:
        started = time.monotonic()
        assert self.detected is not None
        before = set(products(self.view)) if self.view is not None else set()
        run = run_tests(sandbox, self.detected.command, timeout)
        if self.view is not None:
            new = [path for path in products(self.view) if path not in before]
            self.made = (*self.made, *(path for path in new if path not in self.made))
        self.seconds += time.monotonic() - started
        return run


def changed_files(view: Worktree, left_out: tuple[str, ...]) -> TestFiles:
    """The test files the worktree's change adds, removes or edits (what Orca would commit)."""
    staged = snapshot(view, left_out=left_out)
    if not staged.files:
        return TestFiles()
    out = git("diff", "--name-status", "-z", "--no-renames", view.base_sha, staged.tree, "--",
              cwd=view.repository, env={"GIT_DIR": str(view.repository)})
    return changed_test_files(name_status(out))


def _figures(run: TestRun) -> dict[str, Any]:
    return {"command": run.command, "passed": run.passed, "exit_code": run.exit_code,
            "timed_out": run.timed_out, "seconds": round(run.seconds, 2),
            "counts": run.counts.words() if run.counts else None}
