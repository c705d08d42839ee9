"""The matrix: sync/async x create/create(stream=True)/stream()/parse x success/API error/error
mid-stream, plus tool use (JSON and streamed input_json_delta). Each test asserts the whole span."""

from __future__ import annotations

from typing import Any

import anthropic
import pytest
from _anthropic_expect import (
    HELLO,
    SYSTEM,
    TOOL_CALL,
    TOOLS,
    TRIO_UNEXHAUSTED_GENERATORS,
    attributes,
    check,
    delta_texts,
    error_of,
    only_span,
    only_span_async,
    reply_text,
    start_id,
    usage,
)
from anthropic.lib.streaming import AsyncMessageStream, MessageStream

from peekr.sinks.memory import InMemorySink

pytestmark = [pytest.mark.usefixtures("sink"), TRIO_UNEXHAUSTED_GENERATORS]

# -- success -----------------------------------------------------------------------------------


def test_create(client: anthropic.Anthropic, sink: InMemorySink) -> None:
    message = client.messages.create(model="claude-test", max_tokens=50, system=SYSTEM, messages=HELLO)
    assert type(message) is anthropic.types.Message
    assert message.id.startswith("msg_")
    expected = attributes(
        "claude-test",
        system=SYSTEM,
        output="Echo: Hello there",
        finish_reason="end_turn",
        response_id=message.id,
        **usage(4, 3),
    )
    check(only_span(sink), expected)


@pytest.mark.anyio
async def test_create_async(aclient: anthropic.AsyncAnthropic, sink: InMemorySink) -> None:
    message = await aclient.messages.create(model="claude-test", max_tokens=50, system=SYSTEM, messages=HELLO)
    assert type(message) is anthropic.types.Message
    assert message.id.startswith("msg_")
    expected = attributes(
        "claude-test",
        system=SYSTEM,
        output="Echo: Hello there",
        finish_reason="end_turn",
        response_id=message.id,
        **usage(4, 3),
    )
    check(await only_span_async(sink), expected)


def test_create_stream(client: anthropic.Anthropic, sink: InMemorySink) -> None:
    stream = client.messages.create(model="claude-test", max_tokens=50, messages=HELLO, stream=True)
    assert type(stream) is anthropic.Stream
    events = list(stream)
    assert delta_texts(events) == ["Echo: ", "Hello ", "there"]
    expected = attributes(
        "claude-test",
        stream=True,
        output="Echo: Hello there",
        finish_reason="end_turn",
        response_id=start_id(events),
        **usage(2, 3),
    )
    check(only_span(sink), expected)


@pytest.mark.anyio
async def test_create_stream_async(aclient: anthropic.AsyncAnthropic, sink: InMemorySink) -> None:
    stream = await aclient.messages.create(model="claude-test", max_tokens=50, messages=HELLO, stream=True)
    assert type(stream) is anthropic.AsyncStream
    events = [e async for e in stream]
    assert delta_texts(events) == ["Echo: ", "Hello ", "there"]
    expected = attributes(
        "claude-test",
        stream=True,
        output="Echo: Hello there",
        finish_reason="end_turn",
        response_id=start_id(events),
        **usage(2, 3),
    )
    check(await only_span_async(sink), expected)


def test_stream_helper(client: anthropic.Anthropic, sink: InMemorySink) -> None:
    with client.messages.stream(model="claude-test", max_tokens=50, system=SYSTEM, messages=HELLO) as stream:
        assert type(stream) is MessageStream
        assert list(stream.text_stream) == ["Echo: ", "Hello ", "there"]
        final = stream.get_final_message()
    assert (final.usage.input_tokens, final.usage.output_tokens) == (4, 3)
    expected = attributes(
        "claude-test",
        stream=True,
        system=SYSTEM,
        output="Echo: Hello there",
        finish_reason="end_turn",
        response_id=final.id,
        **usage(4, 3),
    )
    check(only_span(sink), expected)


@pytest.mark.anyio
async def test_stream_helper_async(aclient: anthropic.AsyncAnthropic, sink: InMemorySink) -> None:
    async with aclient.messages.stream(model="claude-test", max_tokens=50, system=SYSTEM, messages=HELLO) as stream:
        assert type(stream) is AsyncMessageStream
        assert [t async for t in stream.text_stream] == ["Echo: ", "Hello ", "there"]
        final = await stream.get_final_message()
    assert (final.usage.input_tokens, final.usage.output_tokens) == (4, 3)
    expected = attributes(
        "claude-test",
        stream=True,
        system=SYSTEM,
        output="Echo: Hello there",
        finish_reason="end_turn",
        response_id=final.id,
        **usage(4, 3),
    )
    check(await only_span_async(sink), expected)


def test_stream_helper_get_final_text_and_until_done(client: anthropic.Anthropic, sink: InMemorySink) -> None:
    with client.messages.stream(model="claude-test", max_tokens=50, messages=HELLO) as stream:
        assert stream.get_final_text() == "Echo: Hello there"
        stream.until_done()
        response_id = stream.current_message_snapshot.id
    expected = attributes(
        "claude-test",
        stream=True,
        output="Echo: Hello there",
        finish_reason="end_turn",
        response_id=response_id,
        **usage(2, 3),
    )
    check(only_span(sink), expected)


