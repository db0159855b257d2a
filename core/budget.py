"""A run's budget: turns, tokens, dollars and wall time, and the check that ends the loop.

The operator's settings give the ceiling; a repository's `.github/orca.yml` may only lower it
(see `Budget.lowered`). The loop checks after every turn, so a run can pass a token or dollar
budget by at most the one turn that crossed it; it never starts another.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from core.pricing import Usage


@dataclass(frozen=True)
class Budget:
    """The limits one run works within; None means that budget does not apply."""

    max_turns: int
    """Model requests, the diff review included."""
    max_tokens: int | None = None
    """Input tokens (new, cache writes and cache reads) plus output tokens, over the run."""
    max_dollars: float | None = None
    """Dollars at the price table's rates; unenforceable for a model with no known price."""
    max_minutes: float | None = None
    """Wall time of the agent loop, from its first request."""

    def lowered(self, **wishes: float | int | None) -> Budget:
        """This budget with each given limit lowered to the wish, never raised.

        Repositories are not trusted with the operator's money or workers: anyone who can
        merge to the default branch could otherwise ask for unbounded runs.
        """
        values = asdict(self)
        for name, wish in wishes.items():
            if wish is None:
                continue
            current = values[name]
            values[name] = wish if current is None else min(current, wish)
        return Budget(**values)

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass
class Spent:
    """What a run has used so far."""

    turns: int = 0
    usage: Usage | None = None
    dollars: float | None = 0.0
    minutes: float = 0.0

    def figures(self) -> dict[str, Any]:
        """The running figures recorded with every model event."""
        tokens = self.usage.total if self.usage else 0
        dollars = None if self.dollars is None else round(self.dollars, 4)
        return {"turns": self.turns, "tokens": tokens, "dollars": dollars,
                "minutes": round(self.minutes, 2)}


def exhausted(budget: Budget, spent: Spent) -> str | None:
    """The budget that is used up, in words for the PR and comment, or None."""
    tokens = spent.usage.total if spent.usage else 0
    if budget.max_tokens is not None and tokens >= budget.max_tokens:
        return f"the token budget ({budget.max_tokens:,} tokens)"
    if (budget.max_dollars is not None and spent.dollars is not None
            and spent.dollars >= budget.max_dollars):
        return f"the dollar budget (${budget.max_dollars:.2f})"
    if budget.max_minutes is not None and spent.minutes >= budget.max_minutes:
        return f"the time limit ({budget.max_minutes:g} minutes)"
    if spent.turns >= budget.max_turns:
        return f"the turn limit ({budget.max_turns})"
    return None
