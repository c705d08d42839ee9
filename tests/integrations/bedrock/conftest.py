"""Fixtures for the Bedrock integration tests: real boto3 / aioboto3 ``bedrock-runtime`` clients
against the fake provider on 127.0.0.1 (AWS event-stream frames), peekr recording into memory with
only the bedrock integration enabled.

aioboto3 runs on aiohttp, which is asyncio-only, so the async tests here run on asyncio alone (the
root ``anyio_backend`` fixture would add trio).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

import peekr
from peekr.sinks.memory import InMemorySink
from peekr.testing.fake_provider import FakeProvider

pytest.register_assert_rewrite("_bedrock_expect")  # readable diffs from its asserts


@pytest.fixture(scope="session", autouse=True)
def _price_table_loaded() -> None:
    """Load genai-prices' table once, up front. The bus computes ``cost_usd`` for the first span by
    importing it (1-3 s, more on a loaded machine or under coverage); in the first test that would
    run against ``peekr.flush()``'s 5 s timeout."""
    from peekr._cost import compute_cost

    compute_cost({"provider": "bedrock", "model": "anthropic.claude-3-haiku-20240307-v1:0", "tokens_input": 1})


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeProvider]:
    """One fake provider server per test module (it is stateless apart from its request log)."""
    with FakeProvider() as provider:
        yield provider


@pytest.fixture
def anyio_backend() -> object:
    """asyncio only: aioboto3's HTTP stack is aiohttp, which does not run on trio."""
    return ("asyncio", {"debug": True})


@pytest.fixture
def client(fake: FakeProvider) -> Iterator[Any]:
    """A boto3 bedrock-runtime client (one attempt per call), created *before* peekr is instrumented
    by the ``sink`` fixture when a test asks for ``client`` first; closed afterwards so no socket is
    left for the garbage collector."""
    bedrock = fake.bedrock_client()
    yield bedrock
    bedrock.close()


@pytest.fixture
def sink() -> InMemorySink:
    """peekr running with the bedrock integration only, recording into memory."""
    memory = InMemorySink()
    peekr.instrument(storage="none", sinks=[memory], providers=["bedrock"])
    return memory


@pytest.fixture(scope="module")
def aio_session() -> Any:
    """One aioboto3 session per module: a fresh session re-reads the service models (~1 s per test)."""
    import aioboto3

    return aioboto3.Session()


@pytest.fixture
async def aclient(fake: FakeProvider, aio_session: Any) -> AsyncIterator[Any]:
    """An aioboto3 bedrock-runtime client on the test's event loop (same settings as
    ``fake.async_bedrock_client()``: dummy credentials, one attempt per call)."""
    from botocore.config import Config

    async with aio_session.client(
        "bedrock-runtime",
        region_name="us-east-1",
        endpoint_url=fake.bedrock_endpoint_url,
        aws_access_key_id="fake",
        aws_secret_access_key="fake",
        config=Config(retries={"max_attempts": 1, "mode": "standard"}),
    ) as bedrock:
        yield bedrock
