"""Every way a stream can end ends its span exactly once, keeping what arrived; the user keeps the
SDK's own objects, which behave as without peekr."""

from __future__ import annotations

import gc

import anthropic
import anyio
import httpx2
import pytest
from _anthropic_expect import (
    HELLO,
    TRIO_UNEXHAUSTED_GENERATORS,
    attributes,
    check,
    only_span,
    only_span_async,
    reply_text,
    start_id,
    usage,
)

import peekr
from peekr.sinks.memory import InMemorySink

pytestmark = [
    pytest.mark.usefixtures("sink"),
    TRIO_UNEXHAUSTED_GENERATORS,
]

# After the first event (message_start) nothing was generated: input known, no output count.
AFTER_START = {"output": "", **usage(2, None)}
AFTER_FIRST_DELTA = {"output": "Echo: ", **usage(2, None)}


def spans_now(sink: InMemorySink) -> list[peekr.Span]:
    peekr.flush()
    return sink.spans


def test_break_then_close(client: anthropic.Anthropic, sink: InMemorySink) -> None:
    stream = client.messages.create(model="claude-test", max_tokens=50, messages=HELLO, stream=True)
    events = []
    for event in stream:
        events.append(event)
        if event.type == "content_block_delta":
            break
    assert spans_now(sink) == []  # still open: the user may resume iterating
    stream.close()
    check(only_span(sink), attributes("claude-test", stream=True, **AFTER_FIRST_DELTA, response_id=start_id(events)))
    stream.close()  # a second close (and the SDK's own cleanup) adds nothing
    assert len(spans_now(sink)) == 1
    assert stream.response.is_closed


def test_close_before_iterating(client: anthropic.Anthropic, sink: InMemorySink) -> None:
    stream = client.messages.create(model="claude-test", max_tokens=50, messages=HELLO, stream=True)
    stream.close()
    check(only_span(sink), attributes("claude-test", stream=True, output=""), ttft=False)


def test_with_block_exit(client: anthropic.Anthropic, sink: InMemorySink) -> None:
    with client.messages.create(model="claude-test", max_tokens=50, messages=HELLO, stream=True) as stream:
        start = next(iter(stream))
        assert start.type == "message_start"
    expected = attributes("claude-test", stream=True, **AFTER_START, response_id=start.message.id)
    check(only_span(sink), expected, ttft=False)
    del stream


def test_next_on_stream(client: anthropic.Anthropic, sink: InMemorySink) -> None:
    stream = client.messages.create(model="claude-test", max_tokens=50, messages=HELLO, stream=True)
    events = []
    while True:
        try:
            events.append(next(stream))
        except StopIteration:
            break
    assert events[0].type == "message_start" and events[-1].type == "message_stop"
    expected = attributes(
        "claude-test",
        stream=True,
        output="Echo: Hello there",
        finish_reason="end_turn",
        response_id=start_id(events),
        **usage(2, 3),
    )
    check(only_span(sink), expected)


def test_exhausted_then_closed_ends_once(client: anthropic.Anthropic, sink: InMemorySink) -> None:
    with client.messages.create(model="claude-test", max_tokens=50, messages=HELLO, stream=True) as stream:
        list(stream)
        stream.close()
    assert len(spans_now(sink)) == 1


def test_garbage_collected_after_break(client: anthropic.Anthropic, sink: InMemorySink) -> None:
    stream = client.messages.create(model="claude-test", max_tokens=50, messages=HELLO, stream=True)
    iterator = iter(stream)
    response_id = start_id([next(iterator)])
    next(iterator)
    next(iterator)  # message_start, content_block_start, first delta
    assert spans_now(sink) == []
    del iterator, stream
    gc.collect(0)
    check(only_span(sink), attributes("claude-test", stream=True, **AFTER_FIRST_DELTA, response_id=response_id))


def test_helper_early_exit(client: anthropic.Anthropic, sink: InMemorySink) -> None:
    with client.messages.stream(model="claude-test", max_tokens=50, messages=HELLO) as stream:
        assert next(iter(stream.text_stream)) == "Echo: "
        assert spans_now(sink) == []
    # The span ended on leaving the block, while the user still holds the stream.
    response_id = stream.current_message_snapshot.id
    check(only_span(sink), attributes("claude-test", stream=True, **AFTER_FIRST_DELTA, response_id=response_id))
    assert isinstance(stream.response, httpx2.Response) and stream.response.is_closed


def test_helper_close(client: anthropic.Anthropic, sink: InMemorySink) -> None:
    manager = client.messages.stream(model="claude-test", max_tokens=50, messages=HELLO)
    stream = manager.__enter__()
    stream.close()
    check(only_span(sink), attributes("claude-test", stream=True, output=""), ttft=False)
    manager.__exit__(None, None, None)
    assert len(spans_now(sink)) == 1


