"""retention_class="pii": no content of the call leaves the process, whatever field it hides in.

Each provider's real SDK calls the fake provider over HTTP on its tool-call and error paths with
a card number in the prompt and in the stop sequences; the fake copies the prompt into the tool
call's arguments. The span stored in SQLite, in JSONL and at the collector must not hold it.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from collector_helpers import auth
from exporter_helpers import Collector

import peekr
from peekr.sinks import JSONLSink
from peekr.sinks.http import HTTPExporter
from peekr.testing.fake_provider import FakeProvider

SECRET = "4111-1111-1111-1111"
PROMPT = f"Charge my card {SECRET} please"
SCHEMA = {"type": "object", "properties": {"card": {"type": "string"}}, "required": ["card"]}
WIDE = {"since": "2020-01-01T00:00:00Z", "until": "2100-01-01T00:00:00Z", "limit": 500}


def _openai_chat(fake: FakeProvider, model: str) -> None:
    with fake.openai_client() as client:  # closed here, not by a garbage collection in a later test
        client.chat.completions.create(
            model=f"gpt-4o-{model}",
            messages=[{"role": "user", "content": PROMPT}],
            tools=[{"type": "function", "function": {"name": "charge", "parameters": SCHEMA}}],  # type: ignore[typeddict-item]
            stop=[SECRET],
            temperature=0.2,
        )


def _openai_responses(fake: FakeProvider, model: str) -> None:
    with fake.openai_client() as client:
        client.responses.create(
            model=f"gpt-4o-{model}",
            input=PROMPT,
            instructions=f"The card on file is {SECRET}",
            tools=[{"type": "function", "name": "charge", "parameters": SCHEMA}],  # type: ignore[list-item]
        )


def _anthropic(fake: FakeProvider, model: str) -> None:
    with fake.anthropic_client() as client:
        client.messages.create(
            model=f"claude-{model}",
            max_tokens=50,
            system=f"The card on file is {SECRET}",
            messages=[{"role": "user", "content": PROMPT}],
            tools=[{"name": "charge", "input_schema": SCHEMA}],  # type: ignore[typeddict-item]
            stop_sequences=[SECRET],
        )


def _bedrock(fake: FakeProvider, model: str) -> None:
    client = fake.bedrock_client()
    try:
        client.converse(
            modelId=f"anthropic.claude-{model}",
            messages=[{"role": "user", "content": [{"text": PROMPT}]}],
            toolConfig={"tools": [{"toolSpec": {"name": "charge", "inputSchema": {"json": SCHEMA}}}]},
            inferenceConfig={"stopSequences": [SECRET], "maxTokens": 50},
        )
    finally:
        client.close()


def _gemini(fake: FakeProvider, model: str) -> None:
    from google.genai import types

    client = fake.genai_client()  # kept: the client closes its connections when collected
    client.models.generate_content(
        model=f"gemini-{model}",
        contents=PROMPT,
        config=types.GenerateContentConfig(
            stop_sequences=[SECRET],
            tools=[types.Tool(function_declarations=[types.FunctionDeclaration(name="charge", parameters=SCHEMA)])],  # type: ignore[arg-type]
        ),
    )


CALLS: list[Callable[[FakeProvider, str], None]] = [_openai_chat, _openai_responses, _anthropic, _bedrock, _gemini]


@pytest.mark.parametrize("call", CALLS, ids=["openai-chat", "openai-responses", "anthropic", "bedrock", "gemini"])
def test_pii_spans_hold_no_content_in_sqlite_jsonl_or_at_the_collector(
    collector: Collector, tmp_path: Path, call: Callable[[FakeProvider, str], None]
) -> None:
    db, jsonl = tmp_path / "traces.db", tmp_path / "traces.jsonl"
    peekr.instrument(
        storage="sqlite", path=str(db), sinks=[JSONLSink(jsonl)], exporter=HTTPExporter(collector.url, collector.key)
    )
    with FakeProvider() as fake, peekr.session(retention_class="pii", user_id="u-7"):
        call(fake, "tool")
        with pytest.raises(Exception):  # noqa: B017 - each SDK raises its own rate-limit error
            call(fake, "error-429")
        with pytest.raises(ValueError), peekr.span("charge", card=SECRET):
            raise ValueError(f"card {SECRET} declined")
    assert peekr.flush(timeout=20)
    assert peekr.stats().dropped_total == 0

    stored = {
        "sqlite": json.dumps(sqlite3.connect(db).execute("SELECT * FROM spans").fetchall()),
        "jsonl": jsonl.read_text(),
        "collector": _collector_dump(collector),
    }
    for where, text in stored.items():
        assert SECRET not in text, f"{where} holds the card number"
        assert text.count("[redacted: retention_class=pii]") >= 4, where

    spans = [json.loads(line) for line in jsonl.read_text().splitlines()]
    tool_call = next(s for s in spans if s["attributes"].get("tool_calls"))["attributes"]
    # what describes the call, not its content, is kept
    assert tool_call["tool_calls"][0]["name"] == "charge"
    assert tool_call["tool_calls"][0]["arguments"] == "[redacted: retention_class=pii]"
    assert tool_call["tokens_output"] > 0 and tool_call["model"].endswith("tool") and tool_call["user_id"] == "u-7"
    failed = [s["attributes"]["error"] for s in spans if s["status"] == "error"]
    assert len(failed) == 2 and all(e["message"] == "[redacted: retention_class=pii]" for e in failed)
    assert {e["type"] for e in failed} >= {"ValueError"}


def _collector_dump(collector: Collector) -> str:
    read = auth(collector.read_key)
    traces = httpx.get(collector.url + "/v1/traces", params=WIDE, headers=read).json()["traces"]  # type: ignore[arg-type]
    assert len(traces) == 3
    return json.dumps([httpx.get(f"{collector.url}/v1/traces/{t['trace_id']}", headers=read).json() for t in traces])


def test_an_unknown_attribute_of_a_pii_span_is_redacted_by_default(tmp_path: Path) -> None:
    peekr.instrument(storage="jsonl", path=str(tmp_path / "t.jsonl"))
    with peekr.session(retention_class="pii"), peekr.span("lookup", customer_note=SECRET, tokens_input=3) as span:
        span.set_attribute("request", {"temperature": 0.1, "stop": [SECRET], "reasoning_effort": "low"})
    peekr.shutdown()
    (line,) = (tmp_path / "t.jsonl").read_text().splitlines()
    attributes: dict[str, Any] = json.loads(line)["attributes"]
    assert attributes == {
        "customer_note": "[redacted: retention_class=pii]",
        "tokens_input": 3,
        "request": {"temperature": 0.1, "stop": "[redacted: retention_class=pii]", "reasoning_effort": "low"},
    }
