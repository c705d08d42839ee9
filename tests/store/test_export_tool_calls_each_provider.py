"""A tool-calling turn from every provider is exported with its tool calls, in OpenAI's shape."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import peekr
from peekr.testing.fake_provider import FakeProvider

WEATHER_TOOL_OPENAI = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}


def _openai(fake: FakeProvider) -> None:
    fake.openai_client().chat.completions.create(
        model="gpt-4o-tool",
        messages=[{"role": "user", "content": "Weather in Paris?"}],
        tools=[WEATHER_TOOL_OPENAI],  # type: ignore[list-item]
    )


def _anthropic(fake: FakeProvider) -> None:
    fake.anthropic_client().messages.create(
        model="claude-tool",
        max_tokens=50,
        messages=[{"role": "user", "content": "Weather in Paris?"}],
        tools=[{"name": "get_weather", "input_schema": {"type": "object"}}],
    )


def _bedrock(fake: FakeProvider) -> None:
    fake.bedrock_client().converse(
        modelId="anthropic.claude-tool",
        messages=[{"role": "user", "content": [{"text": "Weather in Paris?"}]}],
        toolConfig={"tools": [{"toolSpec": {"name": "get_weather", "inputSchema": {"json": {"type": "object"}}}}]},
    )


def _gemini(fake: FakeProvider) -> None:
    from google.genai import types

    client = fake.genai_client()
    client.models.generate_content(
        model="gemini-tool",
        contents="Weather in Paris?",
        config=types.GenerateContentConfig(
            tools=[types.Tool(function_declarations=[types.FunctionDeclaration(name="get_weather")])]
        ),
    )


@pytest.mark.parametrize(
    "call", [_openai, _anthropic, _bedrock, _gemini], ids=["openai", "anthropic", "bedrock", "gemini"]
)
def test_tool_call_turns_keep_their_tool_calls(tmp_path: Path, call: Callable[[FakeProvider], Any]) -> None:
    db = tmp_path / "traces.db"
    peekr.instrument(storage="sqlite", path=db)
    with FakeProvider() as fake, peekr.span("agent-step") as step:
        call(fake)
    peekr.flush()
    peekr.feedback(trace_id=step.trace_id, rating="good")
    peekr.shutdown()
    out = tmp_path / "training.jsonl"
    summary = peekr.export_feedback(db_path=db, filter="good", output=out)
    assert summary.written == 1, summary
    (line,) = [json.loads(x) for x in out.read_text().splitlines()]
    assistant = line["messages"][-1]
    assert assistant["role"] == "assistant"
    (tool_call,) = assistant["tool_calls"]
    assert tool_call["type"] == "function"
    assert tool_call["function"]["name"] == "get_weather"
    assert isinstance(json.loads(tool_call["function"]["arguments"]), dict)
