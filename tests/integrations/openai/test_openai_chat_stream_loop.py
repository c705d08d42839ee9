"""Streamed chat completions record the same span whether peekr runs its copy of the SDK's stream loop (the
per-chunk step inside it, reading each chunk's JSON object) or wraps the SDK's loop in the traced iterator
(an SDK release whose loop peekr does not know), and the caller gets the same chunks either way.

The bodies are hand-made server-sent events covering what the fake provider does not send: an Azure-style
first chunk (empty id, no choices), OpenAI's compact deltas that leave out every null field, a second choice,
a refusal, tool-call fragments, a ``thread.`` event and a chunk without ``choices``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx2
import openai
import pytest
from _openai_expect import HELLO, SDK_ASYNCGEN_WARNING
from _stream_loops import unknown_sdk_loops
from openai._streaming import AsyncStream, Stream

import peekr
from peekr._errors import internal_error_count
from peekr.integrations.openai import _chat_loop
from peekr.sinks.memory import InMemorySink

pytestmark = pytest.mark.filterwarnings(SDK_ASYNCGEN_WARNING)

_HEAD = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-2024"}


def _chunk(*choices: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {**_HEAD, "choices": list(choices), **extra}


def _call(index: int, **function: Any) -> dict[str, Any]:
    return {"index": index, "function": function}


EVENTS: list[Any] = [
    {**_chunk(), "id": "", "model": "", "prompt_filter_results": [{"prompt_index": 0}]},  # Azure's first chunk
    _chunk({"index": 0, "delta": {"role": "assistant", "content": "", "refusal": None}, "finish_reason": None}),
    _chunk({"index": 0, "delta": {"content": "Hel"}, "logprobs": None, "finish_reason": None}),  # OpenAI's compact form
    _chunk({"index": 1, "delta": {"content": "Other"}}),  # a second choice (n=2); no finish_reason key
    _chunk({"index": 0, "delta": {"content": "lo"}}, {"index": 1, "delta": {"refusal": " no"}}),
    _chunk({"index": 0, "delta": None}),
    _chunk({"index": 0, "delta": {}}),
    _chunk({"index": 0, "delta": {"tool_calls": [{**_call(0, name="lookup", arguments=""), "id": "call_1"}]}}),
    _chunk({"index": 0, "delta": {"tool_calls": [_call(0, arguments='{"q":')]}}),
    _chunk({"index": 0, "delta": {"tool_calls": [_call(0, arguments=' "x"}')]}}),
    _chunk({"index": 1, "delta": {"content": "!"}, "finish_reason": "length"}),
    _chunk({"index": 0, "delta": {}, "finish_reason": "tool_calls"}),
    _chunk(usage={"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12}),  # asked for by the caller
]


def _body(events: list[Any]) -> bytes:
    return b"".join(f"data: {json.dumps(event)}\n\n".encode() for event in events) + b"data: [DONE]\n\n"


def _transport(body: bytes) -> httpx2.MockTransport:
    return httpx2.MockTransport(
        lambda request: httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=body)
    )


def _create(client: Any) -> Any:
    return client.chat.completions.create(
        model="gpt-4o", messages=HELLO, stream=True, stream_options={"include_usage": True}
    )


def _seen(chunks: list[Any]) -> list[tuple[dict[str, Any], set[str]]]:
    return [(chunk.model_dump(exclude_unset=True), set(chunk.model_fields_set)) for chunk in chunks]


def _consume(body: bytes) -> tuple[list[Any], str]:
    client = openai.OpenAI(
        api_key="sk-fake", base_url="http://fake/v1", http_client=httpx2.Client(transport=_transport(body))
    )
    stream = _create(client)
    loop = type(stream._iterator).__name__, stream._iterator.__qualname__
    return list(stream), ".".join(loop)


async def _aconsume(body: bytes) -> tuple[list[Any], str]:
    client = openai.AsyncOpenAI(
        api_key="sk-fake", base_url="http://fake/v1", http_client=httpx2.AsyncClient(transport=_transport(body))
    )
    stream = await _create(client)
    loop = type(stream._iterator).__name__, stream._iterator.__qualname__
    return [chunk async for chunk in stream], ".".join(loop)


def _span(sink: InMemorySink) -> tuple[str, dict[str, Any]]:
    assert peekr.flush()
    (span,) = sink.spans
    attributes = {key: value for key, value in span.attributes.items() if key not in ("ttft_ms", "duration_ms")}
    return span.status, attributes


def _record() -> InMemorySink:
    sink = InMemorySink()
    peekr.instrument(storage="none", sinks=[sink], providers=["openai"])
    return sink


EXPECTED = {
    "response_id": "chatcmpl-1",
    "model": "gpt-4o",  # the first chunk's (Azure's empty one): the request's stays
    "output": ["Hello", "Other no!"],
    "tool_calls": [{"id": "call_1", "type": "function", "name": "lookup", "arguments": '{"q": "x"}'}],
    "finish_reason": "length",
    "tokens_input": 5,
    "tokens_output": 7,
    "tokens_total": 12,
}


@pytest.fixture
def sdk_loop_unknown(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """An SDK release whose stream loops are not the ones peekr copies (a wrapper of the same loops)."""
    unknown_sdk_loops(monkeypatch, Stream, AsyncStream, _chat_loop)
    yield
    _chat_loop._sdk = None


def _check(recorded: tuple[str, dict[str, Any]]) -> None:
    status, attributes = recorded
    assert status == "ok"
    assert {key: attributes.get(key) for key in EXPECTED} == EXPECTED


def test_the_loop_copy_and_the_traced_iterator_record_the_same_span(monkeypatch: pytest.MonkeyPatch) -> None:
    body = _body(EVENTS)
    plain, _ = _consume(body)
    errors = internal_error_count()
    sink = _record()
    chunks, loop = _consume(body)
    assert loop == "generator._loop"  # peekr's copy of the SDK's loop ran
    assert _seen(chunks) == _seen(plain)
    fused = _span(sink)
    _check(fused)

    peekr.shutdown(timeout=5)
    monkeypatch.setattr(_chat_loop, "_sdk", {})  # as for an SDK loop peekr does not know
    sink = _record()
    chunks, loop = _consume(body)
    assert loop == "generator.traced_iterator"
    assert _seen(chunks) == _seen(plain)
    assert _span(sink) == fused
    assert internal_error_count() == errors


@pytest.mark.anyio
async def test_async_the_loop_copy_and_the_traced_iterator_record_the_same_span(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    body = _body(EVENTS)
    plain, _ = await _aconsume(body)
    sink = _record()
    chunks, loop = await _aconsume(body)
    assert loop == "async_generator._aloop"
    assert _seen(chunks) == _seen(plain)
    fused = _span(sink)
    _check(fused)

    peekr.shutdown(timeout=5)
    monkeypatch.setattr(_chat_loop, "_sdk", {})
    sink = _record()
    chunks, loop = await _aconsume(body)
    assert loop == "async_generator.traced_async_iterator"
    assert _seen(chunks) == _seen(plain)
    assert _span(sink) == fused


def test_an_sdk_loop_peekr_does_not_know_keeps_the_traced_iterator(sdk_loop_unknown: None) -> None:
    body = _body(EVENTS)
    plain, _ = _consume(body)
    sink = _record()
    chunks, loop = _consume(body)
    assert loop == "generator.traced_iterator"
    assert _seen(chunks) == _seen(plain)
    _check(_span(sink))


@pytest.mark.anyio
async def test_async_an_sdk_loop_peekr_does_not_know_keeps_the_traced_iterator(sdk_loop_unknown: None) -> None:
    body = _body(EVENTS)
    plain, _ = await _aconsume(body)
    sink = _record()
    chunks, loop = await _aconsume(body)
    assert loop == "async_generator.traced_async_iterator"
    assert _seen(chunks) == _seen(plain)
    _check(_span(sink))


def test_an_error_event_fails_as_without_peekr() -> None:
    body = _body([*EVENTS[:3], {"error": {"message": "overloaded", "type": "server_error"}}])

    def consume() -> tuple[list[Any], openai.APIError]:
        got: list[Any] = []
        with pytest.raises(openai.APIError) as failure:
            got.extend(_consume(body)[0])
        return got, failure.value

    plain, plain_error = consume()
    sink = _record()
    got, error = consume()
    assert _seen(got) == _seen(plain)
    assert (str(error), error.body) == (str(plain_error), plain_error.body) == ("overloaded", plain_error.body)
    status, attributes = _span(sink)
    assert status == "error" and attributes["output"] == "Hel"


@pytest.mark.swallows_internal_errors
def test_a_thread_event_and_a_chunk_without_choices_are_recorded_as_by_the_traced_iterator(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # An Assistants-style ``thread.`` event is wrapped by the SDK ({"data": ..., "event": ...}) and a chunk without
    # ``choices`` cannot be read: peekr counts an internal error for each, the caller's chunks are untouched, and
    # the next chunks are recorded as the traced iterator records them.
    events = [*EVENTS[1:3], {k: v for k, v in _chunk().items() if k != "choices"}, EVENTS[2]]
    body = _body(events).replace(b"data: {", b"event: thread.message.delta\ndata: {", 1)
    plain, _ = _consume(body)
    recorded = []
    unknown: dict[str, Any] = {}
    for sdk in (None, unknown):  # peekr's copy of the loop, then the traced iterator
        monkeypatch.setattr(_chat_loop, "_sdk", sdk)
        errors = internal_error_count()
        sink = _record()
        chunks, _ = _consume(body)
        assert _seen(chunks) == _seen(plain)
        recorded.append((_span(sink), internal_error_count() - errors))
        peekr.shutdown(timeout=5)
    assert recorded[0] == recorded[1]
    (status, attributes), errors = recorded[0]
    assert (status, attributes["output"], attributes["model"], errors) == ("ok", "HelHel", "gpt-4o", 2)
