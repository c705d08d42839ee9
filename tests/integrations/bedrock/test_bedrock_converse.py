"""boto3 ``converse`` and ``converse_stream``: success, API error, error mid-stream, tool use and every
way a stream can end (exhaustion, break, close, garbage collection)."""

from __future__ import annotations

import gc
from typing import Any

import pytest
from _bedrock_expect import (
    CLAUDE,
    INFERENCE,
    MESSAGES,
    REQUEST,
    SYSTEM,
    TOOL_CALL,
    TOOL_CONFIG,
    check,
    error_of,
    only_span,
    spans,
    tokens,
)
from botocore.exceptions import ClientError, EventStreamError

import peekr
from peekr.sinks.memory import InMemorySink

TOOL_REQUEST = {"tools": ["lookup"], "tool_choice": "auto"}


def test_converse(client: Any, sink: InMemorySink) -> None:
    response = client.converse(modelId=CLAUDE, messages=MESSAGES, system=SYSTEM, inferenceConfig=INFERENCE)
    assert response["output"]["message"]["content"] == [{"text": "Echo: Hello there"}]
    check(
        only_span(sink),
        "bedrock.converse",
        {
            "provider": "bedrock",
            "model": CLAUDE,
            "input": {"system": SYSTEM, "messages": MESSAGES},
            "request": REQUEST,
            "output": "Echo: Hello there",
            "finish_reason": "end_turn",
            **tokens(4, 3),
        },
    )


def test_converse_tool_use(client: Any, sink: InMemorySink) -> None:
    response = client.converse(modelId="claude-tool", messages=MESSAGES, toolConfig=TOOL_CONFIG)
    assert response["stopReason"] == "tool_use"
    check(
        only_span(sink),
        "bedrock.converse",
        {
            "provider": "bedrock",
            "model": "claude-tool",
            "input": MESSAGES,
            "request": TOOL_REQUEST,
            "output": "",
            "tool_calls": [TOOL_CALL],
            "finish_reason": "tool_use",
            **tokens(2, 3),
        },
    )


def test_converse_api_error(client: Any, sink: InMemorySink) -> None:
    with pytest.raises(client.exceptions.ValidationException) as info:
        client.converse(modelId="m-error-400", messages=MESSAGES)
    assert info.value.response["Error"] == {"Code": "ValidationException", "Message": "fake error 400"}
    check(
        only_span(sink),
        "bedrock.converse",
        {"provider": "bedrock", "model": "m-error-400", "input": MESSAGES, "error": error_of(info.value)},
        status="error",
    )
    assert only_span(sink).attributes["error"]["type"] == "botocore.ValidationException"


def test_converse_without_usage_records_no_tokens(client: Any, sink: InMemorySink) -> None:
    client.converse(modelId="m-nousage", messages=MESSAGES)
    assert not {k for k in only_span(sink).attributes if k.startswith("tokens_")}


def test_converse_stream(client: Any, sink: InMemorySink) -> None:
    response = client.converse_stream(modelId=CLAUDE, messages=MESSAGES, system=SYSTEM, inferenceConfig=INFERENCE)
    events = list(response["stream"])
    assert "".join(e["contentBlockDelta"]["delta"]["text"] for e in events if "contentBlockDelta" in e) == (
        "Echo: Hello there"
    )
    check(
        only_span(sink),
        "bedrock.converse",
        {
            "provider": "bedrock",
            "model": CLAUDE,
            "stream": True,
            "input": {"system": SYSTEM, "messages": MESSAGES},
            "request": {**REQUEST, "stream": True},
            "output": "Echo: Hello there",
            "finish_reason": "end_turn",
            **tokens(4, 3),
        },
        ttft=True,
    )


def test_converse_stream_tool_use(client: Any, sink: InMemorySink) -> None:
    events = list(client.converse_stream(modelId="claude-tool", messages=MESSAGES, toolConfig=TOOL_CONFIG)["stream"])
    assert events[-1]["metadata"]["usage"]["outputTokens"] == 3
    check(
        only_span(sink),
        "bedrock.converse",
        {
            "provider": "bedrock",
            "model": "claude-tool",
            "stream": True,
            "input": MESSAGES,
            "request": {**TOOL_REQUEST, "stream": True},
            "output": "",
            "tool_calls": [TOOL_CALL],
            "finish_reason": "tool_use",
            **tokens(2, 3),
        },
        ttft=True,
    )


