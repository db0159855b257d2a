"""How the model reports its plan: one `submit_plan` tool call, checked here before it is kept.

The model's input is data, possibly steered by the issue or the repository: every field is
typed and bounded and its text stripped of hidden HTML and invisible characters
(jobs.agent.prompt.sanitise); the plan's shape is checked by core.plans (at most
ORCA_MAX_SUBTASKS sub-tasks, "after" naming real ones, no cycle). A mistake comes back to the
model as a tool error it can fix; the last one is kept, to be said if no plan ever passes.
"""

from __future__ import annotations

from typing import Any

from core.plans import Plan, PlanRefused, Subtask, check
from jobs.agent.prompt import sanitise
from jobs.agent.tools import Toolbox, ToolResult, tool_definitions
from jobs.sandbox import Sandbox

PLAN_TOOL = "submit_plan"
MAX_TEXT = 6_000
MAX_LINE = 300
MAX_ITEMS = 30

_LINES = {"type": "array", "items": {"type": "string"}}
TOOL_DEFINITION: dict[str, Any] = {
    "name": PLAN_TOOL,
    "description": (
        "Submit your plan for the issue, once, when you have read enough of the code. If you "
        "cannot plan without answers from the people on the issue, give `questions` and no "
        "`subtasks`. Give `subtasks` only when the goal is bigger than one pull request: each is "
        "one pull request's worth of work; `after` lists the numbers (1-based, in the order "
        "given) of the sub-tasks whose pull requests it needs first."),
    "input_schema": {
        "type": "object",
        "properties": {
            "questions": {**_LINES, "description": "What you need to know before starting."},
            "approach": {"type": "string", "description": "How to do it, in a few paragraphs."},
            "files": {**_LINES, "description": "The files involved, relative to the root."},
            "risks": _LINES,
            "subtasks": {"type": "array", "items": {
                "type": "object",
                "properties": {
                    "title": {"type": "string"},
                    "scope": {"type": "string", "description": "What it changes, and what not."},
                    "check": {"type": "string", "description": "How to check it is done."},
                    "after": {"type": "array", "items": {"type": "integer", "minimum": 1}},
                },
                "required": ["title", "scope", "check"]}},
        },
        "required": ["approach"],
    },
}


class Planned:
    """The plan the model submitted, checked; or why the last one was refused."""

    def __init__(self, most: int, run_id: str = "") -> None:
        self.most = most
        self.run_id = run_id
        self.plan: Plan | None = None
        self.refused: str | None = None

    def record(self, given: Any) -> str:
        """Check and keep the plan; PlanRefused (its message for the model) otherwise."""
        try:
            plan = self._read(given)
            check(plan, self.most)
        except PlanRefused as exc:
            self.refused = str(exc)
            raise
        self.plan, self.refused = plan, None
        what = (f"{len(plan.questions)} question(s)" if plan.questions
                else f"{len(plan.subtasks)} sub-task(s)" if plan.subtasks else "no sub-tasks")
        return f"Plan recorded, with {what}. Finish with a one-line summary."

    def _read(self, given: Any) -> Plan:
        if not isinstance(given, dict):
            raise PlanRefused("the input must be an object")
        tasks = given.get("subtasks") or []
        if not isinstance(tasks, list):
            raise PlanRefused("`subtasks` must be a list")
        subtasks = tuple(self._task(n, item) for n, item in enumerate(tasks, 1))
        return Plan(_text(given, "approach", MAX_TEXT), _lines(given, "files"),
                    _lines(given, "risks"), _lines(given, "questions"), subtasks, self.run_id)

    def _task(self, number: int, item: Any) -> Subtask:
        if not isinstance(item, dict):
            raise PlanRefused(f"sub-task {number} must be an object")
        after = item.get("after") or []
        if not isinstance(after, list) or any(type(n) is not int for n in after):
            raise PlanRefused(f"sub-task {number}: `after` must be a list of sub-task numbers")
        title = " ".join(_text(item, "title", MAX_LINE).split())
        return Subtask(number, title, _text(item, "scope", MAX_TEXT), _text(item, "check", MAX_TEXT),
                       tuple(sorted(set(after))))


def _text(given: dict[str, Any], key: str, cap: int) -> str:
    value = given.get(key)
    if not isinstance(value, str) or not sanitise(value).strip():
        raise PlanRefused(f"`{key}` must be a non-empty string")
    if len(value) > cap:
        raise PlanRefused(f"`{key}` is {len(value):,} characters; at most {cap:,}")
    return sanitise(value).strip()


def _lines(given: dict[str, Any], key: str) -> tuple[str, ...]:
    value = given.get(key) or []
    if not isinstance(value, list) or any(not isinstance(v, str) for v in value):
        raise PlanRefused(f"`{key}` must be a list of strings")
    if len(value) > MAX_ITEMS:
        raise PlanRefused(f"`{key}` has {len(value)} items; at most {MAX_ITEMS}")
    lines = (" ".join(sanitise(v).split())[:MAX_LINE] for v in value)
    return tuple(line for line in lines if line)


class PlanToolbox(Toolbox):
    """The agent's toolbox (editor and bash, in the sandbox) with `submit_plan`, answered here."""

    def __init__(self, sandbox: Sandbox, planned: Planned, command_timeout: float) -> None:
        super().__init__(sandbox, command_timeout=command_timeout)
        self.planned = planned

    def definitions(self) -> list[dict]:
        return [*tool_definitions(), TOOL_DEFINITION]

    def _dispatch(self, name: str, tool_input: dict) -> ToolResult:
        if name == PLAN_TOOL:
            try:
                return ToolResult(self.planned.record(tool_input))
            except PlanRefused as exc:
                return ToolResult(f"Not recorded: {exc}. Submit the plan again without that.",
                                  is_error=True)
        return super()._dispatch(name, tool_input)
