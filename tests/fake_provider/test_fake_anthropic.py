"""The real anthropic SDK against the fake: messages JSON, SSE, the stream helper, tool use, errors."""

from __future__ import annotations

from typing import Any

import anthropic
import pytest

from peekr.testing.fake_provider import FakeProvider

HELLO: Any = [{"role": "user", "content": "Hello there"}]
TOOLS: Any = [
    {
        "name": "lookup",
        "description": "Look something up.",
        "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]},
    }
]


def test_create_text_and_usage(fake: FakeProvider) -> None:
    with fake.anthropic_client() as client:
        message = client.messages.create(model="claude-test", max_tokens=50, system="Be brief.", messages=HELLO)
    assert message.content[0].type == "text" and message.content[0].text == "Echo: Hello there"
    assert message.stop_reason == "end_turn"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (4, 3)
    assert (message.usage.cache_read_input_tokens, message.usage.cache_creation_input_tokens) == (0, 0)
    assert fake.last_request.path == "/v1/messages"
    assert "anthropic-version" in fake.last_request.headers


def test_create_tool_use_then_text_after_tool_result(fake: FakeProvider) -> None:
    with fake.anthropic_client() as client:
        message = client.messages.create(model="claude-tool", max_tokens=50, messages=HELLO, tools=TOOLS)
        block = message.content[0]
        assert block.type == "tool_use"
        assert (block.name, block.input) == ("lookup", {"q": "Hello there"})
        assert message.stop_reason == "tool_use"
        history: Any = [
            *HELLO,
            {"role": "assistant", "content": [block.model_dump()]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": block.id, "content": "42"}]},
        ]
        follow_up = client.messages.create(model="claude-tool", max_tokens=50, tools=TOOLS, messages=history)
    assert follow_up.content[0].type == "text" and follow_up.content[0].text == "Echo: 42"


def test_raw_stream_events_and_cumulative_usage(fake: FakeProvider) -> None:
    with fake.anthropic_client() as client:
        events = list(client.messages.create(model="claude-test", max_tokens=50, messages=HELLO, stream=True))
    types = [e.type for e in events]
    assert types == [
        "message_start",
        "content_block_start",
        *["content_block_delta"] * 3,
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    start, delta = events[0], events[-2]
    assert start.type == "message_start" and start.message.usage.input_tokens == 2
    assert start.message.usage.cache_read_input_tokens == 0
    assert delta.type == "message_delta" and delta.usage.output_tokens == 3


def test_stream_helper_text_and_final_message_with_tool_use(fake: FakeProvider) -> None:
    with fake.anthropic_client() as client:
        with client.messages.stream(model="claude-test", max_tokens=50, messages=HELLO) as stream:
            text = list(stream.text_stream)
            final = stream.get_final_message()
        with client.messages.stream(model="claude-tool", max_tokens=50, messages=HELLO, tools=TOOLS) as stream:
            tool_final = stream.get_final_message()
    assert text == ["Echo: ", "Hello ", "there"]
    assert (final.usage.input_tokens, final.usage.output_tokens) == (2, 3)
    block = tool_final.content[0]
    assert block.type == "tool_use" and block.input == {"q": "Hello there"}  # rebuilt from input_json_delta
    assert tool_final.stop_reason == "tool_use"


@pytest.mark.anyio
async def test_async_create_and_stream_helper(fake: FakeProvider) -> None:
    async with fake.async_anthropic_client() as client:
        message = await client.messages.create(model="claude-test", max_tokens=50, messages=HELLO)
        async with client.messages.stream(model="claude-test", max_tokens=50, messages=HELLO) as stream:
            final = await stream.get_final_message()
    assert message.content[0].type == "text" and message.content[0].text == "Echo: Hello there"
    assert final.content[0].type == "text" and final.content[0].text == "Echo: Hello there"


def test_midstream_error_event_raises_after_two_deltas(fake: FakeProvider) -> None:
    deltas = []
    with fake.anthropic_client() as client:
        stream = client.messages.create(model="claude-midstream-error", max_tokens=50, messages=HELLO, stream=True)
        with pytest.raises(anthropic.APIStatusError, match="fake midstream error"):
            for event in stream:
                if event.type == "content_block_delta" and event.delta.type == "text_delta":
                    deltas.append(event.delta.text)
    assert deltas == ["Echo: ", "Hello "]


@pytest.mark.parametrize(
    ("model", "error"),
    [
        ("claude-error-400", anthropic.BadRequestError),
        ("claude-error-429", anthropic.RateLimitError),
        ("claude-error-500", anthropic.InternalServerError),
        ("claude-error-529", anthropic.APIStatusError),
    ],
)
def test_errors_raise_the_sdk_exception(fake: FakeProvider, model: str, error: type[Exception]) -> None:
    with fake.anthropic_client() as client, pytest.raises(error) as info:
        client.messages.create(model=model, max_tokens=50, messages=HELLO)
    assert isinstance(info.value, anthropic.APIStatusError)
    assert info.value.status_code == int(model[-3:])
    assert info.value.body["type"] == "error"  # type: ignore[index]


def test_nousage(fake: FakeProvider) -> None:
    with fake.anthropic_client() as client:
        message = client.messages.create(model="claude-nousage", max_tokens=50, messages=HELLO)
    assert message.usage is None


def test_cache_keyword_reports_cache_fields_beside_input_tokens(fake: FakeProvider) -> None:
    with fake.anthropic_client() as client:
        usage = client.messages.create(model="claude-cache", max_tokens=50, system="Be brief.", messages=HELLO).usage
    assert (usage.input_tokens, usage.cache_read_input_tokens, usage.cache_creation_input_tokens) == (1, 2, 1)
