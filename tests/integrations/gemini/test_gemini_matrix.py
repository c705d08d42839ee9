"""sync/async x stream/non-stream x success / API error / error mid-stream, plus function calls.

Every test asserts the whole span. The fake's token rule: one token per whitespace-separated word
of every text sent (system instruction included) and of the reply ("Echo: " + last user text), and
of each function call's JSON arguments.
"""

from __future__ import annotations

from typing import Any

import pytest
from _gemini_helpers import AIOHTTP_WARNING, assert_span, error_attribute, finished, only_span
from google import genai
from google.genai import errors, types

from peekr.sinks.memory import InMemorySink

pytestmark = pytest.mark.filterwarnings(AIOHTTP_WARNING)

LOOKUP = types.Tool(
    function_declarations=[
        types.FunctionDeclaration(
            name="lookup",
            parameters=types.Schema(
                type=types.Type.OBJECT, properties={"q": types.Schema(type=types.Type.STRING)}, required=["q"]
            ),
        )
    ]
)

CONFIG = types.GenerateContentConfig(
    system_instruction="Be brief.",
    temperature=0.2,
    max_output_tokens=50,
    top_p=0.9,
    top_k=5,
    stop_sequences=["END"],
    response_mime_type="text/plain",
)
CONFIG_REQUEST = {
    "temperature": 0.2,
    "max_output_tokens": 50,
    "top_p": 0.9,
    "top_k": 5,
    "stop_sequences": ["END"],
    "response_mime_type": "text/plain",
}


def success(stream: bool, response_id: str | None) -> dict[str, Any]:
    """Non-stream calls send CONFIG ("Be brief." + "Hello there"); streams send just "Hello there"."""
    assert response_id  # the SDK's own ``response_id``: every response of the fake has one
    if stream:
        return {
            "provider": "gemini",
            "model": "gemini-test",
            "stream": True,
            "input": "Hello there",
            "request": {"stream": True},
            "output": "Echo: Hello there",
            "finish_reason": "STOP",
            "tokens_input": 2,
            "tokens_output": 3,
            "tokens_total": 5,
            "response_id": response_id,
        }
    return {
        "provider": "gemini",
        "model": "gemini-test",
        "input": {"system": "Be brief.", "contents": "Hello there"},
        "request": CONFIG_REQUEST,
        "output": "Echo: Hello there",
        "finish_reason": "STOP",
        "tokens_input": 4,
        "tokens_output": 3,
        "tokens_total": 7,
        "response_id": response_id,
    }


def api_error(stream: bool, exc: BaseException) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "provider": "gemini",
        "model": "gemini-error-400",
        **({"stream": True} if stream else {}),
        "input": "Hi",
        "error": error_attribute(exc),
    }
    if stream:
        attributes["request"] = {"stream": True}
    return attributes


def midstream(exc: BaseException, response_id: str | None) -> dict[str, Any]:
    # Two chunks arrived ("Echo: ", "a "), each with the prompt-only usage the server sends early on.
    return {
        "provider": "gemini",
        "model": "gemini-midstream-error",
        "stream": True,
        "input": "a b c d",
        "request": {"stream": True},
        "output": "Echo: a ",
        "tokens_input": 4,
        "tokens_total": 4,
        "response_id": response_id,
        "error": error_attribute(exc),
    }


def tool_call(stream: bool, response_id: str | None) -> dict[str, Any]:
    assert response_id
    request: dict[str, Any] = {"tools": ["lookup"]}
    if stream:
        request["stream"] = True
    return {
        "provider": "gemini",
        "model": "gemini-tool",
        **({"stream": True} if stream else {}),
        "input": "Hello there",
        "request": request,
        "tool_calls": [{"id": None, "type": "function", "name": "lookup", "arguments": '{"q": "Hello there"}'}],
        "finish_reason": "STOP",
        "tokens_input": 2,
        "tokens_output": 3,  # '{"q": "Hello there"}' is three words
        "tokens_total": 5,
        "response_id": response_id,
    }


# -- sync ---------------------------------------------------------------------------------------------


def test_sync_success(client: genai.Client, sink: InMemorySink) -> None:
    response = client.models.generate_content(model="gemini-test", contents="Hello there", config=CONFIG)
    assert response.text == "Echo: Hello there"
    assert_span(only_span(sink), success(stream=False, response_id=response.response_id))


def test_sync_api_error(client: genai.Client, sink: InMemorySink) -> None:
    with pytest.raises(errors.ClientError) as info:
        client.models.generate_content(model="gemini-error-400", contents="Hi")
    assert_span(only_span(sink), api_error(False, info.value), status="error")


def test_sync_stream_success(client: genai.Client, sink: InMemorySink) -> None:
    chunks = list(client.models.generate_content_stream(model="gemini-test", contents="Hello there"))
    assert [chunk.text for chunk in chunks] == ["Echo: ", "Hello ", "there"]
    assert_span(only_span(sink), success(stream=True, response_id=chunks[0].response_id), ttft=True)


def test_sync_stream_api_error_surfaces_on_first_next(client: genai.Client, sink: InMemorySink) -> None:
    stream = client.models.generate_content_stream(model="gemini-error-400", contents="Hi")
    assert finished(sink) == []  # lazy, as without peekr: no request, no error yet
    with pytest.raises(errors.ClientError) as info:
        next(stream)
    assert_span(only_span(sink), api_error(True, info.value), status="error")


