"""Every way a stream can end ends its span exactly once; context comes from where the call was made."""

from __future__ import annotations

import gc
from typing import Any

import anyio
import httpx2
import pytest
from _gemini_helpers import AIOHTTP_WARNING, TLS_ARGS, assert_span, finished, only_span
from google import genai
from google.genai import types

import peekr
from peekr.sinks.memory import InMemorySink
from peekr.testing.fake_provider import FakeProvider

pytestmark = pytest.mark.filterwarnings(AIOHTTP_WARNING)


def partial(response_id: str | None, model: str = "gemini-test") -> dict[str, Any]:
    """The span of "a b c d" stopped after its first chunk ("Echo: ", prompt-only usage)."""
    assert response_id  # the first chunk's own ``response_id``
    return {
        "provider": "gemini",
        "model": model,
        "stream": True,
        "input": "a b c d",
        "request": {"stream": True},
        "output": "Echo: ",
        "tokens_input": 4,
        "tokens_total": 4,
        "response_id": response_id,
    }


def test_break_then_close_ends_the_span_and_closes_the_sdk_stream(client: genai.Client, sink: InMemorySink) -> None:
    stream = client.models.generate_content_stream(model="gemini-test", contents="a b c d")
    for chunk in stream:
        first = chunk
        break
    assert finished(sink) == []  # a paused stream is still running
    sdk_stream = stream.gi_frame.f_locals["stream"]  # type: ignore[attr-defined]
    stream.close()  # type: ignore[attr-defined]
    assert sdk_stream.gi_frame is None  # closed at once, as the user's close() would have done without peekr
    assert_span(only_span(sink), partial(first.response_id), ttft=True)
    stream.close()  # type: ignore[attr-defined]  # a second close changes nothing
    del stream
    gc.collect()
    assert len(finished(sink)) == 1


def test_garbage_collected_after_partial_iteration(client: genai.Client, sink: InMemorySink) -> None:
    stream = client.models.generate_content_stream(model="gemini-test", contents="a b c d")
    first = next(stream)
    assert first.text == "Echo: "
    del stream
    gc.collect()
    assert_span(only_span(sink), partial(first.response_id), ttft=True)


def test_garbage_collected_without_iteration(fake: FakeProvider, client: genai.Client, sink: InMemorySink) -> None:
    before = len(fake.requests)
    stream = client.models.generate_content_stream(model="gemini-test", contents="a b c d")
    del stream
    gc.collect()
    assert len(fake.requests) == before  # the SDK never sent the request
    attributes = {
        "provider": "gemini",
        "model": "gemini-test",
        "stream": True,
        "input": "a b c d",
        "request": {"stream": True},
    }
    assert_span(only_span(sink), attributes)


def test_exception_in_the_loop_body_is_not_the_streams_error(client: genai.Client, sink: InMemorySink) -> None:
    seen = []

    def consume() -> None:
        for chunk in client.models.generate_content_stream(model="gemini-test", contents="a b c d"):
            seen.append(chunk)
            raise KeyError("user code")

    with pytest.raises(KeyError, match="user code"):
        consume()
    gc.collect()
    assert_span(only_span(sink), partial(seen[0].response_id), ttft=True)  # the stream itself was fine, then abandoned


def test_context_is_taken_when_the_call_is_made(client: genai.Client, sink: InMemorySink) -> None:
    with peekr.session(user_id="u1", session_id="s1", tenant_id="acme"), peekr.span("handler") as outer:
        stream = client.models.generate_content_stream(model="gemini-test", contents="Hello there")
        response = client.models.generate_content(model="gemini-test", contents="Hello there")
    assert response.text == "Echo: Hello there"
    chunks = list(stream)  # iterated outside both blocks
    assert "".join(c.text or "" for c in chunks) == "Echo: Hello there"
    spans = {s.name + str(s.attributes.get("stream")): s for s in finished(sink)}
    handler, call, streamed = (
        spans["handlerNone"],
        spans["gemini.generate_contentNone"],
        spans["gemini.generate_contentTrue"],
    )
    assert handler.span_id == outer.span_id
    common: dict[str, Any] = {"provider": "gemini", "model": "gemini-test", "input": "Hello there"}
    common |= {"output": "Echo: Hello there"}
    common |= {"finish_reason": "STOP", "tokens_input": 2, "tokens_output": 3, "tokens_total": 5}
    common |= {"user_id": "u1", "session_id": "s1"}
    assert_span(call, {**common, "response_id": response.response_id}, parent_id=outer.span_id)
    streamed_attributes = {**common, "stream": True, "request": {"stream": True}, "response_id": chunks[0].response_id}
    assert_span(streamed, streamed_attributes, parent_id=outer.span_id, ttft=True)
    assert {s.trace_id for s in (handler, call, streamed)} == {outer.trace_id}
    assert {s.tenant_id for s in (handler, call, streamed)} == {"acme"}


