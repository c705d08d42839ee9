"""Whatever fails inside peekr, the user's results, streams and exceptions are those of an uninstrumented run.

Two ways in: every peekr checkpoint failing from the start (so the span is never started), and
failures switched on by the HTTP client's response hook — after the span started and the request
went out, so the result, chunk, finish and span-end steps fail while the SDK is working.
"""

from __future__ import annotations

from typing import Any

import httpx2
import pytest
from _gemini_helpers import AIOHTTP_WARNING, make_client
from google import genai
from google.genai import types

import peekr
from peekr._errors import inject_faults, internal_error_count
from peekr.sinks.memory import InMemorySink
from peekr.testing.fake_provider import FakeProvider

pytestmark = [pytest.mark.filterwarnings(AIOHTTP_WARNING), pytest.mark.swallows_internal_errors]

SCENARIOS = [
    pytest.param("gemini-test", False, id="call"),
    pytest.param("gemini-error-400", False, id="call-api-error"),
    pytest.param("gemini-tool", False, id="call-tool"),
    pytest.param("gemini-test", True, id="stream"),
    pytest.param("gemini-error-400", True, id="stream-api-error"),
    pytest.param("gemini-midstream-error", True, id="stream-midstream-error"),
    pytest.param("gemini-tool", True, id="stream-tool"),
]
TOOLS = types.GenerateContentConfig(
    tools=[types.Tool(function_declarations=[types.FunctionDeclaration(name="lookup")])]
)

Outcome = tuple[list[Any], "tuple[type[BaseException], str] | None"]


def dump(response: types.GenerateContentResponse) -> dict[str, Any]:
    return response.model_dump(exclude={"sdk_http_response"})  # its headers carry the time of day


def failure(exc: Exception) -> tuple[type[BaseException], str]:
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    assert tb is not None and "/peekr/" not in tb.tb_frame.f_code.co_filename  # raised by the SDK, not by us
    return type(exc), str(exc)


def run(client: genai.Client, model: str, stream: bool) -> Outcome:
    items: list[Any] = []
    config = TOOLS if "tool" in model else None
    try:
        if stream:
            for chunk in client.models.generate_content_stream(model=model, contents="a b c d", config=config):
                items.append(dump(chunk))
        else:
            items.append(dump(client.models.generate_content(model=model, contents="a b c d", config=config)))
    except Exception as exc:
        return items, failure(exc)
    return items, None


async def arun(client: genai.Client, model: str, stream: bool) -> Outcome:
    items: list[Any] = []
    config = TOOLS if "tool" in model else None
    try:
        if stream:
            async for chunk in await client.aio.models.generate_content_stream(
                model=model, contents="a b c d", config=config
            ):
                items.append(dump(chunk))
        else:
            items.append(dump(await client.aio.models.generate_content(model=model, contents="a b c d", config=config)))
    except Exception as exc:
        return items, failure(exc)
    return items, None


def on_response(response: httpx2.Response) -> None:
    inject_faults(True)


async def aon_response(response: httpx2.Response) -> None:
    inject_faults(True)


def hooked_client(fake: FakeProvider, **http: Any) -> genai.Client:
    """A client whose HTTP layer (``httpx_client`` or ``httpx_async_client``) turns peekr's faults on as
    each response arrives. The SDK leaves a client it was given open: the tests close it."""
    return make_client(fake, **http)


@pytest.mark.parametrize(("model", "stream"), SCENARIOS)
def test_sync_faults_from_the_start(fake: FakeProvider, client: genai.Client, model: str, stream: bool) -> None:
    expected = run(client, model, stream)
    peekr.instrument(storage="none", sinks=[InMemorySink()], providers=["gemini"])
    inject_faults(True)
    before = internal_error_count()
    assert run(client, model, stream) == expected
    assert internal_error_count() > before


@pytest.mark.parametrize(("model", "stream"), SCENARIOS)
def test_sync_faults_once_the_response_arrives(
    fake: FakeProvider, client: genai.Client, model: str, stream: bool
) -> None:
    expected = run(client, model, stream)
    with httpx2.Client(event_hooks={"response": [on_response]}) as http:
        hooked = hooked_client(fake, httpx_client=http)
        peekr.instrument(storage="none", sinks=[InMemorySink()], providers=["gemini"])
        before = internal_error_count()
        assert run(hooked, model, stream) == expected
        assert internal_error_count() > before


@pytest.mark.anyio
@pytest.mark.parametrize(("model", "stream"), SCENARIOS)
async def test_async_faults_from_the_start(aclient: genai.Client, model: str, stream: bool) -> None:
    try:
        expected = await arun(aclient, model, stream)
        peekr.instrument(storage="none", sinks=[InMemorySink()], providers=["gemini"])
        inject_faults(True)
        before = internal_error_count()
        assert await arun(aclient, model, stream) == expected
        assert internal_error_count() > before
    finally:
        await aclient.aio.aclose()


@pytest.mark.anyio
@pytest.mark.parametrize(("model", "stream"), SCENARIOS)
async def test_async_faults_once_the_response_arrives(
    fake: FakeProvider, aclient: genai.Client, model: str, stream: bool
) -> None:
    try:
        expected = await arun(aclient, model, stream)
        async with httpx2.AsyncClient(event_hooks={"response": [aon_response]}) as http:
            hooked = hooked_client(fake, httpx_async_client=http)
            peekr.instrument(storage="none", sinks=[InMemorySink()], providers=["gemini"])
            before = internal_error_count()
            assert await arun(hooked, model, stream) == expected
            assert internal_error_count() > before
    finally:
        await aclient.aio.aclose()
