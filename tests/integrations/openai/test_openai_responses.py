"""Responses API and embeddings through the real SDK: sync/async x stream/non-stream x success / API
error / error mid-stream, function calls, parse(), the .stream() helper; each asserts the whole span."""

from __future__ import annotations

from typing import Any

import openai
import pytest
from _openai_expect import SDK_ASYNCGEN_WARNING, assert_span, only_span, spans

import peekr
from peekr.integrations.openai import _chat_loop
from peekr.sinks.memory import InMemorySink

pytestmark = pytest.mark.filterwarnings(SDK_ASYNCGEN_WARNING)

NAME = "openai.responses"
INPUT: list[Any] = [{"role": "user", "content": "Hello there"}]
# Instructions count as input words for the fake: "Be brief." + "Hello there" = 4.
USAGE = {"tokens_input": 2, "tokens_output": 3, "tokens_total": 5, "tokens_cache_read": 0, "tokens_reasoning": 0}
TOOLS = [
    {
        "type": "function",
        "name": "lookup",
        "parameters": {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]},
    }
]
TOOL_CALL = {"id": "call_fake_0", "type": "function", "name": "lookup", "arguments": '{"q": "Hello there"}'}


def _ok(**extra: Any) -> dict[str, Any]:
    return {
        "provider": "openai",
        "model": "gpt-4o",
        "input": INPUT,
        **USAGE,
        "output": "Echo: Hello there",
        "finish_reason": "completed",
        **extra,
    }


def _provider_span(sink: InMemorySink, name: str = NAME) -> peekr.Span:
    recorded = spans(sink)
    assert sorted(s.name for s in recorded) == sorted([name, "parent"])
    return next(s for s in recorded if s.name == name)


def test_create_with_instructions(client: openai.OpenAI, sink: InMemorySink) -> None:
    with peekr.span("parent") as parent:
        response = client.responses.create(
            model="gpt-4o", instructions="Be brief.", input=INPUT, temperature=0.5, max_output_tokens=40
        )
    assert response.output_text == "Echo: Hello there"
    assert_span(
        _provider_span(sink),
        NAME,
        _ok(
            input={"system": "Be brief.", "input": INPUT},
            tokens_input=4,
            tokens_total=7,
            request={"temperature": 0.5, "max_output_tokens": 40},
            response_id=response.id,
        ),
        parent=parent,
    )


def test_stream(client: openai.OpenAI, sink: InMemorySink) -> None:
    with peekr.span("parent") as parent:
        events = list(client.responses.create(model="gpt-4o", input=INPUT, stream=True))
    assert events[-1].type == "response.completed"
    response_id = events[-1].response.id
    assert response_id.startswith("resp_")
    expected = _ok(stream=True, request={"stream": True}, response_id=response_id)
    assert_span(_provider_span(sink), NAME, expected, parent=parent, stream=True)


@pytest.mark.parametrize("stream", [False, True])
def test_api_error(client: openai.OpenAI, sink: InMemorySink, stream: bool) -> None:
    with peekr.span("parent") as parent, pytest.raises(openai.NotFoundError) as info:
        client.responses.create(model="gpt-4o-error-404", input=INPUT, stream=stream)
    expected: dict[str, Any] = {
        "provider": "openai",
        "model": "gpt-4o-error-404",
        "input": INPUT,
        "request": {"stream": stream},
        "error": {"type": "openai.NotFoundError", "message": str(info.value)},
    }
    if stream:
        expected["stream"] = True
    assert_span(_provider_span(sink), NAME, expected, status="error", parent=parent)


def test_error_mid_stream_is_an_error_event_not_an_exception(client: openai.OpenAI, sink: InMemorySink) -> None:
    with peekr.span("parent") as parent:
        events = list(client.responses.create(model="gpt-4o-midstream-error", input=INPUT, stream=True))
    assert [e.type for e in events[-2:]] == ["error", "response.failed"]
    assert events[0].type == "response.created" and events[0].response.id == events[-1].response.id  # type: ignore[union-attr]
    assert_span(
        _provider_span(sink),
        NAME,
        {
            "provider": "openai",
            "model": "gpt-4o-midstream-error",
            "input": INPUT,
            "stream": True,
            "request": {"stream": True},
            "finish_reason": "failed",
            "output": "Echo: Hello ",  # the failed response has no output items: the deltas that arrived
            "response_id": events[-1].response.id,  # type: ignore[union-attr]
            "error": {"type": "openai.ResponseErrorEvent", "message": "server_error: fake midstream error"},
        },
        status="error",
        parent=parent,
        stream=True,
    )


