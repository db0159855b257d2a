"""The fake model, driven by the real anthropic client with strict response validation."""

from __future__ import annotations

import time
from typing import Any

import anthropic
import pytest

from tests.fakes.model_checks import check_request
from tests.fakes.model import FakeModel, error, reply, text, tool_use

MODEL = "claude-test-model"
BASH = {"type": "bash_20250124", "name": "bash"}
EPHEMERAL = {"type": "ephemeral"}
EDITOR = {"type": "text_editor_20250728", "name": "str_replace_based_edit_tool", "max_characters": 10000}


def ask(client: anthropic.Anthropic, messages: list[dict[str, Any]], **extra: Any) -> Any:
    """One create() call with the fields every request needs."""
    return client.messages.create(model=MODEL, max_tokens=1024, messages=messages, **extra)


def user(content: Any) -> dict[str, Any]:
    return {"role": "user", "content": content}


def test_scripted_text_reply(fake_model: FakeModel) -> None:
    fake_model.script(reply(text("Hello from the fake")))

    message = ask(fake_model.client(), [user("hi")])

    assert message.content[0].type == "text" and message.content[0].text == "Hello from the fake"
    assert message.stop_reason == "end_turn" and message.model == MODEL
    assert message.id.startswith("msg_") and message.usage.input_tokens > 0
    assert fake_model.requests[0]["messages"] == [user("hi")]
    assert fake_model.request_headers[0]["authorization"] == f"Bearer {fake_model.api_key}"
    assert fake_model.remaining == 0 and not fake_model.violations


def test_tool_use_then_tool_result(fake_model: FakeModel) -> None:
    call = tool_use("bash", {"command": "ls"}, id="toolu_1")
    fake_model.script(reply(text("Let me look."), call), reply(text("Done.")))
    client = fake_model.client()

    first = ask(client, [user("list files")], tools=[BASH, EDITOR])
    assert first.stop_reason == "tool_use"
    block = first.content[1]
    assert block.type == "tool_use" and block.id == "toolu_1" and block.input == {"command": "ls"}

    answer = [{"type": "tool_result", "tool_use_id": block.id, "content": "README.md"}]
    history = [user("list files"), {"role": "assistant", "content": first.content}, user(answer)]
    second = ask(client, history, tools=[BASH, EDITOR])

    assert second.content[0].text == "Done."
    assert len(fake_model.requests) == 2 and not fake_model.violations


def test_streaming_text_and_tool_use(fake_model: FakeModel) -> None:
    view = {"command": "view", "path": "/repo/a long/path.py"}
    scripted = [text("I will edit the file now."), tool_use("str_replace_based_edit_tool", view)]
    fake_model.script(reply(*scripted), reply(*scripted))
    client = fake_model.client()

    with client.messages.stream(model=MODEL, max_tokens=1024, messages=[user("go")], tools=[EDITOR]) as stream:
        streamed = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert streamed == "I will edit the file now."
    assert [block.model_dump(exclude_none=True) for block in final.content] == scripted
    assert final.stop_reason == "tool_use" and final.usage.output_tokens > 1

    events = list(ask(client, [user("go")], tools=[EDITOR], stream=True))
    kinds = [event.type for event in events]
    assert kinds[0] == "message_start" and kinds[-2:] == ["message_delta", "message_stop"]
    assert {"content_block_start", "content_block_delta", "content_block_stop"} <= set(kinds)
    deltas = {event.delta.type for event in events if event.type == "content_block_delta"}
    assert deltas == {"text_delta", "input_json_delta"}
    assert not fake_model.violations


def test_overloaded_then_success_is_retried(fake_model: FakeModel) -> None:
    fake_model.script(error(529), reply(text("recovered")))

    message = ask(fake_model.client(max_retries=2), [user("hi")])

    assert message.content[0].text == "recovered"
    assert len(fake_model.requests) == 2 and fake_model.remaining == 0


