"""Every provider and operation, through the real SDKs against the bundled fake provider, exported by
OTLPSink to a real OTLP/HTTP receiver and checked in the decoded protobuf against the upstream GenAI
convention constants (``opentelemetry-semantic-conventions``) and message types
(``opentelemetry-util-genai``): streaming, errors, content capture on and off."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from _otlp_receiver import attrs, input_messages, output_messages, running_receiver, system_instructions

import peekr
from peekr.testing.fake_provider import FakeProvider

GA = pytest.importorskip("opentelemetry.semconv._incubating.attributes.gen_ai_attributes")
OI = pytest.importorskip("openinference.semconv.trace")
from opentelemetry.semconv._incubating.attributes.openai_attributes import OPENAI_API_TYPE  # noqa: E402
from opentelemetry.semconv.attributes.error_attributes import ERROR_TYPE  # noqa: E402

from peekr.sinks.otlp import OTLPSink  # noqa: E402

pytest.importorskip("openai")
pytest.importorskip("anthropic")
pytest.importorskip("google.genai")
pytest.importorskip("boto3")

SPAN_KIND_CLIENT, STATUS_ERROR = 3, 2
OPENAI, ANTHROPIC = GA.GenAiProviderNameValues.OPENAI.value, GA.GenAiProviderNameValues.ANTHROPIC.value
GEMINI, BEDROCK = GA.GenAiProviderNameValues.GCP_GEMINI.value, GA.GenAiProviderNameValues.AWS_BEDROCK.value
CHAT, EMBEDDINGS = GA.GenAiOperationNameValues.CHAT.value, GA.GenAiOperationNameValues.EMBEDDINGS.value
GENERATE = GA.GenAiOperationNameValues.GENERATE_CONTENT.value
SYSTEM, HELLO = "Be brief.", "Hello there"
TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {}}}}]
CONTENT = (
    GA.GEN_AI_INPUT_MESSAGES,
    GA.GEN_AI_OUTPUT_MESSAGES,
    GA.GEN_AI_SYSTEM_INSTRUCTIONS,
    OI.SpanAttributes.INPUT_VALUE,
    OI.SpanAttributes.OUTPUT_VALUE,
    "peekr.tool_calls",
)


#: A provider call; returns the response id the SDK's own response object carries (None: it has none).
Call = Callable[[FakeProvider], "str | None"]


@dataclass
class Case:
    """One provider call and what its exported span must say."""

    call: Call
    provider: str
    operation: str
    model: str
    finish: str | None = "stop"  # the provider's own finish reason
    stream: bool = False
    system: bool = False  # system instructions travel outside the chat history
    tool: bool = False
    request: dict[str, Any] = field(default_factory=dict)  # GA attribute -> value
    error: str | None = None  # error.type
    api: str | None = None  # openai.api.type


_open_clients: list[Any] = []


def _closing(client: Any) -> Any:
    """Remember an SDK client so the test closes it (no socket is left to the garbage collector)."""
    _open_clients.append(client)
    return client


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    while _open_clients:
        _open_clients.pop().close()


def _drain(stream: Any) -> list[Any]:
    """Every item of ``stream``; those that arrived before an error are kept in ``_received``."""
    _received.clear()
    _received.extend(stream)
    return list(_received)


_received: list[Any] = []


def _openai_chat(fake: FakeProvider) -> str | None:
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": HELLO}]
    response = _closing(fake.openai_client()).chat.completions.create(
        model="gpt-4o-mini", messages=messages, temperature=0.2, max_tokens=50, top_p=0.9, seed=7, stop=["END"]
    )
    return str(response.id)


def _openai_chat_stream(fake: FakeProvider) -> str | None:
    client = _closing(fake.openai_client())
    messages = [{"role": "user", "content": HELLO}]
    chunks = _drain(
        client.chat.completions.create(model="gpt-4o-mini-tool", messages=messages, tools=TOOLS, stream=True)
    )
    return str(chunks[0].id)


def _openai_chat_midstream_error(fake: FakeProvider) -> str | None:
    client = _closing(fake.openai_client())
    stream = client.chat.completions.create(
        model="gpt-4o-midstream-error", messages=[{"role": "user", "content": HELLO}], stream=True
    )
    with pytest.raises(Exception, match="fake"):
        _drain(stream)
    return str(_received[0].id)  # the chunks before the error carried it


def _openai_chat_error(fake: FakeProvider) -> str | None:
    with pytest.raises(Exception, match="429"):
        _closing(fake.openai_client()).chat.completions.create(
            model="gpt-4o-error-429", messages=[{"role": "user", "content": HELLO}]
        )
    return None


def _openai_responses(fake: FakeProvider) -> str | None:
    response = _closing(fake.openai_client()).responses.create(
        model="gpt-4o", instructions=SYSTEM, input=HELLO, temperature=0.1, max_output_tokens=20
    )
    return str(response.id)


def _openai_responses_stream(fake: FakeProvider) -> str | None:
    events = _drain(
        _closing(fake.openai_client()).responses.create(model="gpt-4o", instructions=SYSTEM, input=HELLO, stream=True)
    )
    return str(events[-1].response.id)  # response.completed


def _openai_embeddings(fake: FakeProvider) -> str | None:
    _closing(fake.openai_client()).embeddings.create(model="text-embedding-3-small", input=HELLO)
    return None  # embeddings responses carry no id


def _anthropic(fake: FakeProvider) -> str | None:
    return (  # type: ignore[no-any-return]
        _closing(fake.anthropic_client())
        .messages.create(
            model="claude-3-5-haiku",
            system=SYSTEM,
            max_tokens=100,
            stop_sequences=["END"],
            messages=[{"role": "user", "content": HELLO}],
            extra_body={"temperature": 0.3},  # anthropic 2.x has no temperature parameter
        )
        .id
    )


def _anthropic_stream(fake: FakeProvider) -> str | None:
    client = _closing(fake.anthropic_client())
    messages = [{"role": "user", "content": HELLO}]
    tools = [{"name": "get_weather", "input_schema": {"type": "object", "properties": {}}}]
    events = _drain(
        client.messages.create(
            model="claude-3-5-haiku-tool", max_tokens=100, messages=messages, tools=tools, stream=True
        )
    )
    return str(events[0].message.id)  # message_start


def _anthropic_error(fake: FakeProvider) -> str | None:
    with pytest.raises(Exception, match="500"):
        _closing(fake.anthropic_client()).messages.create(
            model="claude-error-500", max_tokens=10, messages=[{"role": "user", "content": HELLO}]
        )
    return None


def _gemini_config() -> Any:
    from google.genai import types

    return types.GenerateContentConfig(
        system_instruction=SYSTEM, temperature=0.3, max_output_tokens=40, top_p=0.8, top_k=5
    )


def _gemini(fake: FakeProvider) -> str | None:
    client = _closing(fake.genai_client())  # referenced while in use: a collected client closes its connection
    response = client.models.generate_content(model="gemini-2.0-flash", contents=HELLO, config=_gemini_config())
    return str(response.response_id)


def _gemini_stream(fake: FakeProvider) -> str | None:
    client = _closing(fake.genai_client())
    chunks = _drain(
        client.models.generate_content_stream(model="gemini-2.0-flash", contents=HELLO, config=_gemini_config())
    )
    return str(chunks[0].response_id)


def _gemini_error(fake: FakeProvider) -> str | None:
    client = _closing(fake.genai_client())
    with pytest.raises(Exception, match="400"):
        client.models.generate_content(model="gemini-error-400", contents=HELLO)
    return None


def _bedrock(call: Callable[[Any], str | None]) -> Call:
    def run(fake: FakeProvider) -> str | None:
        client = fake.bedrock_client()
        try:
            return call(client)
        finally:
            client.close()

    return run


_CONVERSE = {
    "system": [{"text": SYSTEM}],
    "messages": [{"role": "user", "content": [{"text": HELLO}]}],
    "inferenceConfig": {"temperature": 0.5, "maxTokens": 30, "topP": 0.8, "stopSequences": ["END"]},
}
_INVOKE = json.dumps(
    {
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 30,
        "system": SYSTEM,
        "messages": [{"role": "user", "content": HELLO}],
    }
)


def _converse(client: Any) -> str | None:
    client.converse(modelId="anthropic.claude-3-haiku", **_CONVERSE)
    return None  # Converse has no completion id (its AWS request id is not one)


def _converse_stream(client: Any) -> str | None:
    tools = {
        "tools": [{"toolSpec": {"name": "get_weather", "inputSchema": {"json": {"type": "object", "properties": {}}}}}]
    }
    response = client.converse_stream(modelId="anthropic.claude-3-haiku-tool", toolConfig=tools, **_CONVERSE)
    _drain(response["stream"])
    return None


def _invoke(client: Any) -> str | None:
    body = json.loads(client.invoke_model(modelId="anthropic.claude-3-haiku", body=_INVOKE)["body"].read())
    return str(body["id"])  # Claude's message id, in the model's own body


def _invoke_stream(client: Any) -> str | None:
    events = _drain(client.invoke_model_with_response_stream(modelId="anthropic.claude-3-haiku", body=_INVOKE)["body"])
    return str(json.loads(events[0]["chunk"]["bytes"])["message"]["id"])  # message_start


def _converse_error(client: Any) -> str | None:
    with pytest.raises(Exception, match="ValidationException"):
        client.converse(modelId="anthropic.claude-error-400", messages=_CONVERSE["messages"])
    return None


_CHAT_PARAMS = {GA.GEN_AI_REQUEST_TEMPERATURE: 0.2, GA.GEN_AI_REQUEST_MAX_TOKENS: 50, GA.GEN_AI_REQUEST_TOP_P: 0.9}
_BEDROCK_PARAMS = {GA.GEN_AI_REQUEST_TEMPERATURE: 0.5, GA.GEN_AI_REQUEST_MAX_TOKENS: 30, GA.GEN_AI_REQUEST_TOP_P: 0.8}
_GEMINI_PARAMS = {
    GA.GEN_AI_REQUEST_TEMPERATURE: 0.3,
    GA.GEN_AI_REQUEST_MAX_TOKENS: 40,
    GA.GEN_AI_REQUEST_TOP_P: 0.8,
    GA.GEN_AI_REQUEST_TOP_K: 5.0,
}
CASES = {
    "openai-chat": Case(
        _openai_chat,
        OPENAI,
        CHAT,
        "gpt-4o-mini",
        request={**_CHAT_PARAMS, GA.GEN_AI_REQUEST_SEED: 7, GA.GEN_AI_REQUEST_STOP_SEQUENCES: ["END"]},
        api="chat_completions",
    ),
    "openai-chat-stream-tool": Case(
        _openai_chat_stream,
        OPENAI,
        CHAT,
        "gpt-4o-mini-tool",
        "tool_calls",
        stream=True,
        tool=True,
        api="chat_completions",
    ),
    "openai-chat-midstream-error": Case(
        _openai_chat_midstream_error,
        OPENAI,
        CHAT,
        "gpt-4o-midstream-error",
        None,
        stream=True,
        error="openai.APIError",
        api="chat_completions",
    ),
    "openai-chat-error": Case(
        _openai_chat_error,
        OPENAI,
        CHAT,
        "gpt-4o-error-429",
        None,
        error="openai.RateLimitError",
        api="chat_completions",
    ),
    "openai-responses": Case(
        _openai_responses,
        OPENAI,
        CHAT,
        "gpt-4o",
        "completed",
        system=True,
        request={GA.GEN_AI_REQUEST_TEMPERATURE: 0.1, GA.GEN_AI_REQUEST_MAX_TOKENS: 20},
        api="responses",
    ),
    "openai-responses-stream": Case(
        _openai_responses_stream, OPENAI, CHAT, "gpt-4o", "completed", stream=True, system=True, api="responses"
    ),
    "openai-embeddings": Case(_openai_embeddings, OPENAI, EMBEDDINGS, "text-embedding-3-small", None),
    "anthropic-messages": Case(
        _anthropic,
        ANTHROPIC,
        CHAT,
        "claude-3-5-haiku",
        "end_turn",
        system=True,
        request={
            GA.GEN_AI_REQUEST_MAX_TOKENS: 100,
            GA.GEN_AI_REQUEST_TEMPERATURE: 0.3,
            GA.GEN_AI_REQUEST_STOP_SEQUENCES: ["END"],
        },
    ),
    "anthropic-stream-tool": Case(
        _anthropic_stream, ANTHROPIC, CHAT, "claude-3-5-haiku-tool", "tool_use", stream=True, tool=True
    ),
    "anthropic-error": Case(
        _anthropic_error, ANTHROPIC, CHAT, "claude-error-500", None, error="anthropic.InternalServerError"
    ),
    "gemini-generate-content": Case(
        _gemini, GEMINI, GENERATE, "gemini-2.0-flash", "STOP", system=True, request=_GEMINI_PARAMS
    ),
    "gemini-stream": Case(
        _gemini_stream, GEMINI, GENERATE, "gemini-2.0-flash", "STOP", stream=True, system=True, request=_GEMINI_PARAMS
    ),
    "gemini-error": Case(_gemini_error, GEMINI, GENERATE, "gemini-error-400", None, error="google.genai.ClientError"),
    "bedrock-converse": Case(
        _bedrock(_converse),
        BEDROCK,
        CHAT,
        "anthropic.claude-3-haiku",
        "end_turn",
        system=True,
        request={**_BEDROCK_PARAMS, GA.GEN_AI_REQUEST_STOP_SEQUENCES: ["END"]},
    ),
    "bedrock-converse-stream-tool": Case(
        _bedrock(_converse_stream),
        BEDROCK,
        CHAT,
        "anthropic.claude-3-haiku-tool",
        "tool_use",
        stream=True,
        system=True,
        tool=True,
        request=_BEDROCK_PARAMS,
    ),
    "bedrock-invoke-model": Case(
        _bedrock(_invoke),
        BEDROCK,
        CHAT,
        "anthropic.claude-3-haiku",
        "end_turn",
        system=True,
        request={GA.GEN_AI_REQUEST_MAX_TOKENS: 30},
    ),
    "bedrock-invoke-model-stream": Case(
        _bedrock(_invoke_stream), BEDROCK, CHAT, "anthropic.claude-3-haiku", "end_turn", stream=True, system=True
    ),
    "bedrock-error": Case(
        _bedrock(_converse_error),
        BEDROCK,
        CHAT,
        "anthropic.claude-error-400",
        None,
        error="botocore.ValidationException",
    ),
}


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeProvider]:
    with FakeProvider() as provider:
        yield provider


def _exported(fake: FakeProvider, case: Case, capture: bool) -> tuple[Any, dict[str, Any], str | None]:
    with running_receiver() as receiver:
        peekr.instrument(storage="none", sinks=[OTLPSink(receiver.url)], capture_content=capture)
        with peekr.session(session_id="conv-42"):
            response_id = case.call(fake)
        assert peekr.shutdown()
        (span,) = receiver.spans()
    return span, attrs(span), response_id


@pytest.mark.parametrize("capture", [True, False], ids=["capture-on", "capture-off"])
@pytest.mark.parametrize("case", list(CASES.values()), ids=list(CASES))
def test_provider_call_is_a_genai_client_span(fake: FakeProvider, case: Case, capture: bool) -> None:
    span, a, response_id = _exported(fake, case, capture)
    assert span.name == f"{case.operation} {case.model}" and span.kind == SPAN_KIND_CLIENT
    if response_id is not None:  # the id the SDK handed the caller; metadata, so also with capture off
        assert a[GA.GEN_AI_RESPONSE_ID] == response_id
    else:  # embeddings, Converse, calls that failed before a response
        assert GA.GEN_AI_RESPONSE_ID not in a
    assert a[GA.GEN_AI_OPERATION_NAME] == case.operation and a[GA.GEN_AI_PROVIDER_NAME] == case.provider
    assert a[GA.GEN_AI_REQUEST_MODEL] == case.model and a[GA.GEN_AI_RESPONSE_MODEL]
    assert a[GA.GEN_AI_CONVERSATION_ID] == "conv-42"
    assert a["peekr.span.name"].split(".")[0] in ("openai", "anthropic", "gemini", "bedrock")
    assert a.get(OPENAI_API_TYPE) == case.api
    if case.stream:
        assert a[GA.GEN_AI_REQUEST_STREAM] is True
    if case.error is not None:
        assert a[ERROR_TYPE] == case.error and span.status.code == STATUS_ERROR
    else:
        assert ERROR_TYPE not in a and span.status.code != STATUS_ERROR
        assert a[GA.GEN_AI_USAGE_INPUT_TOKENS] > 0
        if case.operation != EMBEDDINGS:
            assert a[GA.GEN_AI_USAGE_OUTPUT_TOKENS] > 0
        if case.stream:
            assert 0 < a[GA.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] < 30
    if case.finish is not None:
        assert a[GA.GEN_AI_RESPONSE_FINISH_REASONS] == [case.finish]
    if not capture:
        assert not [key for key in CONTENT if key in a]
        return
    for key, value in case.request.items():
        assert a[key] == value, key
    if case.operation == EMBEDDINGS:
        assert a[GA.GEN_AI_EMBEDDINGS_DIMENSION_COUNT] == 8 and GA.GEN_AI_INPUT_MESSAGES not in a
        return
    messages = input_messages(a[GA.GEN_AI_INPUT_MESSAGES])
    assert messages[-1].role == "user" and messages[-1].parts[-1].content == HELLO
    if case.system:
        assert [p.content for p in system_instructions(a[GA.GEN_AI_SYSTEM_INSTRUCTIONS])] == [SYSTEM]
    else:
        assert GA.GEN_AI_SYSTEM_INSTRUCTIONS not in a
    if case.error is not None and case.finish is None and GA.GEN_AI_OUTPUT_MESSAGES not in a:
        return  # the call failed before any reply
    (reply,) = output_messages(a[GA.GEN_AI_OUTPUT_MESSAGES])
    assert reply.role == "assistant"
    kinds = [p.type for p in reply.parts]
    if case.tool:
        assert "tool_call" in kinds and reply.finish_reason == "tool_call"
        call = reply.parts[kinds.index("tool_call")]
        assert call.name == "get_weather" and isinstance(call.arguments, dict)
    elif case.error is None:
        assert kinds == ["text"] and reply.parts[0].content.startswith("Echo: ") and reply.finish_reason == "stop"
    else:  # a stream that failed midway keeps the text it got
        assert reply.finish_reason == "error" and reply.parts[0].content.startswith("Echo")


# -- a tool round trip in the history: every provider's shape -> the same messages ------------------

_ASK = "What is the weather in Paris?"
_ARGS = {"city": "Paris"}


def _openai_history(fake: FakeProvider) -> None:
    call = {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": json.dumps(_ARGS)}}
    messages = [
        {"role": "user", "content": _ASK},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "c1", "content": "rainy"},
    ]
    _closing(fake.openai_client()).chat.completions.create(model="gpt-4o-mini", messages=messages, tools=TOOLS)


def _responses_history(fake: FakeProvider) -> None:
    items = [
        {"role": "user", "content": _ASK},
        {"type": "function_call", "call_id": "c1", "name": "get_weather", "arguments": json.dumps(_ARGS)},
        {"type": "function_call_output", "call_id": "c1", "output": "rainy"},
    ]
    _closing(fake.openai_client()).responses.create(model="gpt-4o", input=items)


def _anthropic_history(fake: FakeProvider) -> None:
    messages = [
        {"role": "user", "content": _ASK},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "c1", "name": "get_weather", "input": _ARGS}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "c1", "content": "rainy"}]},
    ]
    _closing(fake.anthropic_client()).messages.create(model="claude-3-5-haiku", max_tokens=50, messages=messages)


def _bedrock_history(client: Any) -> None:
    messages = [
        {"role": "user", "content": [{"text": _ASK}]},
        {"role": "assistant", "content": [{"toolUse": {"toolUseId": "c1", "name": "get_weather", "input": _ARGS}}]},
        {"role": "user", "content": [{"toolResult": {"toolUseId": "c1", "content": [{"text": "rainy"}]}}]},
    ]
    client.converse(modelId="anthropic.claude-3-haiku", messages=messages)


def _gemini_history(fake: FakeProvider) -> None:
    from google.genai import types

    contents = [
        types.Content(role="user", parts=[types.Part(text=_ASK)]),
        types.Content(
            role="model", parts=[types.Part(function_call=types.FunctionCall(id="c1", name="get_weather", args=_ARGS))]
        ),
        types.Content(
            role="user",
            parts=[
                types.Part(
                    function_response=types.FunctionResponse(id="c1", name="get_weather", response={"result": "rainy"})
                )
            ],
        ),
    ]
    client = _closing(fake.genai_client())
    client.models.generate_content(model="gemini-2.0-flash", contents=contents)


HISTORIES = {
    "openai-chat": (_openai_history, "rainy"),
    "openai-responses": (_responses_history, "rainy"),
    "anthropic": (_anthropic_history, "rainy"),
    "bedrock": (_bedrock(_bedrock_history), "rainy"),
    "gemini": (_gemini_history, {"result": "rainy"}),
}


@pytest.mark.parametrize("name", list(HISTORIES))
def test_a_tool_round_trip_reads_the_same_for_every_provider(fake: FakeProvider, name: str) -> None:
    call, result = HISTORIES[name]
    case = Case(call, "", "", "")
    _, a, _ = _exported(fake, case, capture=True)
    messages = input_messages(a[GA.GEN_AI_INPUT_MESSAGES])
    assert [(m.role, [p.type for p in m.parts]) for m in messages] == [
        ("user", ["text"]),
        ("assistant", ["tool_call"]),
        ("tool", ["tool_call_response"]),
    ]
    request, response = messages[1].parts[0], messages[2].parts[0]
    assert (request.id, request.name, request.arguments) == ("c1", "get_weather", _ARGS)
    assert (response.id, response.response) == ("c1", result)


@pytest.mark.parametrize("redact", [True, False], ids=["redacted", "unredacted"])
def test_a_pii_provider_call_exports_no_content(fake: FakeProvider, redact: bool) -> None:
    with running_receiver() as receiver:
        peekr.instrument(storage="none", sinks=[OTLPSink(receiver.url)], redact_pii=redact)
        with peekr.session(retention_class="pii"):
            response_id = _openai_chat_stream(fake)
        assert peekr.shutdown()
        (span,) = receiver.spans()
    a = attrs(span)
    assert not [key for key in CONTENT if key in a]
    assert HELLO not in json.dumps(a) and "redacted" not in json.dumps(a)
    assert response_id and a[GA.GEN_AI_RESPONSE_ID] == response_id  # metadata: survives redaction
    assert a[GA.GEN_AI_OPERATION_NAME] == CHAT and a[GA.GEN_AI_USAGE_OUTPUT_TOKENS] > 0
    assert a[GA.GEN_AI_RESPONSE_FINISH_REASONS] == ["tool_calls"] and a["peekr.retention_class"] == "pii"