def test_sync_stream_error_midstream(client: genai.Client, sink: InMemorySink) -> None:
    chunks: list[types.GenerateContentResponse] = []
    with pytest.raises(errors.ServerError, match="fake midstream error") as info:
        chunks.extend(client.models.generate_content_stream(model="gemini-midstream-error", contents="a b c d"))
    assert [chunk.text for chunk in chunks] == ["Echo: ", "a "]
    assert_span(only_span(sink), midstream(info.value, chunks[0].response_id), status="error", ttft=True)


def test_sync_function_call(client: genai.Client, sink: InMemorySink) -> None:
    config = types.GenerateContentConfig(tools=[LOOKUP])
    response = client.models.generate_content(model="gemini-tool", contents="Hello there", config=config)
    assert response.function_calls is not None and response.function_calls[0].args == {"q": "Hello there"}
    assert_span(only_span(sink), tool_call(stream=False, response_id=response.response_id))


def test_sync_stream_function_call(client: genai.Client, sink: InMemorySink) -> None:
    config = types.GenerateContentConfig(tools=[LOOKUP])
    chunks = list(client.models.generate_content_stream(model="gemini-tool", contents="Hello there", config=config))
    assert [c.function_calls[0].name for c in chunks if c.function_calls] == ["lookup"]
    assert_span(only_span(sink), tool_call(stream=True, response_id=chunks[0].response_id), ttft=True)


# -- async (asyncio only: aiohttp) -----------------------------------------------------------------


@pytest.mark.anyio
async def test_async_success(aclient: genai.Client, sink: InMemorySink) -> None:
    try:
        response = await aclient.aio.models.generate_content(model="gemini-test", contents="Hello there", config=CONFIG)
    finally:
        await aclient.aio.aclose()
    assert response.text == "Echo: Hello there"
    assert_span(only_span(sink), success(stream=False, response_id=response.response_id))


@pytest.mark.anyio
async def test_async_api_error(aclient: genai.Client, sink: InMemorySink) -> None:
    try:
        with pytest.raises(errors.ClientError) as info:
            await aclient.aio.models.generate_content(model="gemini-error-400", contents="Hi")
    finally:
        await aclient.aio.aclose()
    assert_span(only_span(sink), api_error(False, info.value), status="error")


@pytest.mark.anyio
async def test_async_stream_success(aclient: genai.Client, sink: InMemorySink) -> None:
    try:
        chunks = [
            c
            async for c in await aclient.aio.models.generate_content_stream(model="gemini-test", contents="Hello there")
        ]
    finally:
        await aclient.aio.aclose()
    assert [c.text for c in chunks] == ["Echo: ", "Hello ", "there"]
    assert_span(only_span(sink), success(stream=True, response_id=chunks[0].response_id), ttft=True)


@pytest.mark.anyio
async def test_async_stream_api_error_surfaces_on_first_chunk(aclient: genai.Client, sink: InMemorySink) -> None:
    try:
        stream = await aclient.aio.models.generate_content_stream(model="gemini-error-400", contents="Hi")
        assert finished(sink) == []  # the SDK's async generator starts the request on first iteration
        with pytest.raises(errors.ClientError) as info:
            await stream.__anext__()
    finally:
        await aclient.aio.aclose()
    assert_span(only_span(sink), api_error(True, info.value), status="error")


@pytest.mark.anyio
async def test_async_stream_error_midstream(aclient: genai.Client, sink: InMemorySink) -> None:
    chunks: list[types.GenerateContentResponse] = []
    try:
        stream = await aclient.aio.models.generate_content_stream(model="gemini-midstream-error", contents="a b c d")
        with pytest.raises(errors.ServerError, match="fake midstream error") as info:
            async for chunk in stream:
                chunks.append(chunk)
    finally:
        await aclient.aio.aclose()
    assert [c.text for c in chunks] == ["Echo: ", "a "]
    assert_span(only_span(sink), midstream(info.value, chunks[0].response_id), status="error", ttft=True)


@pytest.mark.anyio
async def test_async_function_call(aclient: genai.Client, sink: InMemorySink) -> None:
    config = types.GenerateContentConfig(tools=[LOOKUP])
    try:
        response = await aclient.aio.models.generate_content(model="gemini-tool", contents="Hello there", config=config)
    finally:
        await aclient.aio.aclose()
    assert response.function_calls is not None
    assert_span(only_span(sink), tool_call(stream=False, response_id=response.response_id))


@pytest.mark.anyio
async def test_async_stream_function_call(aclient: genai.Client, sink: InMemorySink) -> None:
    config = types.GenerateContentConfig(tools=[LOOKUP])
    try:
        stream = await aclient.aio.models.generate_content_stream(
            model="gemini-tool", contents="Hello there", config=config
        )
        chunks = [c async for c in stream]
    finally:
        await aclient.aio.aclose()
    assert [c.function_calls[0].name for c in chunks if c.function_calls] == ["lookup"]
    assert_span(only_span(sink), tool_call(stream=True, response_id=chunks[0].response_id), ttft=True)
