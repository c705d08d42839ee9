"""Every peekr step failing (fault injection) changes nothing the user sees: results, stream events,
body bytes and exceptions are the same as without peekr. Also when the failures start only after the
call returned, while the user iterates a stream or reads a body."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

import pytest
from _bedrock_expect import CLAUDE, MESSAGES, TOOL_CONFIG, claude_body, without_metadata
from botocore.exceptions import ClientError, EventStreamError

import peekr
from peekr._errors import inject_faults, internal_error_count
from peekr.sinks.memory import InMemorySink
from peekr.testing.fake_provider import FakeProvider

pytestmark = pytest.mark.swallows_internal_errors

BODY = json.dumps(claude_body())


def _outcome(call: Callable[[], Any]) -> Any:
    """What the user observes from one call: the result with streams/bodies consumed, or the error."""
    try:
        response = call()
    except ClientError as exc:
        return ("raised", type(exc).__name__, exc.response["Error"])
    result = without_metadata(response)
    for key in ("stream", "body"):
        if key not in result:
            continue
        value = result[key]
        if hasattr(value, "read"):
            result[key] = value.read()
            continue
        events: list[Any] = []
        try:
            for event in value:
                events.append(event)  # noqa: PERF402 - keep the events seen before an in-stream error
        except EventStreamError as exc:
            events.append(("raised", exc.response["Error"]))
        value.close()
        result[key] = events
    return result


def _identity(value: Any) -> Any:
    return value


def _calls(client: Any) -> list[Callable[[], Any]]:
    return [
        lambda: client.converse(modelId=CLAUDE, messages=MESSAGES),
        lambda: client.converse(modelId="claude-tool", messages=MESSAGES, toolConfig=TOOL_CONFIG),
        lambda: client.converse(modelId="m-error-400", messages=MESSAGES),
        lambda: client.converse_stream(modelId=CLAUDE, messages=MESSAGES),
        lambda: client.converse_stream(modelId="m-midstream-error", messages=MESSAGES),
        lambda: client.invoke_model(modelId=CLAUDE, body=BODY),
        lambda: client.invoke_model(modelId="m-error-400", body=BODY),
        lambda: client.invoke_model_with_response_stream(modelId=CLAUDE, body=BODY),
        lambda: client.invoke_model_with_response_stream(modelId="claude-midstream-error", body=BODY),
    ]


def test_faults_everywhere(client: Any) -> None:
    expected = [_outcome(call) for call in _calls(client)]
    peekr.instrument(storage="none", sinks=[InMemorySink()], providers=["bedrock"])
    inject_faults(True)
    before = internal_error_count()
    assert [_outcome(call) for call in _calls(client)] == expected
    assert internal_error_count() > before


def test_faults_after_the_call_returned(client: Any) -> None:
    expected = [_outcome(call) for call in _calls(client)]
    sink = InMemorySink()
    peekr.instrument(storage="none", sinks=[sink], providers=["bedrock"])
    outcomes = []
    for call in _calls(client):
        try:
            response = call()
        except ClientError as exc:
            outcomes.append(("raised", type(exc).__name__, exc.response["Error"]))
            continue
        inject_faults(True)  # the span is open; every later peekr step fails
        outcomes.append(_outcome(functools.partial(_identity, response)))
        inject_faults(False)
    assert outcomes == expected


@pytest.mark.anyio
async def test_faults_everywhere_async(fake: FakeProvider) -> None:
    async def outcome(client: Any, name: str, **params: Any) -> Any:
        try:
            response = await getattr(client, name)(**params)
        except ClientError as exc:
            return ("raised", type(exc).__name__)
        result = without_metadata(response)
        for key in ("stream", "body"):
            if key in result and hasattr(result[key], "read"):
                result[key] = await result[key].read()
            elif key in result:
                events: list[Any] = []
                try:
                    async for event in result[key]:
                        events.append(event)  # keep the events seen before an in-stream error
                except EventStreamError as exc:
                    events.append(("raised", exc.response["Error"]))
                result[key].close()
                result[key] = events
        return result

    calls: list[tuple[str, dict[str, Any]]] = [
        ("converse", {"modelId": CLAUDE, "messages": MESSAGES}),
        ("converse", {"modelId": "m-error-400", "messages": MESSAGES}),
        ("converse_stream", {"modelId": "m-midstream-error", "messages": MESSAGES}),
        ("invoke_model", {"modelId": CLAUDE, "body": BODY}),
        ("invoke_model_with_response_stream", {"modelId": CLAUDE, "body": BODY}),
    ]
    async with fake.async_bedrock_client() as client:
        expected = [await outcome(client, name, **params) for name, params in calls]
        peekr.instrument(storage="none", sinks=[InMemorySink()], providers=["bedrock"])
        inject_faults(True)
        assert [await outcome(client, name, **params) for name, params in calls] == expected
