"""Never breaks the host: with every peekr checkpoint raising, the caller's results, streams (chunk by
chunk) and exceptions are exactly what the uninstrumented SDK gives.

Two fault timings, each compared with an uninstrumented run of the same scenario:

- ``from_start``: ``inject_faults(True)`` before the call, so peekr fails at the first step;
- ``armed``: peekr starts recording normally and the faults switch on part-way — while the fake
  provider is answering (non-streamed chat) or after the stream object was returned — so the later
  steps (result handling, every chunk, the stream's finish, ``span.end``) fail instead.

OpenAI-based (the SDK with the most wrapper paths: plain, streamed, helpers, raw responses).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import openai
import pytest

import peekr
from peekr._errors import inject_faults, internal_error_count
from peekr.sinks.memory import InMemorySink
from peekr.testing.fake_provider import FakeProvider

pytestmark = [
    pytest.mark.swallows_internal_errors,
    pytest.mark.filterwarnings(
        r"ignore:Async generator '(openai|httpx2|peekr)\..*' was garbage collected:ResourceWarning"
    ),
]

HELLO: list[Any] = [{"role": "user", "content": "Hello there"}]
TOOLS = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}}}]
Arm = Callable[[], None]


def dump(value: Any, drop_id: bool = False) -> Any:
    """A comparable view of an SDK object. ``drop_id``: the fake derives ids from the request body,
    which peekr legitimately changes when it asks for stream usage."""
    data = value.model_dump() if hasattr(value, "model_dump") else value
    if drop_id and isinstance(data, dict):
        data.pop("id", None)
    return data


def error(exc: BaseException) -> tuple[Any, ...]:
    return (type(exc), str(exc), getattr(exc, "status_code", None), getattr(exc, "body", None))


# -- sync scenarios: each returns what the caller observed -------------------------------------------


def chat_create(client: openai.OpenAI, arm: Arm) -> Any:
    return dump(client.chat.completions.create(model="gpt-4o", messages=HELLO, temperature=0))


def chat_tools(client: openai.OpenAI, arm: Arm) -> Any:
    return dump(client.chat.completions.create(model="gpt-4o-tool", messages=HELLO, tools=TOOLS))  # type: ignore[arg-type]


def chat_stream(client: openai.OpenAI, arm: Arm) -> Any:
    stream = client.chat.completions.create(model="gpt-4o", messages=HELLO, stream=True)
    arm()
    return [type(stream).__name__, *(dump(chunk, drop_id=True) for chunk in stream)]


def chat_stream_with_usage(client: openai.OpenAI, arm: Arm) -> Any:
    stream = client.chat.completions.create(  # type: ignore[call-overload]
        model="gpt-4o-tool", messages=HELLO, tools=TOOLS, stream=True, stream_options={"include_usage": True}
    )
    arm()
    return [dump(chunk) for chunk in stream]


def chat_stream_break_close_resume(client: openai.OpenAI, arm: Arm) -> Any:
    stream = client.chat.completions.create(model="gpt-4o", messages=HELLO, stream=True)
    arm()
    seen = [dump(next(stream), drop_id=True)]
    for chunk in stream:
        seen.append(dump(chunk, drop_id=True))
        break
    seen += [dump(chunk, drop_id=True) for chunk in stream]
    stream.close()
    return seen


def chat_stream_midstream_error(client: openai.OpenAI, arm: Arm) -> Any:
    stream = client.chat.completions.create(model="gpt-4o-midstream-error", messages=HELLO, stream=True)
    arm()
    seen: list[Any] = []
    try:
        for chunk in stream:
            seen.append(dump(chunk, drop_id=True))
    except openai.APIError as exc:
        seen.append(error(exc))
    return seen


def chat_api_error(client: openai.OpenAI, arm: Arm) -> Any:
    try:
        client.chat.completions.create(model="gpt-4o-error-429", messages=HELLO)
    except openai.APIStatusError as exc:
        return error(exc)
    raise AssertionError("no error")


def chat_stream_helper(client: openai.OpenAI, arm: Arm) -> Any:
    with client.chat.completions.stream(model="gpt-4o", messages=HELLO) as stream:
        arm()
        events = [(event.type, getattr(event, "delta", None)) for event in stream]
        final = dump(stream.get_final_completion(), drop_id=True)
    return events, final


def chat_stream_helper_early_exit(client: openai.OpenAI, arm: Arm) -> Any:
    with client.chat.completions.stream(model="gpt-4o", messages=HELLO) as stream:
        arm()
        first = next(iter(stream)).type
    return first, stream.current_completion_snapshot.choices[0].message.content


def chat_raw(client: openai.OpenAI, arm: Arm) -> Any:
    raw = client.chat.completions.with_raw_response.create(model="gpt-4o", messages=HELLO)
    return raw.status_code, dump(raw.parse())


def responses_all(client: openai.OpenAI, arm: Arm) -> Any:
    plain = dump(client.responses.create(model="gpt-4o", instructions="Be brief.", input="Hello there"))
    stream = client.responses.create(model="gpt-4o", input="Hello there", stream=True)
    arm()
    events = [dump(event) for event in stream]
    failed = [dump(e) for e in client.responses.create(model="gpt-4o-midstream-error", input="Hi", stream=True)]
    with client.responses.stream(model="gpt-4o", input="Hello there") as helper:
        final = dump(helper.get_final_response())
    return plain, events, failed, final


def embeddings(client: openai.OpenAI, arm: Arm) -> Any:
    result = dump(client.embeddings.create(model="text-embedding-3-small", input=["Hello there", "hi"]))
    try:
        client.embeddings.create(model="text-embedding-error-400", input="hi")
    except openai.BadRequestError as exc:
        return result, error(exc)
    raise AssertionError("no error")


SCENARIOS = [
    chat_create,
    chat_tools,
    chat_stream,
    chat_stream_with_usage,
    chat_stream_break_close_resume,
    chat_stream_midstream_error,
    chat_api_error,
    chat_stream_helper,
    chat_stream_helper_early_exit,
    chat_raw,
    responses_all,
    embeddings,
]


def _run(scenario: Callable[[openai.OpenAI, Arm], Any], mode: str) -> tuple[Any, tuple[int, bool]]:
    fake = FakeProvider()
    armed = mode == "armed"
    armed_at: list[bool] = []

    def arm() -> None:
        if armed:
            inject_faults(True)
            armed_at.append(True)

    # Non-streamed chat calls switch the faults on while the fake answers (mid-call).
    fake.chat_responder = lambda body: (arm(), _echo(body))[1]  # type: ignore[func-returns-value]
    sink = InMemorySink()
    if mode != "off":
        peekr.instrument(storage="none", sinks=[sink], providers=["openai"])
    if mode == "from_start":
        inject_faults(True)
    before = internal_error_count()
    try:
        with fake.openai_client(in_process=True) as client:
            observed = scenario(client, arm)
    finally:
        inject_faults(False)
        peekr.shutdown()
    faulted = mode == "from_start" or bool(armed_at)
    return observed, (internal_error_count() - before, faulted)


def _echo(body: dict[str, Any]) -> Any:
    messages = body.get("messages") or []
    text = messages[-1]["content"] if messages else ""
    if "tool" in str(body.get("model")):
        return {"content": None, "tool_calls": [{"function": {"name": "lookup", "arguments": {}}}]}
    return f"Echo: {text}"


@pytest.mark.parametrize("mode", ["from_start", "armed"])
@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda f: f.__name__)
def test_sync_results_streams_and_errors_are_untouched(
    scenario: Callable[[openai.OpenAI, Arm], Any], mode: str
) -> None:
    expected, _ = _run(scenario, "off")
    observed, (errors, faulted) = _run(scenario, mode)
    assert observed == expected
    # peekr really failed inside (and counted it), yet the caller saw no difference. A scenario that
    # ends before its arm point (an HTTP error) ran as a plain instrumented call: also compared.
    assert errors >= 1 if faulted else errors == 0


# -- async -------------------------------------------------------------------------------------------


async def achat(client: openai.AsyncOpenAI, arm: Arm) -> Any:
    out: list[Any] = [dump(await client.chat.completions.create(model="gpt-4o", messages=HELLO))]
    stream = await client.chat.completions.create(model="gpt-4o", messages=HELLO, stream=True)
    arm()
    out.append([dump(chunk, drop_id=True) async for chunk in stream])
    stream = await client.chat.completions.create(model="gpt-4o-midstream-error", messages=HELLO, stream=True)
    try:
        async for chunk in stream:
            out.append(dump(chunk, drop_id=True))
    except openai.APIError as exc:
        out.append(error(exc))
    try:
        await client.chat.completions.create(model="gpt-4o-error-500", messages=HELLO, stream=True)
    except openai.APIStatusError as exc:
        out.append(error(exc))
    async with client.chat.completions.stream(model="gpt-4o", messages=HELLO) as helper:
        out.append([event.type async for event in helper])
    stream = await client.chat.completions.create(model="gpt-4o", messages=HELLO, stream=True)
    out.append(dump(await stream.__anext__(), drop_id=True))
    await stream.close()
    return out


async def aresponses_and_embeddings(client: openai.AsyncOpenAI, arm: Arm) -> Any:
    out: list[Any] = [dump(await client.responses.create(model="gpt-4o", input="Hello there"))]
    stream = await client.responses.create(model="gpt-4o", input="Hello there", stream=True)
    arm()
    out.append([dump(event) async for event in stream])
    async with client.responses.stream(model="gpt-4o", input="Hello there") as helper:
        out.append(dump(await helper.get_final_response()))
    out.append(dump(await client.embeddings.create(model="text-embedding-3-small", input="hi")))
    return out


async def _arun(
    scenario: Callable[[openai.AsyncOpenAI, Arm], Awaitable[Any]], mode: str
) -> tuple[Any, tuple[int, bool]]:
    fake = FakeProvider()
    armed = mode == "armed"
    armed_at: list[bool] = []

    def arm() -> None:
        if armed:
            inject_faults(True)
            armed_at.append(True)

    fake.chat_responder = lambda body: (arm(), _echo(body))[1]  # type: ignore[func-returns-value]
    if mode != "off":
        peekr.instrument(storage="none", sinks=[InMemorySink()], providers=["openai"])
    if mode == "from_start":
        inject_faults(True)
    before = internal_error_count()
    try:
        async with fake.async_openai_client(in_process=True) as client:
            observed = await scenario(client, arm)
    finally:
        inject_faults(False)
        peekr.shutdown()
    faulted = mode == "from_start" or bool(armed_at)
    return observed, (internal_error_count() - before, faulted)


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["from_start", "armed"])
@pytest.mark.parametrize("scenario", [achat, aresponses_and_embeddings], ids=lambda f: f.__name__)
async def test_async_results_streams_and_errors_are_untouched(
    scenario: Callable[[openai.AsyncOpenAI, Arm], Awaitable[Any]], mode: str
) -> None:
    expected, _ = await _arun(scenario, "off")
    observed, (errors, faulted) = await _arun(scenario, mode)
    assert observed == expected
    assert errors >= 1 if faulted else errors == 0