def test_function_call(client: openai.OpenAI, sink: InMemorySink) -> None:
    response = client.responses.create(model="gpt-4o-tool", input=INPUT, tools=TOOLS)  # type: ignore[arg-type]
    assert_span(
        only_span(sink),
        NAME,
        {
            "provider": "openai",
            "model": "gpt-4o-tool",
            "input": INPUT,
            "tokens_input": 2,
            "tokens_output": 3,
            "tokens_total": 5,
            "tokens_cache_read": 0,
            "tokens_reasoning": 0,
            "tool_calls": [TOOL_CALL],
            "finish_reason": "completed",
            "request": {"tools": ["lookup"]},
            "response_id": response.id,
        },
    )


def test_function_call_streamed(client: openai.OpenAI, sink: InMemorySink) -> None:
    list(client.responses.create(model="gpt-4o-tool", input=INPUT, tools=TOOLS, stream=True))  # type: ignore[arg-type]
    span = only_span(sink)
    assert span.attributes["tool_calls"] == [TOOL_CALL]
    assert span.attributes["ttft_ms"] >= 0


def test_parse(client: openai.OpenAI, sink: InMemorySink) -> None:
    response = client.responses.parse(model="gpt-4o", input=INPUT)
    assert response.output_text == "Echo: Hello there"
    assert_span(only_span(sink), NAME, _ok(response_id=response.id))


def test_stream_helper_is_one_span(client: openai.OpenAI, sink: InMemorySink) -> None:
    with client.responses.stream(model="gpt-4o", input=INPUT) as stream:
        final = stream.get_final_response()
    assert final.output_text == "Echo: Hello there"
    assert_span(only_span(sink), NAME, _ok(stream=True, request={"stream": True}, response_id=final.id), stream=True)


@pytest.mark.anyio
async def test_async_create_and_stream(aclient: openai.AsyncOpenAI, sink: InMemorySink) -> None:
    with peekr.span("parent") as parent:
        response = await aclient.responses.create(model="gpt-4o", input=INPUT)
        stream = await aclient.responses.create(model="gpt-4o", input=INPUT, stream=True)
        events = [event async for event in stream]
    recorded = [s for s in spans(sink) if s.name == NAME]
    assert len(recorded) == 2
    assert_span(recorded[0], NAME, _ok(response_id=response.id), parent=parent)
    streamed = _ok(stream=True, request={"stream": True}, response_id=events[-1].response.id)  # type: ignore[union-attr]
    assert_span(recorded[1], NAME, streamed, parent=parent, stream=True)


@pytest.mark.anyio
async def test_async_api_error(aclient: openai.AsyncOpenAI, sink: InMemorySink) -> None:
    with pytest.raises(openai.InternalServerError):
        await aclient.responses.create(model="gpt-4o-error-500", input=INPUT)
    span = only_span(sink)
    assert (span.status, span.attributes["error"]["type"]) == ("error", "openai.InternalServerError")


@pytest.mark.anyio
async def test_async_error_mid_stream(aclient: openai.AsyncOpenAI, sink: InMemorySink) -> None:
    stream = await aclient.responses.create(model="gpt-4o-midstream-error", input=INPUT, stream=True)
    async for _ in stream:
        pass
    span = only_span(sink)
    assert span.status == "error" and span.attributes["error"]["type"] == "openai.ResponseErrorEvent"


@pytest.mark.anyio
async def test_async_function_call_and_parse_and_helper(aclient: openai.AsyncOpenAI, sink: InMemorySink) -> None:
    await aclient.responses.create(model="gpt-4o-tool", input=INPUT, tools=TOOLS)  # type: ignore[arg-type]
    response = await aclient.responses.parse(model="gpt-4o", input=INPUT)
    async with aclient.responses.stream(model="gpt-4o", input=INPUT) as stream:
        final = await stream.get_final_response()
    calls, parsed, helper = spans(sink)
    assert calls.attributes["tool_calls"] == [TOOL_CALL]
    assert_span(parsed, NAME, _ok(response_id=response.id))
    assert_span(helper, NAME, _ok(stream=True, request={"stream": True}, response_id=final.id), stream=True)


# -- embeddings --------------------------------------------------------------------------------------

EMBEDDINGS = "openai.embeddings"


def test_embeddings(client: openai.OpenAI, sink: InMemorySink) -> None:
    with peekr.span("parent") as parent:
        result = client.embeddings.create(model="text-embedding-3-small", input=["Hello there", "hi"])
    assert len(result.data[0].embedding) == 8  # the SDK asked for base64 and decoded it
    assert_span(
        _provider_span(sink, EMBEDDINGS),
        EMBEDDINGS,
        {
            "provider": "openai",
            "model": "text-embedding-3-small",
            "input": ["Hello there", "hi"],
            "tokens_input": 3,
            "tokens_total": 3,
            "output": {"count": 2, "dimensions": 8},  # never the vectors
        },
        parent=parent,
    )


