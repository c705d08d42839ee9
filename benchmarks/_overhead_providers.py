"""Provider set-ups for ``bench_overhead.py``: the real SDK clients on in-process transports, and the peers.

Every client talks to the bundled fake provider without sockets: the OpenAI, Anthropic and Gemini SDKs
through ``FakeProvider.transport()`` (an ``httpx2`` transport), boto3 through a ``before-send`` handler
that hands botocore's prepared HTTP request to the same transport and returns its bytes as the HTTP
response (botocore parses the JSON body or the binary event stream itself, exactly as from a socket).

Each scenario returns what the caller saw (the number of stream items it iterated, or 1 for a call),
so the harness asserts every call's result and can count the chunks of a stream.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

#: The prompt's last user text has 49 words; the fake echoes it as "Echo: word1 ... word49": 50 pieces,
#: one stream chunk each for every provider (plus the provider's own framing events).
WORDS = 49
PROMPT = " ".join(f"word{i}" for i in range(1, WORDS + 1))
SYSTEM = "You are a helpful assistant. Answer briefly and cite your sources."
EXPECTED_TAIL = f"word{WORDS}"
ASYNC_CONCURRENCY = 50


@dataclass
class Provider:
    """One provider's scenarios (``call`` and ``stream`` always; ``async`` for OpenAI chat)."""

    name: str
    peekr_provider: str
    scenarios: dict[str, Callable[[], int]] = field(default_factory=dict)
    #: Calls per scenario invocation (the async scenario runs ASYNC_CONCURRENCY calls at once).
    calls_per_run: dict[str, int] = field(default_factory=dict)
    #: Rebuild clients into ``state`` (some peers wrap a client when it is created, not its class).
    rebuild: Callable[[], None] = lambda: None
    #: The clients the scenarios use; ``save``/``load`` keep one set per instrumentation state.
    state: dict[str, Any] = field(default_factory=dict)
    saved: dict[str, dict[str, Any]] = field(default_factory=dict)

    def save(self, key: str) -> None:
        """Remember the current clients under ``key``."""
        self.saved[key] = dict(self.state)

    def load(self, key: str) -> None:
        """Use the clients saved under ``key``."""
        self.state.update(self.saved[key])


def _fake() -> Any:
    from peekr.testing.fake_provider import FakeProvider

    return FakeProvider(max_logged_requests=4)


def openai_chat() -> Provider:
    fake = _fake()
    provider = Provider("openai-chat", "openai")
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": PROMPT}]
    state = provider.state

    def rebuild() -> None:
        state["client"] = fake.openai_client(in_process=True)
        state["async"] = fake.async_openai_client(in_process=True)

    def call() -> int:
        result = state["client"].chat.completions.create(model="gpt-4o-mini", messages=messages)
        assert result.choices[0].message.content.endswith(EXPECTED_TAIL), result
        return 1

    def stream(**options: Any) -> int:
        n = 0
        text = []
        usage = None
        for chunk in state["client"].chat.completions.create(
            model="gpt-4o-mini", messages=messages, stream=True, **options
        ):
            n += 1
            if chunk.choices and chunk.choices[0].delta.content:
                text.append(chunk.choices[0].delta.content)
            usage = chunk.usage or usage
        assert "".join(text).endswith(EXPECTED_TAIL), text
        assert (usage is not None) == bool(options), usage  # the caller's usage chunk, and only theirs
        return n

    def stream_with_usage() -> int:
        # The "50 chunks + usage chunk": the caller asks for the token counts itself, so every
        # variant (and the uninstrumented half) receives and parses the usage chunk, and peekr asks nothing.
        return stream(stream_options={"include_usage": True})

    async def one(client: Any) -> None:
        result = await client.chat.completions.create(model="gpt-4o-mini", messages=messages)
        assert result.choices[0].message.content.endswith(EXPECTED_TAIL)

    def concurrent() -> int:
        client = state["async"]

        async def many() -> None:
            await asyncio.gather(*(one(client) for _ in range(ASYNC_CONCURRENCY)))

        asyncio.run(many())
        return 1

    rebuild()
    provider.rebuild = rebuild
    provider.scenarios = {"call": call, "stream": stream, "stream-usage": stream_with_usage, "async": concurrent}
    provider.calls_per_run = {"async": ASYNC_CONCURRENCY}
    return provider


