"""Each provider's ``messages`` module turns what its own integration captured into the common message
shape (OpenAI chat format): real SDK calls against the fake provider, a system prompt, a user turn, a
tool definition and the model's tool call, then a second turn carrying the tool's result.

The integrations capture ``request.tools`` as the tool names only, so ``tools()`` is checked on the
provider-native definitions each call sent (the shape a full capture would hold)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any, cast

import pytest

import peekr
from peekr import integrations
from peekr.cli._common import content_text
from peekr.evaluators._text import response_text, to_text
from peekr.integrations._messages import Shape, Unconvertible
from peekr.integrations._providers import PROVIDERS
from peekr.integrations.anthropic import messages as anthropic_messages
from peekr.integrations.bedrock import messages as bedrock_messages
from peekr.integrations.gemini import messages as gemini_messages
from peekr.integrations.openai import messages as openai_messages
from peekr.sinks.memory import InMemorySink
from peekr.store._ft_messages import span_to_messages
from peekr.testing.fake_provider import FakeProvider

pytest.importorskip("openai")
pytest.importorskip("anthropic")
pytest.importorskip("google.genai")
pytest.importorskip("boto3")

SYSTEM, QUESTION = "Answer in one line.", "Weather in Oslo?"
SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
TOOL: Any = {"type": "function", "function": {"name": "get_weather", "parameters": SCHEMA}}
RESULT = {"temp_c": 3}


@pytest.fixture
def fake() -> Iterator[FakeProvider]:
    with FakeProvider() as provider:
        yield provider


@pytest.fixture
def sink() -> InMemorySink:
    sink = InMemorySink()
    peekr.instrument(storage="none", sinks=[sink])
    return sink


def _openai(fake: FakeProvider) -> None:
    with fake.openai_client() as client:
        messages: list[Any] = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": QUESTION}]
        first = client.chat.completions.create(model="gpt-4o-tool", messages=messages, tools=[TOOL])
        assert first.choices[0].message.tool_calls
        call = first.choices[0].message.tool_calls[0]
        messages += [
            first.choices[0].message.model_dump(exclude_none=True),
            {"role": "tool", "tool_call_id": call.id, "content": json.dumps(RESULT)},
        ]
        client.chat.completions.create(model="gpt-4o-tool", messages=messages, tools=[TOOL])


def _anthropic(fake: FakeProvider) -> None:
    tools: Any = [{"name": "get_weather", "input_schema": SCHEMA}]
    with fake.anthropic_client() as client:
        messages: list[Any] = [{"role": "user", "content": QUESTION}]
        first = client.messages.create(
            model="claude-tool", max_tokens=100, system=SYSTEM, messages=messages, tools=tools
        )
        use = next(b for b in first.content if b.type == "tool_use")
        messages += [
            {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": use.id, "content": json.dumps(RESULT)}],
            },
        ]
        client.messages.create(model="claude-tool", max_tokens=100, system=SYSTEM, messages=messages, tools=tools)


def _gemini(fake: FakeProvider) -> None:
    from google.genai import types

    config = types.GenerateContentConfig(
        system_instruction=SYSTEM,
        tools=[
            types.Tool(
                function_declarations=[types.FunctionDeclaration(name="get_weather", parameters_json_schema=SCHEMA)]
            )
        ],
    )
    with fake.genai_client() as client:
        contents: list[Any] = [types.Content(role="user", parts=[types.Part(text=QUESTION)])]
        first = client.models.generate_content(model="gemini-tool", contents=contents, config=config)
        assert first.candidates and first.candidates[0].content
        fn = first.function_calls[0] if first.function_calls else None
        assert fn is not None
        contents += [
            first.candidates[0].content,
            types.Content(
                role="user",
                parts=[types.Part(function_response=types.FunctionResponse(id=fn.id, name=fn.name, response=RESULT))],
            ),
        ]
        client.models.generate_content(model="gemini-tool", contents=contents, config=config)


def _bedrock(fake: FakeProvider) -> None:
    tools = {"tools": [{"toolSpec": {"name": "get_weather", "inputSchema": {"json": SCHEMA}}}]}
    client = fake.bedrock_client()
    try:
        messages: list[Any] = [{"role": "user", "content": [{"text": QUESTION}]}]
        kwargs: dict[str, Any] = {"modelId": "anthropic.claude-tool", "system": [{"text": SYSTEM}], "toolConfig": tools}
        first = client.converse(messages=messages, **kwargs)
        reply = first["output"]["message"]
        use = next(b["toolUse"] for b in reply["content"] if "toolUse" in b)
        messages += [
            reply,
            {
                "role": "user",
                "content": [{"toolResult": {"toolUseId": use["toolUseId"], "content": [{"json": RESULT}]}}],
            },
        ]
        client.converse(messages=messages, **kwargs)
    finally:
        client.close()


SENT_TOOLS: dict[str, dict[str, Any]] = {
    openai_messages.__name__: {"tools": [TOOL]},
    anthropic_messages.__name__: {"tools": [{"name": "get_weather", "input_schema": SCHEMA}]},
    gemini_messages.__name__: {
        "config": {"tools": [{"function_declarations": [{"name": "get_weather", "parameters": SCHEMA}]}]}
    },
    bedrock_messages.__name__: {
        "toolConfig": {"tools": [{"toolSpec": {"name": "get_weather", "inputSchema": {"json": SCHEMA}}}]}
    },
}

CASES = [
    pytest.param(_openai, openai_messages, id="openai"),
    pytest.param(_anthropic, anthropic_messages, id="anthropic"),
    pytest.param(_gemini, gemini_messages, id="gemini"),
    pytest.param(_bedrock, bedrock_messages, id="bedrock"),
]


@pytest.mark.parametrize(("run", "module"), CASES)
def test_a_tool_round_trip_becomes_common_messages(
    fake: FakeProvider, sink: InMemorySink, run: Callable[[FakeProvider], None], module: ModuleType
) -> None:
    run(fake)
    peekr.flush()
    first, second = (span.model_dump(mode="json") for span in sink.spans)
    attrs = first["attributes"]
    request = attrs.get("request") or {}

    asked = module.input_messages(attrs["input"], request)
    assert asked == [{"role": "system", "content": SYSTEM}, {"role": "user", "content": QUESTION}]
    (answer,) = module.output_messages(attrs.get("output"), attrs.get("tool_calls"))
    (call,) = answer["tool_calls"]
    assert answer["role"] == "assistant" and call["type"] == "function"
    assert call["function"]["name"] == "get_weather" and isinstance(json.loads(call["function"]["arguments"]), dict)
    (tool,) = module.tools(SENT_TOOLS[module.__name__])
    assert tool == {"type": "function", "function": {"name": "get_weather", "parameters": SCHEMA}}

    messages, tools = span_to_messages(second)  # the export's dispatcher picks the same module
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "tool", "assistant"]
    assert messages[2]["tool_calls"][0]["id"] == messages[3]["tool_call_id"]
    assert json.loads(messages[3]["content"]) == RESULT
    assert messages[4]["content"] and messages[4]["content"].startswith("Echo")
    assert tools is None  # names only in the captured request (see the module docstring)


@pytest.mark.parametrize("module", [openai_messages, anthropic_messages, gemini_messages, bedrock_messages])
@pytest.mark.parametrize("value", [42, [7], {"messages": 3}])
def test_an_unknown_shape_is_refused_with_a_reason(module: ModuleType, value: Any) -> None:
    with pytest.raises(Unconvertible):
        module.input_messages(value, {})


def _recorded(fake: FakeProvider, sink: InMemorySink, run: Callable[[FakeProvider], None]) -> dict[str, Any]:
    """The second call's span (system prompt, question, tool call, tool result, final answer)."""
    run(fake)
    peekr.flush()
    return sink.spans[1].model_dump(mode="json")