def test_parse(client: anthropic.Anthropic, sink: InMemorySink) -> None:
    message = client.messages.parse(model="claude-test", max_tokens=50, messages=HELLO)
    assert reply_text(message) == "Echo: Hello there"
    expected = attributes(
        "claude-test", output="Echo: Hello there", finish_reason="end_turn", response_id=message.id, **usage(2, 3)
    )
    check(only_span(sink), expected)


@pytest.mark.anyio
async def test_parse_async(aclient: anthropic.AsyncAnthropic, sink: InMemorySink) -> None:
    message = await aclient.messages.parse(model="claude-test", max_tokens=50, messages=HELLO)
    assert reply_text(message) == "Echo: Hello there"
    expected = attributes(
        "claude-test", output="Echo: Hello there", finish_reason="end_turn", response_id=message.id, **usage(2, 3)
    )
    check(await only_span_async(sink), expected)


# -- API errors (HTTP 4xx/5xx before any event) --------------------------------------------------


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_create_api_error(client: anthropic.Anthropic, sink: InMemorySink, stream: bool) -> None:
    with pytest.raises(anthropic.BadRequestError) as caught:
        client.messages.create(model="claude-error-400", max_tokens=50, messages=HELLO, stream=stream)
    request = {"max_tokens": 50, "stream": stream}
    expected = attributes("claude-error-400", stream=stream, request=request, error=error_of(caught.value))
    check(only_span(sink), expected, status="error", ttft=False)


@pytest.mark.anyio
@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
async def test_create_api_error_async(aclient: anthropic.AsyncAnthropic, sink: InMemorySink, stream: bool) -> None:
    with pytest.raises(anthropic.RateLimitError) as caught:
        await aclient.messages.create(model="claude-error-429", max_tokens=50, messages=HELLO, stream=stream)
    request = {"max_tokens": 50, "stream": stream}
    expected = attributes("claude-error-429", stream=stream, request=request, error=error_of(caught.value))
    check(await only_span_async(sink), expected, status="error", ttft=False)


def test_stream_helper_api_error(client: anthropic.Anthropic, sink: InMemorySink) -> None:
    manager = client.messages.stream(model="claude-error-529", max_tokens=50, messages=HELLO)
    with pytest.raises(anthropic.APIStatusError) as caught, manager:
        pass
    assert caught.value.status_code == 529
    expected = attributes("claude-error-529", stream=True, error=error_of(caught.value))
    check(only_span(sink), expected, status="error", ttft=False)


@pytest.mark.anyio
async def test_stream_helper_api_error_async(aclient: anthropic.AsyncAnthropic, sink: InMemorySink) -> None:
    manager = aclient.messages.stream(model="claude-error-400", max_tokens=50, messages=HELLO)
    with pytest.raises(anthropic.BadRequestError) as caught:
        async with manager:
            pass
    expected = attributes("claude-error-400", stream=True, error=error_of(caught.value))
    check(await only_span_async(sink), expected, status="error", ttft=False)


def test_parse_api_error(client: anthropic.Anthropic, sink: InMemorySink) -> None:
    with pytest.raises(anthropic.NotFoundError) as caught:
        client.messages.parse(model="claude-error-404", max_tokens=50, messages=HELLO)
    expected = attributes("claude-error-404", error=error_of(caught.value))
    check(only_span(sink), expected, status="error")


@pytest.mark.anyio
async def test_parse_api_error_async(aclient: anthropic.AsyncAnthropic, sink: InMemorySink) -> None:
    with pytest.raises(anthropic.AuthenticationError) as caught:
        await aclient.messages.parse(model="claude-error-401", max_tokens=50, messages=HELLO)
    expected = attributes("claude-error-401", error=error_of(caught.value))
    check(await only_span_async(sink), expected, status="error")


# -- error mid-stream (`event: error` after two deltas) -------------------------------------------

MIDSTREAM = "claude-midstream-error"
# Two deltas arrived ("Echo: ", "Hello "); the input side came with message_start; there was no
# message_delta, so no output count is reported (and none is invented).
MIDSTREAM_PARTIAL = {"output": "Echo: Hello ", **usage(2, None)}


def test_create_stream_error_midstream(client: anthropic.Anthropic, sink: InMemorySink) -> None:
    stream = client.messages.create(model=MIDSTREAM, max_tokens=50, messages=HELLO, stream=True)
    seen: list[Any] = []
    with pytest.raises(anthropic.APIStatusError) as caught:
        seen.extend(stream)  # what arrived before the error stays in the list
    assert [e.type for e in seen].count("content_block_delta") == 2
    partial = {**MIDSTREAM_PARTIAL, "response_id": start_id(seen)}
    expected = attributes(MIDSTREAM, stream=True, error=error_of(caught.value), **partial)
    check(only_span(sink), expected, status="error")


