"""A review's tools: the editor and bash in the sandbox, plus `report_finding` and, on a
re-review, `resolve_thread`, both answered host-side (jobs.review.findings, .threads)."""

from __future__ import annotations

from jobs.agent.tools import Toolbox, ToolResult, tool_definitions
from jobs.review import findings, threads
from jobs.review.findings import BadFinding, Findings
from jobs.review.threads import Resolutions
from jobs.sandbox import Sandbox


class ReviewToolbox(Toolbox):
    """The agent's toolbox with the review's own two tools."""

    def __init__(self, sandbox: Sandbox, found: Findings, resolutions: Resolutions | None,
                 command_timeout: float) -> None:
        super().__init__(sandbox, command_timeout=command_timeout)
        self.found = found
        self.resolutions = resolutions

    def definitions(self) -> list[dict]:
        extra = [findings.TOOL_DEFINITION]
        if self.resolutions is not None and self.resolutions.threads:
            extra.append(threads.TOOL_DEFINITION)
        return [*tool_definitions(), *extra]

    def _dispatch(self, name: str, tool_input: dict) -> ToolResult:
        try:
            if name == findings.REPORT_TOOL:
                return ToolResult(self.found.record(tool_input))
            if name == threads.RESOLVE_TOOL and self.resolutions is not None:
                return ToolResult(self.resolutions.record(tool_input))
        except (BadFinding, ValueError) as exc:
            return ToolResult(str(exc), is_error=True)
        return super()._dispatch(name, tool_input)