def openai_responses() -> Provider:
    fake = _fake()
    provider = Provider("openai-responses", "openai")
    state = provider.state

    def rebuild() -> None:
        state["client"] = fake.openai_client(in_process=True)

    def call() -> int:
        result = state["client"].responses.create(model="gpt-4o-mini", instructions=SYSTEM, input=PROMPT)
        assert result.output_text.endswith(EXPECTED_TAIL), result
        return 1

    def stream() -> int:
        n = 0
        text = []
        events = state["client"].responses.create(model="gpt-4o-mini", instructions=SYSTEM, input=PROMPT, stream=True)
        for event in events:
            n += 1
            if event.type == "response.output_text.delta":
                text.append(event.delta)
        assert "".join(text).endswith(EXPECTED_TAIL), text
        return n

    rebuild()
    provider.rebuild = rebuild
    provider.scenarios = {"call": call, "stream": stream}
    return provider


def anthropic() -> Provider:
    fake = _fake()
    provider = Provider("anthropic", "anthropic")
    messages = [{"role": "user", "content": PROMPT}]
    state = provider.state
    model = "claude-3-5-haiku-latest"

    def rebuild() -> None:
        state["client"] = fake.anthropic_client(in_process=True)

    def call() -> int:
        result = state["client"].messages.create(model=model, max_tokens=256, system=SYSTEM, messages=messages)
        assert result.content[0].text.endswith(EXPECTED_TAIL), result
        return 1

    def stream() -> int:
        n = 0
        text = []
        events = state["client"].messages.create(
            model=model, max_tokens=256, system=SYSTEM, messages=messages, stream=True
        )
        for event in events:
            n += 1
            if event.type == "content_block_delta":
                text.append(event.delta.text)
        assert "".join(text).endswith(EXPECTED_TAIL), text
        return n

    rebuild()
    provider.rebuild = rebuild
    provider.scenarios = {"call": call, "stream": stream}
    return provider


def gemini() -> Provider:
    import ssl

    import httpx2
    from google import genai
    from google.genai import types

    fake = _fake()
    provider = Provider("gemini", "gemini")
    tls = ssl.create_default_context()  # built once: the SDK makes one per client otherwise (slow, not per call)
    state = provider.state
    config = types.GenerateContentConfig(system_instruction=SYSTEM)

    def rebuild() -> None:
        options = types.HttpOptions(
            base_url="http://fake-provider",
            httpx_client=httpx2.Client(transport=fake.transport()),
            retry_options=types.HttpRetryOptions(attempts=1),
            client_args={"verify": tls},
            async_client_args={"verify": tls, "ssl": tls},
        )
        state["client"] = genai.Client(api_key="fake", http_options=options)

    def call() -> int:
        result = state["client"].models.generate_content(model="gemini-2.0-flash", contents=PROMPT, config=config)
        assert result.text.endswith(EXPECTED_TAIL), result
        return 1

    def stream() -> int:
        n = 0
        text = []
        for chunk in state["client"].models.generate_content_stream(
            model="gemini-2.0-flash", contents=PROMPT, config=config
        ):
            n += 1
            text.append(chunk.text or "")
        assert "".join(text).endswith(EXPECTED_TAIL), text
        return n

    rebuild()
    provider.rebuild = rebuild
    provider.scenarios = {"call": call, "stream": stream}
    return provider