@pytest.mark.anyio
async def test_create_stream_error_midstream_async(aclient: anthropic.AsyncAnthropic, sink: InMemorySink) -> None:
    stream = await aclient.messages.create(model=MIDSTREAM, max_tokens=50, messages=HELLO, stream=True)
    seen: list[Any] = []
    with pytest.raises(anthropic.APIStatusError) as caught:
        async for event in stream:
            seen.append(event)
    assert [e.type for e in seen].count("content_block_delta") == 2
    partial = {**MIDSTREAM_PARTIAL, "response_id": start_id(seen)}
    expected = attributes(MIDSTREAM, stream=True, error=error_of(caught.value), **partial)
    check(await only_span_async(sink), expected, status="error")


def test_stream_helper_error_midstream(client: anthropic.Anthropic, sink: InMemorySink) -> None:
    texts: list[str] = []
    with (
        pytest.raises(anthropic.APIStatusError) as caught,
        client.messages.stream(model=MIDSTREAM, max_tokens=50, messages=HELLO) as stream,
    ):
        texts.extend(stream.text_stream)
    assert texts == ["Echo: ", "Hello "]
    partial = {**MIDSTREAM_PARTIAL, "response_id": stream.current_message_snapshot.id}
    expected = attributes(MIDSTREAM, stream=True, error=error_of(caught.value), **partial)
    check(only_span(sink), expected, status="error")


@pytest.mark.anyio
async def test_stream_helper_error_midstream_async(aclient: anthropic.AsyncAnthropic, sink: InMemorySink) -> None:
    texts: list[str] = []
    with pytest.raises(anthropic.APIStatusError) as caught:
        async with aclient.messages.stream(model=MIDSTREAM, max_tokens=50, messages=HELLO) as stream:
            async for text in stream.text_stream:
                texts.append(text)
    assert texts == ["Echo: ", "Hello "]
    partial = {**MIDSTREAM_PARTIAL, "response_id": stream.current_message_snapshot.id}
    expected = attributes(MIDSTREAM, stream=True, error=error_of(caught.value), **partial)
    check(await only_span_async(sink), expected, status="error")


# -- tool use ----------------------------------------------------------------------------------

TOOL_REQUEST = {"max_tokens": 50, "tools": ["lookup"], "tool_choice": {"type": "auto"}}


def test_tool_use(client: anthropic.Anthropic, sink: InMemorySink) -> None:
    message = client.messages.create(
        model="claude-tool", max_tokens=50, messages=HELLO, tools=TOOLS, tool_choice={"type": "auto"}
    )
    assert message.content[0].type == "tool_use"
    expected = attributes(
        "claude-tool",
        request=TOOL_REQUEST,
        output="",
        tool_calls=[TOOL_CALL],
        finish_reason="tool_use",
        response_id=message.id,
        **usage(2, 3),
    )
    check(only_span(sink), expected)


@pytest.mark.anyio
async def test_tool_use_async(aclient: anthropic.AsyncAnthropic, sink: InMemorySink) -> None:
    message = await aclient.messages.create(
        model="claude-tool", max_tokens=50, messages=HELLO, tools=TOOLS, tool_choice={"type": "auto"}
    )
    expected = attributes(
        "claude-tool",
        request=TOOL_REQUEST,
        output="",
        tool_calls=[TOOL_CALL],
        finish_reason="tool_use",
        response_id=message.id,
        **usage(2, 3),
    )
    check(await only_span_async(sink), expected)


def test_tool_use_streamed_input_json_delta(client: anthropic.Anthropic, sink: InMemorySink) -> None:
    stream = client.messages.create(
        model="claude-tool", max_tokens=50, messages=HELLO, tools=TOOLS, tool_choice={"type": "auto"}, stream=True
    )
    events = list(stream)
    fragments = [
        e.delta.partial_json for e in events if e.type == "content_block_delta" and e.delta.type == "input_json_delta"
    ]
    assert len(fragments) > 1  # the arguments really arrived in pieces
    expected = attributes(
        "claude-tool",
        stream=True,
        request={**TOOL_REQUEST, "stream": True},
        output="",
        tool_calls=[TOOL_CALL],
        finish_reason="tool_use",
        response_id=start_id(events),
        **usage(2, 3),
    )
    check(only_span(sink), expected)


@pytest.mark.anyio
async def test_tool_use_stream_helper_async(aclient: anthropic.AsyncAnthropic, sink: InMemorySink) -> None:
    async with aclient.messages.stream(model="claude-tool", max_tokens=50, messages=HELLO, tools=TOOLS) as stream:
        final = await stream.get_final_message()
    block = final.content[0]
    assert block.type == "tool_use" and block.input == {"q": "Hello there"}
    expected = attributes(
        "claude-tool",
        stream=True,
        request={"max_tokens": 50, "tools": ["lookup"], "stream": True},
        output="",
        tool_calls=[TOOL_CALL],
        finish_reason="tool_use",
        response_id=final.id,
        **usage(2, 3),
    )
    check(await only_span_async(sink), expected)
