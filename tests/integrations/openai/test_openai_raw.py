"""``with_raw_response`` / ``with_streaming_response`` (PROVIDERS.md P4), and large payloads."""

from __future__ import annotations

import base64
import json
import re

import httpx2
import openai
import pytest
from _openai_expect import HELLO, SDK_ASYNCGEN_WARNING, only_span, spans

import peekr
from peekr.sinks.memory import InMemorySink
from peekr.testing.fake_provider import FakeProvider

pytestmark = [pytest.mark.usefixtures("sink"), pytest.mark.filterwarnings(SDK_ASYNCGEN_WARNING)]


def test_raw_response_is_parsed_once_and_shared(client: openai.OpenAI, sink: InMemorySink) -> None:
    raw = client.chat.completions.with_raw_response.create(model="gpt-4o", messages=HELLO)
    assert raw.headers["content-type"].startswith("application/json")
    completion = raw.parse()
    assert raw.parse() is completion
    assert completion.choices[0].message.content == "Echo: Hello there"
    span = only_span(sink)
    assert (span.attributes["output"], span.attributes["tokens_total"]) == ("Echo: Hello there", 5)


def test_raw_response_stream_is_traced_and_not_injected(
    client: openai.OpenAI, fake: FakeProvider, sink: InMemorySink
) -> None:
    raw = client.chat.completions.with_raw_response.create(model="gpt-4o", messages=HELLO, stream=True)
    assert "stream_options" not in fake.last_request.json  # the caller may read the raw body
    stream = raw.parse()
    assert isinstance(stream, openai.Stream)
    assert len(list(stream)) == 5
    span = only_span(sink)
    assert span.attributes["output"] == "Echo: Hello there"
    assert "tokens_input" not in span.attributes


def test_streaming_response_body_is_never_read(client: openai.OpenAI, fake: FakeProvider, sink: InMemorySink) -> None:
    with client.chat.completions.with_streaming_response.create(model="gpt-4o", messages=HELLO, stream=True) as raw:
        assert spans(sink)[0].attributes.get("output") is None  # ended at the headers, body untouched
        lines = [line for line in raw.iter_lines() if line.startswith("data: {")]
    assert "stream_options" not in fake.last_request.json
    assert len(lines) == 5  # exactly what the server sent: no usage chunk added
    span = only_span(sink)
    assert span.status == "ok" and "tokens_input" not in span.attributes


def test_streaming_response_non_stream(client: openai.OpenAI, sink: InMemorySink) -> None:
    with client.embeddings.with_streaming_response.create(model="text-embedding-3-small", input="hi") as raw:
        body = json.loads(raw.read())
    assert body["object"] == "list"
    span = only_span(sink)
    assert span.name == "openai.embeddings" and "output" not in span.attributes


@pytest.mark.anyio
async def test_async_raw_response(aclient: openai.AsyncOpenAI, sink: InMemorySink) -> None:
    raw = await aclient.responses.with_raw_response.create(model="gpt-4o", input="Hello there")
    assert raw.parse().output_text == "Echo: Hello there"
    raw_stream = await aclient.chat.completions.with_raw_response.create(model="gpt-4o", messages=HELLO, stream=True)
    assert len([c async for c in raw_stream.parse()]) == 5
    first, second = spans(sink)
    assert first.attributes["output"] == second.attributes["output"] == "Echo: Hello there"


def test_capture_content_false_records_no_content(fake: FakeProvider) -> None:
    peekr.shutdown()
    sink = InMemorySink()
    peekr.instrument(storage="none", sinks=[sink], providers=["openai"], capture_content=False)
    with fake.openai_client(in_process=True) as client:
        client.chat.completions.create(
            model="gpt-4o-tool", messages=HELLO, tools=[{"type": "function", "function": {"name": "f"}}]
        )
        list(client.chat.completions.create(model="gpt-4o", messages=HELLO, stream=True))
        list(client.responses.create(model="gpt-4o", instructions="x", input="Hello there", stream=True))
        client.embeddings.create(model="text-embedding-3-small", input="hi")
    recorded = spans(sink)
    assert len(recorded) == 4
    for span in recorded:
        assert not {"input", "output", "tool_calls", "request"} & set(span.attributes), span.attributes
        assert span.attributes["tokens_input"] > 0  # still measured


def test_large_and_binary_payloads_are_capped(client: openai.OpenAI, sink: InMemorySink) -> None:
    image = "data:image/png;base64," + base64.b64encode(bytes(range(256)) * 64).decode()
    long_text = "word " * 10_000
    messages = [
        {
            "role": "user",
            "content": [{"type": "text", "text": long_text}, {"type": "image_url", "image_url": {"url": image}}],
        }
    ]
    client.chat.completions.create(model="gpt-4o", messages=messages)  # type: ignore[arg-type]
    content = only_span(sink).attributes["input"][0]["content"]
    assert len(content[0]["text"]) < len(long_text) and "truncated" in content[0]["text"]
    assert content[1]["image_url"]["url"].startswith("[image/png: 1638")  # ~16 KiB, plus a hash
    assert "sha256:" in content[1]["image_url"]["url"]
    assert messages[0]["content"][1]["image_url"]["url"] == image  # type: ignore[index]  # the caller's objects are untouched


class _AzurePaths(httpx2.BaseTransport):
    """The fake provider has no Azure routes: map ``/deployments/{model}/...`` onto its OpenAI ones."""

    def __init__(self, inner: httpx2.BaseTransport) -> None:
        self._inner = inner

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        request.url = request.url.copy_with(path=re.sub(r"/deployments/[^/]+", "", request.url.path))
        return self._inner.handle_request(request)


def test_azure_client_spans_say_azure(fake: FakeProvider, sink: InMemorySink) -> None:
    client = openai.AzureOpenAI(
        api_key="sk-fake",
        api_version="2024-10-21",
        base_url="http://fake-provider/v1",
        http_client=httpx2.Client(transport=_AzurePaths(fake.transport())),
        max_retries=0,
    )
    with client:
        client.chat.completions.create(model="gpt-4o", messages=HELLO)
        client.embeddings.create(model="text-embedding-3-small", input="hi")
    chat, embeddings = spans(sink)
    assert (chat.attributes["provider"], chat.attributes["tokens_total"]) == ("azure", 5)
    assert embeddings.attributes["provider"] == "azure"
