"""The counts a test runner prints in its summary line, read from the end of its output. Pure.

    pytest   `== 2 failed, 41 passed, 1 skipped in 1.23s ==`, `41 passed in 0.12s`
    jest     `Tests:       1 failed, 2 skipped, 41 passed, 44 total`
    vitest   ` Tests  2 failed | 41 passed (43)`
    mocha    `  41 passing (2s)` / `  1 pending` / `  2 failing`
    node     `# pass 41` / `# fail 2` (TAP), `ℹ pass 41` (spec reporter)
    cargo    `test result: FAILED. 41 passed; 2 failed; 1 ignored; ...` (summed over targets)

The output is the tests' as much as the runner's, so it is read defensively: only the last
SCAN_CHARS, lines over MAX_LINE ignored, numbers of at most nine digits, patterns without
nested repetition. When several runners' lines appear, the one printed last wins.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from jobs.verify.results import Counts

SCAN_CHARS = 64_000
MAX_LINE = 1_000
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_N = r"(\d{1,9})"
_PYTEST = re.compile(r"^=*\s*(no tests ran|\d{1,9} [a-z]+(?:, \d{1,9} [a-z]+)*)"
                     r" in \d{1,9}(?:\.\d{1,9})?s\b")
_PYTEST_WORDS = {"passed": "passed", "xpassed": "passed", "failed": "failed",
                 "error": "errors", "errors": "errors", "skipped": "skipped",
                 "xfailed": "skipped"}
_JEST = re.compile(r"^\s*Tests:?\s+(\d{1,9} [a-z]+.*)$")
_JEST_PART = re.compile(_N + r" (passed|failed|skipped|todo|pending)\b")
_MOCHA = re.compile(r"^\s*" + _N + r" (passing|failing|pending)\b")
_NODE = re.compile(r"^(?:#|ℹ) (pass|fail|skipped|todo|cancelled) " + _N + r"$")
_CARGO = re.compile(r"^test result: (?:ok|FAILED)\. " + _N + " passed; " + _N + " failed; "
                    + _N + " ignored;")

Found = tuple[int, Counts]
"""Where in the lines a summary was found (its last line's index), and its counts."""


def summary_counts(output: str) -> Counts | None:
    """The counts of the summary printed last, or None when no runner's summary is there."""
    lines = [_ANSI.sub("", line).rstrip() for line in output[-SCAN_CHARS:].splitlines()]
    lines = [line if len(line) <= MAX_LINE else "" for line in lines]
    found = [f for reader in _READERS if (f := reader(lines)) is not None]
    return max(found, key=lambda f: f[0])[1] if found else None


def _pytest(lines: list[str]) -> Found | None:
    for index in range(len(lines) - 1, -1, -1):
        if (match := _PYTEST.match(lines[index])) is not None:
            counts = dict.fromkeys(("passed", "failed", "errors", "skipped"), 0)
            if match.group(1) != "no tests ran":
                for part in match.group(1).split(", "):
                    number, word = part.split(" ")
                    if word in _PYTEST_WORDS:
                        counts[_PYTEST_WORDS[word]] += int(number)
            return index, Counts(**counts)
    return None


def _jest(lines: list[str]) -> Found | None:
    for index in range(len(lines) - 1, -1, -1):
        if (match := _JEST.match(lines[index])) is not None:
            parts = {word: int(n) for n, word in _JEST_PART.findall(match.group(1))}
            if not parts:
                continue
            skipped = parts.get("skipped", 0) + parts.get("todo", 0) + parts.get("pending", 0)
            return index, Counts(parts.get("passed", 0), parts.get("failed", 0), 0, skipped)
    return None


def _mocha(lines: list[str]) -> Found | None:
    """The last `N passing` and the `pending`/`failing` lines right after it."""
    for index in range(len(lines) - 1, -1, -1):
        if (match := _MOCHA.match(lines[index])) is not None and match.group(2) == "passing":
            parts = {"passing": int(match.group(1))}
            last = index
            for later in range(index + 1, min(index + 4, len(lines))):
                if (more := _MOCHA.match(lines[later])) is not None:
                    parts[more.group(2)] = int(more.group(1))
                    last = later
            return last, Counts(parts["passing"], parts.get("failing", 0), 0,
                                parts.get("pending", 0))
    return None


def _node(lines: list[str]) -> Found | None:
    parts: dict[str, int] = {}
    last = -1
    for index, line in enumerate(lines):
        if (match := _NODE.match(line)) is not None:
            parts[match.group(1)] = int(match.group(2))
            last = index
    if "pass" not in parts:
        return None
    return last, Counts(parts["pass"], parts.get("fail", 0) + parts.get("cancelled", 0), 0,
                        parts.get("skipped", 0) + parts.get("todo", 0))


def _cargo(lines: list[str]) -> Found | None:
    """Every `test result:` line added up: one per test target (unit, integration, doc)."""
    total = [0, 0, 0]
    last = -1
    for index, line in enumerate(lines):
        if (match := _CARGO.match(line)) is not None:
            total = [t + int(n) for t, n in zip(total, match.groups())]
            last = index
    if last < 0:
        return None
    return last, Counts(total[0], total[1], 0, total[2])


_READERS: tuple[Callable[[list[str]], Found | None], ...] = (_pytest, _jest, _mocha, _node,
                                                              _cargo)
