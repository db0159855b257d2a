"""The two Anthropic-defined tools the model uses, dispatched by name to the sandbox.

`str_replace_based_edit_tool` (type text_editor_20250728) is in jobs.agent.editor; `bash` (type
bash_20250124) runs each command as a fresh process in the sandbox. Mistakes by the model
(unknown tool, malformed input, bad path) come back as `is_error` results, never as exceptions:
the model reads the message and corrects itself.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from jobs.agent.editor import Editor, EditorError
from jobs.sandbox import Sandbox

EDITOR_TOOL = "str_replace_based_edit_tool"
BASH_TOOL = "bash"


@dataclass
class ToolResult:
    """The content of one tool_result block."""

    content: str
    is_error: bool = False


def tool_definitions(max_characters: int = 20000) -> list[dict]:
    """The tools as sent to the Messages API; Anthropic-defined tools carry no input schema."""
    return [
        {"type": "text_editor_20250728", "name": EDITOR_TOOL, "max_characters": max_characters},
        {"type": "bash_20250124", "name": BASH_TOOL},
    ]


class Toolbox:
    """Runs the model's tool calls in one sandbox.

    The bash tool keeps no session: every command is a new `bash -c` process, so `cd`, exported
    variables and background jobs do not carry over to the next call, and `restart` has nothing
    to reset. Output is capped at max_output characters, keeping head and tail.
    """

    def __init__(
        self,
        sandbox: Sandbox,
        *,
        command_timeout: float = 120,
        max_output: int = 20000,
        max_characters: int = 20000,
    ) -> None:
        self.sandbox = sandbox
        self.command_timeout = command_timeout
        self.max_output = max_output
        self.editor = Editor(sandbox, max_characters=max_characters)
        self.bounds_hit: Counter[str] = Counter()
        """How many commands ran into each of the sandbox's bounds, by the bound's name."""

    def run(self, name: str, tool_input: dict) -> ToolResult:
        """Runs tool `name` with the model's input; model mistakes give is_error results."""
        if not isinstance(tool_input, dict):
            return ToolResult(f"The input to {name} must be a JSON object.", is_error=True)
        if name == EDITOR_TOOL:
            return self._edit(tool_input)
        if name == BASH_TOOL:
            return self._bash(tool_input)
        return ToolResult(
            f"Unknown tool {name!r}. The available tools are {EDITOR_TOOL} and {BASH_TOOL}.",
            is_error=True,
        )

    def _edit(self, tool_input: dict) -> ToolResult:
        try:
            return ToolResult(self.editor.run(tool_input))
        except EditorError as error:
            return ToolResult(str(error), is_error=True)
        except OSError as error:  # e.g. permission denied, a directory where a file should be
            reason = error.strerror or str(error)
            return ToolResult(f"{reason}: {tool_input.get('path')}", is_error=True)

    def _bash(self, tool_input: dict) -> ToolResult:
        if tool_input.get("restart") is True:
            return ToolResult("tool has been restarted.")
        command = tool_input.get("command")
        if not isinstance(command, str) or not command.strip():
            return ToolResult(
                "The bash tool needs a non-empty `command` string (or `restart: true`).",
                is_error=True,
            )
        result = self.sandbox.run(command, self.command_timeout, self.max_output)
        parts = [result.output.rstrip("\n")] if result.output.strip() else []
        if result.timed_out:
            parts.append(f"[command timed out after {self.command_timeout:g} s and was killed]")
        elif result.exit_code != 0:
            parts.append(f"[exit code: {result.exit_code}]")
        for hit in result.bounds:
            parts.append(f"[{hit.note}]")
            self.bounds_hit[hit.name] += 1
        # A failing command is information for the model, not a broken tool call.
        return ToolResult("\n".join(parts) or "(no output)")
