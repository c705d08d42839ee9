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


def first_turn(stream: bool, response_id: str | None) -> dict[str, Any]:
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
        "response_id": response_id,
    }
    if stream:
        attributes["request"] = {"stream": True}
    return attributes


def second_turn(stream: bool, response_id: str | None, answer: list[dict[str, Any]] | None = None) -> dict[str, Any]:
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
        "response_id": response_id,
    }
    if stream:
        attributes["request"] = {"stream": True}
    return attributes


def test_chat_send_message_then_stream(client: genai.Client, sink: InMemorySink) -> None:
    chat = client.chats.create(model="gemini-test", config=CONFIG)
    reply = chat.send_message("Hello there")
    assert reply.text == "Echo: Hello there"
    chunks = list(chat.send_message_stream("second turn"))
    assert "".join(c.text or "" for c in chunks) == "Echo: second turn"
    assert reply.response_id != chunks[0].response_id
    first, second = finished(sink)
    assert_span(first, first_turn(stream=False, response_id=reply.response_id))
    assert_span(second, second_turn(stream=True, response_id=chunks[0].response_id), ttft=True)
    assert first.trace_id != second.trace_id  # two top-level calls


def test_chat_stream_then_send_message(client: genai.Client, sink: InMemorySink) -> None:
    chat = client.chats.create(model="gemini-test", config=CONFIG)
    chunks = list(chat.send_message_stream("Hello there"))
    assert [c.text for c in chunks] == ["Echo: ", "Hello ", "there"]
    reply = chat.send_message("second turn")
    assert reply.text == "Echo: second turn"
    first, second = finished(sink)
    assert_span(first, first_turn(stream=True, response_id=chunks[0].response_id), ttft=True)
    answer = [model("Echo: "), model("Hello "), model("there")]
    assert_span(second, second_turn(stream=False, response_id=reply.response_id, answer=answer))


@pytest.mark.anyio
async def test_async_chat_send_message_then_stream(aclient: genai.Client, sink: InMemorySink) -> None:
    try:
        chat = aclient.aio.chats.create(model="gemini-test", config=CONFIG)
        reply = await chat.send_message("Hello there")
        assert reply.text == "Echo: Hello there"
        chunks = [c async for c in await chat.send_message_stream("second turn")]
    finally:
        await aclient.aio.aclose()
    assert "".join(c.text or "" for c in chunks) == "Echo: second turn"
    first, second = finished(sink)
    assert_span(first, first_turn(stream=False, response_id=reply.response_id))
    assert_span(second, second_turn(stream=True, response_id=chunks[0].response_id), ttft=True)


@pytest.mark.anyio
async def test_async_chat_stream_then_send_message(aclient: genai.Client, sink: InMemorySink) -> None:
    try:
        chat = aclient.aio.chats.create(model="gemini-test", config=CONFIG)
        chunks = [c async for c in await chat.send_message_stream("Hello there")]
        reply = await chat.send_message("second turn")
    finally:
        await aclient.aio.aclose()
    assert [c.text for c in chunks] == ["Echo: ", "Hello ", "there"]
    assert reply.text == "Echo: second turn"
    first, second = finished(sink)
    assert_span(first, first_turn(stream=True, response_id=chunks[0].response_id), ttft=True)
    answer = [model("Echo: "), model("Hello "), model("there")]
    assert_span(second, second_turn(stream=False, response_id=reply.response_id, answer=answer))