def test_helper_never_entered_records_nothing(client: anthropic.Anthropic, sink: InMemorySink) -> None:
    client.messages.stream(model="claude-test", max_tokens=50, messages=HELLO)  # no request is made
    gc.collect(0)
    assert spans_now(sink) == []


def test_helper_entered_twice_is_two_calls(client: anthropic.Anthropic, sink: InMemorySink) -> None:
    manager = client.messages.stream(model="claude-test", max_tokens=50, messages=HELLO)
    for _ in range(2):
        with manager as stream:
            stream.until_done()
    assert [s.attributes["output"] for s in spans_now(sink)] == ["Echo: Hello there"] * 2


def test_sdk_objects_kept(client: anthropic.Anthropic, sink: InMemorySink) -> None:
    stream = client.messages.create(model="claude-test", max_tokens=50, messages=HELLO, stream=True)
    assert type(stream) is anthropic.Stream and isinstance(stream.response, httpx2.Response)
    assert stream.response.headers["content-type"].startswith("text/event-stream")
    stream.close()
    with client.messages.stream(model="claude-test", max_tokens=50, messages=HELLO) as helper:
        assert helper.request_id is None or isinstance(helper.request_id, str)
        events = [e.type for e in helper]
        assert reply_text(helper.current_message_snapshot) == "Echo: Hello there"
    assert events[-1] == "message_stop" and "text" in events  # the helper's own derived events


# -- async -------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_async_break_then_close(aclient: anthropic.AsyncAnthropic, sink: InMemorySink) -> None:
    stream = await aclient.messages.create(model="claude-test", max_tokens=50, messages=HELLO, stream=True)
    events = []
    async for event in stream:
        events.append(event)
        if event.type == "content_block_delta":
            break
    await stream.close()
    expected = attributes("claude-test", stream=True, **AFTER_FIRST_DELTA, response_id=start_id(events))
    check(await only_span_async(sink), expected)
    await stream.close()
    await peekr.aflush()
    assert len(sink.spans) == 1


@pytest.mark.anyio
async def test_async_with_block_exit(aclient: anthropic.AsyncAnthropic, sink: InMemorySink) -> None:
    async with await aclient.messages.create(model="claude-test", max_tokens=50, messages=HELLO, stream=True) as stream:
        start = await stream.__anext__()
        assert start.type == "message_start"
    expected = attributes("claude-test", stream=True, **AFTER_START, response_id=start.message.id)
    check(await only_span_async(sink), expected, ttft=False)


@pytest.mark.anyio
async def test_async_helper_early_exit(aclient: anthropic.AsyncAnthropic, sink: InMemorySink) -> None:
    async with aclient.messages.stream(model="claude-test", max_tokens=50, messages=HELLO) as stream:
        async for text in stream.text_stream:
            assert text == "Echo: "
            break
    expected = attributes(
        "claude-test", stream=True, **AFTER_FIRST_DELTA, response_id=stream.current_message_snapshot.id
    )
    check(await only_span_async(sink), expected)
    assert stream.response.is_closed


@pytest.mark.anyio
async def test_async_cancelled_mid_stream(aclient: anthropic.AsyncAnthropic, sink: InMemorySink) -> None:
    stream = await aclient.messages.create(model="claude-slow", max_tokens=50, messages=HELLO, stream=True)
    seen = []
    with anyio.move_on_after(0.08) as scope:  # chunks are 50 ms apart: cancelled after 1-2 of them
        async for event in stream:
            seen.append(event.type)
    assert scope.cancelled_caught and "message_stop" not in seen
    await stream.close()
    span = await only_span_async(sink)
    assert span.status == "error"
    assert span.attributes["error"]["type"] in ("asyncio.CancelledError", "trio.Cancelled")
    assert span.attributes["model"] == "claude-slow" and "tokens_output" not in span.attributes


@pytest.mark.anyio
async def test_async_garbage_collected(aclient: anthropic.AsyncAnthropic, sink: InMemorySink) -> None:
    stream = await aclient.messages.create(model="claude-test", max_tokens=50, messages=HELLO, stream=True)
    await stream.close()  # release the connection; then drop the object without iterating
    await peekr.aflush()
    assert len(sink.spans) == 1
    del stream
    gc.collect(0)
    await peekr.aflush()
    assert len(sink.spans) == 1


@pytest.mark.anyio
async def test_async_dropped_without_close(aclient: anthropic.AsyncAnthropic, sink: InMemorySink) -> None:
    stream = await aclient.messages.create(model="claude-test", max_tokens=50, messages=HELLO, stream=True)
    del stream  # never iterated, never closed: the stream object's collection ends the span
    gc.collect(0)
    check(await only_span_async(sink), attributes("claude-test", stream=True, output=""), ttft=False)
