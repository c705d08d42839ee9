"""The in-process httpx2 transports: real SDK clients, no sockets, asyncio and trio."""

from __future__ import annotations

import time
from typing import Any

import anthropic
import httpx2
import openai
import pytest

from peekr.testing.fake_provider import FakeProvider

HELLO: Any = [{"role": "user", "content": "Hello there"}]


def test_openai_in_process_without_a_server() -> None:
    fake = FakeProvider()
    with fake.openai_client(in_process=True) as client:
        response = client.chat.completions.create(model="gpt-4o", messages=HELLO)
        stream = client.chat.completions.create(
            model="gpt-4o", messages=HELLO, stream=True, stream_options={"include_usage": True}
        )
        chunks = list(stream)
        with pytest.raises(openai.RateLimitError):
            client.chat.completions.create(model="gpt-error-429", messages=HELLO)
    assert not fake.running
    assert response.choices[0].message.content == "Echo: Hello there"
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 5
    assert [r.path for r in fake.requests] == ["/v1/chat/completions"] * 3
    assert (fake.in_flight, fake.max_concurrent) == (0, 1)


def test_explicit_http_client_with_transport() -> None:
    fake = FakeProvider()
    http_client = httpx2.Client(transport=fake.openai_transport())
    with openai.OpenAI(api_key="x", base_url="http://anything/v1", http_client=http_client) as client:
        vectors = client.embeddings.create(model="e", input="hello")
    assert len(vectors.data[0].embedding) == 8


def test_anthropic_in_process_stream_helper() -> None:
    fake = FakeProvider()
    with fake.anthropic_client(in_process=True) as client:
        with client.messages.stream(model="claude-tool", max_tokens=10, messages=HELLO) as stream:
            final = stream.get_final_message()
        with pytest.raises(anthropic.APIStatusError):
            list(client.messages.create(model="claude-midstream-error", max_tokens=10, messages=HELLO, stream=True))
    assert final.content[0].type == "tool_use"
    assert fake.in_flight == 0


def test_sync_transport_honours_latency() -> None:
    fake = FakeProvider(latency=0.1)
    with fake.openai_client(in_process=True) as client:
        started = time.perf_counter()
        client.chat.completions.create(model="m", messages=HELLO)
    assert time.perf_counter() - started >= 0.1


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
async def test_async_transport_on_asyncio_and_trio(anyio_backend: str) -> None:
    fake = FakeProvider(latency=0.05)
    started = time.perf_counter()
    async with fake.async_openai_client(in_process=True) as client:
        response = await client.chat.completions.create(model="gpt-4o", messages=HELLO)
    async with fake.async_anthropic_client(in_process=True) as claude:
        message = await claude.messages.create(model="c", max_tokens=10, messages=HELLO)
    assert time.perf_counter() - started >= 0.1
    assert response.choices[0].message.content == "Echo: Hello there"
    assert message.content[0].type == "text" and message.content[0].text == "Echo: Hello there"


@pytest.mark.anyio
async def test_async_transport_streams_with_pauses() -> None:
    # asyncio only: on trio the openai SDK leaves its SSE async generators unexhausted after [DONE] (trio warns).
    fake = FakeProvider()
    async with fake.async_openai_client(in_process=True) as client:
        started = time.perf_counter()
        stream = await client.chat.completions.create(model="gpt-slow", messages=HELLO, stream=True)
        text = "".join([c.choices[0].delta.content or "" async for c in stream])
    assert text == "Echo: Hello there"
    assert time.perf_counter() - started >= 0.05 * 5
    assert fake.in_flight == 0
