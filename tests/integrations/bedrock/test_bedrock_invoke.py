"""boto3 ``invoke_model`` and ``invoke_model_with_response_stream``: success, API error, error
mid-stream, tool use; the one-shot body reads the same bytes however it is read, and its span ends
once (read to the end, close, ``with``, garbage collection)."""

from __future__ import annotations

import gc
import io
import json
from typing import Any

import pytest
from _bedrock_expect import CLAUDE, CLAUDE_TOOLS, check, claude_body, claude_tokens, error_of, only_span
from botocore.exceptions import ClientError, EventStreamError
from botocore.response import StreamingBody

from peekr.sinks.memory import InMemorySink

BODY = claude_body()
ANSWER = "Echo: Hello there"


def test_invoke_model(client: Any, sink: InMemorySink) -> None:
    response = client.invoke_model(modelId=CLAUDE, body=json.dumps(BODY))
    assert isinstance(response["body"], StreamingBody)
    answer = json.loads(response["body"].read())
    assert answer["content"] == [{"type": "text", "text": ANSWER}]
    assert answer["id"].startswith("msg_")
    check(
        only_span(sink),
        "bedrock.invoke_model",
        {
            "provider": "bedrock",
            "model": CLAUDE,
            "input": BODY,
            "request": {"max_tokens": 50},
            "output": ANSWER,
            "finish_reason": "end_turn",
            "response_id": answer["id"],  # Claude's message id, not the AWS request id
            **claude_tokens(2, 3),
        },
    )


def test_invoke_model_tool_use_bytes_body(client: Any, sink: InMemorySink) -> None:
    body = claude_body(tools=CLAUDE_TOOLS, temperature=0.2)
    answer = json.loads(client.invoke_model(modelId="claude-tool", body=json.dumps(body).encode())["body"].read())
    tool_use = answer["content"][0]
    check(
        only_span(sink),
        "bedrock.invoke_model",
        {
            "provider": "bedrock",
            "model": "claude-tool",
            "input": body,
            "request": {"max_tokens": 50, "temperature": 0.2, "tools": ["lookup"]},
            "output": "",
            "tool_calls": [
                {"id": tool_use["id"], "type": "function", "name": "lookup", "arguments": '{"q": "Hello there"}'}
            ],
            "finish_reason": "tool_use",
            "response_id": answer["id"],
            **claude_tokens(2, 3),
        },
    )


def test_invoke_model_api_error(client: Any, sink: InMemorySink) -> None:
    with pytest.raises(client.exceptions.ValidationException) as info:
        client.invoke_model(modelId="m-error-400", body=json.dumps(BODY))
    check(
        only_span(sink),
        "bedrock.invoke_model",
        {
            "provider": "bedrock",
            "model": "m-error-400",
            "input": BODY,
            "request": {"max_tokens": 50},
            "error": error_of(info.value),
        },
        status="error",
    )


def test_invoke_model_file_body_is_never_read_by_peekr(client: Any, sink: InMemorySink, fake: Any) -> None:
    raw = json.dumps(BODY).encode()
    response = client.invoke_model(modelId=CLAUDE, body=io.BytesIO(raw))
    assert json.loads(fake.last_request.body) == BODY  # botocore sent the whole file
    assert json.loads(response["body"].read())["content"][0]["text"] == ANSWER
    attrs = only_span(sink).attributes
    assert "input" not in attrs and "request" not in attrs
    assert attrs["output"] == ANSWER


