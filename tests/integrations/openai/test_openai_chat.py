"""Chat completions through the real SDK: sync/async x stream/non-stream x success / API error /
error mid-stream, tool calls, parse(), the .stream() helper; each asserts the whole span."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest
from _openai_expect import HELLO, SDK_ASYNCGEN_WARNING, TOOLS, USAGE, assert_span, only_span, spans
from pydantic import BaseModel

import peekr
from peekr.sinks.memory import InMemorySink
from peekr.testing.fake_provider import FakeProvider

pytestmark = pytest.mark.filterwarnings(SDK_ASYNCGEN_WARNING)

NAME = "openai.chat.completions"
BASE = {"provider": "openai", "input": HELLO}
STREAMED = {**BASE, "stream": True, "request": {"stream": True}}
TOOL_CALL = {"id": "call_fake_0", "type": "function", "name": "lookup", "arguments": '{"q": "Hello there"}'}


def _ok(model: str = "gpt-4o", **extra: Any) -> dict[str, Any]:
    return {**BASE, "model": model, **USAGE, "finish_reason": "stop", "output": "Echo: Hello there", **extra}


# -- sync --------------------------------------------------------------------------------------------


def test_create(client: openai.OpenAI, sink: InMemorySink) -> None:
    with peekr.span("parent") as parent:
        response = client.chat.completions.create(
            model="gpt-4o", messages=HELLO, temperature=0.2, max_completion_tokens=50, seed=7, stop=["\n"]
        )
    assert response.choices[0].message.content == "Echo: Hello there"
    request = {"temperature": 0.2, "max_completion_tokens": 50, "seed": 7, "stop": ["\n"]}
    span = next(s for s in _two(sink) if s.name == NAME)
    assert_span(span, NAME, _ok(request=request, response_id=response.id), parent=parent)


def _two(sink: InMemorySink) -> list[Any]:
    """The provider span and its "parent" span."""
    recorded = spans(sink)
    assert sorted(s.name for s in recorded) == [NAME, "parent"]
    return recorded


def test_stream_without_include_usage_hides_the_injected_usage_chunk(
    client: openai.OpenAI, fake: FakeProvider, sink: InMemorySink
) -> None:
    with peekr.span("parent") as parent:
        stream = client.chat.completions.create(model="gpt-4o", messages=HELLO, stream=True)
        chunks = list(stream)
    assert isinstance(stream, openai.Stream)
    assert [c.choices[0].delta.content for c in chunks] == ["", "Echo: ", "Hello ", "there", None]
    assert all(c.usage is None for c in chunks)
    assert fake.last_request.json["stream_options"] == {"include_usage": True}
    assert chunks[0].id.startswith("chatcmpl-")
    span = next(s for s in _two(sink) if s.name == NAME)
    assert_span(
        span,
        NAME,
        {
            **STREAMED,
            "model": "gpt-4o",
            **USAGE,
            "finish_reason": "stop",
            "output": "Echo: Hello there",
            "response_id": chunks[0].id,
        },
        parent=parent,
        stream=True,
    )


def test_stream_with_include_usage_is_left_alone(client: openai.OpenAI, fake: FakeProvider, sink: InMemorySink) -> None:
    options = {"include_usage": True}
    chunks = list(client.chat.completions.create(model="gpt-4o", messages=HELLO, stream=True, stream_options=options))  # type: ignore[call-overload]
    assert options == {"include_usage": True}
    assert chunks[-1].choices == [] and chunks[-1].usage is not None  # the caller asked for it: they get it
    assert fake.last_request.json["stream_options"] == {"include_usage": True}
    assert only_span(sink).attributes["tokens_total"] == 5


def test_stream_keeps_other_stream_options_and_does_not_mutate_them(
    client: openai.OpenAI, fake: FakeProvider, sink: InMemorySink
) -> None:
    options = {"include_obfuscation": False}
    chunks = list(client.chat.completions.create(model="gpt-4o", messages=HELLO, stream=True, stream_options=options))  # type: ignore[call-overload]
    assert options == {"include_obfuscation": False}
    assert fake.last_request.json["stream_options"] == {"include_obfuscation": False, "include_usage": True}
    assert all(c.choices for c in chunks)
    assert only_span(sink).attributes["tokens_input"] == 2


def test_stream_include_usage_false_is_respected(client: openai.OpenAI, fake: FakeProvider, sink: InMemorySink) -> None:
    list(
        client.chat.completions.create(
            model="gpt-4o", messages=HELLO, stream=True, stream_options={"include_usage": False}
        )
    )
    assert fake.last_request.json["stream_options"] == {"include_usage": False}
    assert "tokens_input" not in only_span(sink).attributes  # never invented


def test_stream_usage_request_joins_the_callers_extra_body(
    client: openai.OpenAI, fake: FakeProvider, sink: InMemorySink
) -> None:
    # peekr asks in ``extra_body`` (the SDK sends it as it is); the caller's own members stay and are not mutated
    extra = {"user_tag": "abc"}
    chunks = list(client.chat.completions.create(model="gpt-4o", messages=HELLO, stream=True, extra_body=extra))
    assert extra == {"user_tag": "abc"}
    assert fake.last_request.json["user_tag"] == "abc"
    assert fake.last_request.json["stream_options"] == {"include_usage": True}
    assert all(c.choices and c.usage is None for c in chunks)  # the usage chunk is hidden
    assert only_span(sink).attributes["tokens_total"] == 5


@pytest.mark.parametrize(
    ("given", "sent"),
    [
        ({"include_usage": False}, {"include_usage": False}),  # the caller decided: left alone
        ({"include_obfuscation": False}, {"include_obfuscation": False, "include_usage": True}),
    ],
)
def test_stream_options_in_extra_body_are_kept(
    client: openai.OpenAI, fake: FakeProvider, sink: InMemorySink, given: dict[str, Any], sent: dict[str, Any]
) -> None:
    extra = {"stream_options": dict(given)}
    chunks = list(client.chat.completions.create(model="gpt-4o", messages=HELLO, stream=True, extra_body=extra))
    assert extra == {"stream_options": given}
    assert fake.last_request.json["stream_options"] == sent
    assert all(c.choices for c in chunks)
    assert ("tokens_total" in only_span(sink).attributes) is sent.get("include_usage", False)


def test_inject_stream_usage_switch(
    client: openai.OpenAI, fake: FakeProvider, sink: InMemorySink, monkeypatch: pytest.MonkeyPatch
) -> None:
    import peekr.integrations.openai as integration

    monkeypatch.setattr(integration, "inject_stream_usage", False)
    chunks = list(client.chat.completions.create(model="gpt-4o", messages=HELLO, stream=True))
    assert "stream_options" not in fake.last_request.json
    assert len(chunks) == 5
    span = only_span(sink)
    expected = {**STREAMED, "model": "gpt-4o", "finish_reason": "stop", "output": "Echo: Hello there"}
    assert_span(span, NAME, {**expected, "response_id": chunks[0].id}, stream=True)


@pytest.mark.parametrize("stream", [False, True])
def test_api_error(client: openai.OpenAI, sink: InMemorySink, stream: bool) -> None:
    with peekr.span("parent") as parent, pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="gpt-4o-error-400", messages=HELLO, stream=stream)
    span = next(s for s in _two(sink) if s.name == NAME)
    expected: dict[str, Any] = {
        **BASE,
        "model": "gpt-4o-error-400",
        "error": {"type": "openai.BadRequestError", "message": str(info.value)},
    }
    if stream:
        expected.update(stream=True, request={"stream": True})
    else:
        expected["request"] = {"stream": False}
    assert_span(span, NAME, expected, status="error", parent=parent)


def test_error_mid_stream(client: openai.OpenAI, sink: InMemorySink) -> None:
    seen = []
    ids = set()
    with peekr.span("parent") as parent:
        stream = client.chat.completions.create(model="gpt-4o-midstream-error", messages=HELLO, stream=True)
        with pytest.raises(openai.APIError, match="fake midstream error") as info:
            for chunk in stream:
                seen.append(chunk.choices[0].delta.content)
                ids.add(chunk.id)
    assert seen == ["", "Echo: ", "Hello "]
    (response_id,) = ids
    span = next(s for s in _two(sink) if s.name == NAME)
    assert_span(
        span,
        NAME,
        {
            **STREAMED,
            "model": "gpt-4o-midstream-error",
            "output": "Echo: Hello ",
            "response_id": response_id,
            "error": {"type": "openai.APIError", "message": str(info.value)},
        },
        status="error",
        parent=parent,
        stream=True,
    )


def test_tool_calls(client: openai.OpenAI, sink: InMemorySink) -> None:
    response = client.chat.completions.create(model="gpt-4o-tool", messages=HELLO, tools=TOOLS, tool_choice="auto")
    assert response.choices[0].message.tool_calls is not None
    assert_span(
        only_span(sink),
        NAME,
        {
            **BASE,
            "model": "gpt-4o-tool",
            **USAGE,
            "finish_reason": "tool_calls",
            "tool_calls": [TOOL_CALL],
            "request": {"tool_choice": "auto", "tools": ["lookup"]},
            "response_id": response.id,
        },
    )


def test_tool_calls_streamed_by_index(client: openai.OpenAI, sink: InMemorySink) -> None:
    chunks = list(client.chat.completions.create(model="gpt-4o-tool", messages=HELLO, tools=TOOLS, stream=True))
    arguments = "".join(
        c.choices[0].delta.tool_calls[0].function.arguments or ""  # type: ignore[union-attr]
        for c in chunks
        if c.choices and c.choices[0].delta.tool_calls
    )
    assert json.loads(arguments) == {"q": "Hello there"}
    assert_span(
        only_span(sink),
        NAME,
        {
            **BASE,
            "model": "gpt-4o-tool",
            "stream": True,
            "request": {"stream": True, "tools": ["lookup"]},
            **USAGE,
            "finish_reason": "tool_calls",
            "tool_calls": [TOOL_CALL],
            "response_id": chunks[0].id,
        },
        stream=True,
    )


def test_cache_tokens_are_included_in_input(client: openai.OpenAI, sink: InMemorySink) -> None:
    messages = [{"role": "user", "content": "one two three four five six seven eight"}]
    client.chat.completions.create(model="gpt-4o-cache", messages=messages)  # type: ignore[arg-type]
    attributes = only_span(sink).attributes
    assert (attributes["tokens_input"], attributes["tokens_cache_read"], attributes["tokens_cache_write"]) == (8, 4, 2)
    assert attributes["tokens_total"] == 8 + attributes["tokens_output"]


class City(BaseModel):
    city: str


def test_parse(client: openai.OpenAI, fake: FakeProvider, sink: InMemorySink) -> None:
    fake.chat_responder = lambda body: '{"city": "Paris"}'
    parsed = client.chat.completions.parse(model="gpt-4o", messages=HELLO, response_format=City)
    assert parsed.choices[0].message.parsed == City(city="Paris")
    assert_span(
        only_span(sink),
        NAME,
        {
            **BASE,
            "model": "gpt-4o",
            **USAGE,
            "tokens_output": 2,
            "tokens_total": 4,
            "finish_reason": "stop",
            "output": '{"city": "Paris"}',
            "request": {"response_format": "json_schema"},
            "response_id": parsed.id,
        },
    )


def test_stream_helper_is_one_span(client: openai.OpenAI, sink: InMemorySink) -> None:
    with client.chat.completions.stream(model="gpt-4o", messages=HELLO, temperature=0) as stream:
        final = stream.get_final_completion()
    assert final.choices[0].message.content == "Echo: Hello there"
    assert final.usage is None  # what the helper would have seen without peekr
    assert_span(
        only_span(sink),
        NAME,
        {
            **STREAMED,
            "model": "gpt-4o",
            "request": {"stream": True, "temperature": 0},
            **USAGE,
            "finish_reason": "stop",
            "output": "Echo: Hello there",
            "response_id": final.id,
        },
        stream=True,
    )


# -- async -------------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_async_create(aclient: openai.AsyncOpenAI, sink: InMemorySink) -> None:
    with peekr.span("parent") as parent:
        response = await aclient.chat.completions.create(model="gpt-4o", messages=HELLO)
    assert response.choices[0].message.content == "Echo: Hello there"
    span = next(s for s in _two(sink) if s.name == NAME)
    assert_span(span, NAME, _ok(response_id=response.id), parent=parent)


@pytest.mark.anyio
async def test_async_stream(aclient: openai.AsyncOpenAI, sink: InMemorySink) -> None:
    with peekr.span("parent") as parent:
        stream = await aclient.chat.completions.create(model="gpt-4o", messages=HELLO, stream=True)
        chunks = [chunk async for chunk in stream]
    assert isinstance(stream, openai.AsyncStream)
    assert [c.choices[0].delta.content for c in chunks] == ["", "Echo: ", "Hello ", "there", None]
    span = next(s for s in _two(sink) if s.name == NAME)
    assert_span(
        span,
        NAME,
        {**STREAMED, "model": "gpt-4o", **USAGE, "finish_reason": "stop", "output": "Echo: Hello there"}
        | {"response_id": chunks[-1].id},
        parent=parent,
        stream=True,
    )


@pytest.mark.anyio
@pytest.mark.parametrize("stream", [False, True])
async def test_async_api_error(aclient: openai.AsyncOpenAI, sink: InMemorySink, stream: bool) -> None:
    with peekr.span("parent") as parent, pytest.raises(openai.RateLimitError) as info:
        await aclient.chat.completions.create(model="gpt-4o-error-429", messages=HELLO, stream=stream)
    span = next(s for s in _two(sink) if s.name == NAME)
    expected: dict[str, Any] = {
        **BASE,
        "model": "gpt-4o-error-429",
        "error": {"type": "openai.RateLimitError", "message": str(info.value)},
    }
    expected.update({"stream": True, "request": {"stream": True}} if stream else {"request": {"stream": False}})
    assert_span(span, NAME, expected, status="error", parent=parent)


@pytest.mark.anyio
async def test_async_error_mid_stream(aclient: openai.AsyncOpenAI, sink: InMemorySink) -> None:
    stream = await aclient.chat.completions.create(model="gpt-4o-midstream-error", messages=HELLO, stream=True)
    seen = []
    ids = set()
    with pytest.raises(openai.APIError) as info:
        async for chunk in stream:
            seen.append(chunk.choices[0].delta.content)
            ids.add(chunk.id)
    assert seen == ["", "Echo: ", "Hello "]
    (response_id,) = ids
    assert_span(
        only_span(sink),
        NAME,
        {
            **STREAMED,
            "model": "gpt-4o-midstream-error",
            "output": "Echo: Hello ",
            "response_id": response_id,
            "error": {"type": "openai.APIError", "message": str(info.value)},
        },
        status="error",
        stream=True,
    )


@pytest.mark.anyio
async def test_async_tool_calls(aclient: openai.AsyncOpenAI, sink: InMemorySink) -> None:
    await aclient.chat.completions.create(model="gpt-4o-tool", messages=HELLO, tools=TOOLS)
    assert only_span(sink).attributes["tool_calls"] == [TOOL_CALL]


@pytest.mark.anyio
async def test_async_tool_calls_streamed(aclient: openai.AsyncOpenAI, sink: InMemorySink) -> None:
    stream = await aclient.chat.completions.create(model="gpt-4o-tool", messages=HELLO, tools=TOOLS, stream=True)
    async for _ in stream:
        pass
    span = only_span(sink)
    assert (span.attributes["tool_calls"], span.attributes["finish_reason"]) == ([TOOL_CALL], "tool_calls")


@pytest.mark.anyio
async def test_async_parse(aclient: openai.AsyncOpenAI, fake: FakeProvider, sink: InMemorySink) -> None:
    fake.chat_responder = lambda body: '{"city": "Paris"}'
    parsed = await aclient.chat.completions.parse(model="gpt-4o", messages=HELLO, response_format=City)
    assert parsed.choices[0].message.parsed == City(city="Paris")
    span = only_span(sink)
    assert (span.name, span.attributes["output"], span.attributes["tokens_output"]) == (NAME, '{"city": "Paris"}', 2)


@pytest.mark.anyio
async def test_async_stream_helper_is_one_span(aclient: openai.AsyncOpenAI, sink: InMemorySink) -> None:
    async with aclient.chat.completions.stream(model="gpt-4o", messages=HELLO) as stream:
        final = await stream.get_final_completion()
    assert final.choices[0].message.content == "Echo: Hello there"
    assert_span(
        only_span(sink),
        NAME,
        {**STREAMED, "model": "gpt-4o", **USAGE, "finish_reason": "stop", "output": "Echo: Hello there"}
        | {"response_id": final.id},
        stream=True,
    )


def test_loopback_server(server: FakeProvider, sink: InMemorySink) -> None:
    """The same through a real socket on 127.0.0.1."""
    with server.openai_client() as client:
        chunks = list(client.chat.completions.create(model="gpt-4o", messages=HELLO, stream=True))
    assert len(chunks) == 5
    assert only_span(sink).attributes["tokens_total"] == 5


def test_async_create_keeps_its_shape(fake: FakeProvider, sink: InMemorySink) -> None:
    """``AsyncCompletions.create`` is a plain ``def`` returning a coroutine (PROVIDERS.md P1): with peekr
    it stays one, so a call with bad arguments raises at once, before any ``await``, as without peekr."""
    import inspect

    from openai.resources.chat.completions.completions import AsyncCompletions

    assert not inspect.iscoroutinefunction(AsyncCompletions.create)
    assert inspect.iscoroutinefunction(inspect.unwrap(AsyncCompletions.create))
    aclient = fake.async_openai_client(in_process=True)
    with pytest.raises(TypeError):
        aclient.chat.completions.create()  # type: ignore[call-overload]
    with pytest.raises(TypeError):
        aclient.chat.completions.create(model="gpt-4o", stream=True)  # type: ignore[call-overload]
    recorded = spans(sink)
    assert [s.status for s in recorded] == ["error", "error"]  # recorded, then raised unchanged
    assert recorded[0].attributes["error"]["type"] == "TypeError"
