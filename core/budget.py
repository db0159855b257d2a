"""A run's budget: turns, tokens, dollars and wall time, and the check that ends the loop.

The operator's settings give the ceiling; a repository's `.github/orca.yml` may only lower it
(see `Budget.lowered`). The loop checks before every model request, and caps the request's
output by what the token and dollar budgets have left after its input (at least the last
request's: the history only grows), so a run does not start a request it cannot pay for.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

from core.pricing import Usage

# When the model is told it is near the end (once per run): five turns is room to run the
# tests and write a summary; a tenth of the time, dollars or tokens likewise.
NEAR_END_TURNS = 5
NEAR_END_SHARE = 0.1


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


@dataclass(frozen=True)
class Forecast:
    """What the next request costs before its answer: its input, taken as the last one's."""

    input_tokens: int = 0
    input_dollars: float = 0.0
    dollars_per_output_token: float | None = None
    """None for a model with no known price: the dollar budget cannot bound its output."""


def output_room(budget: Budget, spent: Spent, next_call: Forecast) -> tuple[int, str] | None:
    """The most output tokens the next request may ask for and stay within the token and dollar
    budgets, with the words of the budget that sets it; None when neither bounds it."""
    rooms = []
    if budget.max_tokens is not None:
        used = spent.usage.total if spent.usage else 0
        rooms.append((budget.max_tokens - used - next_call.input_tokens,
                      f"the token budget ({budget.max_tokens:,} tokens)"))
    if (budget.max_dollars is not None and spent.dollars is not None
            and next_call.dollars_per_output_token):
        left = budget.max_dollars - spent.dollars - next_call.input_dollars
        # Rounded before the floor: $0.49 at $20 per million is 24,500 tokens, not 24,499.
        rooms.append((math.floor(round(left / next_call.dollars_per_output_token, 6)),
                      f"the dollar budget (${budget.max_dollars:.2f})"))
    return min(rooms) if rooms else None


def before_call(budget: Budget, spent: Spent, next_call: Forecast, least_output: int) -> str | None:
    """The budget that rules out another request, in words, or None: one used up, or one that
    would not leave `least_output` tokens of answer after the request's input."""
    if used_up := exhausted(budget, spent):
        return used_up
    room = output_room(budget, spent, next_call)
    return room[1] if room is not None and room[0] < least_output else None


def near_end(budget: Budget, spent: Spent) -> str | None:
    """What little is left ("5 turns left"), once a budget is nearly used up, else None (and
    None at the turn limit, when there is no turn left to say it in)."""
    turns = budget.max_turns - spent.turns
    if turns <= 0:
        return None
    if turns <= NEAR_END_TURNS:
        return f"{turns} turn{'s' if turns != 1 else ''} left"
    if budget.max_minutes is not None:
        minutes = budget.max_minutes - spent.minutes
        if minutes <= NEAR_END_SHARE * budget.max_minutes:
            whole = max(round(minutes), 0)
            return f"{whole} minute{'s' if whole != 1 else ''} left"
    if budget.max_dollars is not None and spent.dollars is not None:
        dollars = budget.max_dollars - spent.dollars
        if dollars <= NEAR_END_SHARE * budget.max_dollars:
            return f"${max(dollars, 0):.2f} of the dollar budget left"
    if budget.max_tokens is not None and spent.usage is not None:
        tokens = budget.max_tokens - spent.usage.total
        if tokens <= NEAR_END_SHARE * budget.max_tokens:
            return f"{max(tokens, 0):,} tokens left"
    return None
