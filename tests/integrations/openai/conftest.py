"""Fixtures for the OpenAI integration tests: a fake provider, peekr recording into memory with only
the openai integration enabled, and real SDK clients pointed at the fake.

Most tests use the fake's in-process httpx2 transport (no sockets, fast); ``loopback`` tests use
the fake's HTTP server on 127.0.0.1. The async tests run on asyncio and trio (the root
``anyio_backend`` fixture): the openai 3.x async client on httpx2 works under trio.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import openai
import pytest

import peekr
from peekr.sinks.memory import InMemorySink
from peekr.testing.fake_provider import FakeProvider


@pytest.fixture
def fake() -> FakeProvider:
    """A fake provider used in-process (its HTTP server is not started)."""
    return FakeProvider()


@pytest.fixture(scope="module")
def server() -> Iterator[FakeProvider]:
    """A fake provider serving on 127.0.0.1 (one per module)."""
    with FakeProvider() as provider:
        yield provider


@pytest.fixture
def sink() -> InMemorySink:
    """peekr running with the openai integration only, recording into memory."""
    memory = InMemorySink()
    peekr.instrument(storage="none", sinks=[memory], providers=["openai"])
    return memory


@pytest.fixture
def client(fake: FakeProvider) -> Iterator[openai.OpenAI]:
    """A real sync client on the in-process fake transport (dummy key, no retries)."""
    with fake.openai_client(in_process=True) as sync_client:
        yield sync_client


@pytest.fixture
async def aclient(fake: FakeProvider) -> AsyncIterator[openai.AsyncOpenAI]:
    """A real async client on the in-process fake transport (dummy key, no retries)."""
    async with fake.async_openai_client(in_process=True) as async_client:
        yield async_client
