"""One planning session in the sandbox: the default branch's worktree, no setup, no token, no
network, the agent with `submit_plan`. Nothing it changes is kept: the worktree goes back to
the pool, reset."""

from __future__ import annotations

from dataclasses import dataclass, field

from core.settings import AgentSettings
from core.stops import StopSignal
from jobs.agent.loop import AgentResult, Emit, run_agent
from jobs.agent.session import SandboxMissing, choose_model, model_client
from jobs.plans.tool import Planned, PlanToolbox
from jobs.plans.words import SYSTEM
from jobs.review.session import review_budget
from jobs.sandbox import Sandbox, SandboxUnavailable, Scratch, make_sandbox
from jobs.workspace import Workspace
from jobs.workspace.config import RepoConfig


@dataclass
class PlanResult:
    agent: AgentResult
    model: str
    bounds: dict[str, int] = field(default_factory=dict)


def run_planning(settings: AgentSettings, workspace: Workspace, config: RepoConfig, task: str,
                 planned: Planned, emit: Emit, stop: StopSignal) -> PlanResult:
    """The agent reads the code and submits its plan into `planned`. A plan costs what a
    review may (ORCA_MAX_REVIEW_DOLLARS, lowered by the config)."""
    model = choose_model(settings, config)
    budget = review_budget(settings, config)
    emit("config", {"model": model, "plan": True})
    scratch = Scratch()
    sandbox: Sandbox | None = None
    try:
        try:
            sandbox = make_sandbox(workspace.path, settings.sandbox, stop=stop.event,
                                   ro_binds=[workspace.mirror], rw_binds=[workspace.admin_dir],
                                   network=False, limits=settings.sandbox_limits(),
                                   scratch=scratch, launcher=True)
        except SandboxUnavailable as exc:
            raise SandboxMissing(f"the worker cannot start its sandbox: {exc}") from exc
        tools = PlanToolbox(sandbox, planned, settings.command_timeout)
        limits = f"{budget.max_turns} turns, ${budget.max_dollars:g}"
        result = run_agent(
            model_client(settings), model=model, emit=emit, budget=budget,
            system=SYSTEM.format(root=sandbox.root, timeout=f"{settings.command_timeout:g} seconds",
                                 budget=limits, most=planned.most),
            task=task, tools=tools, context_window=settings.context_window,
            prices=settings.prices,
            stop=lambda: f"a stop request ({stop.reason})" if stop.is_set() else None)
    finally:
        if sandbox is not None:
            sandbox.close()
        scratch.remove()
    return PlanResult(result, model, dict(tools.bounds_hit))
