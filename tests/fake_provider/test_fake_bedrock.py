"""boto3 and aioboto3 against the fake: converse(+stream), invoke_model(+stream), errors, in-stream exceptions."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import closing
from typing import Any

import pytest
from botocore.exceptions import ClientError, EventStreamError

from peekr.testing.fake_provider import FakeProvider

CLAUDE = "anthropic.claude-3-haiku-20240307-v1:0"
MESSAGES: Any = [{"role": "user", "content": [{"text": "Hello there"}]}]
TOOL_CONFIG: Any = {
    "tools": [
        {
            "toolSpec": {
                "name": "lookup",
                "inputSchema": {"json": {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}},
            }
        }
    ]
}


@pytest.fixture
def client(fake: FakeProvider) -> Iterator[Any]:
    """A boto3 bedrock-runtime client, closed afterwards so no socket is left for the GC."""
    client = fake.bedrock_client()
    yield client
    client.close()


def claude_body(text: str = "Hello there") -> str:
    return json.dumps(
        {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 50, "messages": [{"role": "user", "content": text}]}
    )


def test_converse_text_usage_and_decoded_model_id(fake: FakeProvider, client: Any) -> None:
    response = client.converse(modelId=CLAUDE, messages=MESSAGES, system=[{"text": "Be brief."}])
    assert response["output"]["message"]["content"] == [{"text": "Echo: Hello there"}]
    assert response["stopReason"] == "end_turn"
    assert response["usage"] == {"inputTokens": 4, "outputTokens": 3, "totalTokens": 7}
    assert fake.last_request.path == f"/model/{CLAUDE}/converse"


def test_converse_tool_use(client: Any) -> None:
    response = client.converse(modelId="claude-tool", messages=MESSAGES, toolConfig=TOOL_CONFIG)
    tool_use = response["output"]["message"]["content"][0]["toolUse"]
    assert (tool_use["name"], tool_use["input"]) == ("lookup", {"q": "Hello there"})
    assert response["stopReason"] == "tool_use"


def test_converse_stream_events(client: Any) -> None:
    events = list(client.converse_stream(modelId="claude-tool", messages=MESSAGES, toolConfig=TOOL_CONFIG)["stream"])
    names = [next(iter(e)) for e in events]
    assert names[0] == "messageStart" and names[1] == "contentBlockStart"
    assert names[-3:] == ["contentBlockStop", "messageStop", "metadata"]
    assert events[1]["contentBlockStart"]["start"]["toolUse"]["name"] == "lookup"
    fragments = [e["contentBlockDelta"]["delta"]["toolUse"]["input"] for e in events if "contentBlockDelta" in e]
    assert json.loads("".join(fragments)) == {"q": "Hello there"}
    assert events[-1]["metadata"]["usage"] == {"inputTokens": 2, "outputTokens": 3, "totalTokens": 5}


def test_invoke_model_claude_body_and_token_headers(client: Any) -> None:
    response = client.invoke_model(modelId=CLAUDE, body=claude_body())
    body = json.loads(response["body"].read())
    assert body["content"] == [{"type": "text", "text": "Echo: Hello there"}]
    assert (body["usage"]["input_tokens"], body["usage"]["output_tokens"]) == (2, 3)
    headers = response["ResponseMetadata"]["HTTPHeaders"]
    assert (headers["x-amzn-bedrock-input-token-count"], headers["x-amzn-bedrock-output-token-count"]) == ("2", "3")


def test_invoke_model_with_response_stream_chunks_and_metrics(client: Any) -> None:
    response = client.invoke_model_with_response_stream(modelId=CLAUDE, body=claude_body())
    chunks = [json.loads(event["chunk"]["bytes"]) for event in response["body"]]
    text = "".join(c["delta"]["text"] for c in chunks if c["type"] == "content_block_delta")
    assert text == "Echo: Hello there"
    assert chunks[-1]["type"] == "message_stop"
    metrics = chunks[-1]["amazon-bedrock-invocationMetrics"]
    assert (metrics["inputTokenCount"], metrics["outputTokenCount"]) == (2, 3)


@pytest.mark.parametrize(
    ("model", "code"),
    [
        ("m-error-400", "ValidationException"),
        ("m-error-429", "ThrottlingException"),
        ("m-error-500", "InternalServerException"),
    ],
)
def test_errors_raise_modeled_client_errors(client: Any, model: str, code: str) -> None:
    with pytest.raises(ClientError) as info:
        client.converse(modelId=model, messages=MESSAGES)
    assert isinstance(info.value, getattr(client.exceptions, code))
    assert info.value.response["Error"] == {"Code": code, "Message": "fake error " + model[-3:]}
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == int(model[-3:])


def test_midstream_exception_frames(client: Any) -> None:
    seen: list[dict[str, Any]] = []
    stream = client.converse_stream(modelId="m-midstream-error", messages=MESSAGES)["stream"]
    with closing(stream), pytest.raises(EventStreamError) as info:
        seen.extend(stream)  # keeps the events before the error
    assert info.value.response["Error"] == {"Code": "modelStreamErrorException", "Message": "fake midstream error"}
    assert sum("contentBlockDelta" in e for e in seen) == 2
    body = client.invoke_model_with_response_stream(modelId="claude-midstream-error", body=claude_body())["body"]
    with closing(body), pytest.raises(EventStreamError):
        list(body)


def test_nousage(client: Any) -> None:
    assert "usage" not in client.converse(modelId="m-nousage", messages=MESSAGES)
    headers = client.invoke_model(modelId="m-nousage", body=claude_body())["ResponseMetadata"]["HTTPHeaders"]
    assert "x-amzn-bedrock-input-token-count" not in headers


@pytest.mark.anyio
async def test_aioboto3_all_four_operations(fake: FakeProvider) -> None:
    async with fake.async_bedrock_client() as client:
        converse = await client.converse(modelId=CLAUDE, messages=MESSAGES)
        stream = await client.converse_stream(modelId=CLAUDE, messages=MESSAGES)
        events = [event async for event in stream["stream"]]
        invoke = await client.invoke_model(modelId=CLAUDE, body=claude_body())
        invoke_body = json.loads(await invoke["body"].read())
        invoke_stream = await client.invoke_model_with_response_stream(modelId=CLAUDE, body=claude_body())
        chunks = [json.loads(e["chunk"]["bytes"]) async for e in invoke_stream["body"]]
    assert converse["output"]["message"]["content"] == [{"text": "Echo: Hello there"}]
    assert events[-1]["metadata"]["usage"]["totalTokens"] == 5
    assert invoke_body["content"][0]["text"] == "Echo: Hello there"
    assert chunks[-1]["amazon-bedrock-invocationMetrics"]["outputTokenCount"] == 3


@pytest.mark.anyio
async def test_aioboto3_errors(fake: FakeProvider) -> None:
    async with fake.async_bedrock_client() as client:
        with pytest.raises(ClientError) as info:
            await client.converse(modelId="m-error-429", messages=MESSAGES)
        assert info.value.response["Error"]["Code"] == "ThrottlingException"
        stream = await client.converse_stream(modelId="m-midstream-error", messages=MESSAGES)
        with pytest.raises(EventStreamError):
            async for _ in stream["stream"]:
                pass


def test_cache_keyword_reports_cache_tokens_beside_input_tokens(client: Any) -> None:
    usage = client.converse(modelId="m-cache", messages=MESSAGES, system=[{"text": "Be brief."}])["usage"]
    assert usage == {
        "inputTokens": 1,
        "outputTokens": 3,
        "totalTokens": 7,
        "cacheReadInputTokens": 2,
        "cacheWriteInputTokens": 1,
    }
