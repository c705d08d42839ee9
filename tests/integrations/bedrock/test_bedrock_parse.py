"""The model-family parsers behind ``invoke_model`` spans, on bodies in each family's documented shape
(the fake provider answers as Claude only), and on malformed data: nothing raises, nothing is invented."""

from __future__ import annotations

import json
from typing import Any

import pytest

import peekr
from peekr.integrations.bedrock._invoke import InvokeStreamState, header_usage, record_invoke_body
from peekr.integrations.bedrock._parse import ConverseStreamState, converse_request, invoke_request, record_converse
from peekr.sinks.memory import InMemorySink


@pytest.fixture(autouse=True)
def _running() -> None:
    """capture() returns content only while peekr runs with capture_content on."""
    peekr.instrument(storage="none", sinks=[InMemorySink()], providers=[])


def _body(body: dict[str, Any], attrs: dict[str, Any] | None = None) -> dict[str, Any]:
    out = dict(attrs or {})
    record_invoke_body(out, body, {})
    return out


def test_claude_with_cache_tokens() -> None:
    body = {
        "id": "msg_bdrk_01",
        "type": "message",
        "content": [{"type": "text", "text": "a"}, {"type": "tool_use", "id": "t1", "name": "f", "input": {"x": 1}}],
        "stop_reason": "tool_use",
        "usage": {
            "input_tokens": 3,
            "output_tokens": 4,
            "cache_read_input_tokens": 10,
            "cache_creation_input_tokens": 5,
        },
    }
    assert _body(body) == {
        "response_id": "msg_bdrk_01",
        "output": "a",
        "tool_calls": [{"id": "t1", "type": "function", "name": "f", "arguments": '{"x": 1}'}],
        "finish_reason": "tool_use",
        "tokens_input": 18,
        "tokens_output": 4,
        "tokens_total": 22,
        "tokens_cache_read": 10,
        "tokens_cache_write": 5,
    }


def test_headers_win_over_body_usage() -> None:
    attrs: dict[str, Any] = {}
    headers: dict[str, Any] = {
        "x-amzn-bedrock-input-token-count": "7",
        "x-amzn-bedrock-output-token-count": "2",
        "x-amzn-bedrock-cache-read-input-token-count": "100",
    }
    usage = header_usage({"ResponseMetadata": {"HTTPHeaders": headers}})
    body = {"content": [], "usage": {"input_tokens": 1, "output_tokens": 1, "cache_creation_input_tokens": 4}}
    record_invoke_body(attrs, body, usage)
    # headers first; the body fills what they lack (here the cache write count)
    assert (attrs["tokens_input"], attrs["tokens_output"], attrs["tokens_total"]) == (111, 2, 113)
    assert (attrs["tokens_cache_read"], attrs["tokens_cache_write"]) == (100, 4)


def test_body_not_json_keeps_header_tokens() -> None:
    attrs: dict[str, Any] = {}
    record_invoke_body(attrs, None, header_usage({"ResponseMetadata": {"HTTPHeaders": {}}}))
    assert attrs == {}
    headers = {"x-amzn-bedrock-input-token-count": "3", "x-amzn-bedrock-output-token-count": "x"}
    record_invoke_body(attrs, None, header_usage({"ResponseMetadata": {"HTTPHeaders": headers}}))
    assert attrs == {"tokens_input": 3}  # an unparsable count is left out, never guessed


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (  # Amazon Nova (Converse shape)
            {
                "output": {"message": {"content": [{"text": "hi"}]}},
                "stopReason": "end_turn",
                "usage": {"inputTokens": 5, "outputTokens": 1, "totalTokens": 9, "cacheReadInputTokenCount": 3},
            },
            {
                "output": "hi",
                "finish_reason": "end_turn",
                "tokens_input": 8,
                "tokens_output": 1,
                "tokens_total": 9,
                "tokens_cache_read": 3,
            },
        ),
        (  # Amazon Titan text
            {
                "inputTextTokenCount": 4,
                "results": [{"tokenCount": 2, "outputText": "ok", "completionReason": "FINISH"}],
            },
            {"output": "ok", "finish_reason": "FINISH", "tokens_input": 4, "tokens_output": 2, "tokens_total": 6},
        ),
        (  # Meta Llama
            {"generation": "yo", "prompt_token_count": 6, "generation_token_count": 1, "stop_reason": "stop"},
            {"output": "yo", "finish_reason": "stop", "tokens_input": 6, "tokens_output": 1, "tokens_total": 7},
        ),
        (  # Mistral: no usage in the body
            {"outputs": [{"text": "m", "stop_reason": "length"}]},
            {"output": "m", "finish_reason": "length"},
        ),
        (  # Cohere command-r
            {
                "response_id": "r-1",
                "generation_id": "g-1",
                "text": "c",
                "finish_reason": "COMPLETE",
                "meta": {"billed_units": {"input_tokens": 2, "output_tokens": 1}},
            },
            {
                "response_id": "r-1",
                "output": "c",
                "finish_reason": "COMPLETE",
                "tokens_input": 2,
                "tokens_output": 1,
                "tokens_total": 3,
            },
        ),
        (  # Cohere command
            {"id": "c-1", "generations": [{"id": "g-1", "text": "g", "finish_reason": "COMPLETE"}]},
            {"response_id": "c-1", "output": "g", "finish_reason": "COMPLETE"},
        ),
        (  # Claude text completions
            {"completion": "old", "stop_reason": "stop_sequence"},
            {"output": "old", "finish_reason": "stop_sequence"},
        ),
        (  # OpenAI-style (gpt-oss, AI21 Jamba)
            {
                "id": "chatcmpl-b1",
                "choices": [
                    {
                        "message": {
                            "content": "o",
                            "tool_calls": [{"id": "c1", "function": {"name": "f", "arguments": "{}"}}],
                        },
                        "finish_reason": "tool_calls",
                    }
                ],
                "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
            },
            {
                "response_id": "chatcmpl-b1",
                "output": "o",
                "tool_calls": [{"id": "c1", "type": "function", "name": "f", "arguments": "{}"}],
                "finish_reason": "tool_calls",
                "tokens_input": 3,
                "tokens_output": 2,
                "tokens_total": 5,
            },
        ),
        ({"unknown": True}, {}),
    ],
)
def test_model_families(body: dict[str, Any], expected: dict[str, Any]) -> None:
    assert _body(body) == expected


