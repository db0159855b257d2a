"""The fresh-context check: one model call, before publishing, that sees only the request, the
diff and the last test output, none of the agent's reasoning, and answers "LOOKS RIGHT" or
lists concrete defects. Defects go back to the agent once, with what Orca's tests found.

A second reader with a clean context catches what the author's own context hides (Agentless
and the self-review steps of strong public harnesses); it costs one call, counted in the run's
budgets and shown in the Verification section. Only an answer in the asked-for form acts:
anything else is recorded as unclear and publishing goes on, so a confused check never costs
a repair round.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from core.errors import ModelUnavailable
from jobs.agent.loop import Ask, Emit
from jobs.verify import words

LOOKS_RIGHT = "LOOKS RIGHT"
# The answer is a verdict and a short list, never a rewrite.
CHECK_MAX_TOKENS = 2_000
# What the check reads of the test output: the end, where the failures and counts are.
TEST_OUTPUT_CAP = 6_000
MAX_DEFECTS = 10
DEFECT_CHARS = 600

SYSTEM = f"""You check a code change with fresh eyes before it becomes a pull request. You see
the request it answers, the change as a diff against the base commit, and the last output of
the repository's tests as Orca ran them. You cannot run anything.

If the change does what was asked, correctly, answer exactly `{LOOKS_RIGHT}` and nothing else.
Otherwise answer only with a list, one concrete defect per line, each line starting with "- ":
what is wrong, where (file and line), and why. Count only defects you can point to: a bug, a
part of the request left undone, an edge case the change breaks, a leftover debug line or
scratch file. Not style, not preferences, not work the request did not ask for."""

_ITEM = re.compile(r"^\s*(?:[-*•]|\d{1,2}[.)])\s+(.*\S)\s*$")
_DECORATION = re.compile(r"[`*_#>\"'.!:]")


@dataclass
class FreshCheck:
    """What the check said, for the repair round and the Verification section."""

    outcome: str = "not run"
    """"looks right", "defects", "unclear", or why it did not run ("not run", "skipped: ...",
    "failed: ...")."""
    defects: tuple[str, ...] = ()
    cost: float | None = 0.0
    tokens: int = 0
    asked_again: bool = False
    """Whether the defects went back to the agent (once)."""
    answer: str = field(default="", repr=False)

    @property
    def ran(self) -> bool:
        return self.outcome in ("looks right", "defects", "unclear")

    def for_agent(self) -> str | None:
        """The defects as the repair round's words, or None when there are none."""
        if self.outcome != "defects":
            return None
        listed = "\n".join(f"- {defect}" for defect in self.defects)
        return ("A reviewer who saw only the request, your diff and the test output found these "
                f"defects:\n{listed}\nFix the ones that are real. If one is not, say why in your "
                "summary.")

    def words(self) -> str:
        """One paragraph for the Verification section; '' when the check did not run at all."""
        if self.outcome == "not run":
            return ""
        price = f", {_dollars(self.cost)}" if self.ran else ""
        what = ("A fresh-context check (a separate model call that saw only the request, the diff "
                f"and the test output{price})")
        if self.outcome == "looks right":
            return f"{what} found no defects."
        if self.outcome == "unclear":
            return f"{what} gave no clear verdict, so nothing was sent back to the agent."
        if self.outcome == "defects":
            then = ("; the agent had one round to fix them" if self.asked_again
                    else "; they were not sent back to the agent")
            listed = "\n".join(f"- {words.code(defect)}" for defect in self.defects)
            return f"{what} found {_count(len(self.defects))}{then}:\n{listed}"
        return f"The fresh-context check did not run: {self.outcome.split(': ', 1)[-1].rstrip('.')}."


def run_check(check: FreshCheck, ask: Ask, request: str, diff: str, tests: str,
              emit: Emit) -> None:
    """Ask for the verdict on `diff` and record it in `check`. Never raises for the model's
    sake: a check that cannot run is said, and publishing goes on."""
    if not diff.strip():
        check.outcome = "skipped: the change is empty"
        return
    try:
        asked = ask(SYSTEM, prompt(request, diff, tests), CHECK_MAX_TOKENS)
    except ModelUnavailable as exc:
        check.outcome = f"failed: {exc}"
    else:
        if asked is None:
            check.outcome = "skipped: the run's budget had no room left for it, or it was stopped"
        else:
            check.outcome, check.defects = judge(asked.text)
            check.cost, check.tokens, check.answer = asked.cost, asked.tokens, asked.text
    emit("fresh_check", {"outcome": check.outcome, "defects": list(check.defects),
                         "tokens": check.tokens, "cost": check.cost})


def prompt(request: str, diff: str, tests: str) -> str:
    """The check's only message: the request, the diff, the test output."""
    return (f"<request>\n{request}\n</request>\n\n<diff>\n{diff}\n</diff>\n\n"
            f"<tests>\n{tests[-TEST_OUTPUT_CAP:]}\n</tests>")


def judge(answer: str) -> tuple[str, tuple[str, ...]]:
    """("looks right" | "defects" | "unclear", the defects) from the check's text.

    "LOOKS RIGHT" on the first line, whatever markdown or punctuation dresses it, is a pass;
    list items are defects; anything else is unclear (never taken as a defect, since it was
    not given as one)."""
    lines = [line for line in answer.strip().splitlines() if line.strip()]
    if not lines:
        return "unclear", ()
    if _DECORATION.sub("", lines[0]).strip().upper() == LOOKS_RIGHT:
        return "looks right", ()
    defects = [match.group(1) for line in lines if (match := _ITEM.match(line))]
    if not defects:
        return "unclear", ()
    cut = [d if len(d) <= DEFECT_CHARS else d[:DEFECT_CHARS - 1] + "…" for d in defects[:MAX_DEFECTS]]
    return "defects", tuple(cut)


def _count(n: int) -> str:
    return f"{n} defect{'s' if n != 1 else ''}"


def _dollars(value: float | None) -> str:
    if value is None:
        return "cost unknown"
    return f"${value:.2f}" if value >= 0.01 else "under $0.01"
