"""Context (session fields, parent span), capture_content=False, import order, idempotent and
reversible patching, and the beta resource."""

from __future__ import annotations

from typing import Any

import anthropic
import pytest
from _anthropic_expect import (
    BETA_HELLO,
    BETA_TOOLS,
    HELLO,
    SYSTEM,
    TOOL_CALL,
    TOOLS,
    attributes,
    check,
    only_span,
    reply_text,
    start_id,
    usage,
)
from anthropic.lib.streaming import MessageStreamManager
from anthropic.resources.beta.messages.messages import Messages as BetaMessages
from anthropic.resources.messages.messages import AsyncMessages, Messages

import peekr
from peekr.integrations._base import is_patched
from peekr.integrations.anthropic import AnthropicIntegration
from peekr.sinks.memory import InMemorySink

SESSION: dict[str, Any] = {"session_id": "chat-42", "user_id": "u1", "feature": "support"}
ECHO = {"output": "Echo: Hello there", "finish_reason": "end_turn", **usage(2, 3)}


def test_session_fields(client: anthropic.Anthropic, sink: InMemorySink) -> None:
    with peekr.session(tenant_id="acme", retention_class="short", **SESSION):
        message = client.messages.create(model="claude-test", max_tokens=50, messages=HELLO)
    span = only_span(sink)
    check(span, attributes("claude-test", **SESSION, **ECHO, response_id=message.id))
    assert (span.tenant_id, span.retention_class) == ("acme", "short")


def test_parent_span(client: anthropic.Anthropic, sink: InMemorySink) -> None:
    with peekr.session(**SESSION), peekr.span("answer") as outer:
        with client.messages.stream(model="claude-test", max_tokens=50, messages=HELLO) as stream:
            stream.until_done()
    peekr.flush()
    llm, manual = sink.spans
    assert manual.name == "answer" and manual.span_id == outer.span_id
    expected = attributes("claude-test", stream=True, **SESSION, **ECHO, response_id=stream.get_final_message().id)
    check(llm, expected, parent_id=outer.span_id)
    assert llm.trace_id == outer.trace_id


@pytest.mark.anyio
async def test_parent_span_async(aclient: anthropic.AsyncAnthropic, sink: InMemorySink) -> None:
    async with peekr.session(**SESSION):
        async with peekr.span("answer") as outer:
            message = await aclient.messages.create(model="claude-test", max_tokens=50, messages=HELLO)
            stream = await aclient.messages.create(model="claude-test", max_tokens=50, messages=HELLO, stream=True)
        events = [event async for event in stream]  # consumed after the parent ended: the parent was taken at the call
    await peekr.aflush()
    first, manual, streamed = sink.spans
    assert manual.span_id == outer.span_id
    check(first, attributes("claude-test", **SESSION, **ECHO, response_id=message.id), parent_id=outer.span_id)
    expected = attributes("claude-test", stream=True, **SESSION, **ECHO, response_id=start_id(events))
    check(streamed, expected, parent_id=outer.span_id)
    assert first.trace_id == streamed.trace_id == outer.trace_id


def test_capture_content_false(client: anthropic.Anthropic) -> None:
    sink = InMemorySink()
    peekr.instrument(storage="none", sinks=[sink], providers=["anthropic"], capture_content=False)
    message = client.messages.create(model="claude-tool", max_tokens=50, system=SYSTEM, messages=HELLO, tools=TOOLS)
    with client.messages.stream(model="claude-tool", max_tokens=50, messages=HELLO, tools=TOOLS) as stream:
        final = stream.get_final_message()
    peekr.flush()
    plain, streamed = sink.spans
    base = {"provider": "anthropic", "model": "claude-tool", "finish_reason": "tool_use"}
    assert message.id != final.id  # the response id is metadata, not content: it stays
    check(plain, {**base, **usage(4, 3), "response_id": message.id})
    check(streamed, {**base, "stream": True, **usage(2, 3), "response_id": final.id})


def test_client_created_before_instrument(client: anthropic.Anthropic) -> None:
    assert not is_patched(Messages, "create")  # the client fixture ran first, peekr is not running
    sink = InMemorySink()
    peekr.instrument(storage="none", sinks=[sink], providers=["anthropic"])
    message = client.messages.create(model="claude-test", max_tokens=50, messages=HELLO)
    check(only_span(sink), attributes("claude-test", **ECHO, response_id=message.id))


