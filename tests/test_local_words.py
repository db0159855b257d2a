"""`orca solve`'s progress lines (jobs/local_words.py), a table of events and what they show."""

from __future__ import annotations

import pytest

from jobs.local_words import line, tail


def bash(command: str, output: str, exit_code: int | None = 0, is_error: bool = False) -> dict:
    return {"name": "bash", "input": {"command": command}, "exit_code": exit_code,
            "is_error": is_error, "output": output}


@pytest.mark.parametrize(("kind", "data", "shown"), [
    ("tool", bash("pytest -q", "..F\n1 failed, 2 passed in 0.1s\n[exit code: 1]", 1),
     "  $ pytest -q → exit 1 · 1 failed, 2 passed in 0.1s"),
    ("tool", bash("true", "(no output)"), "  $ true → exit 0"),
    ("tool", bash("sleep 999", "[command timed out after 120 s and was killed. ...]", None),
     "  $ sleep 999 → timed out"),
    ("tool", bash("ls", "a\n\n  b  \n[note: this is the same call, with the same input, 3 times]"),
     "  $ ls → exit 0 · b"),
    ("tool", bash("cat <<EOF\nmany\nlines\nEOF", "many\nlines"),
     "  $ cat <<EOF many lines EOF → exit 0 · lines"),
    ("tool", {"name": "str_replace_based_edit_tool", "input": {"command": "create", "path": "/w/a.py"},
              "is_error": False, "output": "File created"}, "  edit: create /w/a.py → ok"),
    ("tool", {"name": "str_replace_based_edit_tool", "input": {"command": "view", "path": "/w/b"},
              "is_error": True, "output": "No such file: /w/b"},
     "  edit: view /w/b → error · No such file: /w/b"),
    ("setup", {"command": "pip install -e .", "exit_code": 0, "timed_out": False,
               "output": "Successfully installed hello-0.1\n"},
     "  setup $ pip install -e . → exit 0 · Successfully installed hello-0.1"),
    ("tests", {"at": "after", "command": "pytest -q", "passed": False, "counts": "1 failed"},
     "tests (after) $ pytest -q → 1 failed"),
    ("model", {"spent": {"turns": 2, "tokens": 12345, "dollars": 0.5}}, "turn 2: 12,345 tokens, $0.50"),
    ("model", {"purpose": "judge", "spent": {"turns": 2, "tokens": 10, "dollars": None}},
     "judge: 10 tokens, cost unknown"),
    ("budget", {"turns": 3}, None),
    ("config", {"model": "claude"}, None),
])
def test_each_event_shows_as(kind, data, shown):
    assert line(kind, data) == shown


def test_a_long_command_and_a_long_last_line_are_cut_to_one_terminal_line():
    said = line("tool", bash("x" * 300, "y" * 300))
    assert said == f"  $ {'x' * 79}… → exit 0 · {'y' * 99}…"
    assert tail("ok\n[exit code: 2]\n") == "ok"
