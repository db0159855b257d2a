"""Token counting and prompt-caching emulation for the fake model.

Tokens are approximated as len(canonical JSON text) / 4, rounded up, at least 1 per piece: the
usual rule of thumb of about four characters per token for English and code. It is not the real
tokenizer; it is stable, monotonic in size, and good enough to compare strategies in a benchmark.

Caching follows the real API's model (https://docs.anthropic.com/en/docs/build-with-claude/prompt-caching):
the prompt is the sequence tools → system → messages, cut into pieces (one per tool, system
block and message content block). A `cache_control` marker on a piece makes the prefix ending
there a cache breakpoint. A prefix is identified by the hash of its canonical JSON with the
markers removed (moving a breakpoint does not change the content) and the model name (caches are
per model). Differences from the real service, on purpose: entries never expire, and a lookup
finds the longest cached prefix at any piece up to the last breakpoint (the real API looks back
about 20 blocks per breakpoint).
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
from typing import Any

from tests.fakes.model_checks import blocks_of, count_cache_breakpoints


def canonical(value: Any) -> str:
    """The canonical JSON text of `value`: sorted keys, no spaces."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def estimate_tokens(value: Any) -> int:
    """Approximate token count of a JSON value: a quarter of its canonical text, at least 1."""
    return max(1, math.ceil(len(canonical(value)) / 4))


def without_cache_control(value: Any) -> Any:
    """A copy of `value` with every `cache_control` key removed."""
    if isinstance(value, dict):
        return {key: without_cache_control(item) for key, item in value.items() if key != "cache_control"}
    if isinstance(value, list):
        return [without_cache_control(item) for item in value]
    return value


def prompt_pieces(body: dict[str, Any]) -> list[tuple[str, Any]]:
    """The prompt in cache order, as (section, piece) pairs: tools, then system, then messages."""
    pieces: list[tuple[str, Any]] = [("tools", tool) for tool in body.get("tools") or []]
    system = body.get("system")
    if isinstance(system, str) and system:
        pieces.append(("system", {"type": "text", "text": system}))
    elif isinstance(system, list):
        pieces += [("system", block) for block in system]
    for message in body.get("messages") or []:
        if isinstance(message, dict):
            pieces += [(f"messages:{message.get('role')}", block) for block in blocks_of(message)]
    return pieces


def count_input_tokens(body: dict[str, Any]) -> int:
    """The approximate input tokens of a request (what /v1/messages/count_tokens answers)."""
    return sum(estimate_tokens(without_cache_control(piece)) for _, piece in prompt_pieces(body))


class PromptCache:
    """Remembers the prefixes created at cache breakpoints and splits a request's input tokens.

    `min_tokens` emulates the real minimum cacheable prefix (1024 tokens for most models); it is
    0 by default so small test prompts cache too.
    """

    def __init__(self, min_tokens: int = 0) -> None:
        self.min_tokens = min_tokens
        self._created: set[str] = set()
        self._lock = threading.Lock()

    def usage_for(self, body: dict[str, Any]) -> dict[str, int]:
        """Input usage of a request, creating its breakpoint prefixes for later requests."""
        digest = hashlib.sha256(canonical(body.get("model")).encode())
        hashes: list[str] = []
        totals: list[int] = []  # cumulative tokens up to and including each piece
        breakpoints: list[int] = []
        for index, (section, piece) in enumerate(prompt_pieces(body)):
            clean = without_cache_control(piece)
            digest.update(canonical([section, clean]).encode())
            hashes.append(digest.copy().hexdigest())
            totals.append((totals[-1] if totals else 0) + estimate_tokens(clean))
            if count_cache_breakpoints(piece):
                breakpoints.append(index)
        total = totals[-1] if totals else 0
        with self._lock:
            return self._split(total, hashes, totals, breakpoints)

    def _split(self, total: int, hashes: list[str], totals: list[int], breakpoints: list[int]) -> dict[str, int]:
        """Read the longest cached prefix, create the rest up to the last breakpoint."""
        cacheable = [index for index in breakpoints if totals[index] >= self.min_tokens]
        last = max(cacheable, default=-1)
        read_end = next((index for index in range(last, -1, -1) if hashes[index] in self._created), -1)
        read = totals[read_end] if read_end >= 0 else 0
        created = totals[last] - read if last > read_end else 0
        self._created.update(hashes[index] for index in cacheable)
        return {
            "input_tokens": total - read - created,
            "cache_creation_input_tokens": created,
            "cache_read_input_tokens": read,
        }
