"""Fixtures for the Gemini integration tests: the real google-genai SDK against the fake provider.

The async client's transport is aiohttp (installed here through aiobotocore), which runs on asyncio
only, so the async tests here run on asyncio alone (the root ``anyio_backend`` adds trio).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from google import genai

import peekr
from peekr.sinks.memory import InMemorySink
from peekr.testing.fake_provider import FakeProvider

pytest.register_assert_rewrite("_gemini_helpers")  # readable diffs from its asserts

from _gemini_helpers import make_client  # noqa: E402


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeProvider]:
    """One fake provider server per test module (starting one per test costs more than the tests)."""
    with FakeProvider() as provider:
        yield provider


@pytest.fixture
def anyio_backend() -> object:
    """asyncio only: google-genai's async transport is aiohttp, which does not run on trio."""
    return ("asyncio", {"debug": True})


@pytest.fixture
def client(fake: FakeProvider) -> genai.Client:
    """A google-genai client on the fake for sync calls; the fixture keeps it referenced (PROVIDERS.md 3.3)."""
    return make_client(fake)


@pytest.fixture
def aclient(fake: FakeProvider) -> genai.Client:
    """A fresh client per async test: its aiohttp session belongs to the test's event loop, so each async
    test closes it with ``await aclient.aio.aclose()`` before the loop ends."""
    return make_client(fake)


@pytest.fixture
def sink() -> InMemorySink:
    """peekr recording Gemini calls into memory."""
    memory = InMemorySink()
    peekr.instrument(storage="none", sinks=[memory], providers=["gemini"])
    return memory
