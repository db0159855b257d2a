"""The two Anthropic-defined tools the model uses, dispatched by name to the sandbox.

`str_replace_based_edit_tool` (type text_editor_20250728) is in jobs.agent.editor; `bash` (type
bash_20250124) runs each command as a fresh process in the sandbox. Mistakes by the model
(unknown tool, malformed input, bad path) come back as `is_error` results, never as exceptions:
the model reads the message and corrects itself.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass

from jobs.agent.editor import Editor, EditorError
from jobs.sandbox import Sandbox
from jobs.sandbox.scratch import KEEP_BYTES

EDITOR_TOOL = "str_replace_based_edit_tool"
BASH_TOOL = "bash"
# The same call three times in a row is rarely progress: the third gets a note saying so.
LOOPING_AFTER = 3


@dataclass
class ToolResult:
    """The content of one tool_result block."""

    content: str
    is_error: bool = False
    exit_code: int | None = None
    """The bash command's exit status (None for the editor, or a command that timed out)."""


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
    to reset. Output is capped at max_output characters, keeping head and tail; a sandbox with a
    scratch directory keeps the whole of it there, and the result says where.
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
        self._last_call = ""
        self._repeats = 0

    def definitions(self) -> list[dict]:
        """The tools as sent to the Messages API: the editor and bash."""
        return tool_definitions()

    def run(self, name: str, tool_input: dict) -> ToolResult:
        """Runs tool `name` with the model's input; model mistakes give is_error results. The
        third identical call in a row, and every one after it, says the agent may be looping."""
        result = self._dispatch(name, tool_input)
        call = json.dumps([name, tool_input], sort_keys=True, default=str)
        self._repeats = self._repeats + 1 if call == self._last_call else 1
        self._last_call = call
        if self._repeats >= LOOPING_AFTER:
            result.content += (f"\n[note: this is the same call, with the same input, "
                               f"{self._repeats} times in a row. You may be going in circles: if "
                               "the result did not help before, try a different approach.]")
        return result

    def _dispatch(self, name: str, tool_input: dict) -> ToolResult:
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
        if result.kept:
            parts.append(f"[{kept_note(result.kept, result.size)}]")
        if result.timed_out:
            parts.append(f"[{timeout_note(self.command_timeout)}]")
        elif result.exit_code != 0:
            parts.append(f"[exit code: {result.exit_code}]")
        for hit in result.bounds:
            parts.append(f"[{hit.note}]")
            self.bounds_hit[hit.name] += 1
        # A failing command is information for the model, not a broken tool call.
        return ToolResult("\n".join(parts) or "(no output)",
                          exit_code=None if result.timed_out else result.exit_code)


def kept_note(path: str, size: int) -> str:
    """Where a cut output is whole (or its first KEEP_BYTES), and how to read parts of it."""
    what = (f"all {size:,} bytes of it are" if size <= KEEP_BYTES
            else f"its first {KEEP_BYTES:,} of {size:,} bytes are")
    return (f"output cut in the middle; {what} in {path}: read parts with `sed -n '200,300p' "
            f"{path}`, `tail -n 100 {path}` or `grep -n PATTERN {path}`")


def timeout_note(seconds: float) -> str:
    """Said when a command ran out of time."""
    return (f"command timed out after {seconds:g} s and was killed. Every command has this "
            "limit, and what it leaves running in the background is killed with it: split the "
            "work into shorter commands or make it faster (run only the relevant tests, stop "
            "at the first failure)")
