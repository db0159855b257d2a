"""One agent session on a worktree, shared by issue runs and `orca solve`.

config (`.github/orca.yml` at the base commit) → budget → the setup phase, in a sandbox of its
own (jobs.agent.setup) → the agent phase: its sandbox (the network only with `network: true`)
and the loop. The loop ends in one fixed order: the diff review → Orca's tests (jobs.verify) →
the fresh-context check (jobs.agent.fresh_check) → at most one repair round with what they
found → the tests once more. Publishing is the caller's business.
"""

from __future__ import annotations

import functools
import logging
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anthropic

from core.errors import Cancelled, RunError
from core.pricing import price_for
from core.settings import AgentSettings
from core.snapshot import diff, snapshot
from core.stops import StopSignal
from jobs.agent.fresh_check import FreshCheck, run_check
from jobs.agent.loop import AgentResult, Ask, Emit, Review, run_agent
from jobs.agent.prompt import repository_instructions, review_prompt, system_prompt
from jobs.agent.setup import SetupPhase, SetupPlan, setup_phase
from jobs.agent.tools import Toolbox
from jobs.sandbox import Sandbox, SandboxUnavailable, Scratch, make_sandbox
from jobs.verify.cache import BaseResults
from jobs.verify.checks import Checks
from jobs.workspace import Workspace
from jobs.workspace.commit import DEFAULT_PROTECTED
from jobs.workspace.config import (
    CONFIG_PATH,
    ConfigError,
    RepoConfig,
    SetupFailed,
    load_config,
)
from jobs.workspace.environments import products, toolchain

log = logging.getLogger("orca.session")

# The diff shown for review: 30 KB is a large change; past it the model sees the head and
# the file list, and can read the rest itself.
DIFF_CAP = 30_000

TaskFor = Callable[[list[tuple[str, str]], "str | None"], str]
"""Builds the task prompt from the repository's instructions and its test command."""


@dataclass
class SessionResult:
    """How the agent ended, and what the repository's config said."""

    agent: AgentResult
    config: RepoConfig
    model: str
    bounds: dict[str, int] = field(default_factory=dict)
    """How many commands ran into each of the sandbox's bounds (jobs.sandbox.bounds)."""
    setup: SetupPhase = field(default_factory=SetupPhase)
    agent_seconds: float = 0.0
    setup_made: tuple[str, ...] = ()
    """What the setup phase left in the worktree (or restored into it)."""
    checks: Checks | None = None
    """Orca's own test runs (jobs.verify): None when the session ran none (orca solve)."""
    fresh_check: FreshCheck | None = None
    """What the fresh-context check said; None when it is off or the session publishes nothing."""

    @property
    def left_out(self) -> tuple[str, ...]:
        """What setup and Orca's own test runs made in the worktree: never committed."""
        return (*self.setup_made, *(self.checks.made if self.checks else ()))

    @property
    def verification(self) -> str | None:
        """The Verification section for the pull request and the comment."""
        if self.checks is None:
            return None
        said = self.fresh_check.words() if self.fresh_check is not None else ""
        return f"{self.checks.section()}\n\n{said}" if said else self.checks.section()

    @property
    def phases(self) -> str:
        """Each phase's time, for the tracking comment."""
        parts = [self.setup.words(), f"agent {self.agent_seconds:.0f} s"]
        if self.checks is not None and self.checks.seconds:
            parts.append(f"Orca's tests {self.checks.seconds:.0f} s")
        return " · ".join(p for p in parts if p)

    @property
    def protected(self) -> tuple[str, ...]:
        """Paths whose changes are dropped: the defaults, Orca's own config, the repository's."""
        return (*DEFAULT_PROTECTED, CONFIG_PATH, *self.config.protected_paths)


def model_client(settings: AgentSettings) -> anthropic.Anthropic:
    """The Messages API client; the SDK retries 429/5xx/529 and silent requests itself. Each
    session has its own (a stop closes it to end the request in flight), over the process's
    one TLS context."""
    # The SDK's own connect timeout (5 s) stays; the default ORCA_MODEL_TIMEOUT is its 600 s.
    timeout = anthropic.Timeout(settings.model_timeout, connect=min(5.0, settings.model_timeout))
    http = anthropic.DefaultHttpxClient(verify=tls_context(), timeout=timeout)
    return anthropic.Anthropic(api_key=settings.anthropic_api_key or None,
                               base_url=settings.anthropic_base_url, timeout=timeout,
                               http_client=http,
                               _strict_response_validation=settings.strict_model_responses)


@functools.cache
def tls_context() -> ssl.SSLContext:
    """The model clients' TLS context, as the SDK's HTTP library makes it by default, made once
    per process: reading the trust store costs ~20 ms of CPU, which every session's client paid
    (22 of its 22.4 ms). A run worker makes it before forking (app/cli.py preload)."""
    try:
        from httpx2 import create_ssl_context
    except ImportError:  # SDK releases from before its own fork of httpx
        from httpx import create_ssl_context
    return create_ssl_context()


def choose_model(settings: AgentSettings, config: RepoConfig) -> str:
    """The repository's model if it has a known price (so the dollar budget holds), else ours."""
    if config.model is None:
        return settings.model
    if price_for(config.model, settings.prices) is None:
        raise ConfigError(f"`{CONFIG_PATH}` asks for model `{config.model}`, which has no known "
                          "price, so the dollar budget could not be kept; the operator can add "
                          "it to ORCA_PRICES.")
    return config.model


