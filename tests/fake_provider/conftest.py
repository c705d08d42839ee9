"""Fixtures for the fake provider tests: a running fake per test, asyncio for the async SDKs."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from peekr.testing.fake_provider import FakeProvider


@pytest.fixture
def fake() -> Iterator[FakeProvider]:
    """A running fake provider on a free loopback port."""
    with FakeProvider() as provider:
        yield provider


@pytest.fixture
def anyio_backend() -> str:
    """google-genai (aiohttp) and aioboto3 need asyncio; transport tests override this to add trio."""
    return "asyncio"