def test_converse_stream_api_error(client: Any, sink: InMemorySink) -> None:
    with pytest.raises(ClientError) as info:
        client.converse_stream(modelId="m-error-400", messages=MESSAGES)
    assert type(info.value) is client.exceptions.ValidationException
    check(
        only_span(sink),
        "bedrock.converse",
        {
            "provider": "bedrock",
            "model": "m-error-400",
            "stream": True,
            "input": MESSAGES,
            "request": {"stream": True},
            "error": error_of(info.value),
        },
        status="error",
    )


def test_converse_stream_error_midstream(client: Any, sink: InMemorySink) -> None:
    stream = client.converse_stream(modelId="m-midstream-error", messages=MESSAGES)["stream"]
    seen = []
    with pytest.raises(EventStreamError) as info:
        for event in stream:
            seen.append(event)  # noqa: PERF402 - list(stream) would lose the events before the error
    stream.close()
    assert info.value.response["Error"] == {"Code": "modelStreamErrorException", "Message": "fake midstream error"}
    assert sum("contentBlockDelta" in e for e in seen) == 2
    check(
        only_span(sink),
        "bedrock.converse",
        {
            "provider": "bedrock",
            "model": "m-midstream-error",
            "stream": True,
            "input": MESSAGES,
            "request": {"stream": True},
            "output": "Echo: Hello ",  # the partial answer is kept
            "error": error_of(info.value),
        },
        status="error",
        ttft=True,
    )
    assert only_span(sink).attributes["error"]["type"] == "botocore.EventStreamError"


def test_converse_stream_break_ends_the_span_at_once(client: Any, sink: InMemorySink) -> None:
    stream = client.converse_stream(modelId=CLAUDE, messages=MESSAGES)["stream"]
    for event in stream:
        if "contentBlockDelta" in event:
            break
    # the loop's iterator is gone, the stream object is still referenced: the span has ended anyway
    span = only_span(sink)
    assert (span.status, span.attributes["output"]) == ("ok", "Echo: ")
    assert "tokens_input" not in span.attributes  # the metadata event never arrived: no guessing
    stream.close()
    assert len(spans(sink)) == 1


def test_converse_stream_close_without_iterating(client: Any, sink: InMemorySink) -> None:
    stream = client.converse_stream(modelId=CLAUDE, messages=MESSAGES)["stream"]
    stream.close()
    span = only_span(sink)
    assert (span.status, span.attributes["output"]) == ("ok", "")
    assert "ttft_ms" not in span.attributes


def test_converse_stream_garbage_collected(client: Any, sink: InMemorySink) -> None:
    response = client.converse_stream(modelId=CLAUDE, messages=MESSAGES)
    http_response = response["stream"]._raw_stream  # closed by the test below, not by the user
    del response  # never iterated, never closed
    gc.collect()
    span = only_span(sink)
    assert (span.name, span.status, dict(span.attributes)["stream"]) == ("bedrock.converse", "ok", True)
    http_response.close()  # the user leaked the connection; the test does not


def test_converse_stream_iterated_twice_ends_once(client: Any, sink: InMemorySink) -> None:
    stream = client.converse_stream(modelId=CLAUDE, messages=MESSAGES)["stream"]
    first = next(iter(stream))
    rest = list(stream)
    assert "messageStart" in first and "metadata" in rest[-1]
    span = only_span(sink)
    assert span.attributes["output"] == ""  # the span ended when the first loop was abandoned


def test_session_and_parent_span(client: Any, sink: InMemorySink) -> None:
    with peekr.session(user_id="u1", session_id="s1", tenant_id="acme"), peekr.span("outer") as outer:
        client.converse(modelId=CLAUDE, messages=MESSAGES)
        list(client.converse_stream(modelId=CLAUDE, messages=MESSAGES)["stream"])
    recorded = {s.span_id: s for s in spans(sink)}
    children = [s for s in recorded.values() if s.name == "bedrock.converse"]
    assert len(children) == 2
    for child in children:
        assert (child.parent_id, child.trace_id, child.tenant_id) == (outer.span_id, outer.trace_id, "acme")
        assert (child.attributes["user_id"], child.attributes["session_id"]) == ("u1", "s1")
