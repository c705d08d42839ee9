"""``response_id`` from what an OpenAI-compatible server really sends: a missing or odd ``id`` leaves the
attribute out and changes nothing else; a stream whose first chunk has an empty id (Azure's prompt-filter
chunk) takes the id from the first chunk that has one."""

from __future__ import annotations

import json
from typing import Any

import httpx2
import openai
import pytest
from _openai_expect import only_span

import peekr
from peekr._redact import REDACTED
from peekr.sinks.memory import InMemorySink

HELLO: list[Any] = [{"role": "user", "content": "Hi"}]


def _client(respond: Any) -> openai.OpenAI:
    http = httpx2.Client(transport=httpx2.MockTransport(respond))
    return openai.OpenAI(api_key="sk-test", base_url="http://mock/v1", max_retries=0, http_client=http)


def _completion(**fields: Any) -> dict[str, Any]:
    message = {"role": "assistant", "content": "ok"}
    body = {"object": "chat.completion", "created": 1, "model": "gpt-4o", **fields}
    return {**body, "choices": [{"index": 0, "message": message, "finish_reason": "stop"}]}


@pytest.mark.parametrize("odd", [{}, {"id": ""}, {"id": None}, {"id": 42}, {"id": ["chatcmpl-1"]}])
def test_missing_or_odd_id_is_left_out(sink: InMemorySink, odd: dict[str, Any]) -> None:
    with _client(lambda request: httpx2.Response(200, json=_completion(**odd))) as client:
        response = client.chat.completions.create(model="gpt-4o", messages=HELLO)
    assert response.choices[0].message.content == "ok"  # the caller's result, untouched
    attributes = only_span(sink).attributes
    assert "response_id" not in attributes
    assert (attributes["output"], attributes["finish_reason"]) == ("ok", "stop")


def _chunk(chunk_id: Any, delta: dict[str, Any], finish: str | None = None) -> bytes:
    chunk = {"id": chunk_id, "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o"}
    chunk["choices"] = [{"index": 0, "delta": delta, "finish_reason": finish}]
    return b"data: " + json.dumps(chunk).encode() + b"\n\n"


def test_stream_takes_the_first_non_empty_id(sink: InMemorySink) -> None:
    body = b"".join(
        (
            _chunk("", {}),  # Azure: prompt filter results, id "" and no choices content
            _chunk("chatcmpl-real", {"role": "assistant", "content": "o"}),
            _chunk("chatcmpl-later", {"content": "k"}, "stop"),  # never seen in practice: the first one wins
            b"data: [DONE]\n\n",
        )
    )
    headers = {"content-type": "text/event-stream"}
    with _client(lambda request: httpx2.Response(200, content=body, headers=headers)) as client:
        chunks = list(client.chat.completions.create(model="gpt-4o", messages=HELLO, stream=True))
    assert [c.id for c in chunks] == ["", "chatcmpl-real", "chatcmpl-later"]
    attributes = only_span(sink).attributes
    assert (attributes["response_id"], attributes["output"]) == ("chatcmpl-real", "ok")


def test_kept_on_a_redacted_pii_span(client: openai.OpenAI, sink: InMemorySink) -> None:
    """Redaction keeps metadata only (an allow-list): the response id is metadata, the prompt is not."""
    with peekr.session(retention_class="pii"):
        response = client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "my card 4111"}]
        )
    attributes = only_span(sink).attributes
    assert attributes["response_id"] == response.id
    assert attributes["input"] == REDACTED and attributes["output"] == REDACTED
