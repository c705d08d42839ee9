"""Every peekr internal step raising changes nothing the user sees: same results, same stream
events, same exceptions as without peekr."""

from __future__ import annotations

from typing import Any

import anthropic
import pytest
from _anthropic_expect import HELLO, TOOLS, TRIO_UNEXHAUSTED_GENERATORS, reply_text

import peekr
from peekr._errors import inject_faults, internal_error_count
from peekr.sinks.memory import InMemorySink

pytestmark = [pytest.mark.swallows_internal_errors, TRIO_UNEXHAUSTED_GENERATORS]


def observe(client: anthropic.Anthropic) -> list[Any]:
    """Everything a user can observe from a series of calls."""
    seen: list[Any] = []
    message = client.messages.create(model="claude-tool", max_tokens=50, messages=HELLO, tools=TOOLS)
    seen.append((type(message), message.model_dump(exclude={"id"})))
    stream = client.messages.create(model="claude-test", max_tokens=50, messages=HELLO, stream=True)
    seen.append((type(stream), [e.model_dump() for e in stream]))
    with client.messages.stream(model="claude-test", max_tokens=50, messages=HELLO) as helper:
        seen.append((type(helper), list(helper.text_stream), helper.get_final_message().model_dump(exclude={"id"})))
    with client.messages.stream(model="claude-test", max_tokens=50, messages=HELLO) as helper:
        seen.append(next(iter(helper.text_stream)))  # early exit
    seen.append(reply_text(client.messages.parse(model="claude-test", max_tokens=50, messages=HELLO)))
    for model, stream_flag in (("claude-error-400", False), ("claude-error-529", True)):
        try:
            client.messages.create(model=model, max_tokens=50, messages=HELLO, stream=stream_flag)
        except anthropic.APIStatusError as exc:
            seen.append((type(exc), exc.status_code, exc.body))
    events: list[str] = []
    try:
        for event in client.messages.create(model="claude-midstream-error", max_tokens=50, messages=HELLO, stream=True):
            events.append(event.type)
    except anthropic.APIStatusError as exc:
        seen.append((events, type(exc), str(exc)))
    return seen


async def observe_async(client: anthropic.AsyncAnthropic) -> list[Any]:
    seen: list[Any] = []
    message = await client.messages.create(model="claude-test", max_tokens=50, messages=HELLO)
    seen.append((type(message), message.model_dump(exclude={"id"})))
    stream = await client.messages.create(model="claude-tool", max_tokens=50, messages=HELLO, tools=TOOLS, stream=True)
    seen.append((type(stream), [e.model_dump() async for e in stream]))
    async with client.messages.stream(model="claude-test", max_tokens=50, messages=HELLO) as helper:
        seen.append((type(helper), [t async for t in helper.text_stream]))
    try:
        await client.messages.create(model="claude-error-400", max_tokens=50, messages=HELLO)
    except anthropic.BadRequestError as exc:
        seen.append((type(exc), exc.body))
    events: list[str] = []
    try:
        stream = await client.messages.create(
            model="claude-midstream-error", max_tokens=50, messages=HELLO, stream=True
        )
        async for event in stream:
            events.append(event.type)
    except anthropic.APIStatusError as exc:
        seen.append((events, type(exc), str(exc)))
    return seen


def test_every_internal_step_failing(client: anthropic.Anthropic) -> None:
    reference = observe(client)
    peekr.instrument(storage="none", sinks=[InMemorySink()], providers=["anthropic"])
    inject_faults(True)
    assert observe(client) == reference


@pytest.mark.anyio
async def test_every_internal_step_failing_async(aclient: anthropic.AsyncAnthropic) -> None:
    reference = await observe_async(aclient)
    peekr.instrument(storage="none", sinks=[InMemorySink()], providers=["anthropic"])
    inject_faults(True)
    assert await observe_async(aclient) == reference


def test_faults_after_the_span_started(client: anthropic.Anthropic) -> None:
    """Recording per chunk and at the end fails; the stream is untouched and the span still ends."""
    reference = [
        e.model_dump() for e in client.messages.create(model="claude-test", max_tokens=50, messages=HELLO, stream=True)
    ]
    sink = InMemorySink()
    peekr.instrument(storage="none", sinks=[sink], providers=["anthropic"])
    stream = client.messages.create(model="claude-test", max_tokens=50, messages=HELLO, stream=True)
    inject_faults(True)
    assert [e.model_dump() for e in stream] == reference
    with client.messages.stream(model="claude-test", max_tokens=50, messages=HELLO) as helper:
        assert helper.get_final_text() == "Echo: Hello there"
    inject_faults(False)
    before = internal_error_count()
    stream.close()  # the span already ended (its publishing failed): nothing more happens
    assert internal_error_count() == before
    peekr.flush()
    assert sink.spans == []  # every step failed, so the spans were lost: counted, never raised
    assert before > 0
