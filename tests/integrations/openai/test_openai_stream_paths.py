"""Every way a stream can end ends its span exactly once, keeping what arrived; the caller keeps the
SDK's own stream objects, which behave as without peekr (PROVIDERS.md §6, P3)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import anyio
import openai
import pytest
from _openai_expect import HELLO, SDK_ASYNCGEN_WARNING, only_span, spans

from peekr.sinks.memory import InMemorySink

pytestmark = [
    pytest.mark.usefixtures("sink"),
    # Several tests leave streams early on purpose; trio then also reports the SDK's own abandoned
    # generators (and peekr's traced one wrapping them) when they are collected.
    pytest.mark.filterwarnings(SDK_ASYNCGEN_WARNING),
    pytest.mark.filterwarnings(r"ignore:Async generator 'peekr\..*' was garbage collected:ResourceWarning"),
]

PARTIAL = "Echo: "  # what arrived before leaving: the role chunk and the first word


@pytest.fixture
def no_gc() -> Iterator[None]:
    """Prove a path ends the span by itself, not through the garbage collector."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _create(client: openai.OpenAI, model: str = "gpt-4o") -> openai.Stream:  # type: ignore[type-arg]
    return client.chat.completions.create(model=model, messages=HELLO, stream=True)


def test_stream_object_is_the_sdks_own(client: openai.OpenAI) -> None:
    stream = _create(client)
    assert type(stream) is openai.Stream
    assert stream.response.status_code == 200
    first = next(stream)  # __next__ works as before
    assert first.choices[0].delta.role == "assistant"
    assert [c.choices[0].delta.content for c in stream] == ["Echo: ", "Hello ", "there", None]


def test_exhaustion(client: openai.OpenAI, sink: InMemorySink, no_gc: None) -> None:
    list(_create(client))
    span = only_span(sink)
    assert (span.status, span.attributes["output"], span.attributes["tokens_total"]) == ("ok", "Echo: Hello there", 5)


def test_break_keeps_the_stream_open_and_resumable(client: openai.OpenAI, sink: InMemorySink, no_gc: None) -> None:
    stream = _create(client)
    for chunk in stream:
        if chunk.choices[0].delta.content:
            break
    assert spans(sink) == []  # the caller may go on iterating
    rest = [c.choices[0].delta.content for c in stream]
    assert rest == ["Hello ", "there", None]
    assert only_span(sink).attributes["output"] == "Echo: Hello there"


def test_break_then_close(client: openai.OpenAI, sink: InMemorySink, no_gc: None) -> None:
    stream = _create(client)
    for chunk in stream:
        if chunk.choices[0].delta.content:
            break
    stream.close()
    stream.close()
    span = only_span(sink)
    assert span.status == "ok"
    assert span.attributes["output"] == PARTIAL
    assert "tokens_input" not in span.attributes  # the usage chunk never came: no invented counts


def test_close_before_iterating(client: openai.OpenAI, sink: InMemorySink, no_gc: None) -> None:
    _create(client).close()
    span = only_span(sink)
    assert span.status == "ok" and "output" not in span.attributes and "ttft_ms" not in span.attributes


def test_with_block_exit(client: openai.OpenAI, sink: InMemorySink, no_gc: None) -> None:
    with _create(client) as stream:
        for chunk in stream:
            if chunk.choices[0].delta.content:
                break
    assert only_span(sink).attributes["output"] == PARTIAL


def test_chat_helper_early_exit_ends_the_span_at_once(client: openai.OpenAI, sink: InMemorySink, no_gc: None) -> None:
    with client.chat.completions.stream(model="gpt-4o", messages=HELLO) as stream:
        for event in stream:
            if event.type == "content.delta" and event.delta:  # the role chunk gives an empty one
                break
    span = only_span(sink)  # not left open until the garbage collector runs
    assert (span.status, span.attributes["output"]) == ("ok", PARTIAL)


def test_responses_helper_early_exit_ends_the_span_at_once(
    client: openai.OpenAI, sink: InMemorySink, no_gc: None
) -> None:
    with client.responses.stream(model="gpt-4o", input="Hello there") as stream:
        for event in stream:
            if event.type == "response.output_text.delta":
                break
    span = only_span(sink)
    assert (span.name, span.status, span.attributes["output"]) == ("openai.responses", "ok", PARTIAL)
    assert span.attributes["ttft_ms"] >= 0


def test_garbage_collected_mid_stream(client: openai.OpenAI, sink: InMemorySink) -> None:
    stream = _create(client)
    next(stream)
    next(stream)
    del stream
    gc.collect()
    assert only_span(sink).attributes["output"] == PARTIAL