def worktree_diff(workspace: Workspace, cap: int = DIFF_CAP, left_out: tuple[str, ...] = ()) -> str:
    """Everything changed since the base commit (untracked files included), capped.

    Staged by Orca's own git into a scratch index (core.snapshot) and diffed between objects:
    no hooks, external diff or textconv drivers, and nested repositories left out.
    """
    staged = snapshot(workspace.view, left_out=left_out)
    text = diff(workspace.view, staged.tree) if staged.files else ""
    if len(text) <= cap:
        return text
    return text[:cap] + f"\n[diff cut at {cap:,} of {len(text):,} characters]"


class SandboxMissing(RunError):
    """The worker machine cannot sandbox commands; an operator has to fix it."""

    retry_hint = ("Ask the operators to fix the workers' sandbox (bubblewrap, and for the network "
                  "slirp4netns and nftables), then comment `/agent retry`.")


def run_session(settings: AgentSettings, workspace: Workspace, task_for: TaskFor, emit: Emit,
                config_revision: str | None = None, stop: StopSignal | None = None,
                plan: SetupPlan | None = None, test_results: BaseResults | None = None,
                verify: bool = False) -> SessionResult:
    """Read the config, run the setup phase, then the agent phase.

    The config comes from `config_revision` (default: the worktree's base commit), and setup
    is trusted when the worktree's dependency files are that revision's. A `stop` kills the
    running command and ends the loop after the current turn. `plan` says what setup may have
    beyond the agent's sandbox (default: the config's network, no secrets, nothing kept).
    """
    stop = stop or StopSignal()
    revision = config_revision or workspace.base_sha
    config = load_config(workspace.mirror, revision)
    model = choose_model(settings, config)
    budget = settings.budget().lowered(**config.budgets.wishes())
    emit("config", {"model": model, "network": config.network, "setup": config.setup,
                    "test": config.test, "protected_paths": config.protected_paths})
    if settings.sandbox == "none":
        log.warning("ORCA_SANDBOX=none: the agent's commands run UNSANDBOXED on this machine")
    plan = plan or SetupPlan(network=False)
    checks = Checks.detect(workspace.mirror, revision, config.test) if verify else None
    scratch = Scratch()  # cut outputs kept whole: made at the first command, removed at the end

    def sandbox_for(worktree: Path, mode: str, **kw: Any) -> Sandbox:
        return make_sandbox(worktree, mode, stop=stop.event, **kw)

    try:
        setup = setup_phase(settings, workspace, config, revision, plan, emit, stop.is_set,
                            sandbox_for)
        if stop.is_set():
            raise Cancelled(stop.reason)
        made = tuple(products(workspace.view)) if config.setup else ()
        started = time.monotonic()
        sandbox = sandbox_for(workspace.path, settings.sandbox, ro_binds=[workspace.mirror],
                              rw_binds=[workspace.admin_dir], network=config.network,
                              limits=settings.sandbox_limits(), scratch=scratch, launcher=True)
    except SetupFailed:
        if not stop.is_set():
            raise  # a setup command killed by a stop is the stop, not a failure
        raise Cancelled(stop.reason) from None
    except SandboxUnavailable as exc:
        raise SandboxMissing(f"the worker cannot start its sandbox: {exc}") from exc

    def patch() -> str:
        return worktree_diff(workspace, left_out=(*made, *(checks.made if checks else ())))

    def review(ask: Ask) -> str | None:
        changed = patch()
        return review_prompt(changed, config.test) if changed.strip() else None

    timeout = settings.command_timeout
    task = task_for(repository_instructions(workspace.mirror, revision), config.test)
    fresh = FreshCheck() if checks is not None and settings.fresh_check else None

    def before_publishing(ask: Ask) -> str | None:
        """Orca's tests, then the fresh-context check, then at most one repair round with what
        they found. A change that broke tests goes back with the failures alone: a check of
        code about to change would be paid for and stale."""
        assert checks is not None
        broke = checks.review(sandbox, timeout, emit)
        if fresh is not None and broke is None and not checks.repair_asked:
            run_check(fresh, ask, task, patch(), checks.evidence(), emit)
        found = broke or (fresh.for_agent() if fresh is not None else None)
        if found is None:
            return None
        checks.repair_asked = True  # the tests run again after the repair (Checks.finish)
        if fresh is not None and fresh.outcome == "defects":
            fresh.asked_again = True
        return found

    reviews: list[Review] = [review]
    if checks is not None:
        checks.view = workspace.view
        checks.at_base(sandbox, timeout, test_results, workspace.base_sha, config.setup,
                       toolchain(), emit)
        reviews.append(before_publishing)

    tools = Toolbox(sandbox, command_timeout=settings.command_timeout)
    try:
        result = run_agent(
            model_client(settings), model=model, emit=emit, budget=budget,
            system=system_prompt(sandbox.root, config.network, budget, settings.command_timeout),
            task=task, tools=tools, review=reviews,
            context_window=settings.context_window, prices=settings.prices,
            stop=lambda: f"a stop request ({stop.reason})" if stop.is_set() else None,
        )
        if checks is not None and not stop.is_set():  # in the same sandbox, scratch and all
            checks.finish(sandbox, timeout, workspace.view, (*made, *checks.made), emit)
    finally:
        sandbox.close()
        scratch.remove()
    agent_seconds = time.monotonic() - started - (checks.seconds if checks else 0)
    emit("agent_phase", {"seconds": round(agent_seconds, 2), "network": config.network})
    return SessionResult(result, config, model, dict(tools.bounds_hit), setup, agent_seconds,
                         made, checks, fresh)