@pytest.mark.parametrize("how", ["read-chunks", "iter_chunks", "iter_lines", "readinto", "readlines", "next"])
def test_invoke_model_body_reads_the_same_bytes(client: Any, sink: InMemorySink, how: str) -> None:
    expected = client.invoke_model(modelId=CLAUDE, body=json.dumps(BODY))["body"].read()
    body = client.invoke_model(modelId=CLAUDE, body=json.dumps(BODY))["body"]
    if how == "read-chunks":
        parts = []
        while chunk := body.read(7):
            parts.append(chunk)
        data = b"".join(parts)
    elif how == "iter_chunks":
        data = b"".join(body.iter_chunks(5))
    elif how == "iter_lines":
        data = b"".join(body.iter_lines())
    elif how == "readinto":
        buffer = bytearray(len(expected) + 10)
        data = bytes(buffer[: body.readinto(buffer)])
    elif how == "readlines":
        data = b"".join(body.readlines())
    else:
        data = b"".join(body)
    assert data == expected
    body.close()
    first, second = only_span_pair(sink)
    assert first.attributes == second.attributes  # same output, finish reason and tokens
    assert second.attributes["output"] == ANSWER and second.attributes["finish_reason"] == "end_turn"


def only_span_pair(sink: InMemorySink) -> tuple[Any, Any]:
    from _bedrock_expect import spans

    recorded = spans(sink)
    assert len(recorded) == 2
    return recorded[0], recorded[1]


def test_invoke_model_body_closed_unread_keeps_header_tokens(client: Any, sink: InMemorySink) -> None:
    response = client.invoke_model(modelId=CLAUDE, body=json.dumps(BODY))
    response["body"].close()
    attrs = only_span(sink).attributes
    assert "output" not in attrs and attrs["tokens_input"] == 2 and attrs["tokens_output"] == 3


def test_invoke_model_body_with_block(client: Any, sink: InMemorySink) -> None:
    with client.invoke_model(modelId=CLAUDE, body=json.dumps(BODY))["body"] as raw:
        assert json.loads(raw.read())["content"][0]["text"] == ANSWER  # urllib3's response, as before
    span = only_span(sink)
    assert span.status == "ok" and span.attributes["tokens_total"] == 5


def test_invoke_model_body_garbage_collected(client: Any, sink: InMemorySink) -> None:
    http_response = client.invoke_model(modelId=CLAUDE, body=json.dumps(BODY))["body"]._raw_stream
    gc.collect()  # the body was dropped unread
    attrs = only_span(sink).attributes
    assert attrs["tokens_total"] == 5 and "output" not in attrs
    http_response.close()  # the user leaked the connection; the test does not


def test_invoke_model_without_token_headers_reads_body_usage(client: Any, sink: InMemorySink) -> None:
    body = client.invoke_model(modelId="m-nousage", body=json.dumps(BODY))["body"]
    assert json.loads(body.read())["content"][0]["text"] == ANSWER
    assert not {k for k in only_span(sink).attributes if k.startswith("tokens_")}


