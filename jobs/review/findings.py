"""How the model reports what it found: one `report_finding` tool call per finding, checked
here before anything is posted.

The model's input is data, possibly steered by the code under review (a fork's comments can
speak to it): every field is typed and bounded, the text is stripped of hidden HTML and
invisible characters, and a finding's place is decided by Orca, not by the model. A finding
whose lines are in the diff's hunks (jobs.review.diff) becomes an inline comment; any other
goes to the review's summary. A mistake comes back to the model as a tool error it can fix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from jobs.agent.prompt import sanitise
from jobs.review.diff import FileDiff

REPORT_TOOL = "report_finding"
SEVERITIES = ("critical", "major", "minor", "nit")
SEVERITY_WORDS = {"critical": "🔴 Critical", "major": "🟠 Major", "minor": "🟡 Minor", "nit": "⚪ Nit"}
# GitHub shows at most so much in a review before it is noise: the most severe go inline.
MAX_INLINE = 20
# The model may report more than go inline; past this it is told to keep the important ones.
MAX_FINDINGS = 60
MAX_TITLE = 200
MAX_BODY = 4_000
MAX_SUGGESTION = 3_000
# A suggestion replaces the commented lines; past this many it is not a small local fix.
MAX_SUGGESTED_LINES = 20
MAX_RANGE = 50

TOOL_DEFINITION: dict[str, Any] = {
    "name": REPORT_TOOL,
    "description": (
        "Report one finding of your review: a bug, a risk or a clear improvement in the pull "
        "request's change. Call it once per finding, as soon as you are sure of it. `line` "
        "(and `end_line` for a range) are line numbers in the file after the change (side "
        "RIGHT), or before it for removed lines (side LEFT). For a small local fix, give "
        "`suggestion`: the exact new text of lines line..end_line, which the author can apply "
        "with one click."),
    "input_schema": {
        "type": "object",
        "properties": {
            "severity": {"type": "string", "enum": list(SEVERITIES)},
            "path": {"type": "string", "description": "The file, relative to the repository root."},
            "line": {"type": "integer", "minimum": 1},
            "end_line": {"type": "integer", "minimum": 1},
            "side": {"type": "string", "enum": ["RIGHT", "LEFT"]},
            "title": {"type": "string", "description": "One line: what is wrong."},
            "body": {"type": "string", "description": "Why it matters and what to do."},
            "suggestion": {"type": "string"},
        },
        "required": ["severity", "path", "title", "body"],
    },
}


class BadFinding(ValueError):
    """The model's input cannot be a finding; the message tells it what to fix."""


@dataclass
class Finding:
    """One checked finding."""

    number: int
    severity: str
    path: str
    title: str
    body: str
    line: int | None = None
    end_line: int | None = None
    side: str = "RIGHT"
    suggestion: str | None = None
    inline: bool = False
    """Its lines are in the diff's hunks, so GitHub takes it as an inline comment."""

    @property
    def where(self) -> str:
        if self.line is None:
            return f"`{self.path}`"
        lines = f"lines {self.line}–{self.end_line}" if self.end_line else f"line {self.line}"
        return f"`{self.path}` {lines}"

    def comment(self) -> dict[str, Any]:
        """The review comment GitHub takes: `line` is the last line, `start_line` the first."""
        assert self.inline and self.line is not None
        text = f"**{SEVERITY_WORDS[self.severity]}: {self.title}**\n\n{self.body}"
        if self.suggestion is not None:
            text += "\n\n" + suggestion_block(self.suggestion)
        comment: dict[str, Any] = {"path": self.path, "body": text, "side": self.side,
                                   "line": self.end_line or self.line}
        if self.end_line:
            comment.update(start_line=self.line, start_side=self.side)
        return comment


def suggestion_block(text: str) -> str:
    """A ```suggestion fence that the suggested text cannot close early."""
    longest = max((len(run) for run in re.findall(r"`{3,}", text)), default=2)
    fence = "`" * (longest + 1)
    return f"{fence}suggestion\n{text.rstrip(chr(10))}\n{fence}"


