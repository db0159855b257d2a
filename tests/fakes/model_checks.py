"""Request validation for the fake model: the rules the real Messages API enforces with a 400.

Each check is a pure function over the JSON body returning a list of human-readable problems;
the fake answers 400 invalid_request_error and records them as violations, so a test catches
a malformed conversation the real API would have refused.
"""

from __future__ import annotations

from typing import Any

# The real API's limit: https://docs.anthropic.com/en/docs/build-with-claude/prompt-caching
MAX_CACHE_BREAKPOINTS = 4

# Anthropic-defined tools must carry the name the model was trained on.
# https://docs.anthropic.com/en/docs/agents-and-tools/tool-use/text-editor-tool
TOOL_NAMES = {"text_editor_20250728": "str_replace_based_edit_tool", "bash_20250124": "bash"}


def blocks_of(message: dict[str, Any]) -> list[dict[str, Any]]:
    """A message's content as a list of blocks (a str content is one text block)."""
    content = message.get("content")
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if isinstance(content, list):
        return [block for block in content if isinstance(block, dict)]
    return []


def count_cache_breakpoints(value: Any) -> int:
    """How many `cache_control` markers sit anywhere in `value` (nested tool_result text included)."""
    if isinstance(value, dict):
        own = 1 if value.get("cache_control") else 0
        return own + sum(count_cache_breakpoints(item) for key, item in value.items() if key != "cache_control")
    if isinstance(value, list):
        return sum(count_cache_breakpoints(item) for item in value)
    return 0


def check_required(body: dict[str, Any], *, needs_max_tokens: bool = True) -> list[str]:
    """The top-level fields every Messages request needs."""
    problems = []
    if not isinstance(body.get("model"), str) or not body.get("model"):
        problems.append("model: field required")
    if needs_max_tokens:
        max_tokens = body.get("max_tokens")
        if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
            problems.append("max_tokens: field required (a positive integer)")
    if not isinstance(body.get("messages"), list) or not body.get("messages"):
        problems.append("messages: field required (a non-empty list)")
    return problems


def check_turns(messages: list[dict[str, Any]]) -> list[str]:
    """Messages start with a user turn and alternate user/assistant."""
    problems = []
    expected = "user"
    for index, message in enumerate(messages):
        role = message.get("role") if isinstance(message, dict) else None
        if role not in ("user", "assistant"):
            problems.append(f"messages.{index}.role: must be 'user' or 'assistant', got {role!r}")
        elif role != expected:
            problems.append(f"messages.{index}: expected a {expected} turn, got {role} (turns must alternate)")
        expected = "assistant" if role == "user" else "user"
    return problems


def _ids(blocks: list[dict[str, Any]], kind: str, key: str) -> list[str]:
    return [block.get(key) for block in blocks if block.get("type") == kind]


def check_tool_results(messages: list[dict[str, Any]]) -> list[str]:
    """Every tool_result answers a tool_use of the turn just before, and every tool_use is answered."""
    problems = []
    for index, message in enumerate(messages):
        if not isinstance(message, dict):
            continue
        blocks = blocks_of(message)
        previous = blocks_of(messages[index - 1]) if index > 0 and isinstance(messages[index - 1], dict) else []
        asked = _ids(previous, "tool_use", "id") if index > 0 else []
        answered = _ids(blocks, "tool_result", "tool_use_id")
        for tool_use_id in answered:
            if message.get("role") != "user" or tool_use_id not in asked:
                problems.append(
                    f"messages.{index}: unexpected tool_use_id {tool_use_id!r} in tool_result; each "
                    "tool_result must answer a tool_use of the immediately preceding assistant message"
                )
        missing = [tool_use_id for tool_use_id in asked if tool_use_id not in answered]
        if missing and message.get("role") == "user":
            problems.append(
                f"messages.{index}: tool_use ids {missing} were found without tool_result blocks immediately after"
            )
    return problems


def check_tools(tools: Any) -> list[str]:
    """Anthropic-defined tools carry their fixed names; custom tools need a name and a schema."""
    if tools is None:
        return []
    if not isinstance(tools, list):
        return ["tools: must be a list"]
    problems = []
    for index, tool in enumerate(tools):
        kind = tool.get("type", "custom") if isinstance(tool, dict) else None
        if kind in TOOL_NAMES:
            if tool.get("name") != TOOL_NAMES[kind]:
                problems.append(f"tools.{index}: a {kind} tool must be named {TOOL_NAMES[kind]!r}")
        elif kind == "custom":
            if not tool.get("name") or not isinstance(tool.get("input_schema"), dict):
                problems.append(f"tools.{index}: a custom tool needs a name and an input_schema")
        elif kind is None:
            problems.append(f"tools.{index}: must be an object")
        # Other Anthropic-defined tool types (web search...) pass: the fake does not know them all.
    return problems


def check_request(body: Any, *, needs_max_tokens: bool = True) -> list[str]:
    """Every problem the real API would answer with 400 invalid_request_error."""
    if not isinstance(body, dict):
        return ["body: must be a JSON object"]
    problems = check_required(body, needs_max_tokens=needs_max_tokens)
    problems += check_tools(body.get("tools"))
    messages = body.get("messages")
    if isinstance(messages, list) and messages:
        problems += check_turns(messages)
        problems += check_tool_results(messages)
    breakpoints = count_cache_breakpoints([body.get("tools"), body.get("system"), messages])
    if breakpoints > MAX_CACHE_BREAKPOINTS:
        problems.append(
            f"A maximum of {MAX_CACHE_BREAKPOINTS} blocks with cache_control may be provided. Found {breakpoints}."
        )
    return problems