class _RawBody:
    """What botocore reads an HTTP response body through (``stream()`` for event streams, ``content``)."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, *args: Any, **kwargs: Any) -> Any:
        yield self._data

    def read(self, *args: Any, **kwargs: Any) -> bytes:
        data, self._data = self._data, b""
        return data

    def close(self) -> None:
        pass


def _send_in_process(fake: Any) -> Callable[..., Any]:
    """A botocore ``before-send`` handler: the prepared request goes to the fake's transport, not a socket."""
    import httpx2
    from botocore.awsrequest import AWSResponse

    transport = fake.transport()

    def before_send(request: Any, **_: Any) -> Any:
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode()
        reply = transport.handle_request(
            httpx2.Request(request.method, request.url, headers=list(request.headers.items()), content=body)
        )
        data = reply.read()
        return AWSResponse(request.url, reply.status_code, dict(reply.headers), _RawBody(data))

    return before_send


def bedrock() -> Provider:
    import boto3
    from botocore.config import Config

    fake = _fake()
    provider = Provider("bedrock", "bedrock")
    messages = [{"role": "user", "content": [{"text": PROMPT}]}]
    system = [{"text": SYSTEM}]
    model = "anthropic.claude-3-haiku-20240307-v1:0"
    state = provider.state
    before_send = _send_in_process(fake)

    def rebuild() -> None:
        client = boto3.client(
            "bedrock-runtime",
            endpoint_url="http://fake-provider",
            region_name="us-east-1",
            aws_access_key_id="fake",
            aws_secret_access_key="fake",
            config=Config(retries={"total_max_attempts": 1, "mode": "standard"}),
        )
        client.meta.events.register("before-send.bedrock-runtime", before_send)
        state["client"] = client

    def call() -> int:
        result = state["client"].converse(modelId=model, messages=messages, system=system)
        assert result["output"]["message"]["content"][0]["text"].endswith(EXPECTED_TAIL), result
        return 1

    def stream() -> int:
        n = 0
        text = []
        for event in state["client"].converse_stream(modelId=model, messages=messages, system=system)["stream"]:
            n += 1
            delta = event.get("contentBlockDelta")
            if delta is not None:
                text.append(delta["delta"]["text"])
        assert "".join(text).endswith(EXPECTED_TAIL), text
        return n

    rebuild()
    provider.rebuild = rebuild
    provider.scenarios = {"call": call, "stream": stream}
    return provider


PROVIDERS: dict[str, Callable[[], Provider]] = {
    "openai-chat": openai_chat,
    "openai-responses": openai_responses,
    "anthropic": anthropic,
    "gemini": gemini,
    "bedrock": bedrock,
}

#: The two peers of each provider: (variant name, module, instrumentor class). OpenLLMetry is
#: traceloop's ``opentelemetry-instrumentation-<provider>`` (for Gemini ``-google-generativeai``, which
#: instruments ``google.genai``).
PEERS: dict[str, list[tuple[str, str, str]]] = {
    "openai-chat": [
        ("openinference", "openinference.instrumentation.openai", "OpenAIInstrumentor"),
        ("openllmetry", "opentelemetry.instrumentation.openai", "OpenAIInstrumentor"),
    ],
    "openai-responses": [
        ("openinference", "openinference.instrumentation.openai", "OpenAIInstrumentor"),
        ("openllmetry", "opentelemetry.instrumentation.openai", "OpenAIInstrumentor"),
    ],
    "anthropic": [
        ("openinference", "openinference.instrumentation.anthropic", "AnthropicInstrumentor"),
        ("openllmetry", "opentelemetry.instrumentation.anthropic", "AnthropicInstrumentor"),
    ],
    "gemini": [
        ("openinference", "openinference.instrumentation.google_genai", "GoogleGenAIInstrumentor"),
        ("openllmetry", "opentelemetry.instrumentation.google_generativeai", "GoogleGenerativeAiInstrumentor"),
        # The OTel project's own (opentelemetry-instrumentation-google-genai 1.3b0) only instruments
        # google-genai < 3, so it is not measured.
    ],
    "bedrock": [
        ("openinference", "openinference.instrumentation.bedrock", "BedrockInstrumentor"),
        ("openllmetry", "opentelemetry.instrumentation.bedrock", "BedrockInstrumentor"),
    ],
}
