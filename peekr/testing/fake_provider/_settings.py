"""What a provider handler receives: the routed request (`Call`), server-wide `Settings`, the chat responder hook."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ._behaviour import Behaviour, Reply, ToolCall
from ._wire import FakeRequest

__all__ = ["Call", "ChatResponder", "Settings", "to_reply"]

ChatResponder = Callable[[dict[str, Any]], str | dict[str, Any] | Reply]
"""Receives the OpenAI chat request JSON; returns the assistant text, a message dict, or a `Reply`."""


@dataclass
class Settings:
    """Server-wide behaviour: a fixed delay before every answer and an optional chat responder."""

    latency: float = 0.0
    chat_responder: ChatResponder | None = None


@dataclass(frozen=True)
class Call:
    """One routed request: the model it names (from the URL or the JSON body) and what that model asks for.

    The router answers ``error-NNN`` models itself, so handlers only see calls that should succeed.
    """

    request: FakeRequest
    model: str
    behaviour: Behaviour
    settings: Settings


def to_reply(result: str | dict[str, Any] | Reply) -> Reply:
    """Turn a responder's answer into a `Reply`.

    Accepts a plain string (the assistant text), a `Reply`, or an OpenAI-style message dict
    ``{"content": ..., "tool_calls": [...]}`` whose tool calls are ``{"function": {"name", "arguments"}}`` or
    ``{"name", "arguments"}``, with arguments as a JSON string or a dict.
    """
    if isinstance(result, Reply):
        return result
    if isinstance(result, str):
        return Reply(text=result)
    if not isinstance(result, dict):
        raise TypeError(f"chat_responder must return str, dict or Reply, got {type(result).__name__}")
    calls = []
    for call in result.get("tool_calls") or ():
        function = call.get("function", call)
        arguments = function.get("arguments") or {}
        calls.append(ToolCall(function["name"], json.loads(arguments) if isinstance(arguments, str) else arguments))
    return Reply(text=result.get("content") or "", tool_calls=tuple(calls))