@dataclass
class Findings:
    """What the model reported, checked against the diff."""

    files: dict[str, FileDiff]
    found: list[Finding] = field(default_factory=list)

    def record(self, given: Any) -> str:
        """Check and keep one finding; says where it will go. BadFinding for bad input."""
        if len(self.found) >= MAX_FINDINGS:
            raise BadFinding(f"You have reported {MAX_FINDINGS} findings, the most a review "
                             "takes. Finish with your summary.")
        finding = self._checked(given)
        if any((f.path, f.line, f.title) == (finding.path, finding.line, finding.title) for f in self.found):
            raise BadFinding("That finding is already reported.")
        self.found.append(finding)
        if finding.inline:
            return f"Finding {finding.number} recorded, as an inline comment on {finding.where}."
        why = ("that file is not part of the diff" if finding.path not in self.files
               else "no line was given" if finding.line is None
               else "those lines are not in the diff's hunks")
        return (f"Finding {finding.number} recorded. It will be in the review's summary, not "
                f"inline: {why}.")

    def ranked(self) -> list[Finding]:
        """Most severe first, in the order reported within a severity."""
        return sorted(self.found, key=lambda f: (SEVERITIES.index(f.severity), f.number))

    def placed(self, limit: int = MAX_INLINE) -> tuple[list[Finding], list[Finding]]:
        """(inline comments, findings for the summary): the `limit` most severe inline ones
        stay inline; the rest of them join the summary."""
        inline = [f for f in self.ranked() if f.inline][:limit]
        return inline, [f for f in self.ranked() if f not in inline]

    def _checked(self, given: Any) -> Finding:
        if not isinstance(given, dict):
            raise BadFinding("The input must be an object.")
        severity = _text(given, "severity", 20).lower()
        if severity not in SEVERITIES:
            raise BadFinding(f"`severity` must be one of {', '.join(SEVERITIES)}.")
        path = _text(given, "path", 1_000).removeprefix("./").lstrip("/")
        line, end = _number(given, "line"), _number(given, "end_line")
        if end is not None and (line is None or end < line or end - line > MAX_RANGE):
            raise BadFinding(f"`end_line` needs `line`, and must be from it to {MAX_RANGE} lines after it.")
        side = given.get("side", "RIGHT")
        if side not in ("RIGHT", "LEFT"):
            raise BadFinding("`side` must be RIGHT or LEFT.")
        finding = Finding(len(self.found) + 1, severity, path, _words(given, "title", MAX_TITLE),
                          _words(given, "body", MAX_BODY), line,
                          end if end != line else None, side)
        diff = self.files.get(path)
        finding.inline = (diff is not None and line is not None
                          and diff.takes(side, line, end or line))
        finding.suggestion = self._suggestion(given, finding)
        return finding

    def _suggestion(self, given: dict[str, Any], finding: Finding) -> str | None:
        """Kept only where GitHub can apply it: inline, on the new file, a few lines."""
        if given.get("suggestion") is None:
            return None
        text = _text(given, "suggestion", MAX_SUGGESTION, allow_empty=True)
        lines = (finding.end_line or finding.line or 0) - (finding.line or 0) + 1
        if not finding.inline or finding.side != "RIGHT" or lines > MAX_SUGGESTED_LINES:
            return None
        return sanitise(text)


def _text(given: dict[str, Any], key: str, cap: int, allow_empty: bool = False) -> str:
    value = given.get(key)
    if not isinstance(value, str) or (not value.strip() and not allow_empty):
        raise BadFinding(f"`{key}` must be a non-empty string.")
    if len(value) > cap:
        raise BadFinding(f"`{key}` is {len(value):,} characters; at most {cap:,}.")
    return value


def _words(given: dict[str, Any], key: str, cap: int) -> str:
    """Text for people: hidden HTML, invisible characters and link titles stripped; a title
    on one line."""
    text = sanitise(_text(given, key, cap)).strip()
    if key == "title":
        text = " ".join(text.split())
    if not text:
        raise BadFinding(f"`{key}` must say something.")
    return text


def _number(given: dict[str, Any], key: str) -> int | None:
    value = given.get(key)
    if value is None:
        return None
    if type(value) is not int or value < 1:
        raise BadFinding(f"`{key}` must be a positive whole number.")
    return value