@pytest.mark.anyio
async def test_async_break_then_aclose(aclient: genai.Client, sink: InMemorySink) -> None:
    try:
        stream = await aclient.aio.models.generate_content_stream(model="gemini-test", contents="a b c d")
        async for chunk in stream:
            first = chunk
            break
        assert finished(sink) == []
        sdk_stream = stream.ag_frame.f_locals["stream"]  # type: ignore[attr-defined]
        await stream.aclose()  # type: ignore[attr-defined]
        assert sdk_stream.ag_frame is None  # the SDK's generator was closed too
    finally:
        await aclient.aio.aclose()
    assert_span(only_span(sink), partial(first.response_id), ttft=True)


@pytest.mark.anyio
async def test_async_never_iterated_is_recorded_when_collected(aclient: genai.Client, sink: InMemorySink) -> None:
    try:
        stream = await aclient.aio.models.generate_content_stream(model="gemini-test", contents="a b c d")
        del stream
        gc.collect()
    finally:
        await aclient.aio.aclose()
    attributes = {
        "provider": "gemini",
        "model": "gemini-test",
        "stream": True,
        "input": "a b c d",
        "request": {"stream": True},
    }
    assert_span(only_span(sink), attributes)


@pytest.mark.anyio
async def test_async_stream_cancelled_while_waiting(aclient: genai.Client, sink: InMemorySink) -> None:
    # The fake answers after 2 s, so the cancellation lands inside the SDK's read, deterministically.
    try:
        stream = await aclient.aio.models.generate_content_stream(model="gemini-latency-2000", contents="a b c d")
        with anyio.move_on_after(0.05):
            async for _ in stream:
                pytest.fail("no chunk can arrive before the cancellation")
    finally:
        await aclient.aio.aclose()
    span = only_span(sink)
    error = span.attributes.pop("error")
    assert error["type"] == "asyncio.CancelledError"
    attributes = {"provider": "gemini", "model": "gemini-latency-2000", "stream": True, "input": "a b c d"}
    assert_span(span, {**attributes, "request": {"stream": True}}, status="error")


@pytest.mark.anyio
async def test_async_call_cancelled(aclient: genai.Client, sink: InMemorySink) -> None:
    try:
        with anyio.move_on_after(0.05):
            await aclient.aio.models.generate_content(model="gemini-latency-2000", contents="Hi")
    finally:
        await aclient.aio.aclose()
    span = only_span(sink)
    assert span.status == "error" and span.attributes["error"]["type"] == "asyncio.CancelledError"
    assert "output" not in span.attributes and "tokens_total" not in span.attributes


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
async def test_async_on_httpx2_transport_runs_on_trio_too(fake: FakeProvider, sink: InMemorySink) -> None:
    """With a user-supplied httpx2 client the SDK skips aiohttp, so nothing here assumes asyncio."""
    http = httpx2.AsyncClient(transport=fake.async_transport())
    options = types.HttpOptions(
        base_url="http://fake-provider",
        httpx_async_client=http,
        retry_options=types.HttpRetryOptions(attempts=1),
        **TLS_ARGS,
    )
    client = genai.Client(api_key="fake", http_options=options)
    try:
        response = await client.aio.models.generate_content(model="gemini-test", contents="Hello there")
        texts = [
            c.text
            async for c in await client.aio.models.generate_content_stream(model="gemini-test", contents="a b c d")
        ]
    finally:
        await http.aclose()
    assert response.text == "Echo: Hello there"
    assert texts == ["Echo: ", "a ", "b ", "c ", "d"]
    call, streamed = finished(sink)
    assert (call.attributes["output"], call.attributes["tokens_total"]) == ("Echo: Hello there", 5)
    assert (streamed.attributes["output"], streamed.attributes["tokens_total"]) == ("Echo: a b c d", 9)
