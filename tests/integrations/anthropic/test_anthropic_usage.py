"""Token accounting: prompt-cache tokens, cumulative stream usage, no invented counts; request
parameters. The fake provider always reports zero cache tokens, so the cache cases are served by
an ``httpx2.MockTransport`` speaking the same wire format (the real SDK still parses it)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import anthropic
import httpx2
import pytest
from _anthropic_expect import (
    HELLO,
    attributes,
    check,
    delta_texts,
    only_span,
    only_span_async,
    reply_text,
    start_id,
    usage,
)
from anthropic.types import ThinkingConfigEnabledParam

import peekr
from peekr.sinks.memory import InMemorySink

pytestmark = pytest.mark.usefixtures("sink")

CACHED_USAGE = {
    "input_tokens": 5,
    "output_tokens": 7,
    "cache_creation_input_tokens": 20,
    "cache_read_input_tokens": 100,
}
CACHED = usage(5, 7, cache_read=100, cache_write=20)  # tokens_input 125, total 132


def message(usage: dict[str, Any] | None, model: str = "claude-cache-model") -> dict[str, Any]:
    return {
        "id": "msg_cache",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": "cached answer"}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": usage,
    }


def sse(events: list[tuple[str, dict[str, Any]]]) -> bytes:
    return b"".join(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode() for name, data in events)


def stream_events(start_usage: dict[str, Any], delta_usage: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    start = {**message(start_usage), "content": [], "stop_reason": None}
    return [
        ("message_start", {"type": "message_start", "message": start}),
        ("content_block_start", {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "cached "}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "answer"}}),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None}, "usage": delta_usage}),
        ("message_stop", {"type": "message_stop"}),
    ]  # fmt: skip


Responder = Callable[[dict[str, Any]], httpx2.Response]


def mock_client(respond: Responder) -> anthropic.Anthropic:
    def handler(request: httpx2.Request) -> httpx2.Response:
        return respond(json.loads(request.content))

    http = httpx2.Client(transport=httpx2.MockTransport(handler))
    return anthropic.Anthropic(api_key="sk-ant-test", base_url="http://fake", max_retries=0, http_client=http)


def async_mock_client(respond: Responder) -> anthropic.AsyncAnthropic:
    async def handler(request: httpx2.Request) -> httpx2.Response:
        return respond(json.loads(await request.aread()))

    http = httpx2.AsyncClient(transport=httpx2.MockTransport(handler))
    return anthropic.AsyncAnthropic(api_key="sk-ant-test", base_url="http://fake", max_retries=0, http_client=http)


def cache_responder(delta_usage: dict[str, Any]) -> Responder:
    def respond(body: dict[str, Any]) -> httpx2.Response:
        if body.get("stream"):
            start_usage = {**CACHED_USAGE, "output_tokens": 1}
            headers = {"content-type": "text/event-stream"}
            return httpx2.Response(200, headers=headers, content=sse(stream_events(start_usage, delta_usage)))
        return httpx2.Response(200, json=message(CACHED_USAGE))

    return respond


@pytest.fixture
def cache_client() -> Iterator[anthropic.Anthropic]:
    with mock_client(cache_responder(CACHED_USAGE)) as client:
        yield client


def test_cache_tokens(cache_client: anthropic.Anthropic, sink: InMemorySink) -> None:
    reply = cache_client.messages.create(model="claude-cache", max_tokens=50, messages=HELLO)
    expected = attributes(
        "claude-cache-model", output="cached answer", finish_reason="end_turn", response_id=reply.id, **CACHED
    )
    check(only_span(sink), expected)


def test_cache_tokens_stream_cumulative_usage_overwrites(cache_client: anthropic.Anthropic, sink: InMemorySink) -> None:
    # message_start says output 1, message_delta says 7 (the running total) and repeats the input
    # side: adding would give 8 output and 250 input.
    events = list(cache_client.messages.create(model="claude-cache", max_tokens=50, messages=HELLO, stream=True))
    expected = attributes(
        "claude-cache-model",
        stream=True,
        output="cached answer",
        finish_reason="end_turn",
        response_id=start_id(events),
        **CACHED,
    )
    check(only_span(sink), expected)


def test_stream_delta_with_output_only_keeps_start_input(sink: InMemorySink) -> None:
    with mock_client(cache_responder({"output_tokens": 7})) as client:
        with client.messages.stream(model="claude-cache", max_tokens=50, messages=HELLO) as stream:
            assert stream.get_final_text() == "cached answer"
    expected = attributes(
        "claude-cache-model",
        stream=True,
        output="cached answer",
        finish_reason="end_turn",
        response_id=stream.get_final_message().id,
        **CACHED,
    )
    check(only_span(sink), expected)


@pytest.mark.anyio
async def test_cache_tokens_async_stream(sink: InMemorySink) -> None:
    async with async_mock_client(cache_responder(CACHED_USAGE)) as client:
        stream = await client.messages.create(model="claude-cache", max_tokens=50, messages=HELLO, stream=True)
        events = [event async for event in stream]
    expected = attributes(
        "claude-cache-model",
        stream=True,
        output="cached answer",
        finish_reason="end_turn",
        response_id=start_id(events),
        **CACHED,
    )
    check(await only_span_async(sink), expected)


def test_stream_with_thinking_and_whole_blocks(sink: InMemorySink) -> None:
    """Thinking deltas are not output; a text block may start with text; a tool_use block may
    arrive whole in content_block_start (no input_json_delta)."""
    start = {**message({**CACHED_USAGE, "output_tokens": 1}), "content": [], "stop_reason": None}
    events: list[tuple[str, dict[str, Any]]] = [
        ("message_start", {"type": "message_start", "message": start}),
        ("content_block_start", {"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": "", "signature": ""}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "Let me see."}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "sig"}}),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ("content_block_start", {"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": "Sure: "}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "done"}}),
        ("content_block_stop", {"type": "content_block_stop", "index": 1}),
        ("content_block_start", {"type": "content_block_start", "index": 2, "content_block": {"type": "tool_use", "id": "toolu_9", "name": "lookup", "input": {"q": "x"}}}),
        ("content_block_stop", {"type": "content_block_stop", "index": 2}),
        ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": None}, "usage": CACHED_USAGE}),
        ("message_stop", {"type": "message_stop"}),
    ]  # fmt: skip
    headers = {"content-type": "text/event-stream"}
    with mock_client(lambda body: httpx2.Response(200, headers=headers, content=sse(events))) as client:
        received = list(client.messages.create(model="claude-cache", max_tokens=50, messages=HELLO, stream=True))
    tool_call = {"id": "toolu_9", "type": "function", "name": "lookup", "arguments": '{"q": "x"}'}
    expected = attributes(
        "claude-cache-model",
        stream=True,
        output="Sure: done",
        tool_calls=[tool_call],
        finish_reason="tool_use",
        response_id=start_id(received),
        **CACHED,
    )
    check(only_span(sink), expected)


def test_no_usage_reported_means_no_tokens(sink: InMemorySink) -> None:
    with mock_client(lambda body: httpx2.Response(200, json=message(None))) as client:
        reply = client.messages.create(model="claude-cache", max_tokens=50, messages=HELLO)
    expected = attributes("claude-cache-model", output="cached answer", finish_reason="end_turn", response_id=reply.id)
    check(only_span(sink), expected)


def test_raw_stream_without_usage(client: anthropic.Anthropic, sink: InMemorySink) -> None:
    # The fake's `nousage` model sends neither message_start nor message_delta usage.
    events = list(client.messages.create(model="claude-nousage", max_tokens=50, messages=HELLO, stream=True))
    expected = attributes(
        "claude-nousage",
        stream=True,
        output="Echo: Hello there",
        finish_reason="end_turn",
        response_id=start_id(events),
    )
    check(only_span(sink), expected)


def test_request_parameters(client: anthropic.Anthropic, sink: InMemorySink) -> None:
    thinking: ThinkingConfigEnabledParam = {"type": "enabled", "budget_tokens": 1024}
    reply = client.messages.create(
        model="claude-test",
        max_tokens=2000,
        messages=HELLO,
        stop_sequences=["END"],
        thinking=thinking,
        metadata={"user_id": "u-1"},  # not a request parameter peekr records
        extra_body={"temperature": 0.2, "top_k": 5, "top_p": 0.9, "other": 1},
        stream=False,
    )
    request = {
        "max_tokens": 2000,
        "temperature": 0.2,
        "top_p": 0.9,
        "top_k": 5,
        "stop_sequences": ["END"],
        "thinking": thinking,
        "stream": False,
    }
    expected = attributes(
        "claude-test",
        request=request,
        output="Echo: Hello there",
        finish_reason="end_turn",
        response_id=reply.id,
        **usage(2, 3),
    )
    check(only_span(sink), expected)


def test_omitted_arguments_are_not_recorded(client: anthropic.Anthropic, sink: InMemorySink) -> None:
    reply = client.messages.create(
        model="claude-test", max_tokens=50, messages=HELLO, system=anthropic.omit, tools=anthropic.omit
    )
    expected = attributes(
        "claude-test", output="Echo: Hello there", finish_reason="end_turn", response_id=reply.id, **usage(2, 3)
    )
    check(only_span(sink), expected)


def test_raw_response_records_request_side(client: anthropic.Anthropic, sink: InMemorySink) -> None:
    raw = client.messages.with_raw_response.create(model="claude-test", max_tokens=50, messages=HELLO)
    assert reply_text(raw.parse()) == "Echo: Hello there"
    check(only_span(sink), attributes("claude-test"))


@pytest.mark.parametrize("odd", [None, "", 42])
def test_missing_or_odd_message_id_is_left_out(sink: InMemorySink, odd: Any) -> None:
    def respond(body: dict[str, Any]) -> httpx2.Response:
        if body.get("stream"):
            start = {**message({"input_tokens": 1, "output_tokens": 1}), "id": odd, "content": [], "stop_reason": None}
            events = [("message_start", {"type": "message_start", "message": start})]
            events += stream_events({"input_tokens": 1}, {"output_tokens": 2})[1:]
            return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=sse(events))
        return httpx2.Response(200, json={**message({"input_tokens": 1, "output_tokens": 2}), "id": odd})

    with mock_client(respond) as client:
        reply = client.messages.create(model="claude-cache", max_tokens=50, messages=HELLO)
        streamed = "".join(
            delta_texts(client.messages.create(model="claude-cache", max_tokens=50, messages=HELLO, stream=True))
        )
    assert (reply_text(reply), streamed) == ("cached answer", "cached answer")  # the caller's results, untouched
    peekr.flush()
    assert [s.attributes.get("response_id", "absent") for s in sink.spans] == ["absent", "absent"]
    assert [s.attributes["output"] for s in sink.spans] == ["cached answer", "cached answer"]