@pytest.mark.parametrize("odd", [None, "", 42, ["msg_1"], {"id": "msg_1"}])
def test_odd_response_ids_are_left_out(odd: Any) -> None:
    body = {"id": odd, "content": [{"type": "text", "text": "a"}], "stop_reason": "end_turn"}
    assert _body(body) == {"output": "a", "finish_reason": "end_turn"}
    start = {"type": "message_start", "message": {"id": odd, "usage": {"input_tokens": 1}}}
    assert "response_id" not in _stream(start, {"type": "message_stop"})
    assert "response_id" not in _stream({"id": odd, "choices": [{"delta": {"content": "x"}}]})


def test_stream_claude_takes_the_message_start_id() -> None:
    attrs = _stream(
        {"type": "message_start", "message": {"id": "msg_bdrk_02", "usage": {"input_tokens": 1, "output_tokens": 1}}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "hi"}},
        {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 1}},
    )
    assert attrs["response_id"] == "msg_bdrk_02" and attrs["output"] == "hi"


def _stream(*chunks: Any, raw: bytes | None = None) -> dict[str, Any]:
    state = InvokeStreamState()
    for chunk in chunks:
        state.on_event({"chunk": {"bytes": json.dumps(chunk).encode()}})
    if raw is not None:
        state.on_event({"chunk": {"bytes": raw}})
    state.on_event({"somethingElse": {}})
    attrs: dict[str, Any] = {}
    state.record(attrs)
    return attrs


def test_stream_titan_and_metrics() -> None:
    metrics = {"inputTokenCount": 4, "outputTokenCount": 2, "cacheWriteInputTokenCount": 1}
    attrs = _stream(
        {"outputText": "he", "index": 0},
        {"outputText": "y", "completionReason": "FINISH", "amazon-bedrock-invocationMetrics": metrics},
    )
    assert attrs == {
        "output": "hey",
        "finish_reason": "FINISH",
        "tokens_input": 5,
        "tokens_output": 2,
        "tokens_total": 7,
        "tokens_cache_write": 1,
    }


def test_stream_llama_without_metrics_uses_cumulative_counts() -> None:
    attrs = _stream(
        {"generation": "a", "prompt_token_count": 3, "generation_token_count": 1},
        {"generation": "b", "prompt_token_count": None, "generation_token_count": 2, "stop_reason": "stop"},
    )
    assert attrs == {"output": "ab", "finish_reason": "stop", "tokens_input": 3, "tokens_output": 2, "tokens_total": 5}


def test_stream_openai_style_and_a_bad_chunk() -> None:
    attrs = _stream(
        {"id": "chatcmpl-s1", "choices": [{"delta": {"content": "x"}}]},
        {"id": "chatcmpl-s1", "choices": [{"delta": {"content": "y"}, "finish_reason": "stop"}]},
        raw=b"{not json",
    )
    assert attrs == {"response_id": "chatcmpl-s1", "output": "xy", "finish_reason": "stop"}


def test_stream_nova_converse_shaped() -> None:
    attrs = _stream(
        {"messageStart": {"role": "assistant"}},
        {"contentBlockDelta": {"delta": {"text": "n"}, "contentBlockIndex": 0}},
        {"messageStop": {"stopReason": "end_turn"}},
        {"metadata": {"usage": {"inputTokens": 1, "outputTokens": 1}}},
    )
    assert attrs == {
        "output": "n",
        "finish_reason": "end_turn",
        "tokens_input": 1,
        "tokens_output": 1,
        "tokens_total": 2,
    }


def test_empty_stream_records_nothing_invented() -> None:
    assert _stream() == {}


def test_malformed_converse_data_never_raises() -> None:
    attrs: dict[str, Any] = {}
    record_converse(attrs, {"output": {"message": {"content": ["junk", {"toolUse": {}}]}}, "usage": "x"})
    assert attrs["output"] == "" and attrs["tool_calls"][0]["name"] is None
    state = ConverseStreamState()
    events: list[dict[str, Any]] = [
        {"contentBlockDelta": {"delta": {"toolUse": {"input": "{"}}}},
        {"contentBlockStart": {"start": {}}},
    ]
    for event in events:
        state.on_event(event)
    state.record(attrs)
    assert converse_request({"toolConfig": {"tools": ["junk"]}}, False) == {}
    assert invoke_request("not a dict", True) == {"stream": True}
    assert invoke_request({"textGenerationConfig": {"maxTokenCount": 5, "topP": 0.5}}, False) == {
        "max_tokens": 5,
        "top_p": 0.5,
    }
