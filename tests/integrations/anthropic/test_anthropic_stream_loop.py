"""Anthropic streams record the same span whether peekr runs its copy of the SDK's stream loop (the traced step
inside it) or wraps the SDK's loop in the traced iterator (an SDK release whose loop peekr does not know), and the
caller gets the same events and the same errors either way.

The bodies are hand-made server-sent events covering what the fake provider does not send: ``ping`` events, an
event without a name, an event without data, and an ``error`` event after two deltas.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx2
import pytest
from _anthropic_expect import HELLO, TOOLS, TRIO_UNEXHAUSTED_GENERATORS
from _stream_loops import unknown_sdk_loops
from anthropic._streaming import AsyncStream, Stream

import peekr
from peekr._errors import internal_error_count
from peekr.integrations.anthropic import _loop
from peekr.sinks.memory import InMemorySink

pytestmark = [TRIO_UNEXHAUSTED_GENERATORS]

_MESSAGE: dict[str, Any] = {
    "id": "msg_1",
    "type": "message",
    "role": "assistant",
    "model": "claude-test-1",
    "content": [],
    "stop_reason": None,
    "stop_sequence": None,
    "usage": {"input_tokens": 3, "output_tokens": 1},
}

EVENTS: list[tuple[str | None, Any]] = [
    ("message_start", {"type": "message_start", "message": _MESSAGE}),
    ("ping", {"type": "ping"}),
    ("content_block_start", {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
    (
        "content_block_delta",
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hel"}},
    ),
    (None, {"type": "ignored: no event name"}),
    ("content_block_delta", None),  # no data: skipped by the SDK
    ("ping", {"type": "ping"}),
    ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "lo"}}),
    ("content_block_stop", {"type": "content_block_stop", "index": 0}),
    (
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": {"output_tokens": 2},
        },
    ),
    ("message_stop", {"type": "message_stop"}),
]
ERROR = ("error", {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})


def _delta(index: int, kind: str, field: str, value: str) -> tuple[str, Any]:
    return (
        "content_block_delta",
        {"type": "content_block_delta", "index": index, "delta": {"type": kind, field: value}},
    )


def _start(index: int, block: dict[str, Any]) -> tuple[str, Any]:
    return ("content_block_start", {"type": "content_block_start", "index": index, "content_block": block})


# A text block, a tool call in fragments, then a second text block: the events after the first content delta take
# the loop copy's inline step, whose text block changes twice.
MIXED: list[tuple[str | None, Any]] = [
    EVENTS[0],
    _start(0, {"type": "text", "text": ""}),
    _delta(0, "text_delta", "text", "Let me check"),
    ("content_block_stop", {"type": "content_block_stop", "index": 0}),
    _start(1, {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}}),
    _delta(1, "input_json_delta", "partial_json", '{"city": '),
    ("ping", {"type": "ping"}),
    _delta(1, "input_json_delta", "partial_json", '"Paris"}'),
    ("content_block_stop", {"type": "content_block_stop", "index": 1}),
    _start(2, {"type": "text", "text": ""}),
    _delta(2, "text_delta", "text", " the weather."),
    _delta(2, "text_delta", "text", " Done."),
    ("content_block_stop", {"type": "content_block_stop", "index": 2}),
    *EVENTS[-2:],
]


def _body(events: list[tuple[str | None, Any]]) -> bytes:
    out = []
    for name, data in events:
        head = f"event: {name}\n" if name is not None else ""
        out.append(f"{head}data: {json.dumps(data)}\n\n" if data is not None else f"{head}data:\n\n")
    return "".join(out).encode()


def _transport(body: bytes) -> httpx2.MockTransport:
    return httpx2.MockTransport(
        lambda request: httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=body)
    )


def _client(body: bytes) -> anthropic.Anthropic:
    return anthropic.Anthropic(
        api_key="sk-fake", base_url="http://fake", max_retries=0, http_client=httpx2.Client(transport=_transport(body))
    )


def _aclient(body: bytes) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(
        api_key="sk-fake",
        base_url="http://fake",
        max_retries=0,
        http_client=httpx2.AsyncClient(transport=_transport(body)),
    )


def _consume(client: anthropic.Anthropic) -> tuple[list[Any], str, str | None]:
    """The events the caller got, the loop that ran and the error the stream raised (if any)."""
    stream = client.messages.create(model="claude-test", max_tokens=50, messages=HELLO, tools=TOOLS, stream=True)
    loop = getattr(stream._iterator, "__qualname__", "")
    got: list[Any] = []
    try:
        got.extend(event.model_dump() for event in stream)
    except anthropic.APIStatusError as exc:
        return got, loop, f"{type(exc).__name__}: {exc}"
    return got, loop, None


async def _aconsume(client: anthropic.AsyncAnthropic) -> tuple[list[Any], str, str | None]:
    stream = await client.messages.create(model="claude-test", max_tokens=50, messages=HELLO, tools=TOOLS, stream=True)
    loop = getattr(stream._iterator, "__qualname__", "")
    got: list[Any] = []
    try:
        async for event in stream:
            got.append(event.model_dump())
    except anthropic.APIStatusError as exc:
        return got, loop, f"{type(exc).__name__}: {exc}"
    return got, loop, None


def _record() -> InMemorySink:
    sink = InMemorySink()
    peekr.instrument(storage="none", sinks=[sink], providers=["anthropic"])
    return sink


def _span(sink: InMemorySink) -> tuple[str, dict[str, Any]]:
    assert peekr.flush()
    (span,) = sink.spans
    return span.status, {key: value for key, value in span.attributes.items() if key not in ("ttft_ms", "duration_ms")}


@pytest.fixture
def sdk_loop_unknown(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """An SDK release whose stream loops are not the ones peekr copies (a wrapper of the same loops)."""
    unknown_sdk_loops(monkeypatch, Stream, AsyncStream, _loop)
    yield
    _loop._sdk = None


@pytest.mark.parametrize(
    "events",
    [EVENTS, [*EVENTS[:4], ERROR], MIXED, [*MIXED[:7], ERROR]],
    ids=["complete", "error-event", "mixed", "mixed-error"],
)
def test_the_loop_copy_and_the_traced_iterator_record_the_same_span(
    events: list[tuple[str | None, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    body = _body(events)
    plain = _consume(_client(body))
    errors = internal_error_count()
    recorded = []
    sdks: tuple[dict[str, Any] | None, ...] = (None, {})
    for sdk in sdks:  # peekr's copy of the SDK's loop, then (as for a loop it does not know) the traced one
        monkeypatch.setattr(_loop, "_sdk", sdk)
        sink = _record()
        got, loop, error = _consume(_client(body))
        assert (got, error) == (plain[0], plain[2])
        recorded.append((loop, _span(sink)))
        peekr.shutdown(timeout=5)
    assert [loop for loop, _ in recorded] == ["_loop", "traced_iterator"]
    assert recorded[0][1] == recorded[1][1]
    status, attributes = recorded[0][1]
    if events is EVENTS:
        assert (status, attributes["output"], attributes["tokens_output"]) == ("ok", "Hello", 2)
        assert plain[2] is None
    elif events is MIXED:
        assert (status, attributes["output"]) == ("ok", "Let me check the weather. Done.")
        assert [(c["name"], c["arguments"]) for c in attributes["tool_calls"]] == [("get_weather", '{"city": "Paris"}')]
    elif events == [*MIXED[:7], ERROR]:
        assert (status, attributes["output"]) == ("error", "Let me check")
        assert plain[2] is not None and "Overloaded" in plain[2]
    else:
        assert (status, attributes["output"]) == ("error", "Hel")
        assert plain[2] is not None and "Overloaded" in plain[2]
    assert internal_error_count() == errors


@pytest.mark.anyio
@pytest.mark.parametrize(
    "events",
    [EVENTS, [*EVENTS[:4], ERROR], MIXED, [*MIXED[:7], ERROR]],
    ids=["complete", "error-event", "mixed", "mixed-error"],
)
async def test_async_the_loop_copy_and_the_traced_iterator_record_the_same_span(
    events: list[tuple[str | None, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    body = _body(events)
    plain = await _aconsume(_aclient(body))
    recorded = []
    sdks: tuple[dict[str, Any] | None, ...] = (None, {})
    for sdk in sdks:
        monkeypatch.setattr(_loop, "_sdk", sdk)
        sink = _record()
        got, loop, error = await _aconsume(_aclient(body))
        assert (got, error) == (plain[0], plain[2])
        recorded.append((loop, _span(sink)))
        peekr.shutdown(timeout=5)
    assert [loop for loop, _ in recorded] == ["_aloop", "traced_async_iterator"]
    assert recorded[0][1] == recorded[1][1]
    assert recorded[0][1][0] == ("error" if events[-1] is ERROR else "ok")


def test_an_sdk_loop_peekr_does_not_know_keeps_the_traced_iterator(sdk_loop_unknown: None) -> None:
    body = _body(EVENTS)
    plain = _consume(_client(body))
    sink = _record()
    got, loop, error = _consume(_client(body))
    assert (loop, got, error) == ("traced_iterator", plain[0], None)
    status, attributes = _span(sink)
    assert (status, attributes["output"]) == ("ok", "Hello")


@pytest.mark.anyio
async def test_async_an_sdk_loop_peekr_does_not_know_keeps_the_traced_iterator(sdk_loop_unknown: None) -> None:
    body = _body(EVENTS)
    plain = await _aconsume(_aclient(body))
    sink = _record()
    got, loop, error = await _aconsume(_aclient(body))
    assert (loop, got, error) == ("traced_async_iterator", plain[0], None)
    status, attributes = _span(sink)
    assert (status, attributes["output"]) == ("ok", "Hello")


def test_a_stream_whose_iterator_was_already_made_keeps_it(monkeypatch: pytest.MonkeyPatch) -> None:
    # Someone read ``_iterator`` before peekr saw the stream: its generator is the one the caller's stream
    # iterates, so peekr wraps it rather than making another over a new copy.
    original = Stream.__init__

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        self._iterator  # noqa: B018 - made now, as a subclass or another library might

    monkeypatch.setattr(Stream, "__init__", init)
    sink = _record()
    got, loop, error = _consume(_client(_body(EVENTS)))
    assert (loop, error, len(got)) == ("traced_iterator", None, 7)
    assert _span(sink)[1]["output"] == "Hello"
