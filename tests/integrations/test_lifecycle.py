"""instrument()/uninstrument() around the OpenAI SDK: import order, idempotence, restore, context
(session, parent span), capture_content=False, and peekr's own suppressed calls."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import openai
import pytest
from openai.resources.chat.completions.completions import AsyncCompletions, Completions
from openai.resources.embeddings import Embeddings
from openai.resources.responses.responses import Responses

import peekr
from peekr._context import suppress_instrumentation
from peekr.sinks.memory import InMemorySink
from peekr.testing.fake_provider import FakeProvider

HELLO: list[Any] = [{"role": "user", "content": "Hello there"}]
ORIGINALS = {
    (cls, name): cls.__dict__[name]
    for cls, name in [
        (Completions, "create"),
        (Completions, "parse"),
        (AsyncCompletions, "create"),
        (Responses, "create"),
        (Embeddings, "create"),
    ]
}


def _instrument(**options: object) -> InMemorySink:
    sink = InMemorySink()
    peekr.instrument(storage="none", sinks=[sink], providers=["openai"], **options)  # type: ignore[arg-type]
    return sink


def _spans(sink: InMemorySink) -> list[peekr.Span]:
    assert peekr.flush(5)
    return sink.spans


@pytest.fixture
def client() -> openai.OpenAI:
    return FakeProvider().openai_client(in_process=True)


def test_client_created_before_instrument_is_traced(client: openai.OpenAI) -> None:
    sink = _instrument()
    client.chat.completions.create(model="gpt-4o", messages=HELLO)
    (span,) = _spans(sink)
    assert span.name == "openai.chat.completions"


def test_instrument_twice_patches_once(client: openai.OpenAI) -> None:
    sink = _instrument()
    wrapper = Completions.__dict__["create"]
    assert peekr.instrument(storage="none", providers=["openai"]) is not None  # returns the running handle
    assert Completions.__dict__["create"] is wrapper
    assert wrapper.__peekr_wrapped__ is ORIGINALS[(Completions, "create")]
    client.chat.completions.create(model="gpt-4o", messages=HELLO)
    assert len(_spans(sink)) == 1


def test_uninstrument_restores_the_originals_and_records_nothing(client: openai.OpenAI) -> None:
    sink = _instrument()
    assert all(Completions.__dict__["create"] is not original for original in [ORIGINALS[(Completions, "create")]])
    assert peekr.uninstrument() >= len(ORIGINALS)
    for (cls, name), original in ORIGINALS.items():
        assert cls.__dict__[name] is original, (cls, name)
    client.chat.completions.create(model="gpt-4o", messages=HELLO)
    list(client.chat.completions.create(model="gpt-4o", messages=HELLO, stream=True))
    client.embeddings.create(model="text-embedding-3-small", input="hi")
    assert _spans(sink) == []


def test_reinstrument_after_shutdown(client: openai.OpenAI) -> None:
    _instrument()
    peekr.shutdown()
    assert Completions.__dict__["create"] is ORIGINALS[(Completions, "create")]
    sink = _instrument()
    client.chat.completions.create(model="gpt-4o", messages=HELLO)
    assert len(_spans(sink)) == 1


def test_bound_method_captured_before_instrument_is_the_documented_caveat(client: openai.OpenAI) -> None:
    create = client.chat.completions.create  # holds the original function
    sink = _instrument()
    create(model="gpt-4o", messages=HELLO)
    client.chat.completions.create(model="gpt-4o", messages=HELLO)
    assert len(_spans(sink)) == 1


def test_instrument_before_import_openai_in_a_fresh_process(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import json, sys
        import peekr
        peekr.instrument(storage="jsonl", path=sys.argv[1], providers=["openai"])
        assert "openai" not in sys.modules, "instrument() must not import the SDK"
        from peekr.testing.fake_provider import FakeProvider
        import openai
        client = FakeProvider().openai_client(in_process=True)
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "Hello there"}])
        list(client.responses.create(model="gpt-4o", input="Hello there", stream=True))
        peekr.shutdown()
        """
    )
    out = tmp_path / "traces.jsonl"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PEEKR_")}
    subprocess.run([sys.executable, "-c", script, str(out)], check=True, env=env, timeout=60)
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["name"] for r in records] == ["openai.chat.completions", "openai.responses"]
    assert records[1]["attributes"]["tokens_total"] == 5


def test_session_fields_and_parent_span(client: openai.OpenAI) -> None:
    sink = _instrument(tenant_id="default-tenant")
    with peekr.session(user_id="u1", session_id="chat-42", tenant_id="acme", retention_class="short", feature="faq"):
        with peekr.span("handle-request") as parent:
            client.chat.completions.create(model="gpt-4o", messages=HELLO)
    llm = next(s for s in _spans(sink) if s.name == "openai.chat.completions")
    assert llm.parent_id == parent.span_id and llm.trace_id == parent.trace_id
    assert (llm.attributes["user_id"], llm.attributes["session_id"], llm.attributes["feature"]) == (
        "u1",
        "chat-42",
        "faq",
    )
    assert (llm.tenant_id, llm.retention_class) == ("acme", "short")


@pytest.mark.anyio
async def test_session_fields_and_parent_span_async() -> None:
    sink = _instrument()
    async with FakeProvider().async_openai_client(in_process=True) as client:
        async with peekr.session(user_id="u2"):
            with peekr.span("outer") as parent:
                await client.embeddings.create(model="text-embedding-3-small", input="hi")
    llm = next(s for s in _spans(sink) if s.name == "openai.embeddings")
    assert (llm.parent_id, llm.attributes["user_id"]) == (parent.span_id, "u2")


def test_capture_content_false(client: openai.OpenAI) -> None:
    sink = _instrument(capture_content=False)
    client.chat.completions.create(model="gpt-4o", messages=HELLO, temperature=0)
    (span,) = _spans(sink)
    assert "input" not in span.attributes and "output" not in span.attributes
    assert span.attributes["tokens_total"] == 5


def test_peekr_own_suppressed_calls_record_nothing() -> None:
    fake = FakeProvider()
    client = fake.openai_client(in_process=True)
    sink = _instrument()
    with suppress_instrumentation():
        client.chat.completions.create(model="gpt-4o", messages=HELLO)
        chunks = list(client.chat.completions.create(model="gpt-4o", messages=HELLO, stream=True))
    assert len(chunks) == 5
    assert "stream_options" not in fake.last_request.json  # sent exactly as the caller wrote it
    assert _spans(sink) == []
