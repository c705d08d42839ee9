"""``StreamState`` reads the SDK's pydantic models through their ``__dict__``; anything else by attribute, alike.

The chunks here are the SDK's own ``GenerateContentResponse`` models (validated from wire JSON, as the SDK
does) and the same data as objects that only look like them: attribute access without a pydantic
``__dict__`` (a future SDK model, a wrapper). Both must give the span the same attributes.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pydantic
import pytest
from google.genai import types

from peekr.integrations.gemini._extract import StreamState
from peekr.sinks.memory import InMemorySink

USAGE = {"promptTokenCount": 12, "candidatesTokenCount": 5, "thoughtsTokenCount": 3, "totalTokenCount": 20}
CHUNKS: list[dict[str, Any]] = [
    {
        "candidates": [{"content": {"role": "model", "parts": [{"text": "Thinking...", "thought": True}]}}],
        "modelVersion": "models/gemini-x-001",
        "responseId": "r-1",
        "usageMetadata": {"promptTokenCount": 12, "totalTokenCount": 12},
    },
    {"candidates": [{"content": {"role": "model", "parts": [{"text": "Hello "}, {"text": "world"}]}}]},
    {"candidates": []},
    {"candidates": [{"content": {"role": "model", "parts": []}}]},
    {"candidates": [{"index": 0}]},
    {
        "candidates": [
            {
                "content": {
                    "role": "model",
                    "parts": [{"functionCall": {"id": "c1", "name": "lookup", "args": {"q": 1}}}],
                },
                "finishReason": "STOP",
            }
        ],
        "modelVersion": "gemini-x-002",
        "usageMetadata": USAGE,
    },
]
EXPECTED = {
    "model": "gemini-x-002",
    "response_id": "r-1",
    "output": "Hello world",
    "tool_calls": [{"id": "c1", "type": "function", "name": "lookup", "arguments": '{"q": 1}'}],
    "finish_reason": "STOP",
    "tokens_input": 12,
    "tokens_output": 8,
    "tokens_total": 20,
    "tokens_reasoning": 3,
}


class Lookalike:
    """Attributes only (no ``__dict__``): what ``StreamState`` must read by attribute."""

    __slots__ = ("_fields",)

    def __init__(self, fields: dict[str, Any]) -> None:
        self._fields = fields

    def __getattr__(self, name: str) -> Any:
        try:
            return self._fields[name]
        except KeyError:
            raise AttributeError(name) from None


def lookalike(model: Any, top: type = Lookalike) -> Any:
    """``model`` rebuilt as nested objects of ``top`` (lists kept), every declared field present."""
    if isinstance(model, list):
        return [lookalike(item) for item in model]
    if isinstance(model, pydantic.BaseModel):
        fields = {name: lookalike(getattr(model, name)) for name in type(model).model_fields}
        return top(fields) if top is Lookalike else top(**fields)
    return model


def state_attributes(chunks: list[Any]) -> dict[str, Any]:
    state = StreamState()
    for chunk in chunks:
        state.add(chunk)
    attributes: dict[str, Any] = {}
    state.apply(attributes)
    return attributes


def sdk_chunks() -> list[types.GenerateContentResponse]:
    return [types.GenerateContentResponse.model_validate(chunk) for chunk in CHUNKS]


def test_sdk_models_are_read_through_their_fields(sink: InMemorySink) -> None:
    assert state_attributes(sdk_chunks()) == EXPECTED


@pytest.mark.parametrize("top", [Lookalike, SimpleNamespace], ids=["attributes-only", "namespace-with-dict"])
def test_lookalike_objects_give_the_same_attributes(sink: InMemorySink, top: type) -> None:
    # SimpleNamespace chunks have a __dict__ with every field (the dict path) around attribute-only parts.
    assert state_attributes([lookalike(chunk, top) for chunk in sdk_chunks()]) == EXPECTED


def test_a_missing_field_is_an_error_as_before() -> None:
    """An object lacking a field the SDK declares raises (peekr's per-chunk boundary counts it), as it did."""
    with pytest.raises(AttributeError):
        StreamState().add(Lookalike({"candidates": []}))