def test_embeddings_base64_asked_by_the_caller(client: openai.OpenAI, sink: InMemorySink) -> None:
    result = client.embeddings.create(
        model="text-embedding-3-small", input="hi", dimensions=4, encoding_format="base64"
    )
    assert isinstance(result.data[0].embedding, str)
    span = only_span(sink)
    assert span.attributes["output"] == {"count": 1, "dimensions": 4}
    assert span.attributes["request"] == {"dimensions": 4, "encoding_format": "base64"}


def test_embeddings_error(client: openai.OpenAI, sink: InMemorySink) -> None:
    with pytest.raises(openai.AuthenticationError) as info:
        client.embeddings.create(model="text-embedding-error-401", input="hi")
    assert_span(
        only_span(sink),
        EMBEDDINGS,
        {
            "provider": "openai",
            "model": "text-embedding-error-401",
            "input": "hi",
            "error": {"type": "openai.AuthenticationError", "message": str(info.value)},
        },
        status="error",
    )


@pytest.mark.anyio
async def test_async_embeddings(aclient: openai.AsyncOpenAI, sink: InMemorySink) -> None:
    await aclient.embeddings.create(model="text-embedding-3-small", input="Hello there")
    with pytest.raises(openai.RateLimitError):
        await aclient.embeddings.create(model="text-embedding-error-429", input="hi")
    ok, failed = spans(sink)
    assert (ok.status, ok.attributes["tokens_input"], ok.attributes["output"]) == (
        "ok",
        2,
        {"count": 1, "dimensions": 8},
    )
    assert (failed.status, failed.attributes["error"]["type"]) == ("error", "openai.RateLimitError")


# -- the SDK's stream loop with peekr's step inside it, against the traced iterator --------------------------

_MODELS = ["gpt-4o", "gpt-4o-tool", "gpt-4o-midstream-error"]
#: peekr's copy of the SDK's loop (``_sdk`` None: decided on the next stream), then the traced iterator (``{}``: as
#: for an SDK loop peekr does not know).
_SDKS: tuple[dict[str, Any] | None, ...] = (None, {})


def _recorded(sink: InMemorySink) -> tuple[str, dict[str, Any]]:
    assert peekr.flush()
    (span,) = sink.spans
    kept = {key: value for key, value in span.attributes.items() if key not in ("ttft_ms", "duration_ms")}
    return span.status, {key: value for key, value in kept.items() if key != "response_id"}


def _events(events: list[Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(event.type, event.model_dump(exclude={"response", "item_id", "item"})) for event in events]


def _recording() -> InMemorySink:
    sink = InMemorySink()
    peekr.instrument(storage="none", sinks=[sink], providers=["openai"])
    return sink


def _check_paths(recorded: list[Any], model: str, loops: tuple[str, str]) -> None:
    """Both paths gave the caller the same events and recorded the same span."""
    (fused_loop, fused_events, fused_span), (plain_loop, plain_events, plain_span) = recorded
    assert (fused_loop, plain_loop) == loops
    assert fused_events == plain_events
    assert fused_span == plain_span
    assert fused_span[0] == ("error" if "error" in model else "ok")
    assert "output" in fused_span[1] or "tool_calls" in fused_span[1]


@pytest.mark.parametrize("model", _MODELS)
def test_the_loop_copy_records_what_the_traced_iterator_records(
    client: openai.OpenAI, model: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorded: list[Any] = []
    for sdk in _SDKS:  # peekr's copy of the SDK's loop, then the traced iterator around the SDK's own
        monkeypatch.setattr(_chat_loop, "_sdk", sdk)
        sink = _recording()
        stream: Any = client.responses.create(model=model, input=INPUT, tools=TOOLS, stream=True)  # type: ignore[arg-type]
        loop = stream._iterator.__qualname__
        recorded.append((loop, _events(list(stream)), _recorded(sink)))
        peekr.shutdown(timeout=5)
    _check_paths(recorded, model, ("_loop", "traced_iterator"))


@pytest.mark.anyio
@pytest.mark.parametrize("model", _MODELS)
async def test_async_the_loop_copy_records_what_the_traced_iterator_records(
    aclient: openai.AsyncOpenAI, model: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorded: list[Any] = []
    for sdk in _SDKS:
        monkeypatch.setattr(_chat_loop, "_sdk", sdk)
        sink = _recording()
        stream: Any = await aclient.responses.create(model=model, input=INPUT, tools=TOOLS, stream=True)  # type: ignore[arg-type]
        loop = stream._iterator.__qualname__
        recorded.append((loop, _events([event async for event in stream]), _recorded(sink)))
        peekr.shutdown(timeout=5)
    _check_paths(recorded, model, ("_aloop", "traced_async_iterator"))