def test_uninstrument_restores(client: anthropic.Anthropic, sink: InMemorySink) -> None:
    targets = [
        (Messages, "create"),
        (Messages, "parse"),
        (Messages, "stream"),
        (AsyncMessages, "create"),
        (MessageStreamManager, "__enter__"),
        (anthropic.Stream, "close"),
        (anthropic.AsyncStream, "close"),
        (BetaMessages, "create"),
    ]
    assert all(is_patched(owner, name) for owner, name in targets)
    originals = {(o, n): o.__dict__[n].__peekr_wrapped__ for o, n in targets}
    peekr.uninstrument()
    assert all(o.__dict__[n] is originals[(o, n)] for o, n in targets)
    client.messages.create(model="claude-test", max_tokens=50, messages=HELLO)
    list(client.messages.create(model="claude-test", max_tokens=50, messages=HELLO, stream=True))
    peekr.flush()
    assert sink.spans == []


def test_patching_twice_is_a_no_op(sink: InMemorySink) -> None:
    import anthropic.resources.beta.messages.messages as beta_module
    import anthropic.resources.messages.messages as module

    wrappers = dict(Messages.__dict__)
    hooks = AnthropicIntegration().hooks()
    hooks["anthropic.resources.messages.messages"](module)
    hooks["anthropic.resources.beta.messages.messages"](beta_module)
    assert dict(Messages.__dict__) == wrappers


def test_instrument_twice_then_again_after_shutdown(client: anthropic.Anthropic) -> None:
    sink = InMemorySink()
    peekr.instrument(storage="none", sinks=[sink], providers=["anthropic"])
    create = Messages.__dict__["create"]
    peekr.instrument(storage="none", sinks=[sink], providers=["anthropic"])  # returns the running instance
    assert Messages.__dict__["create"] is create
    message = client.messages.create(model="claude-test", max_tokens=50, messages=HELLO)
    check(only_span(sink), attributes("claude-test", **ECHO, response_id=message.id))
    peekr.shutdown()
    assert not is_patched(Messages, "create")
    again = InMemorySink()
    peekr.instrument(storage="none", sinks=[again], providers=["anthropic"])
    message = client.messages.create(model="claude-test", max_tokens=50, messages=HELLO)
    check(only_span(again), attributes("claude-test", **ECHO, response_id=message.id))


def test_stream_manager_made_before_instrument(client: anthropic.Anthropic) -> None:
    manager = client.messages.stream(model="claude-test", max_tokens=50, messages=HELLO)
    sink = InMemorySink()
    peekr.instrument(storage="none", sinks=[sink], providers=["anthropic"])
    with manager as stream:  # its arguments were not seen: recorded by nobody, works as ever
        assert stream.get_final_text() == "Echo: Hello there"
    peekr.flush()
    assert sink.spans == []


def test_not_running_passes_through(client: anthropic.Anthropic) -> None:
    sink = InMemorySink()
    peekr.instrument(storage="none", sinks=[sink], providers=["anthropic"])
    peekr.shutdown()  # also restores; patch again and call with no runtime: a plain pass-through
    import anthropic.resources.messages.messages as module

    AnthropicIntegration().hooks()["anthropic.resources.messages.messages"](module)
    try:
        message = client.messages.create(model="claude-test", max_tokens=50, messages=HELLO)
        with client.messages.stream(model="claude-test", max_tokens=50, messages=HELLO) as stream:
            assert stream.get_final_text() == "Echo: Hello there"
        assert reply_text(message) == "Echo: Hello there"
    finally:
        peekr.uninstrument()
    assert sink.spans == []


def test_beta_messages(client: anthropic.Anthropic, sink: InMemorySink) -> None:
    message = client.beta.messages.create(model="claude-tool", max_tokens=50, messages=BETA_HELLO, tools=BETA_TOOLS)
    assert type(message).__name__ == "BetaMessage"
    with client.beta.messages.stream(model="claude-test", max_tokens=50, messages=BETA_HELLO) as stream:
        assert stream.get_final_text() == "Echo: Hello there"
    peekr.flush()
    tool, streamed = sink.spans
    tool_request = {"max_tokens": 50, "tools": ["lookup"]}
    expected_tool = attributes(
        "claude-tool",
        request=tool_request,
        output="",
        tool_calls=[TOOL_CALL],
        finish_reason="tool_use",
        response_id=message.id,
        **usage(2, 3),
    )
    check(tool, expected_tool)
    check(streamed, attributes("claude-test", stream=True, **ECHO, response_id=stream.get_final_message().id))


@pytest.mark.anyio
async def test_beta_messages_async(aclient: anthropic.AsyncAnthropic, sink: InMemorySink) -> None:
    stream = await aclient.beta.messages.create(model="claude-test", max_tokens=50, messages=BETA_HELLO, stream=True)
    events = [event async for event in stream]
    parsed = await aclient.beta.messages.parse(model="claude-test", max_tokens=50, messages=BETA_HELLO)
    assert reply_text(parsed) == "Echo: Hello there"
    await peekr.aflush()
    streamed, parsed_span = sink.spans
    check(streamed, attributes("claude-test", stream=True, **ECHO, response_id=start_id(events)))
    check(parsed_span, attributes("claude-test", **ECHO, response_id=parsed.id))