@pytest.mark.parametrize(("run", "module"), CASES)
def test_peekr_view_renders_each_turn_the_messages_module_finds(
    fake: FakeProvider, sink: InMemorySink, run: Callable[[FakeProvider], None], module: ModuleType
) -> None:
    span = _recorded(fake, sink, run)
    attrs = span["attributes"]
    messages, _ = span_to_messages(span)
    lines = content_text(attrs["input"], None).splitlines()

    assert len(lines) == 4  # system, question, the model's call, the tool's result: one line per turn
    assert lines[0] == f"system: {messages[0]['content']}"
    assert lines[1] == f"user: {messages[1]['content']}"
    call = messages[2]["tool_calls"][0]["function"]
    assert lines[2].endswith(f": → {call['name']}({call['arguments']})")
    assert ": ← " in lines[3] or lines[3].startswith("tool: ")
    assert messages[3]["content"] in lines[3]
    assert content_text(attrs["output"], None) == messages[4]["content"]


@pytest.mark.parametrize(("run", "module"), CASES)
def test_the_judges_text_holds_each_turn_the_messages_module_finds(
    fake: FakeProvider, sink: InMemorySink, run: Callable[[FakeProvider], None], module: ModuleType
) -> None:
    span = _recorded(fake, sink, run)
    attrs = span["attributes"]
    messages, _ = span_to_messages(span)
    judged = to_text(attrs["input"])

    assert response_text(attrs["output"]) == messages[4]["content"]
    assert SYSTEM in judged and QUESTION in judged
    assert messages[3]["content"] in judged  # the tool's result (often the RAG context)


def test_every_provider_messages_module_is_listed_for_the_text_renderers() -> None:
    """``peekr view``/``replay`` and the judges learn a provider's shapes from this one list."""
    on_disk = {path.parent.name for path in Path(integrations.__file__).parent.glob("*/messages.py")}
    assert {cast(ModuleType, provider).__name__.split(".")[2] for provider in PROVIDERS} == on_disk
    for provider in PROVIDERS:
        assert isinstance(provider.SHAPE, Shape)
        assert provider.part("plain text") is None


@pytest.mark.parametrize(
    ("block", "shown"),
    [
        ({"type": "tool_use", "id": "t1", "name": "lookup", "input": {"q": "é"}}, '→ lookup({"q": "é"})'),
        ({"toolUse": {"toolUseId": "t1", "name": "lookup", "input": {"q": 1}}}, '→ lookup({"q": 1})'),
        ({"functionCall": {"name": "lookup", "args": {"q": 1}}}, '→ lookup({"q": 1})'),
        ({"type": "tool_result", "tool_use_id": "t1", "content": [{"type": "text", "text": "ok"}]}, "← ok"),
        ({"toolResult": {"toolUseId": "t1", "content": [{"text": "ok"}]}}, "← ok"),
        ({"function_response": {"name": "lookup", "response": {"text": "ok"}}}, "← ok"),
    ],
)
def test_a_tool_block_of_any_provider_shows_as_a_call_or_a_result(block: dict[str, Any], shown: str) -> None:
    assert content_text({"messages": [{"role": "assistant", "content": [block]}]}, None) == f"assistant: {shown}"
