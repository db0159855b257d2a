"""Token usage and what it costs.

Prices are US dollars per million tokens, from https://www.anthropic.com/pricing (list
prices; cache writes cost 1.25x input, cache reads 0.1x input). Unknown models cost
nothing here and say so, rather than guessing.
"""

from __future__ import annotations

from dataclasses import dataclass

# model prefix -> (input, output) dollars per million tokens
PRICES: dict[str, tuple[float, float]] = {
    "claude-opus": (5.0, 25.0),
    "claude-sonnet": (3.0, 15.0),
    "claude-haiku": (1.0, 5.0),
}
CACHE_WRITE_FACTOR = 1.25
CACHE_READ_FACTOR = 0.1


@dataclass
class Usage:
    """Tokens summed over a run's model requests."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0

    @classmethod
    def of(cls, usage: object) -> Usage:
        """One response's `usage` as a Usage."""
        one = cls()
        one.add(usage)
        return one

    def add(self, usage: object) -> None:
        """Add one response's `usage` (the SDK's object; absent fields count as 0)."""
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + (getattr(usage, name, 0) or 0))

    @property
    def total_input(self) -> int:
        """Every input token, whether new, written to the cache or read from it."""
        return self.input_tokens + self.cache_creation_input_tokens + self.cache_read_input_tokens

    @property
    def total(self) -> int:
        """Input (cache included) plus output: what the token budget counts."""
        return self.total_input + self.output_tokens


Prices = dict[str, tuple[float, float]]


def price_for(model: str, overrides: Prices | None = None) -> tuple[float, float] | None:
    """(input, output) dollars per million tokens for `model`, or None when unknown.

    `overrides` (the ORCA_PRICES setting) are merged over the table; the longest matching
    prefix wins, so `claude-sonnet-5` can be priced apart from the rest of `claude-sonnet`.
    """
    table = {**PRICES, **(overrides or {})}
    matches = [prefix for prefix in table if model.startswith(prefix)]
    return tuple(table[max(matches, key=len)]) if matches else None  # type: ignore[return-value]


def cost(model: str, usage: Usage, overrides: Prices | None = None) -> float | None:
    """Dollars spent, or None for a model with no known price."""
    price = price_for(model, overrides)
    if price is None:
        return None
    per_input, per_output = price[0] / 1e6, price[1] / 1e6
    return (usage.input_tokens * per_input
            + usage.cache_creation_input_tokens * per_input * CACHE_WRITE_FACTOR
            + usage.cache_read_input_tokens * per_input * CACHE_READ_FACTOR
            + usage.output_tokens * per_output)
