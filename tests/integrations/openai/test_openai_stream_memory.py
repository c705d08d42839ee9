"""A traced stream costs no more memory or garbage collection than the bare SDK's.

A finished stream's HTTP response is freed as soon as the caller drops the stream (no reference cycle
left for the cyclic garbage collector), the usage-only chunk peekr asks for is never parsed by the SDK,
and a stream in progress does not accumulate the SDK's event objects.
"""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator
from typing import Any

import openai
import pytest

import peekr
from peekr.sinks.memory import InMemorySink
from peekr.testing.fake_provider import FakeProvider

PROMPT = " ".join(f"word{i}" for i in range(40))
MESSAGES = [{"role": "user", "content": PROMPT}]


@pytest.fixture
def no_gc() -> Iterator[None]:
    """The cyclic garbage collector off: only reference counting frees objects."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def test_finished_chat_stream_is_freed_without_the_garbage_collector(
    sink: InMemorySink, client: openai.OpenAI, no_gc: None
) -> None:
    stream = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)  # type: ignore[arg-type]
    assert isinstance(stream, openai.Stream)
    chunks: list[Any] = list(stream)
    response = weakref.ref(stream.response)
    del stream
    assert response() is None, "the stream's HTTP response is only freed by the cyclic garbage collector"
    assert all(chunk.choices for chunk in chunks)  # the usage-only chunk stays hidden
    assert peekr.flush()
    (span,) = sink.spans
    assert span.attributes["tokens_output"] == 41
    assert span.attributes["output"].endswith("word39")


def test_finished_responses_stream_is_freed_without_the_garbage_collector(
    sink: InMemorySink, client: openai.OpenAI, no_gc: None
) -> None:
    stream = client.responses.create(model="gpt-4o-mini", input=PROMPT, stream=True)
    events = list(stream)
    response = weakref.ref(stream.response)
    del stream
    assert response() is None, "the stream's HTTP response is only freed by the cyclic garbage collector"
    assert events[-1].type == "response.completed"
    assert peekr.flush()
    (span,) = sink.spans
    assert span.attributes["output"].endswith("word39")


class _CountingClient(openai.OpenAI):
    """The real client, counting the JSON objects it turns into SDK models."""

    parsed = 0

    def _process_response_data(self, *, data: object, cast_to: Any, response: Any) -> Any:
        type(self).parsed += 1
        return super()._process_response_data(data=data, cast_to=cast_to, response=response)


def test_the_usage_chunk_peekr_asks_for_is_never_parsed_by_the_sdk(sink: InMemorySink, fake: FakeProvider) -> None:
    # Parsing it into a ChatCompletionChunk only to hide it cost the SDK's full work for one more chunk.
    import httpx2

    client = _CountingClient(
        api_key="sk-fake", base_url="http://fake-provider/v1", http_client=httpx2.Client(transport=fake.transport())
    )
    chunks = list(client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True))  # type: ignore[arg-type]
    assert _CountingClient.parsed == len(chunks) == 43  # role chunk, 41 words, finish chunk
    assert peekr.flush()
    (span,) = sink.spans
    assert (span.attributes["tokens_input"], span.attributes["tokens_output"]) == (40, 41)


def test_a_responses_stream_in_progress_keeps_no_sdk_event_objects(
    sink: InMemorySink, client: openai.OpenAI, no_gc: None
) -> None:
    growth = []
    start = None
    for event in client.responses.create(model="gpt-4o-mini", input=PROMPT, stream=True):
        if event.type == "response.output_text.delta":
            count = gc.get_count()[0]
            start = count if start is None else start
            growth.append(count - start)
    # Without peekr each delta event is freed once the caller moves on (growth ~0); keeping the events
    # until the stream ends grew by ~4 tracked objects per delta.
    assert len(growth) == 41
    steps = sorted(b - a for a, b in zip(growth, growth[1:], strict=False))
    assert steps[len(steps) // 2] < 2, growth  # the median step: other threads allocate too
    assert peekr.flush()
    (span,) = sink.spans
    assert span.attributes["output"].endswith("word39")
