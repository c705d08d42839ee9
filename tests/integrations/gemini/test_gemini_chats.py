"""Chats go through ``Models.generate_content[_stream]``: one span per send, never two."""

from __future__ import annotations

from typing import Any

import pytest
from _gemini_helpers import AIOHTTP_WARNING, assert_span, finished
from google import genai
from google.genai import types

from peekr.sinks.memory import InMemorySink

pytestmark = pytest.mark.filterwarnings(AIOHTTP_WARNING)

CONFIG = types.GenerateContentConfig(system_instruction="Be brief.")


def user(text: str) -> dict[str, Any]:
    return {"parts": [{"text": text}], "role": "user"}


def model(text: str) -> dict[str, Any]:
    return {"parts": [{"text": text}], "role": "model"}


def first_turn(stream: bool) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "provider": "gemini",
        "model": "gemini-test",
        **({"stream": True} if stream else {}),
        "input": {"system": "Be brief.", "contents": [user("Hello there")]},
        "output": "Echo: Hello there",
        "finish_reason": "STOP",
        "tokens_input": 4,
        "tokens_output": 3,
        "tokens_total": 7,
    }
    if stream:
        attributes["request"] = {"stream": True}
    return attributes


def second_turn(stream: bool, answer: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """After a streamed first turn the SDK keeps one model content per chunk in the history (``answer``)."""
    attributes: dict[str, Any] = {
        "provider": "gemini",
        "model": "gemini-test",
        **({"stream": True} if stream else {}),
        "input": {
            "system": "Be brief.",
            "contents": [user("Hello there"), *(answer or [model("Echo: Hello there")]), user("second turn")],
        },
        "output": "Echo: second turn",
        "finish_reason": "STOP",
        "tokens_input": 9,
        "tokens_output": 3,
        "tokens_total": 12,
    }
    if stream:
        attributes["request"] = {"stream": True}
    return attributes


def test_chat_send_message_then_stream(client: genai.Client, sink: InMemorySink) -> None:
    chat = client.chats.create(model="gemini-test", config=CONFIG)
    assert chat.send_message("Hello there").text == "Echo: Hello there"
    assert "".join(c.text or "" for c in chat.send_message_stream("second turn")) == "Echo: second turn"
    first, second = finished(sink)
    assert_span(first, first_turn(stream=False))
    assert_span(second, second_turn(stream=True), ttft=True)
    assert first.trace_id != second.trace_id  # two top-level calls


def test_chat_stream_then_send_message(client: genai.Client, sink: InMemorySink) -> None:
    chat = client.chats.create(model="gemini-test", config=CONFIG)
    assert [c.text for c in chat.send_message_stream("Hello there")] == ["Echo: ", "Hello ", "there"]
    assert chat.send_message("second turn").text == "Echo: second turn"
    first, second = finished(sink)
    assert_span(first, first_turn(stream=True), ttft=True)
    assert_span(second, second_turn(stream=False, answer=[model("Echo: "), model("Hello "), model("there")]))


@pytest.mark.anyio
async def test_async_chat_send_message_then_stream(aclient: genai.Client, sink: InMemorySink) -> None:
    try:
        chat = aclient.aio.chats.create(model="gemini-test", config=CONFIG)
        assert (await chat.send_message("Hello there")).text == "Echo: Hello there"
        texts = [c.text async for c in await chat.send_message_stream("second turn")]
    finally:
        await aclient.aio.aclose()
    assert "".join(t or "" for t in texts) == "Echo: second turn"
    first, second = finished(sink)
    assert_span(first, first_turn(stream=False))
    assert_span(second, second_turn(stream=True), ttft=True)


@pytest.mark.anyio
async def test_async_chat_stream_then_send_message(aclient: genai.Client, sink: InMemorySink) -> None:
    try:
        chat = aclient.aio.chats.create(model="gemini-test", config=CONFIG)
        texts = [c.text async for c in await chat.send_message_stream("Hello there")]
        reply = await chat.send_message("second turn")
    finally:
        await aclient.aio.aclose()
    assert texts == ["Echo: ", "Hello ", "there"]
    assert reply.text == "Echo: second turn"
    first, second = finished(sink)
    assert_span(first, first_turn(stream=True), ttft=True)
    assert_span(second, second_turn(stream=False, answer=[model("Echo: "), model("Hello "), model("there")]))
