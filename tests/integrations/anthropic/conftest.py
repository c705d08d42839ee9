"""Fixtures for the Anthropic integration tests: a fake provider on 127.0.0.1, peekr recording
into memory with only the anthropic integration enabled, and real SDK clients pointed at the fake.

The async tests run on asyncio and trio (the root ``anyio_backend`` fixture): the anthropic 2.x
async client on httpx2 works under trio.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Iterator

import anthropic
import pytest

import peekr
from peekr.sinks.memory import InMemorySink
from peekr.testing.fake_provider import FakeProvider

# The SDK's default HTTP client loads the CA bundle on every construction (~0.1 s); the fake is
# plain http on 127.0.0.1, so one shared context keeps client creation cheap.
_TLS = ssl.create_default_context()


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeProvider]:
    """One fake provider server per test module (it is stateless apart from its request log)."""
    with FakeProvider() as provider:
        yield provider


@pytest.fixture
def sink() -> InMemorySink:
    """peekr running with the anthropic integration only, recording into memory."""
    memory = InMemorySink()
    peekr.instrument(storage="none", sinks=[memory], providers=["anthropic"])
    return memory


@pytest.fixture
def client(fake: FakeProvider) -> Iterator[anthropic.Anthropic]:
    """A real sync client on the loopback fake (dummy key, no retries)."""
    with fake.anthropic_client(http_client=anthropic.DefaultHttpxClient(verify=_TLS)) as sync_client:
        yield sync_client


@pytest.fixture
async def aclient(fake: FakeProvider) -> AsyncIterator[anthropic.AsyncAnthropic]:
    """A real async client on the loopback fake (dummy key, no retries)."""
    http_client = anthropic.DefaultAsyncHttpxClient(verify=_TLS)
    async with fake.async_anthropic_client(http_client=http_client) as async_client:
        yield async_client
