"""The chunks of a stream peekr asked usage for are exactly the chunks the caller gets without peekr.

Asking for ``stream_options.include_usage`` makes the server add ``"usage": null`` to every content
chunk; peekr takes that member out of the events before the SDK parses them, so the chunk models have
the same fields set (``model_fields_set``, ``model_dump(exclude_unset=True)``) as without peekr, over
real HTTP, sync and async (asyncio and trio). An event whose ``"usage": null`` is not certainly the
outer object's member is passed on as it came.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx2
import openai
import pytest
from _openai_expect import HELLO, SDK_ASYNCGEN_WARNING
from openai._streaming import SSEDecoder

import peekr
from peekr.integrations.openai import _chat as chat
from peekr.sinks.memory import InMemorySink
from peekr.testing.fake_provider import FakeProvider

pytestmark = pytest.mark.filterwarnings(SDK_ASYNCGEN_WARNING)

MODELS = ["gpt-4o", "gpt-4o-tool"]  # text deltas; a tool call's deltas


def _seen(chunks: list[Any]) -> list[tuple[dict[str, Any], set[str]]]:
    """What the caller can tell of each chunk (the id is a hash of the request body, which peekr changes)."""
    seen = []
    for chunk in chunks:
        dumped = chunk.model_dump(exclude_unset=True)
        assert dumped.pop("id").startswith("chatcmpl-")
        seen.append((dumped, set(chunk.model_fields_set)))
    return seen


def _record() -> InMemorySink:
    sink = InMemorySink()
    peekr.instrument(storage="none", sinks=[sink], providers=["openai"])
    return sink


def _stream(client: openai.OpenAI, model: str) -> list[Any]:
    return list(client.chat.completions.create(model=model, messages=HELLO, stream=True, tools=_tools(model)))


def _tools(model: str) -> Any:
    if "tool" not in model:
        return openai.omit
    return [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]


@pytest.mark.parametrize("model", MODELS)
def test_sync_chunks_are_the_ones_the_caller_gets_without_peekr(server: FakeProvider, model: str) -> None:
    with server.openai_client() as client:
        without = _stream(client, model)
        assert "stream_options" not in server.last_request.json
        sink = _record()
        with_peekr = _stream(client, model)
    assert server.last_request.json["stream_options"] == {"include_usage": True}
    assert _seen(with_peekr) == _seen(without)
    assert all("usage" not in chunk.model_fields_set for chunk in with_peekr)
    assert peekr.flush()
    (span,) = sink.spans
    assert span.attributes["tokens_total"] > 0  # the usage chunk still reached the span


# On trio, httpx2's connection-pool byte stream, left unfinished when the SDK stops at ``[DONE]``, is
# finalised by the garbage collector with or without peekr (httpx2 over a real socket only). It wraps
# httpcore2's connection byte stream, also unfinished; which of the two the collector reports depends on
# the order it finalises them in, so both are expected.
@pytest.mark.filterwarnings(
    "ignore:Exception ignored in. <async_generator object PoolByteStream.__aiter__:pytest.PytestUnraisableExceptionWarning"
)
@pytest.mark.filterwarnings(
    "ignore:Exception ignored in. <async_generator object HTTP11ConnectionByteStream.__aiter__"
    ":pytest.PytestUnraisableExceptionWarning"
)
@pytest.mark.anyio
@pytest.mark.parametrize("model", MODELS)
async def test_async_chunks_are_the_ones_the_caller_gets_without_peekr(server: FakeProvider, model: str) -> None:
    async def stream() -> list[Any]:
        async with server.async_openai_client() as client:
            created = await client.chat.completions.create(
                model=model, messages=HELLO, stream=True, tools=_tools(model)
            )
            return [chunk async for chunk in created]

    without = await stream()
    sink = _record()
    with_peekr = await stream()
    assert server.last_request.json["stream_options"] == {"include_usage": True}
    assert _seen(with_peekr) == _seen(without)
    assert peekr.flush()
    (span,) = sink.spans
    assert span.attributes["tokens_total"] > 0


# -- other shapes of the member, served as OpenAI writes them (compact JSON) ---------------------------

_HEAD = '{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m"'
_CONTENT = '"choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}]'
_USAGE = '{"prompt_tokens":2,"completion_tokens":1,"total_tokens":3}'


def _body(*chunks: str) -> bytes:
    return b"".join(b"data: " + chunk.encode() + b"\n\n" for chunk in chunks) + b"data: [DONE]\n\n"


def _chunks_from(body: bytes, *, instrumented: bool) -> list[Any]:
    def answer(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=body)

    client = openai.OpenAI(
        api_key="sk-fake", base_url="http://fake/v1", http_client=httpx2.Client(transport=httpx2.MockTransport(answer))
    )
    if instrumented:
        _record()
    try:
        return list(client.chat.completions.create(model="m", messages=HELLO, stream=True))
    finally:
        peekr.shutdown(timeout=5)


def _without_usage(seen: list[tuple[dict[str, Any], set[str]]]) -> list[tuple[dict[str, Any], set[str]]]:
    return [({k: v for k, v in dumped.items() if k != "usage"}, fields - {"usage"}) for dumped, fields in seen]


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(f'{_HEAD},{_CONTENT},"usage":null}}', id="last-member"),
        pytest.param(f'{_HEAD},{_CONTENT},"usage":null,"obfuscation":"aB3x"}}', id="before-a-scalar"),
        pytest.param(f'{_HEAD}, {_CONTENT}, "usage": null}}', id="spaced"),
    ],
)
def test_the_outer_null_usage_member_is_taken_out(content: str) -> None:
    body = _body(content, content, f'{_HEAD},"choices":[],"usage":{_USAGE}}}')
    plain = _seen(_chunks_from(body, instrumented=False))
    assert len(plain) == 3 and "usage" in plain[0][1]
    seen = _seen(_chunks_from(body, instrumented=True))
    assert seen == _without_usage(plain[:2])  # the usage-only chunk is hidden, the member is gone


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(f'{{"usage":null,{_HEAD[1:]},{_CONTENT}}}', id="first-member"),
        pytest.param(f'{_HEAD},{_CONTENT},"usage":null,"x":{{"y":1}}}}', id="before-an-object"),
        pytest.param(f'{_HEAD},"x":{{"usage":null}},{_CONTENT}}}', id="nested"),
    ],
)
def test_a_member_that_is_not_certainly_the_outer_one_is_left_alone(content: str) -> None:
    body = _body(content, f'{_HEAD},"choices":[],"usage":{_USAGE}}}')
    plain = _seen(_chunks_from(body, instrumented=False))
    seen = _seen(_chunks_from(body, instrumented=True))
    assert seen == plain[:1]


# -- a decoder other than the SDK's own, and a connection that fails mid-stream --------------------------

_CHUNK = f'{_HEAD},{_CONTENT},"usage":null}}'
_USAGE_CHUNK = f'{_HEAD},"choices":[],"usage":{_USAGE}}}'


class _OwnDecoder(SSEDecoder):
    """A decoder of the caller's own (a subclass of the SDK's): peekr filters its events, not its loop."""


class _OwnDecoderClient(openai.OpenAI):
    def _make_sse_decoder(self) -> SSEDecoder:
        return _OwnDecoder()


class _AsyncOwnDecoderClient(openai.AsyncOpenAI):
    def _make_sse_decoder(self) -> SSEDecoder:
        return _OwnDecoder()


def _answer(body: bytes) -> httpx2.MockTransport:
    return httpx2.MockTransport(
        lambda request: httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=body)
    )


def test_a_decoder_of_the_callers_own_gets_the_same_events() -> None:
    body = _body(_CHUNK, _CHUNK, _USAGE_CHUNK)
    plain = _seen(_chunks_from(body, instrumented=False))
    sink = _record()
    client = _OwnDecoderClient(
        api_key="sk-fake", base_url="http://fake/v1", http_client=httpx2.Client(transport=_answer(body))
    )
    stream = client.chat.completions.create(model="m", messages=HELLO, stream=True)
    assert type(stream._decoder._decoder) is _OwnDecoder  # type: ignore[attr-defined]  # filtered around the caller's decoder
    assert _seen(list(stream)) == _without_usage(plain[:2])
    assert peekr.flush()
    (span,) = sink.spans
    assert span.attributes["tokens_total"] == 3


@pytest.mark.anyio
async def test_async_a_decoder_of_the_callers_own_gets_the_same_events() -> None:
    body = _body(_CHUNK, _CHUNK, _USAGE_CHUNK)
    plain = _seen(_chunks_from(body, instrumented=False))
    sink = _record()
    async with _AsyncOwnDecoderClient(
        api_key="sk-fake", base_url="http://fake/v1", http_client=httpx2.AsyncClient(transport=_answer(body))
    ) as client:
        stream = await client.chat.completions.create(model="m", messages=HELLO, stream=True)
        seen = _seen([chunk async for chunk in stream])
    assert seen == _without_usage(plain[:2])
    assert peekr.flush()
    (span,) = sink.spans
    assert span.attributes["tokens_total"] == 3


def _failing_body() -> Iterator[bytes]:
    yield _body(_CHUNK).removesuffix(b"data: [DONE]\n\n")
    raise httpx2.ReadError("connection reset mid-stream")


async def _afailing_body() -> AsyncIterator[bytes]:
    for part in _failing_body():
        yield part


def _failing_client(client_class: type[Any], http_client_class: type[Any], content: Any) -> Any:
    transport = httpx2.MockTransport(
        lambda request: httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=content())
    )
    return client_class(
        api_key="sk-fake", base_url="http://fake/v1", max_retries=0, http_client=http_client_class(transport=transport)
    )


def test_a_connection_failing_mid_stream_fails_as_without_peekr() -> None:
    def consume() -> tuple[list[Any], BaseException]:
        client = _failing_client(openai.OpenAI, httpx2.Client, _failing_body)
        got: list[Any] = []
        with pytest.raises(openai.APIConnectionError) as failure:
            got.extend(client.chat.completions.create(model="m", messages=HELLO, stream=True))
        return got, failure.value

    plain, plain_error = consume()
    sink = _record()
    got, error = consume()
    assert _seen(got) == _without_usage(_seen(plain)) and len(got) == 1
    assert type(error.__cause__) is type(plain_error.__cause__) is httpx2.ReadError
    assert peekr.flush()
    (span,) = sink.spans
    assert span.status == "error" and span.attributes["output"] == "Hi"


@pytest.mark.anyio
async def test_async_a_connection_failing_mid_stream_fails_as_without_peekr() -> None:
    async def consume() -> tuple[list[Any], BaseException]:
        got: list[Any] = []
        async with _failing_client(openai.AsyncOpenAI, httpx2.AsyncClient, _afailing_body) as client:
            stream = await client.chat.completions.create(model="m", messages=HELLO, stream=True)
            with pytest.raises(openai.APIConnectionError) as failure:
                async for chunk in stream:
                    got.append(chunk)
        return got, failure.value

    plain, plain_error = await consume()
    sink = _record()
    got, error = await consume()
    assert _seen(got) == _without_usage(_seen(plain)) and len(got) == 1
    assert type(error.__cause__) is type(plain_error.__cause__) is httpx2.ReadError
    assert peekr.flush()
    (span,) = sink.spans
    assert span.status == "error" and span.attributes["output"] == "Hi"


@pytest.mark.anyio
async def test_async_a_stream_that_ends_without_done_gets_the_same_chunks() -> None:
    body = _body(_CHUNK, _USAGE_CHUNK).removesuffix(b"data: [DONE]\n\n") + b": the end, no newline"

    async def consume() -> list[Any]:
        async with openai.AsyncOpenAI(
            api_key="sk-fake", base_url="http://fake/v1", http_client=httpx2.AsyncClient(transport=_answer(body))
        ) as client:
            stream = await client.chat.completions.create(model="m", messages=HELLO, stream=True)
            return _seen([chunk async for chunk in stream])

    plain = await consume()
    sink = _record()
    assert await consume() == _without_usage(plain[:1])
    assert peekr.flush()
    (span,) = sink.spans
    assert span.attributes["tokens_total"] == 3


def test_a_decoder_loop_peekr_does_not_know_gets_the_plain_filter(monkeypatch: pytest.MonkeyPatch) -> None:
    # Stands for another SDK release whose ``iter_bytes`` is not the loop ``_fused_events`` copies.
    sdk_loop = SSEDecoder.iter_bytes

    def iter_bytes(self: SSEDecoder, iterator: Iterator[bytes]) -> Iterator[Any]:
        yield from sdk_loop(self, iterator)

    body = _body(_CHUNK, _CHUNK, _USAGE_CHUNK)
    plain = _seen(_chunks_from(body, instrumented=False))
    monkeypatch.setattr(SSEDecoder, "iter_bytes", iter_bytes)
    monkeypatch.setattr(chat, "_SSE", None)  # decided again on the next stream
    monkeypatch.setattr(chat, "_SDK_DECODER", None)
    sink = _record()
    client = openai.OpenAI(
        api_key="sk-fake", base_url="http://fake/v1", http_client=httpx2.Client(transport=_answer(body))
    )
    assert _seen(list(client.chat.completions.create(model="m", messages=HELLO, stream=True))) == _without_usage(
        plain[:2]
    )
    assert chat._SSE is not None and chat._SDK_DECODER is None  # the plain filter, around the SDK's loop
    assert peekr.flush()
    (span,) = sink.spans
    assert span.attributes["tokens_total"] == 3


def test_a_stream_that_ends_without_done_gets_the_same_chunks() -> None:
    body = _body(_CHUNK, _USAGE_CHUNK).removesuffix(b"data: [DONE]\n\n") + b": the end, no newline"
    plain = _seen(_chunks_from(body, instrumented=False))
    seen = _seen(_chunks_from(body, instrumented=True))
    assert seen == _without_usage(plain[:1])
