"""Fixtures for the framework and vector-store tests: the real libraries, the fake provider over HTTP.

LangChain's ``ChatOpenAI`` builds its own OpenAI client, so it talks to the fake provider's server on
127.0.0.1 (one per module).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import peekr
from peekr.sinks.memory import InMemorySink
from peekr.testing.fake_provider import FakeProvider


@pytest.fixture(scope="module")
def server() -> Iterator[FakeProvider]:
    """A fake provider serving on 127.0.0.1."""
    with FakeProvider() as provider:
        yield provider


@pytest.fixture
def sink() -> InMemorySink:
    """peekr running with every installed integration (providers, frameworks, stores), into memory."""
    memory = InMemorySink()
    peekr.instrument(storage="none", sinks=[memory])
    return memory
