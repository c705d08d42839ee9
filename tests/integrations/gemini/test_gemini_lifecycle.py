"""Patching: import order, clients made before instrument(), idempotence, uninstrument, capture_content."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from _gemini_helpers import AIOHTTP_WARNING, assert_span, finished, make_client, only_span
from google import genai
from google.genai import models, types

import peekr
from peekr._context import suppress_instrumentation
from peekr.integrations.gemini import GeminiIntegration
from peekr.sinks.memory import InMemorySink
from peekr.testing.fake_provider import FakeProvider

pytestmark = pytest.mark.filterwarnings(AIOHTTP_WARNING)

METHODS = [
    (models.Models, "generate_content"),
    (models.Models, "generate_content_stream"),
    (models.AsyncModels, "generate_content"),
    (models.AsyncModels, "generate_content_stream"),
]


def current() -> list[object]:
    return [owner.__dict__[name] for owner, name in METHODS]


def test_client_created_before_instrument_is_traced(fake: FakeProvider) -> None:
    client = make_client(fake)
    chat = client.chats.create(model="gemini-test")
    sink = InMemorySink()
    peekr.instrument(storage="none", sinks=[sink], providers=["gemini"])
    assert client.models.generate_content(model="gemini-test", contents="Hi").text == "Echo: Hi"
    assert chat.send_message("Hi").text == "Echo: Hi"
    assert [s.attributes["output"] for s in finished(sink)] == ["Echo: Hi", "Echo: Hi"]


def test_patch_is_idempotent_and_uninstrument_restores(fake: FakeProvider, client: genai.Client) -> None:
    originals = current()
    sink = InMemorySink()
    peekr.instrument(storage="none", sinks=[sink], providers=["gemini"])
    wrappers = current()
    assert all(w is not o and w.__peekr_wrapped__ is o for w, o in zip(wrappers, originals, strict=True))  # type: ignore[attr-defined]
    GeminiIntegration().hooks()["google.genai.models"](models)  # the import hook firing again patches nothing
    peekr.instrument(storage="none", sinks=[sink], providers=["gemini"])  # a second instrument() neither
    assert current() == wrappers
    client.models.generate_content(model="gemini-test", contents="Hi")
    assert len(finished(sink)) == 1  # wrapped once, so recorded once

    assert peekr.uninstrument() >= len(METHODS)
    assert current() == originals
    client.models.generate_content(model="gemini-test", contents="Hi")
    list(client.models.generate_content_stream(model="gemini-test", contents="Hi"))
    assert len(finished(sink)) == 1  # nothing new after uninstrument

    peekr.shutdown()
    peekr.instrument(storage="none", sinks=[sink], providers=["gemini"])  # and it can be patched again
    client.models.generate_content(model="gemini-test", contents="Hi")
    assert len(finished(sink)) == 2


def test_sdk_imported_after_instrument_is_patched_on_import() -> None:
    """In a fresh interpreter: neither ``import peekr`` nor instrument() imports google-genai, and importing
    it afterwards patches it (the calls themselves are covered by every other test)."""
    code = textwrap.dedent(
        """
        import sys
        import peekr
        assert "google.genai" not in sys.modules, "import peekr imported the SDK"
        peekr.instrument(storage="none", providers=["gemini"])
        assert "google.genai" not in sys.modules, "instrument() imported the SDK"
        from google import genai
        from google.genai.models import AsyncModels, Models
        for owner in (Models, AsyncModels):
            for name in ("generate_content", "generate_content_stream"):
                assert hasattr(owner.__dict__[name], "__peekr_wrapped__"), (owner, name)
        peekr.shutdown()
        assert not hasattr(Models.__dict__["generate_content"], "__peekr_wrapped__")
        print("ok")
        """
    )
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_capture_content_false_records_no_content(client: genai.Client) -> None:
    sink = InMemorySink()
    peekr.instrument(storage="none", sinks=[sink], providers=["gemini"], capture_content=False)
    lookup = types.Tool(function_declarations=[types.FunctionDeclaration(name="lookup")])
    config = types.GenerateContentConfig(system_instruction="Secret system prompt", temperature=0.1, tools=[lookup])
    response = client.models.generate_content(model="gemini-tool", contents="secret question", config=config)
    chunks = list(client.models.generate_content_stream(model="gemini-test", contents="secret question", config=config))
    call, streamed = finished(sink)
    assert_span(
        call,
        {
            "provider": "gemini",
            "model": "gemini-tool",
            "finish_reason": "STOP",
            "tokens_input": 5,
            "tokens_output": 1,
            "tokens_total": 6,
            "response_id": response.response_id,  # metadata, not content: kept
        },
    )
    tokens = {"tokens_input": 5, "tokens_output": 3, "tokens_total": 8}
    assert_span(
        streamed,
        {"provider": "gemini", "model": "gemini-test", "stream": True, "finish_reason": "STOP", **tokens}
        | {"response_id": chunks[0].response_id},
        ttft=True,
    )
    assert "secret" not in str([call.attributes, streamed.attributes]).lower()


def test_not_recording_when_peekr_is_not_running(client: genai.Client) -> None:
    sink = InMemorySink()
    peekr.instrument(storage="none", sinks=[sink], providers=["gemini"])
    peekr.shutdown()  # restores the SDK and stops the runtime
    assert client.models.generate_content(model="gemini-test", contents="Hi").text == "Echo: Hi"
    assert sink.spans == []


def test_one_span_per_call_with_automatic_function_calling(fake: FakeProvider, client: genai.Client) -> None:
    """The SDK runs the Python tool and calls the model again: still one user call, one span."""

    # No parameters: the fake does not read the schema the SDK builds from a Python function's signature.
    def lookup() -> str:
        """Look something up."""
        return "found it"

    sink = InMemorySink()
    peekr.instrument(storage="none", sinks=[sink], providers=["gemini"])
    before = len(fake.requests)
    config = types.GenerateContentConfig(tools=[lookup])
    response = client.models.generate_content(model="gemini-tool", contents="Hello there", config=config)
    assert len(fake.requests) == before + 2
    assert response.text == 'Echo: {"result": "found it"}'
    span = only_span(sink)
    assert span.attributes["request"] == {"tools": ["lookup"]}
    assert span.attributes["output"] == response.text
    assert span.attributes["input"] == "Hello there"
    assert "tool_calls" not in span.attributes  # the final answer is text; the SDK handled the call


@pytest.mark.parametrize("method", ["generate_content", "generate_content_stream"])
def test_argument_errors_raise_at_call_time_as_without_peekr(client: genai.Client, method: str) -> None:
    call = getattr(client.models, method)
    with pytest.raises(TypeError) as bare:
        call(contents="Hi")  # no model
    sink = InMemorySink()
    peekr.instrument(storage="none", sinks=[sink], providers=["gemini"])
    with pytest.raises(TypeError) as traced:
        getattr(client.models, method)(contents="Hi")  # raises here, not on a first next()
    assert str(traced.value) == str(bare.value)
    span = only_span(sink)
    assert span.status == "error" and span.attributes["error"] == {"type": "TypeError", "message": str(bare.value)}


def test_suppressed_calls_pass_straight_through(client: genai.Client, sink: InMemorySink) -> None:
    """peekr's own judge calls run under suppress_instrumentation(): the SDK's own objects, no span."""
    with suppress_instrumentation():
        response = client.models.generate_content(model="gemini-test", contents="Hi")
        stream = client.models.generate_content_stream(model="gemini-test", contents="Hi")
    assert response.text == "Echo: Hi"
    assert stream.gi_code is models.Models.generate_content_stream.__peekr_wrapped__.__code__  # type: ignore[attr-defined]
    assert [c.text for c in stream] == ["Echo: ", "Hi"]
    assert finished(sink) == []
