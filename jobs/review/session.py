"""One review in the sandbox: config → setup → Orca's own test run → the agent.

The sandbox holds the pull request's head (a fork's included) and no token; it has the network
only when the base branch's config says `network: true`. Setup runs as for any branch that is
not the base's: with no setup-only secrets, the config's network only, and nothing kept (a
kept environment made from a stranger's code would reach later runs). Nothing the agent
changes is committed: the worktree goes back to the pool, reset.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import Cancelled
from core.settings import AgentSettings
from core.stops import StopSignal
from jobs.agent.loop import AgentResult, Emit, run_agent
from jobs.agent.prompt import repository_instructions
from jobs.agent.session import SandboxMissing, choose_model, model_client
from jobs.agent.setup import SetupPhase, SetupPlan, setup_phase
from jobs.review.findings import Findings
from jobs.review.threads import Resolutions
from jobs.review.tools import ReviewToolbox
from jobs.review.words import SYSTEM, ReviewBrief, task_prompt
from jobs.sandbox import Sandbox, SandboxUnavailable, Scratch, make_sandbox
from jobs.verify import words as test_words
from jobs.verify.cache import BaseResults, result_key
from jobs.verify.checks import Checks
from jobs.verify.compare import TestFiles, verdict
from jobs.verify.run import run_tests
from jobs.workspace import Workspace
from jobs.workspace.config import RepoConfig
from jobs.workspace.environments import toolchain

TESTS_HEADING = "**Tests**"


@dataclass
class ReviewResult:
    """How the review's agent ended, and what Orca's own test run said."""

    agent: AgentResult
    model: str
    tests: str | None = None
    """The test section for the review body; None when no tests ran."""
    tests_not_run: str = ""
    setup: SetupPhase = field(default_factory=SetupPhase)
    seconds: float = 0.0
    bounds: dict[str, int] = field(default_factory=dict)


def review_budget(settings: AgentSettings, config: RepoConfig) -> Any:
    """The run's budget with its dollars at the review's: ORCA_MAX_REVIEW_DOLLARS, lowered by
    `review.max_dollars` (and `budgets`), never raised."""
    dollars = min(settings.max_review_dollars, config.review.max_dollars or math.inf)
    return settings.budget().lowered(**config.budgets.wishes()).lowered(max_dollars=dollars)


def run_review(settings: AgentSettings, workspace: Workspace, config: RepoConfig,
               revision: str, brief: ReviewBrief, found: Findings,
               resolutions: Resolutions | None, emit: Emit, stop: StopSignal,
               test_results: BaseResults | None, base_sha: str,
               test_files: TestFiles) -> ReviewResult:
    """Setup, the tests on the head, then the agent; `found` holds its findings."""
    model = choose_model(settings, config)
    budget = review_budget(settings, config)
    emit("config", {"model": model, "network": config.network, "setup": config.setup,
                    "test": config.test, "review": config.review.model_dump()})
    scratch = Scratch()
    started = time.monotonic()
    sandbox, setup = _sandbox(settings, workspace, config, revision, emit, stop, scratch)
    try:
        tests, not_run, for_model = _tests(settings, workspace, config, revision, sandbox,
                                           test_results, base_sha, test_files, emit)
        brief.tests = for_model
        tools = ReviewToolbox(sandbox, found, resolutions, settings.command_timeout)
        result = run_agent(
            model_client(settings), model=model, emit=emit, budget=budget,
            system=SYSTEM.format(root=sandbox.root, base=base_sha[:12],
                                 network="" if config.network else " without network access",
                                 timeout=f"{settings.command_timeout:g} seconds",
                                 budget=_limits(budget)),
            task=task_prompt(brief, repository_instructions(workspace.mirror, revision)),
            tools=tools, context_window=settings.context_window, prices=settings.prices,
            stop=lambda: f"a stop request ({stop.reason})" if stop.is_set() else None)
    finally:
        sandbox.close()
        scratch.remove()
    emit("review_phase", {"seconds": round(time.monotonic() - started, 2),
                          "findings": len(found.found)})
    return ReviewResult(result, model, tests, not_run, setup, time.monotonic() - started,
                        dict(tools.bounds_hit))


def _sandbox(settings: AgentSettings, workspace: Workspace, config: RepoConfig, revision: str,
             emit: Emit, stop: StopSignal, scratch: Scratch) -> tuple[Sandbox, SetupPhase]:
    """Setup (no secrets, nothing kept), then the agent's sandbox over the head's worktree."""

    def sandbox_for(worktree: Path, mode: str, **kw: Any) -> Sandbox:
        return make_sandbox(worktree, mode, stop=stop.event, **kw)

    try:
        setup = setup_phase(settings, workspace, config, revision,
                            SetupPlan(store=None, secrets={}, network=False), emit,
                            stop.is_set, sandbox_for)
        if stop.is_set():
            raise Cancelled(stop.reason)
        sandbox = sandbox_for(workspace.path, settings.sandbox, ro_binds=[workspace.mirror],
                              rw_binds=[workspace.admin_dir], network=config.network,
                              limits=settings.sandbox_limits(), scratch=scratch, launcher=True)
    except SandboxUnavailable as exc:
        raise SandboxMissing(f"the worker cannot start its sandbox: {exc}") from exc
    return sandbox, setup


def _limits(budget: Any) -> str:
    limits = [f"{budget.max_turns} turns", f"${budget.max_dollars:g}"]
    if budget.max_minutes is not None:
        limits.append(f"{budget.max_minutes:g} minutes")
    return ", ".join(limits)


def _tests(settings: AgentSettings, workspace: Workspace, config: RepoConfig, revision: str,
           sandbox: Sandbox, cache: BaseResults | None, base_sha: str, files: TestFiles,
           emit: Emit) -> tuple[str | None, str, str]:
    """Run the repository's tests on the head (jobs.verify): (the section for the review, why
    none ran, what the model reads). The base's result, when an earlier run kept one for the
    merge base, is compared with."""
    checks = Checks.detect(workspace.mirror, revision, config.test)
    if checks.detected is None:
        why = checks.why_none.rstrip(".")
        return None, f"Orca ran none: {why}", f"None ran: {why}."
    command = checks.detected.command
    run = run_tests(sandbox, command, settings.command_timeout)
    key = result_key(base_sha, command, config.setup, toolchain())
    base = cache.get(key) if cache is not None else None
    judged = verdict(base, run)
    emit("tests", {"at": "head", "command": command, "passed": run.passed,
                   "exit_code": run.exit_code, "regressed": judged.regressed})
    section = test_words.section(checks.detected, judged, files, heading=TESTS_HEADING,
                                 base_cached=base is not None)
    said = f"`{command}`: {test_words.outcome(run)}"
    if not run.passed and run.output_tail:
        said += f"\nThe end of its output:\n{run.output_tail[-3_000:]}"
    return section, "", said