def test_invoke_stream(client: Any, sink: InMemorySink) -> None:
    events = list(client.invoke_model_with_response_stream(modelId=CLAUDE, body=json.dumps(BODY))["body"])
    chunks = [json.loads(e["chunk"]["bytes"]) for e in events]
    assert chunks[-1]["type"] == "message_stop"
    assert chunks[0]["type"] == "message_start"
    check(
        only_span(sink),
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


def test_invoke_stream_tool_use(client: Any, sink: InMemorySink) -> None:
    body = claude_body(tools=CLAUDE_TOOLS)
    chunks = [
        json.loads(e["chunk"]["bytes"])
        for e in client.invoke_model_with_response_stream(modelId="claude-tool", body=json.dumps(body))["body"]
    ]
    tool_id = next(c["content_block"]["id"] for c in chunks if c["type"] == "content_block_start")
    check(
        only_span(sink),
        "bedrock.invoke_model",
        {
            "provider": "bedrock",
            "model": "claude-tool",
            "stream": True,
            "input": body,
            "request": {"max_tokens": 50, "tools": ["lookup"], "stream": True},
            "output": "",
            "tool_calls": [{"id": tool_id, "type": "function", "name": "lookup", "arguments": '{"q": "Hello there"}'}],
            "finish_reason": "tool_use",
            "response_id": chunks[0]["message"]["id"],
            **claude_tokens(2, 3),
        },
        ttft=True,
    )


def test_invoke_stream_api_error(client: Any, sink: InMemorySink) -> None:
    with pytest.raises(ClientError) as info:
        client.invoke_model_with_response_stream(modelId="m-error-400", body=json.dumps(BODY))
    check(
        only_span(sink),
        "bedrock.invoke_model",
        {
            "provider": "bedrock",
            "model": "m-error-400",
            "stream": True,
            "input": BODY,
            "request": {"max_tokens": 50, "stream": True},
            "error": error_of(info.value),
        },
        status="error",
    )


def test_invoke_stream_error_midstream(client: Any, sink: InMemorySink) -> None:
    stream = client.invoke_model_with_response_stream(modelId="claude-midstream-error", body=json.dumps(BODY))["body"]
    chunks = []
    with pytest.raises(EventStreamError) as info:
        for event in stream:
            chunks.append(json.loads(event["chunk"]["bytes"]))
    stream.close()
    span = only_span(sink)
    check(
        span,
        "bedrock.invoke_model",
        {
            "provider": "bedrock",
            "model": "claude-midstream-error",
            "stream": True,
            "input": BODY,
            "request": {"max_tokens": 50, "stream": True},
            "output": span.attributes["output"],
            "response_id": chunks[0]["message"]["id"],
            "error": error_of(info.value),
            **{k: v for k, v in span.attributes.items() if k.startswith("tokens_")},
        },
        status="error",
        ttft=True,
    )
    assert ANSWER.startswith(span.attributes["output"]) and span.attributes["output"]


def test_invoke_stream_break(client: Any, sink: InMemorySink) -> None:
    stream = client.invoke_model_with_response_stream(modelId=CLAUDE, body=json.dumps(BODY))["body"]
    for event in stream:
        if json.loads(event["chunk"]["bytes"])["type"] == "content_block_delta":
            break
    span = only_span(sink)
    assert (span.status, span.attributes["output"]) == ("ok", "Echo: ")
    assert span.attributes["tokens_input"] == 2 and "tokens_output" in span.attributes  # from message_start
    stream.close()


def _cache_tokens(span: Any) -> dict[str, Any]:
    return {k: v for k, v in span.attributes.items() if k.startswith("tokens_")}


CACHED = {
    "tokens_input": 4,
    "tokens_output": 3,
    "tokens_total": 7,
    "tokens_cache_read": 2,
    "tokens_cache_write": 1,
}


@pytest.mark.parametrize("operation", ["converse", "converse_stream", "invoke_model", "invoke_stream"])
def test_cache_tokens_are_included_in_tokens_input(client: Any, sink: InMemorySink, operation: str) -> None:
    """Bedrock reports cache reads/writes beside an input count that excludes them: peekr adds them up."""
    messages = [{"role": "user", "content": [{"text": "Hello there"}]}]
    system = [{"text": "Be brief."}]
    body = json.dumps(claude_body(system="Be brief."))
    if operation == "converse":
        usage = client.converse(modelId="claude-cache", messages=messages, system=system)["usage"]
        assert (usage["inputTokens"], usage["cacheReadInputTokens"], usage["cacheWriteInputTokens"]) == (1, 2, 1)
    elif operation == "converse_stream":
        list(client.converse_stream(modelId="claude-cache", messages=messages, system=system)["stream"])
    elif operation == "invoke_model":
        client.invoke_model(modelId="claude-cache", body=body)["body"].read()
    else:
        list(client.invoke_model_with_response_stream(modelId="claude-cache", body=body)["body"])
    assert _cache_tokens(only_span(sink)) == CACHED


def test_invoke_model_body_that_is_not_json(client: Any, sink: InMemorySink, fake: Any) -> None:
    client.invoke_model(modelId=CLAUDE, body="plain text, not JSON")["body"].read()
    assert fake.last_request.body == b"plain text, not JSON"
    attrs = only_span(sink).attributes
    assert "input" not in attrs and "request" not in attrs  # nothing to show, nothing invented
