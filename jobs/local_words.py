"""What `orca solve` shows while it works, and the run kept as JSON lines (`--transcript`).

`line` is pure: one event of the session (jobs.agent's `emit`) in, one progress line or None
out. Each command shows its exit status and the last line of its output, so a person at the
terminal can follow the agent without reading every byte it read.
"""

from __future__ import annotations

import json
import re
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self, TextIO

# A terminal line: the command and its output's last line are cut to fit about one.
COMMAND_SHOWN = 80
TAIL_SHOWN = 100
# The notes Orca adds under a command's output for the model (jobs.agent.tools), not output.
_NOTE = re.compile(r"^\[(exit code: -?\d+|note: |command timed out|output cut|.*bound)")


def line(kind: str, data: dict[str, Any]) -> str | None:
    """The progress line for one event, or None for events a person need not see."""
    if kind == "tool":
        return "  " + (_bash(data) if data["name"] == "bash" else _edit(data))
    if kind == "setup":
        status = "timed out" if data.get("timed_out") else f"exit {data['exit_code']}"
        return "  " + _command("setup $", data["command"], status, data.get("output", ""))
    if kind == "model":
        spent = data["spent"]
        dollars = f"${spent['dollars']:.2f}" if spent["dollars"] is not None else "cost unknown"
        what = {"check": "fresh-context check", "judge": "judge"}.get(
            data.get("purpose") or "", f"turn {spent['turns']}")
        return f"{what}: {spent['tokens']:,} tokens, {dollars}"
    if kind == "tests":
        figures = data.get("counts") or ("passed" if data["passed"] else "failed")
        return _command(f"tests ({data['at']}) $", data["command"] or "", figures, "")
    if kind in ("context", "stopped"):
        return f"{kind}: {json.dumps(data)[:300]}"
    return None


def tail(output: str) -> str:
    """The last line of a command's own output (Orca's notes under it left out), cut to fit."""
    lines = [text.strip() for text in output.splitlines()]
    said = [text for text in lines if text and not _NOTE.match(text)]
    if not said or said[-1] == "(no output)":
        return ""
    return _cut(said[-1], TAIL_SHOWN)


def _bash(data: dict[str, Any]) -> str:
    given = data["input"] if isinstance(data["input"], dict) else {}
    code = data.get("exit_code")
    status = (f"exit {code}" if code is not None else "error" if data.get("is_error")
              else "timed out" if "timed out" in data.get("output", "") else "done")
    return _command("$", str(given.get("command", "")), status, data.get("output", ""))


def _edit(data: dict[str, Any]) -> str:
    given = data["input"] if isinstance(data["input"], dict) else {}
    what = f"{given.get('command')} {given.get('path')}"
    if data.get("is_error"):
        return f"edit: {what} → error · {tail(data.get('output', ''))}".rstrip(" ·")
    return f"edit: {what} → ok"


def _command(label: str, command: str, status: str, output: str) -> str:
    shown = _cut(" ".join(command.split()), COMMAND_SHOWN)
    last = tail(output)
    return f"{label} {shown} → {status}" + (f" · {last}" if last else "")


def _cut(text: str, most: int) -> str:
    return text if len(text) <= most else text[:most - 1] + "…"


class Transcript:
    """The run as JSON lines: one object per event, `{"at", "kind", "data"}` (and `"attempt"`
    under `--attempts`), the outcome or the error last. Each line is flushed as it comes, so a
    run that is stopped or crashes keeps what happened until then."""

    def __init__(self, path: Path) -> None:
        self._file: TextIO = path.open("w", encoding="utf-8")
        self._lock = threading.Lock()  # attempts write from threads of their own

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self._file.close()

    def write(self, kind: str, data: dict[str, Any], attempt: int | None = None) -> None:
        record: dict[str, Any] = {"at": datetime.now(UTC).isoformat(timespec="milliseconds")}
        if attempt is not None:
            record["attempt"] = attempt
        record.update(kind=kind, data=data)
        with self._lock:
            self._file.write(json.dumps(record, default=str) + "\n")
            self._file.flush()
