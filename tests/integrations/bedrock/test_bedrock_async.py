"""aioboto3: the same matrix as the boto3 tests (asyncio only, see conftest) — converse, converse_stream,
invoke_model (every way to read the aiobotocore body), invoke_model_with_response_stream; API errors,
errors mid-stream, tool use, early exit."""

from __future__ import annotations

import gc
import json
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
    claude_body,
    claude_tokens,
    error_of,
    only_span_async,
    tokens,
)
from aiobotocore.eventstream import AioEventStream
from aiobotocore.response import StreamingBody
from botocore.exceptions import ClientError, EventStreamError

import peekr
from peekr.sinks.memory import InMemorySink

pytestmark = pytest.mark.anyio

BODY = claude_body()
ANSWER = "Echo: Hello there"


async def test_converse(aclient: Any, sink: InMemorySink) -> None:
    response = await aclient.converse(modelId=CLAUDE, messages=MESSAGES, system=SYSTEM, inferenceConfig=INFERENCE)
    assert response["output"]["message"]["content"] == [{"text": ANSWER}]
    check(
        await only_span_async(sink),
        "bedrock.converse",
        {
            "provider": "bedrock",
            "model": CLAUDE,
            "input": {"system": SYSTEM, "messages": MESSAGES},
            "request": REQUEST,
            "output": ANSWER,
            "finish_reason": "end_turn",
            **tokens(4, 3),
        },
    )


async def test_converse_tool_use(aclient: Any, sink: InMemorySink) -> None:
    await aclient.converse(modelId="claude-tool", messages=MESSAGES, toolConfig=TOOL_CONFIG)
    span = await only_span_async(sink)
    assert (span.attributes["tool_calls"], span.attributes["finish_reason"]) == ([TOOL_CALL], "tool_use")


async def test_converse_api_error(aclient: Any, sink: InMemorySink) -> None:
    with pytest.raises(ClientError) as info:
        await aclient.converse(modelId="m-error-400", messages=MESSAGES)
    assert type(info.value) is aclient.exceptions.ValidationException
    check(
        await only_span_async(sink),
        "bedrock.converse",
        {"provider": "bedrock", "model": "m-error-400", "input": MESSAGES, "error": error_of(info.value)},
        status="error",
    )


async def test_converse_stream(aclient: Any, sink: InMemorySink) -> None:
    response = await aclient.converse_stream(modelId="claude-tool", messages=MESSAGES, toolConfig=TOOL_CONFIG)
    assert isinstance(response["stream"], AioEventStream)
    events = [event async for event in response["stream"]]
    assert events[-1]["metadata"]["usage"]["totalTokens"] == 5
    check(
        await only_span_async(sink),
        "bedrock.converse",
        {
            "provider": "bedrock",
            "model": "claude-tool",
            "stream": True,
            "input": MESSAGES,
            "request": {"tools": ["lookup"], "tool_choice": "auto", "stream": True},
            "output": "",
            "tool_calls": [TOOL_CALL],
            "finish_reason": "tool_use",
            **tokens(2, 3),
        },
        ttft=True,
    )


async def test_converse_stream_error_midstream(aclient: Any, sink: InMemorySink) -> None:
    stream = (await aclient.converse_stream(modelId="m-midstream-error", messages=MESSAGES))["stream"]
    with pytest.raises(EventStreamError) as info:
        async for _ in stream:
            pass
    stream.close()
    check(
        await only_span_async(sink),
        "bedrock.converse",
        {
            "provider": "bedrock",
            "model": "m-midstream-error",
            "stream": True,
            "input": MESSAGES,
            "request": {"stream": True},
            "output": "Echo: Hello ",
            "error": error_of(info.value),
        },
        status="error",
        ttft=True,
    )


async def test_converse_stream_api_error(aclient: Any, sink: InMemorySink) -> None:
    with pytest.raises(ClientError) as info:
        await aclient.converse_stream(modelId="m-error-429", messages=MESSAGES)
    span = await only_span_async(sink)
    assert (span.status, span.attributes["error"]) == ("error", error_of(info.value))
    assert span.attributes["error"]["type"] == "botocore.ThrottlingException"


async def test_converse_stream_close_early(aclient: Any, sink: InMemorySink) -> None:
    stream = (await aclient.converse_stream(modelId=CLAUDE, messages=MESSAGES))["stream"]
    iterator = aiter(stream)
    first = await anext(iterator)
    assert "messageStart" in first
    stream.close()
    await iterator.aclose()
    span = await only_span_async(sink)
    assert (span.status, span.attributes["output"]) == ("ok", "")
    assert "ttft_ms" not in span.attributes  # messageStart only: no token was generated yet
    assert "tokens_input" not in span.attributes


async def test_converse_stream_break_then_aclose(aclient: Any, sink: InMemorySink) -> None:
    stream = (await aclient.converse_stream(modelId=CLAUDE, messages=MESSAGES))["stream"]
    iterator = aiter(stream)
    async for event in iterator:
        if "contentBlockDelta" in event:
            break
    await iterator.aclose()  # what asyncio's async-generator finalizer does for an abandoned loop
    span = await only_span_async(sink)
    assert (span.status, span.attributes["output"]) == ("ok", "Echo: ")
    stream.close()


