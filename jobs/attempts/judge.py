"""Which attempt becomes the pull request: by the tests first, then a judging model call, then
the smaller diff. Pure but for the one request, which the caller makes.

The evidence orders the choice: an attempt with a test regression against the base is never
picked over one without. Among the rest, one model call reads each diff with its verification
and names the attempt it would merge, with a short reason; when it cannot choose between some
(`TIE`), or its answer is not in the asked-for form, the smallest diff among them wins. With
one candidate no call is made.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

# Enough for the verdict and a sentence or two.
JUDGE_MAX_TOKENS = 600
# What the judge reads of one attempt's diff; all of them fit one request.
DIFF_CAP = 24_000
REASON_CHARS = 300

SYSTEM = """You compare independent attempts at the same request on the same repository, each
shown as its diff against the base commit with the result of the repository's tests as Orca
ran them. Pick the one you would merge: the one that does what was asked, correctly and
completely, with the least unrelated change.

Answer on the first line `WINNER: <number>`, or `TIE: <number>, <number>` when you cannot
choose between them. On the next line, give your reason in one or two sentences."""

_WINNER = re.compile(r"^\W*winner\W*(?P<k>\d+)", re.IGNORECASE)
_TIE = re.compile(r"^\W*tie\W*(?P<ks>\d+(?:\W+(?:and\W+)?\d+)+)", re.IGNORECASE)


@dataclass(frozen=True)
class Candidate:
    """What the choice reads of one attempt."""

    number: int
    diff: str
    evidence: str
    """The verification in words."""
    size: int
    """Lines added and removed."""


def prompt(request: str, candidates: Sequence[Candidate]) -> str:
    parts = [f"<request>\n{request}\n</request>"]
    for c in candidates:
        diff = c.diff if len(c.diff) <= DIFF_CAP else c.diff[:DIFF_CAP] + "\n[diff cut]"
        parts.append(f'<attempt number="{c.number}">\n<tests>\n{c.evidence}\n</tests>\n'
                     f"<diff>\n{diff}\n</diff>\n</attempt>")
    return "\n\n".join(parts)


def read(answer: str, numbers: Sequence[int]) -> tuple[list[int], str]:
    """(the attempts the judge prefers, its reason) from its answer; every number when the
    answer names none of them in the asked-for form."""
    lines = [line.strip() for line in answer.strip().splitlines() if line.strip()]
    first = lines[0] if lines else ""
    reason = " ".join(lines[1:])[:REASON_CHARS]
    if winner := _WINNER.match(first):
        chosen = [int(winner["k"])]
    elif tie := _TIE.match(first):
        chosen = [int(k) for k in re.findall(r"\d+", tie["ks"])]
    else:
        return list(numbers), ""
    chosen = [k for k in chosen if k in numbers]
    return (chosen, reason) if chosen else (list(numbers), "")


def smallest(candidates: Sequence[Candidate], among: Sequence[int]) -> Candidate:
    """The smallest diff among `among`; the lower number on equal sizes."""
    return min((c for c in candidates if c.number in among), key=lambda c: (c.size, c.number))
