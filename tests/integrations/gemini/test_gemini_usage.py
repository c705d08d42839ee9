"""Token, model and output rules on responses the fake provider does not produce.

The fake reports only prompt/candidates/total counts and echoes the model name, so thoughts,
tool-use prompt tokens, cached tokens, a differing ``modelVersion``, thought parts and blocked
prompts are served here through the SDK's own transport hook (``HttpOptions.httpx_client`` with an
``httpx2.MockTransport``) — the real SDK still parses the wire JSON; nothing in the SDK is mocked.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx2
import pytest
from _gemini_helpers import AIOHTTP_WARNING, TLS_ARGS, assert_span, finished, only_span
from google import genai
from google.genai import types

from peekr._cost import compute_cost
from peekr.integrations.gemini._extract import model_name
from peekr.sinks.memory import InMemorySink
from peekr.testing.fake_provider import FakeProvider

pytestmark = pytest.mark.filterwarnings(AIOHTTP_WARNING)

USAGE = {
    "promptTokenCount": 1000,
    "cachedContentTokenCount": 400,
    "toolUsePromptTokenCount": 30,
    "candidatesTokenCount": 100,
    "thoughtsTokenCount": 50,
    "totalTokenCount": 1180,
}
TOKENS = {
    "tokens_input": 1030,  # prompt (cached tokens included) + tool-use prompt
    "tokens_output": 150,  # candidates + thoughts
    "tokens_total": 1180,
    "tokens_cache_read": 400,
    "tokens_reasoning": 50,
}


def candidate(*parts: dict[str, Any], finish: str | None = "STOP") -> dict[str, Any]:
    out: dict[str, Any] = {"content": {"role": "model", "parts": list(parts)}, "index": 0}
    if finish:
        out["finishReason"] = finish
    return out


def mock_client(answer: Callable[[httpx2.Request], httpx2.Response]) -> genai.Client:
    options = types.HttpOptions(
        base_url="http://mock-gemini",
        httpx_client=httpx2.Client(transport=httpx2.MockTransport(answer)),
        retry_options=types.HttpRetryOptions(attempts=1),
        **TLS_ARGS,
    )
    return genai.Client(api_key="fake", http_options=options)


def json_answer(body: dict[str, Any]) -> Callable[[httpx2.Request], httpx2.Response]:
    return lambda request: httpx2.Response(200, json=body)


def sse_answer(*chunks: dict[str, Any]) -> Callable[[httpx2.Request], httpx2.Response]:
    body = b"".join(b"data: " + json.dumps(c).encode() + b"\r\n\r\n" for c in chunks)
    return lambda request: httpx2.Response(200, content=body, headers={"content-type": "text/event-stream"})


def test_thoughts_tool_use_and_cache_tokens_and_model_version(sink: InMemorySink) -> None:
    body = {
        "candidates": [
            candidate({"text": "Let me think.", "thought": True}, {"text": "Answer"}),
            {"content": {"role": "model", "parts": [{"text": "Other candidate"}]}, "index": 1},
        ],
        "usageMetadata": USAGE,
        "modelVersion": "gemini-2.0-flash-001",
    }
    client = mock_client(json_answer(body))
    response = client.models.generate_content(model="models/gemini-2.0-flash", contents="Q")
    assert response.candidates is not None and len(response.candidates) == 2
    span = only_span(sink)
    cost = span.attributes.pop("cost_usd")  # filled by the bus from model + tokens
    expected: dict[str, Any] = {"provider": "gemini", "model": "gemini-2.0-flash-001", "input": "Q"}
    expected |= {"output": "Answer", "finish_reason": "STOP", **TOKENS}
    assert_span(span, expected)
    assert cost == pytest.approx(compute_cost(expected)) and cost > 0


def test_request_model_without_models_prefix_when_no_model_version(sink: InMemorySink) -> None:
    client = mock_client(json_answer({"candidates": [candidate({"text": "Hi"})]}))
    client.models.generate_content(model="models/gemini-fake", contents="Q")
    attributes = {"provider": "gemini", "model": "gemini-fake", "input": "Q", "output": "Hi"}
    assert_span(only_span(sink), {**attributes, "finish_reason": "STOP"})


@pytest.mark.parametrize(
    ("given", "recorded"),
    [
        ("gemini-2.0-flash", "gemini-2.0-flash"),
        ("models/gemini-2.0-flash", "gemini-2.0-flash"),
        ("publishers/google/models/gemini-2.0-flash", "gemini-2.0-flash"),
        ("projects/p/locations/us-central1/publishers/google/models/gemini-2.0-flash", "gemini-2.0-flash"),
        ("tunedModels/my-model-123", "tunedModels/my-model-123"),
        ("", None),
        (None, None),
    ],
)
def test_model_name(given: str | None, recorded: str | None) -> None:
    assert model_name(given) == recorded


def test_stream_takes_the_last_usage_and_skips_thoughts(sink: InMemorySink) -> None:
    chunks = [
        {
            "candidates": [candidate({"text": "Hmm", "thought": True}, finish=None)],
            "usageMetadata": {"promptTokenCount": 1000},
        },
        {"candidates": [candidate({"text": "Ans"}, finish=None)], "usageMetadata": {"promptTokenCount": 1000}},
        {"candidates": [candidate({"text": "wer"})], "usageMetadata": USAGE, "modelVersion": "gemini-fake-002"},
    ]
    client = mock_client(sse_answer(*chunks))
    texts = [c.text for c in client.models.generate_content_stream(model="gemini-fake", contents="Q")]
    assert texts == [None, "Ans", "wer"]
    expected = {
        "provider": "gemini",
        "model": "gemini-fake-002",
        "stream": True,
        "input": "Q",
        "request": {"stream": True},
    }
    assert_span(only_span(sink), {**expected, "output": "Answer", "finish_reason": "STOP", **TOKENS}, ttft=True)


def test_blocked_prompt_has_no_candidates(sink: InMemorySink) -> None:
    body = {"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 7, "totalTokenCount": 7}}
    client = mock_client(json_answer(body))
    response = client.models.generate_content(model="gemini-fake", contents="Q")
    assert response.text is None
    expected = {"provider": "gemini", "model": "gemini-fake", "input": "Q"}
    assert_span(only_span(sink), {**expected, "tokens_input": 7, "tokens_total": 7})


def test_function_call_with_id_and_text(sink: InMemorySink) -> None:
    parts: list[dict[str, Any]] = [
        {"text": "Calling."},
        {"functionCall": {"id": "call-1", "name": "lookup", "args": {"q": "é", "n": 2}}},
    ]
    client = mock_client(json_answer({"candidates": [candidate(*parts)]}))
    client.models.generate_content(model="gemini-fake", contents="Q")
    call = {"id": "call-1", "type": "function", "name": "lookup", "arguments": json.dumps({"q": "é", "n": 2})}
    expected = {"provider": "gemini", "model": "gemini-fake", "input": "Q", "output": "Calling."}
    assert_span(only_span(sink), {**expected, "tool_calls": [call], "finish_reason": "STOP"})


def test_no_usage_reported_means_no_tokens(client: genai.Client, sink: InMemorySink) -> None:
    response = client.models.generate_content(model="gemini-nousage", contents="Hi")
    chunks = list(client.models.generate_content_stream(model="gemini-nousage", contents="Hi"))
    call, streamed = finished(sink)
    base = {
        "provider": "gemini",
        "model": "gemini-nousage",
        "input": "Hi",
        "output": "Echo: Hi",
        "finish_reason": "STOP",
    }
    assert_span(call, {**base, "response_id": response.response_id})
    streamed_attributes = {**base, "stream": True, "request": {"stream": True}, "response_id": chunks[0].response_id}
    assert_span(streamed, streamed_attributes, ttft=True)


def test_dict_config_with_camel_case_keys_and_dict_tools(
    fake: FakeProvider, client: genai.Client, sink: InMemorySink
) -> None:
    config = {
        "systemInstruction": "Be brief.",
        "maxOutputTokens": 20,
        "topK": 3,
        "stopSequences": ["END"],
        "tools": [
            {
                "functionDeclarations": [
                    {"name": "lookup", "parameters": {"type": "OBJECT", "properties": {"q": {"type": "STRING"}}}}
                ]
            },
            {"google_search": {}},
        ],
    }
    response = client.models.generate_content(model="gemini-test", contents=["Hello", "there"], config=config)  # type: ignore[arg-type]
    assert response.text == "Echo: Hello there"  # the SDK sends both strings as parts of one user turn
    assert fake.last_request.json["generationConfig"]["maxOutputTokens"] == 20
    span = only_span(sink)
    assert span.attributes["input"] == {"system": "Be brief.", "contents": ["Hello", "there"]}
    assert span.attributes["request"] == {
        "max_output_tokens": 20,
        "top_k": 3,
        "stop_sequences": ["END"],
        "tools": ["lookup", "google_search"],
    }


def test_long_stream_is_folded_as_it_goes(sink: InMemorySink) -> None:
    """Each chunk is folded into running values as it arrives (no chunk kept); a long stream ends with all of it."""
    chunks: list[dict[str, Any]] = [{"candidates": [candidate({"text": f"{i} "}, finish=None)]} for i in range(18)]
    chunks[-1] = {"candidates": [candidate({"text": "end"})], "usageMetadata": USAGE}
    client = mock_client(sse_answer(*chunks))
    stream = client.models.generate_content_stream(model="gemini-fake", contents="Q")
    texts = [c.text for c in stream]
    expected = {"provider": "gemini", "model": "gemini-fake", "stream": True, "input": "Q", "request": {"stream": True}}
    assert_span(
        only_span(sink),
        {**expected, "output": "".join(t or "" for t in texts), "finish_reason": "STOP", **TOKENS},
        ttft=True,
    )


@pytest.mark.anyio
async def test_long_async_stream_is_folded_as_it_goes(sink: InMemorySink) -> None:
    chunks: list[dict[str, Any]] = [{"candidates": [candidate({"text": f"{i} "}, finish=None)]} for i in range(7)]
    chunks[-1] = {"candidates": [candidate({"text": "end"})], "usageMetadata": USAGE}
    http = httpx2.AsyncClient(transport=httpx2.MockTransport(sse_answer(*chunks)))
    options = types.HttpOptions(
        base_url="http://mock-gemini",
        httpx_async_client=http,
        retry_options=types.HttpRetryOptions(attempts=1),
        **TLS_ARGS,
    )
    client = genai.Client(api_key="fake", http_options=options)
    try:
        texts = [
            c.text async for c in await client.aio.models.generate_content_stream(model="gemini-fake", contents="Q")
        ]
    finally:
        await http.aclose()
    expected = {"provider": "gemini", "model": "gemini-fake", "stream": True, "input": "Q", "request": {"stream": True}}
    assert_span(
        only_span(sink),
        {**expected, "output": "".join(t or "" for t in texts), "finish_reason": "STOP", **TOKENS},
        ttft=True,
    )


def test_inline_image_is_recorded_as_size_and_hash(client: genai.Client, sink: InMemorySink) -> None:
    image = types.Part.from_bytes(data=b"\x89PNG" + bytes(range(256)) * 400, mime_type="image/png")
    client.models.generate_content(model="gemini-test", contents=[image, "What is this?"])  # type: ignore[arg-type]
    part, question = only_span(sink).attributes["input"]  # as passed: a Part and a string
    assert part["inline_data"]["mime_type"] == "image/png"
    assert part["inline_data"]["data"].startswith("[bytes: 102404 bytes, sha256:")
    assert question == "What is this?"