async def test_invoke_model(aclient: Any, sink: InMemorySink) -> None:
    response = await aclient.invoke_model(modelId=CLAUDE, body=json.dumps(BODY))
    assert isinstance(response["body"], StreamingBody)
    answer = json.loads(await response["body"].read())
    assert answer["content"][0]["text"] == ANSWER
    check(
        await only_span_async(sink),
        "bedrock.invoke_model",
        {
            "provider": "bedrock",
            "model": CLAUDE,
            "input": BODY,
            "request": {"max_tokens": 50},
            "output": ANSWER,
            "finish_reason": "end_turn",
            "response_id": answer["id"],
            **claude_tokens(2, 3),
        },
    )


@pytest.mark.parametrize("how", ["read-chunks", "iter_chunks", "iter_lines", "readlines", "readinto", "async-for"])
async def test_invoke_model_body_reads_the_same_bytes(aclient: Any, sink: InMemorySink, how: str) -> None:
    expected = await (await aclient.invoke_model(modelId=CLAUDE, body=json.dumps(BODY)))["body"].read()
    body = (await aclient.invoke_model(modelId=CLAUDE, body=json.dumps(BODY)))["body"]
    if how == "read-chunks":
        parts = []
        while chunk := await body.read(7):
            parts.append(chunk)
        data = b"".join(parts)
    elif how == "iter_chunks":
        data = b"".join([c async for c in body.iter_chunks(5)])
    elif how == "iter_lines":
        data = b"".join([line async for line in body.iter_lines()])
    elif how == "readlines":
        data = b"".join(await body.readlines())
    elif how == "readinto":
        buffer = bytearray(len(expected) + 10)
        data = bytes(buffer[: await body.readinto(buffer)])
    else:
        data = b"".join([c async for c in body])
    assert data == expected
    assert body.tell() == len(expected)
    body.close()
    await peekr.aflush()
    first, second = sink.spans
    assert first.attributes == second.attributes and second.attributes["output"] == ANSWER


async def test_invoke_model_body_async_with(aclient: Any, sink: InMemorySink) -> None:
    body = (await aclient.invoke_model(modelId=CLAUDE, body=json.dumps(BODY)))["body"]
    async with body as raw:  # aiohttp's ClientResponse, exactly as without peekr
        assert json.loads(await raw.read())["content"][0]["text"] == ANSWER
    span = await only_span_async(sink)
    assert span.status == "ok" and span.attributes["tokens_total"] == 5


async def test_invoke_model_body_dropped_unread(aclient: Any, sink: InMemorySink) -> None:
    response = await aclient.invoke_model(modelId=CLAUDE, body=json.dumps(BODY))
    http_response = response["body"].__wrapped__
    del response
    gc.collect()
    attrs = (await only_span_async(sink)).attributes
    assert attrs["tokens_total"] == 5 and "output" not in attrs
    http_response.close()  # the user leaked the connection; the test does not


async def test_invoke_model_api_error(aclient: Any, sink: InMemorySink) -> None:
    with pytest.raises(ClientError) as info:
        await aclient.invoke_model(modelId="m-error-400", body=json.dumps(BODY))
    span = await only_span_async(sink)
    assert (span.name, span.status, span.attributes["error"]) == ("bedrock.invoke_model", "error", error_of(info.value))


async def test_invoke_stream(aclient: Any, sink: InMemorySink) -> None:
    stream = (await aclient.invoke_model_with_response_stream(modelId=CLAUDE, body=json.dumps(BODY)))["body"]
    chunks = [json.loads(e["chunk"]["bytes"]) async for e in stream]
    assert chunks[-1]["amazon-bedrock-invocationMetrics"]["outputTokenCount"] == 3
    check(
        await only_span_async(sink),
        "bedrock.invoke_model",
        {
            "provider": "bedrock",
            "model": CLAUDE,
            "stream": True,
            "input": BODY,
            "request": {"max_tokens": 50, "stream": True},
            "output": ANSWER,
            "finish_reason": "end_turn",
            "response_id": chunks[0]["message"]["id"],
            **claude_tokens(2, 3),
        },
        ttft=True,
    )


async def test_invoke_stream_error_midstream(aclient: Any, sink: InMemorySink) -> None:
    stream = (await aclient.invoke_model_with_response_stream(modelId="claude-midstream-error", body=json.dumps(BODY)))[
        "body"
    ]
    with pytest.raises(EventStreamError) as info:
        async for _ in stream:
            pass
    stream.close()
    span = await only_span_async(sink)
    assert (span.status, span.attributes["error"]) == ("error", error_of(info.value))
    assert span.attributes["output"] and ANSWER.startswith(span.attributes["output"])


async def test_parent_span_and_session(aclient: Any, sink: InMemorySink) -> None:
    async with peekr.session(user_id="u2"):
        with peekr.span("handler") as outer:
            await aclient.converse(modelId=CLAUDE, messages=MESSAGES)
    await peekr.aflush()
    child = next(s for s in sink.spans if s.name == "bedrock.converse")
    assert (child.parent_id, child.trace_id, child.attributes["user_id"]) == (outer.span_id, outer.trace_id, "u2")