def test_garbage_collected_before_iterating(client: openai.OpenAI, sink: InMemorySink) -> None:
    stream = _create(client)
    del stream
    gc.collect()
    span = only_span(sink)
    assert span.status == "ok" and "output" not in span.attributes


def test_every_path_at_once_is_still_one_span(client: openai.OpenAI, sink: InMemorySink) -> None:
    with _create(client) as stream:
        list(stream)
        stream.close()
    del stream
    gc.collect()
    assert only_span(sink).attributes["tokens_total"] == 5


def test_error_mid_stream_after_close_hook_keeps_the_error(client: openai.OpenAI, sink: InMemorySink) -> None:
    # The SDK closes the response in its generator's finally before the error reaches peekr's
    # iterator: the close hook must leave the ending to the iterator, which knows the error.
    with pytest.raises(openai.APIError), _create(client, "gpt-4o-midstream-error") as stream:
        list(stream)
    span = only_span(sink)
    assert span.status == "error" and span.attributes["error"]["type"] == "openai.APIError"


# -- async -------------------------------------------------------------------------------------------


async def _acreate(aclient: openai.AsyncOpenAI, model: str = "gpt-4o") -> openai.AsyncStream:  # type: ignore[type-arg]
    return await aclient.chat.completions.create(model=model, messages=HELLO, stream=True)


@pytest.mark.anyio
async def test_async_stream_object_is_the_sdks_own(aclient: openai.AsyncOpenAI, sink: InMemorySink) -> None:
    stream = await _acreate(aclient)
    assert type(stream) is openai.AsyncStream
    first = await stream.__anext__()
    assert first.choices[0].delta.role == "assistant"
    assert [c.choices[0].delta.content async for c in stream] == ["Echo: ", "Hello ", "there", None]
    assert only_span(sink).attributes["tokens_total"] == 5


@pytest.mark.anyio
async def test_async_break_then_close(aclient: openai.AsyncOpenAI, sink: InMemorySink) -> None:
    stream = await _acreate(aclient)
    async for chunk in stream:
        if chunk.choices[0].delta.content:
            break
    assert spans(sink) == []
    await stream.close()
    await stream.close()
    span = only_span(sink)
    assert (span.status, span.attributes["output"]) == ("ok", PARTIAL)


@pytest.mark.anyio
async def test_async_with_block_exit(aclient: openai.AsyncOpenAI, sink: InMemorySink) -> None:
    async with await _acreate(aclient) as stream:
        async for chunk in stream:
            if chunk.choices[0].delta.content:
                break
    assert only_span(sink).attributes["output"] == PARTIAL


@pytest.mark.anyio
async def test_async_chat_helper_early_exit(aclient: openai.AsyncOpenAI, sink: InMemorySink) -> None:
    async with aclient.chat.completions.stream(model="gpt-4o", messages=HELLO) as stream:
        async for event in stream:
            if event.type == "content.delta" and event.delta:  # the role chunk gives an empty one
                break
    assert only_span(sink).attributes["output"] == PARTIAL


@pytest.mark.anyio
async def test_async_responses_helper_early_exit(aclient: openai.AsyncOpenAI, sink: InMemorySink) -> None:
    async with aclient.responses.stream(model="gpt-4o", input="Hello there") as stream:
        async for event in stream:
            if event.type == "response.output_text.delta":
                break
    assert only_span(sink).attributes["output"] == PARTIAL


@pytest.mark.anyio
async def test_async_error_mid_stream_keeps_the_error(aclient: openai.AsyncOpenAI, sink: InMemorySink) -> None:
    stream = await _acreate(aclient, "gpt-4o-midstream-error")
    with pytest.raises(openai.APIError):
        async for _ in stream:
            pass
    assert only_span(sink).status == "error"


@pytest.mark.anyio
async def test_async_cancellation_mid_stream(aclient: openai.AsyncOpenAI, sink: InMemorySink) -> None:
    stream = await _acreate(aclient, "gpt-4o-slow")  # 50 ms between chunks
    seen = []
    with anyio.move_on_after(0.08) as scope:
        async for chunk in stream:
            seen.append(chunk)
    assert scope.cancelled_caught
    assert 1 <= len(seen) < 5
    span = only_span(sink)  # ended once, by the cancellation passing through
    assert span.status == "error"
    assert "Cancel" in span.attributes["error"]["type"]
    await stream.close()
    assert len(spans(sink)) == 1
