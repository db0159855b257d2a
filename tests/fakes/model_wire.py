"""What the fake model puts on the wire: Message JSON and the server-sent event stream.

The event sequence copies the real API's streaming format
(https://docs.anthropic.com/en/docs/build-with-claude/streaming): message_start, ping, then per
block content_block_start / content_block_delta... / content_block_stop, then message_delta
(stop reason and cumulative usage) and message_stop.
"""

from __future__ import annotations

import json
import secrets
from typing import Any, Iterator

# Deltas are cut small so clients really exercise their accumulation of partial text and JSON.
TEXT_CHUNK = 12
JSON_CHUNK = 10


def message_id() -> str:
    """A fresh message id in the real API's shape."""
    return f"msg_{secrets.token_hex(12)}"


def message(model: str, content: list[dict[str, Any]], stop_reason: str, usage: dict[str, int]) -> dict[str, Any]:
    """A complete Message object as returned by POST /v1/messages."""
    return {
        "id": message_id(),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": usage,
    }


def _chunks(value: str, size: int) -> list[str]:
    return [value[start : start + size] for start in range(0, len(value), size)]


def block_events(index: int, block: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The start, delta and stop events streaming one content block."""
    if block.get("type") == "tool_use":
        start = {**block, "input": {}}
        parts = _chunks(json.dumps(block["input"]), JSON_CHUNK)
        deltas = [{"type": "input_json_delta", "partial_json": part} for part in parts]
    elif block.get("type") == "text":
        start = {**block, "text": ""}
        deltas = [{"type": "text_delta", "text": part} for part in _chunks(block["text"], TEXT_CHUNK)]
    else:
        # Blocks the fake has no delta shape for are sent whole in their start event.
        start, deltas = block, []
    yield {"type": "content_block_start", "index": index, "content_block": start}
    for delta in deltas:
        yield {"type": "content_block_delta", "index": index, "delta": delta}
    yield {"type": "content_block_stop", "index": index}


def stream_events(final: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every event that streams the complete Message `final`."""
    # The real message_start carries the input usage and a token or so of output so far.
    opening = {**final, "content": [], "stop_reason": None, "usage": {**final["usage"], "output_tokens": 1}}
    yield {"type": "message_start", "message": opening}
    yield {"type": "ping"}
    for index, block in enumerate(final["content"]):
        yield from block_events(index, block)
    yield {
        "type": "message_delta",
        "delta": {"stop_reason": final["stop_reason"], "stop_sequence": None},
        "usage": final["usage"],
    }
    yield {"type": "message_stop"}


def sse(events: Iterator[dict[str, Any]]) -> bytes:
    """Events encoded as a text/event-stream body."""
    lines = [f"event: {event['type']}\ndata: {json.dumps(event)}\n\n" for event in events]
    return "".join(lines).encode()