def test_fail_always_exhausts_retries(fake_model: FakeModel) -> None:
    fake_model.fail_always(529, "overloaded_error")
    fake_model.script(reply(text("never sent")))
    started = time.monotonic()

    with pytest.raises(anthropic.APIStatusError) as raised:
        ask(fake_model.client(max_retries=2), [user("hi")])

    assert raised.value.status_code == 529
    assert raised.value.body == {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    assert len(fake_model.requests) == 3  # the first attempt and two retries
    assert fake_model.remaining == 1
    assert time.monotonic() - started < 1.0, "retry-after-ms should make retries immediate"


def test_rate_limit_error_shape(fake_model: FakeModel) -> None:
    fake_model.script(error(429))

    with pytest.raises(anthropic.RateLimitError) as raised:
        ask(fake_model.client(max_retries=0), [user("hi")])

    assert raised.value.body["error"]["type"] == "rate_limit_error"
    assert raised.value.response.headers["retry-after"] == "0"


def test_mismatched_tool_result_is_refused(fake_model: FakeModel) -> None:
    fake_model.script(reply(text("unused")))
    call = tool_use("bash", {"command": "ls"}, id="toolu_asked")
    history = [
        user("go"),
        {"role": "assistant", "content": [call]},
        user([{"type": "tool_result", "tool_use_id": "toolu_other", "content": "x"}]),
    ]

    with pytest.raises(anthropic.BadRequestError) as raised:
        ask(fake_model.client(), history, tools=[BASH])

    assert raised.value.body["error"]["type"] == "invalid_request_error"
    assert any("toolu_other" in violation for violation in fake_model.violations)
    assert any("toolu_asked" in violation for violation in fake_model.violations)
    assert fake_model.remaining == 1, "a refused request consumes no scripted reply"


@pytest.mark.parametrize(
    ("messages", "extra", "expected"),
    [
        ([{"role": "assistant", "content": "hi"}], {}, "expected a user turn"),
        ([user("a"), user("b")], {}, "turns must alternate"),
        ([user("a")], {"tools": [{"type": "bash_20250124", "name": "shell"}]}, "must be named 'bash'"),
        ([user([{"type": "text", "text": str(n), "cache_control": EPHEMERAL} for n in range(5)])], {}, "maximum of 4"),
    ],
)
def test_invalid_requests_are_refused(fake_model: FakeModel, messages: list, extra: dict, expected: str) -> None:
    with pytest.raises(anthropic.BadRequestError):
        ask(fake_model.client(), messages, **extra)
    assert any(expected in violation for violation in fake_model.violations), fake_model.violations


def test_missing_fields_and_unanswered_tool_use() -> None:
    assert check_request({}) == [
        "model: field required",
        "max_tokens: field required (a positive integer)",
        "messages: field required (a non-empty list)",
    ]
    call = tool_use("bash", {"command": "ls"}, id="toolu_unanswered")
    history = [user("go"), {"role": "assistant", "content": [call]}, user("no result")]
    problems = check_request({"model": MODEL, "max_tokens": 5, "messages": history})
    assert problems and "toolu_unanswered" in problems[0]
    # An assistant turn ending the conversation is a prefill, not an unanswered call.
    assert check_request({"model": MODEL, "max_tokens": 5, "messages": history[:2]}) == []


def test_max_tokens_stop_and_usage_override(fake_model: FakeModel) -> None:
    fake_model.script(reply(text("truncat"), stop_reason="max_tokens", usage={"output_tokens": 1024}))

    message = ask(fake_model.client(), [user("hi")])

    assert message.stop_reason == "max_tokens" and message.usage.output_tokens == 1024
    with pytest.raises(ValueError):
        reply(text("x"), stop_reason="finished")


def test_exhausted_script(fake_model: FakeModel) -> None:
    with pytest.raises(anthropic.InternalServerError) as raised:
        ask(fake_model.client(), [user("hi")])

    assert raised.value.body["error"] == {"type": "api_error", "message": "fake model: no scripted reply left"}
    assert fake_model.violations == ["POST /v1/messages: fake model: no scripted reply left"]
    assert len(fake_model.requests) == 1, "not retried"


def test_bad_key_is_unauthorized(fake_model: FakeModel) -> None:
    fake_model.script(reply(text("unused")))

    with pytest.raises(anthropic.AuthenticationError):
        ask(fake_model.client(api_key="wrong"), [user("hi")])
    assert fake_model.remaining == 1 and len(fake_model.requests) == 1


def test_x_api_key_is_accepted(fake_model: FakeModel) -> None:
    fake_model.script(reply(text("ok")))
    client = fake_model.client(api_key="ignored", default_headers={"x-api-key": fake_model.api_key})

    assert ask(client, [user("hi")]).content[0].text == "ok"


def test_count_tokens(fake_model: FakeModel) -> None:
    counted = fake_model.client().messages.count_tokens(model=MODEL, messages=[user("x" * 400)])
    assert 100 <= counted.input_tokens <= 110


def test_prompt_caching_emulation(fake_model: FakeModel) -> None:
    fake_model.script(reply(text("one")), reply(text("two")))
    cached_tool = {**BASH, "cache_control": {"type": "ephemeral"}}
    system = [{"type": "text", "text": "You are Orca. " * 50, "cache_control": {"type": "ephemeral"}}]
    client = fake_model.client()

    first = ask(client, [user("first task")], tools=[cached_tool], system=system)
    second = ask(client, [user("second task")], tools=[cached_tool], system=system)

    assert first.usage.cache_read_input_tokens == 0 and first.usage.cache_creation_input_tokens > 150
    assert second.usage.cache_read_input_tokens == first.usage.cache_creation_input_tokens
    assert second.usage.cache_creation_input_tokens == 0
    assert second.usage.input_tokens == first.usage.input_tokens > 0
    assert fake_model.usage_log[1]["cache_read_input_tokens"] == second.usage.cache_read_input_tokens


def test_moving_breakpoint_reads_the_earlier_prefix() -> None:
    fake = FakeModel(min_cache_tokens=0)
    mark = {"cache_control": {"type": "ephemeral"}}
    turn1 = [user([{"type": "text", "text": "a" * 400, **mark}])]
    turn2 = [
        user([{"type": "text", "text": "a" * 400}]),
        {"role": "assistant", "content": "ok"},
        user([{"type": "text", "text": "b" * 400, **mark}]),
    ]
    first = fake.cache.usage_for({"model": MODEL, "messages": turn1})
    second = fake.cache.usage_for({"model": MODEL, "messages": turn2})

    assert second["cache_read_input_tokens"] == first["cache_creation_input_tokens"]
    assert second["cache_creation_input_tokens"] > 100 and second["input_tokens"] == 0


def test_min_cache_tokens_and_delay() -> None:
    with FakeModel(delay=0.2, min_cache_tokens=10_000) as fake:
        fake.script(reply(text("slow"), delay=0.1))
        started = time.monotonic()
        system = [{"type": "text", "text": "short", "cache_control": {"type": "ephemeral"}}]
        message = ask(fake.client(), [user("hi")], system=system)
        assert time.monotonic() - started >= 0.3
        assert message.usage.cache_creation_input_tokens == 0


def test_a_responder_answers_from_the_request_instead_of_the_script(fake_model: FakeModel) -> None:
    fake_model.script(reply(text("scripted")))
    fake_model.respond_with(lambda body: reply(text(f"you said {body['messages'][-1]['content']}")))
    client = fake_model.client()
    for word in ("one", "two"):
        answer = client.messages.create(model="claude-sonnet-5-5", max_tokens=50,
                                        messages=[{"role": "user", "content": word}])
        assert answer.content[0].text == f"you said {word}"
    assert fake_model.remaining == 1
    fake_model.respond_with(None)
    answer = client.messages.create(model="claude-sonnet-5-5", max_tokens=50,
                                    messages=[{"role": "user", "content": "three"}])
    assert answer.content[0].text == "scripted"


def test_a_stalled_answer_times_out_and_the_sdk_retries(fake_model: FakeModel) -> None:
    fake_model.script(reply(text("never finished"), stall=30), reply(text("second try")))
    client = fake_model.client(timeout=0.3, max_retries=1)
    started = time.monotonic()
    message = ask(client, [user("hi")])
    assert message.content[0].text == "second try"
    assert len(fake_model.requests) == 2 and time.monotonic() - started < 5


def test_stopping_the_fake_ends_a_stall(fake_model: FakeModel) -> None:
    fake_model.script(reply(text("never finished"), stall=30))
    with pytest.raises(anthropic.APITimeoutError):
        ask(fake_model.client(timeout=0.3, max_retries=0), [user("hi")])
    started = time.monotonic()
    fake_model.stop()
    assert time.monotonic() - started < 2
