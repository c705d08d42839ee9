"""``InvokeModel`` / ``InvokeModelWithResponseStream``: model-native JSON bodies into span attributes.

Each model family answers in its own JSON. Recognised by shape, not by model id (ids change,
inference profiles and ARNs hide them):

============================  ==============================================  ==========================
family                        text / tools / finish                            usage in the body
============================  ==============================================  ==========================
Anthropic Claude (messages)   ``content[*].text`` / ``tool_use`` / stop_reason  ``usage.input_tokens`` ...
Amazon Nova                   Converse shape (``output.message``)              ``usage.inputTokens`` ...
Amazon Titan text             ``results[*].outputText`` / completionReason     ``inputTextTokenCount``
Meta Llama                    ``generation`` / ``stop_reason``                 ``prompt_token_count`` ...
Mistral                       ``outputs[*].text`` / ``stop_reason``            (none)
Cohere                        ``text`` or ``generations[*].text``              ``meta.billed_units``
OpenAI-style (gpt-oss, AI21)  ``choices[*].message`` / ``finish_reason``       ``usage.prompt_tokens`` ...
============================  ==============================================  ==========================

The response id (``response_id``) is the body's own when the family has one: Claude's message
``id`` (streams: ``message_start``), the OpenAI-style ``id``, Cohere's ``id`` / ``response_id``.
Other bodies (Nova, Titan, Llama...) carry none; the AWS request id is not a response id.

The token-count headers (non-stream) and ``amazon-bedrock-invocationMetrics`` (stream) are the
family-independent source and win over the body's own usage. The token rule is in
``bedrock._parse``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ..._tracer import ActiveSpan
from ._parse import (
    ConverseStreamState,
    apply_usage,
    converse_output,
    converse_usage,
    first_token,
    record_output,
    tool_call,
    usage_of,
)

__all__ = ["InvokeStreamState", "header_usage", "record_invoke_body"]

_METRICS = "amazon-bedrock-invocationMetrics"
# Chunks that open a message or a block before any generated content (Claude, Nova).
_NOT_CONTENT = (b'"message_start"', b'"content_block_start"', b'"messageStart"', b'"contentBlockStart"')
_HEADER = "x-amzn-bedrock-"


def header_usage(response: Mapping[str, Any]) -> dict[str, Any]:
    """Raw counts from the ``x-amzn-bedrock-*-token-count`` headers (lower-cased by botocore)."""
    metadata = response.get("ResponseMetadata")
    headers = metadata.get("HTTPHeaders") if isinstance(metadata, Mapping) else None
    if not isinstance(headers, Mapping):
        return {}
    return usage_of(
        headers.get(_HEADER + "input-token-count"),
        headers.get(_HEADER + "output-token-count"),
        None,
        headers.get(_HEADER + "cache-read-input-token-count"),
        headers.get(_HEADER + "cache-write-input-token-count"),
    )


def _first(items: Any) -> Mapping[str, Any]:
    if isinstance(items, list) and items and isinstance(items[0], Mapping):
        return items[0]
    return {}


def record_invoke_body(attrs: dict[str, Any], body: Any, headers: Mapping[str, Any]) -> None:
    """Output, tool calls, finish reason and tokens (headers first, then the body's own usage).

    ``body`` is the decoded JSON, or None when it was not read or is not JSON.
    """
    if not isinstance(body, Mapping):
        apply_usage(attrs, headers)
        return
    _set_response_id(attrs, _body_id(body))
    record_output(attrs, *_body_output(body))
    apply_usage(attrs, headers, _body_usage(body))


def _body_id(body: Mapping[str, Any]) -> Any:
    """The model's id of this response, for the families whose body carries one (else None)."""
    if isinstance(body.get("content"), list) or isinstance(body.get("choices"), list):  # Claude, OpenAI-style
        return body.get("id")
    if isinstance(body.get("generations"), list):  # Cohere command
        return body.get("id")
    if isinstance(body.get("text"), str):  # Cohere command-r
        return body.get("response_id")
    return None


def _set_response_id(attrs: dict[str, Any], value: Any) -> bool:
    if isinstance(value, str) and value:
        attrs["response_id"] = value
        return True
    return False


def _body_output(body: Mapping[str, Any]) -> tuple[str | None, list[dict[str, Any]], Any]:
    if isinstance(body.get("output"), Mapping):  # Amazon Nova: the Converse shape
        return converse_output(body)
    content = body.get("content")
    if isinstance(content, list):  # Claude messages
        texts, calls = [], []
        for block in content:
            if not isinstance(block, Mapping):
                continue
            if block.get("type") == "text":
                texts.append(str(block.get("text", "")))
            elif block.get("type") == "tool_use":
                calls.append(tool_call(block.get("id"), block.get("name"), json.dumps(block.get("input"), default=str)))
        return "".join(texts), calls, body.get("stop_reason")
    if isinstance(body.get("completion"), str):  # Claude text completions
        return body["completion"], [], body.get("stop_reason")
    if isinstance(body.get("results"), list):  # Titan
        first = _first(body["results"])
        return first.get("outputText"), [], first.get("completionReason")
    if isinstance(body.get("generation"), str):  # Llama
        return body["generation"], [], body.get("stop_reason")
    if isinstance(body.get("outputs"), list):  # Mistral
        first = _first(body["outputs"])
        return first.get("text"), [], first.get("stop_reason")
    if isinstance(body.get("choices"), list):  # OpenAI-style
        first = _first(body["choices"])
        message: Mapping[str, Any] = first["message"] if isinstance(first.get("message"), Mapping) else {}
        calls = [
            tool_call(c.get("id"), c["function"].get("name"), c["function"].get("arguments"))
            for c in message.get("tool_calls") or ()
            if isinstance(c, Mapping) and isinstance(c.get("function"), Mapping)
        ]
        return message.get("content"), calls, first.get("finish_reason")
    if isinstance(body.get("generations"), list):  # Cohere command
        first = _first(body["generations"])
        return first.get("text"), [], first.get("finish_reason")
    if isinstance(body.get("text"), str):  # Cohere command-r
        return body["text"], [], body.get("finish_reason")
    return None, [], None


def _body_usage(body: Mapping[str, Any]) -> dict[str, Any]:
    usage = body.get("usage")
    if isinstance(usage, Mapping):
        if "inputTokens" in usage or "outputTokens" in usage:  # Amazon Nova
            return converse_usage(usage)
        if "input_tokens" in usage or "output_tokens" in usage:  # Claude
            return usage_of(
                usage.get("input_tokens"),
                usage.get("output_tokens"),
                None,
                usage.get("cache_read_input_tokens"),
                usage.get("cache_creation_input_tokens"),
            )
        return usage_of(usage.get("prompt_tokens"), usage.get("completion_tokens"), usage.get("total_tokens"))
    if "inputTextTokenCount" in body:  # Titan
        return usage_of(body.get("inputTextTokenCount"), _first(body.get("results")).get("tokenCount"))
    if "prompt_token_count" in body:  # Llama
        return usage_of(body.get("prompt_token_count"), body.get("generation_token_count"))
    meta = body.get("meta")
    units = meta.get("billed_units") if isinstance(meta, Mapping) else None
    if isinstance(units, Mapping):  # Cohere
        return usage_of(units.get("input_tokens"), units.get("output_tokens"))
    return {}


class InvokeStreamState:
    """Collects the raw ``chunk`` payloads of an invoke stream; decodes them once, at the end.

    ``on_event`` only appends a reference (well under a microsecond per chunk); JSON decoding
    and the family logic run in ``record`` when the span finishes.
    """

    __slots__ = ("chunks", "span", "waiting")

    def __init__(self, span: ActiveSpan | None = None) -> None:
        self.span = span
        self.waiting = span is not None  # for the first content chunk (ttft_ms)
        self.chunks: list[Any] = []

    def on_event(self, event: Mapping[str, Any]) -> None:
        """Take one parsed stream event (``{"chunk": {"bytes": b"..."}}``)."""
        chunk = event.get("chunk")
        if chunk is not None:
            raw = chunk.get("bytes")
            self.chunks.append(raw)
            if self.waiting and isinstance(raw, bytes) and not any(marker in raw for marker in _NOT_CONTENT):
                self.waiting = False
                first_token(self.span)

    def _decoded(self) -> list[Any]:
        raw = [c for c in self.chunks if isinstance(c, (bytes, bytearray))]
        try:
            return list(json.loads(b"[" + b",".join(raw) + b"]"))
        except ValueError:  # one bad chunk: decode the rest one by one
            decoded = []
            for chunk in raw:
                try:
                    decoded.append(json.loads(chunk))
                except ValueError:
                    continue
            return decoded

    def record(self, attrs: dict[str, Any]) -> None:
        """Write what was seen (possibly a partial stream) into the span attributes."""
        chunks = [c for c in self._decoded() if isinstance(c, Mapping)]
        metrics: Mapping[str, Any] = next(
            (c[_METRICS] for c in reversed(chunks) if isinstance(c.get(_METRICS), Mapping)), {}
        )
        if any(isinstance(c.get("type"), str) for c in chunks):
            body_usage = _record_claude_stream(attrs, chunks)
        elif any(key in c for c in chunks for key in ("messageStart", "contentBlockDelta", "messageStop")):
            state = ConverseStreamState()  # Amazon Nova streams Converse-shaped events
            for chunk in chunks:
                state.on_event(chunk)
            record_output(attrs, *state.output())
            body_usage = state.usage()
        else:
            body_usage = _record_generic_stream(attrs, chunks)
        # invocationMetrics are Bedrock's own counts (cache counts included); the model's usage fills gaps.
        metrics_usage = usage_of(
            metrics.get("inputTokenCount"),
            metrics.get("outputTokenCount"),
            None,
            metrics.get("cacheReadInputTokenCount"),
            metrics.get("cacheWriteInputTokenCount"),
        )
        apply_usage(attrs, metrics_usage, body_usage)
        if self.waiting:  # no content arrived: there is no time to first token
            attrs.pop("ttft_ms", None)


def _record_claude_stream(attrs: dict[str, Any], chunks: list[Mapping[str, Any]]) -> dict[str, Any]:
    texts: list[str] = []
    tools: dict[Any, list[Any]] = {}
    stop: Any = None
    start_usage: Mapping[str, Any] = {}
    output_tokens: Any = None
    for chunk in chunks:
        kind = chunk.get("type")
        if kind == "content_block_delta":
            delta = chunk.get("delta") or {}
            if delta.get("type") == "text_delta":
                texts.append(str(delta.get("text", "")))
            elif delta.get("type") == "input_json_delta":
                tools.setdefault(chunk.get("index"), [None, None, []])[2].append(str(delta.get("partial_json", "")))
        elif kind == "content_block_start":
            block = chunk.get("content_block") or {}
            if block.get("type") == "tool_use":
                entry = tools.setdefault(chunk.get("index"), [None, None, []])
                entry[0], entry[1] = block.get("id"), block.get("name")
        elif kind == "message_delta":
            stop = (chunk.get("delta") or {}).get("stop_reason", stop)
            delta_usage = chunk.get("usage") or {}
            output_tokens = delta_usage.get("output_tokens", output_tokens)  # cumulative: last one wins
        elif kind == "message_start":
            message = chunk.get("message") or {}
            start_usage = message.get("usage") or {}
            _set_response_id(attrs, message.get("id"))
    calls = [tool_call(i, n, "".join(parts)) for i, n, parts in tools.values()]
    record_output(attrs, "".join(texts), calls, stop)
    return usage_of(
        start_usage.get("input_tokens"),
        output_tokens if output_tokens is not None else start_usage.get("output_tokens"),
        None,
        start_usage.get("cache_read_input_tokens"),
        start_usage.get("cache_creation_input_tokens"),
    )


def _record_generic_stream(attrs: dict[str, Any], chunks: list[Mapping[str, Any]]) -> dict[str, Any]:
    texts: list[str] = []
    finish: Any = None
    id_found = False
    for chunk in chunks:
        if not id_found:  # OpenAI-style chunks all carry the id: the first one that has it
            id_found = _set_response_id(attrs, _body_id(chunk))
        text, _, reason = _body_output(chunk)
        if text is None and "outputText" in chunk:  # Titan
            text, reason = chunk.get("outputText"), chunk.get("completionReason")
        elif text is None:
            first = _first(chunk.get("choices"))
            delta = first.get("delta")
            text = delta.get("content") if isinstance(delta, Mapping) else None
            reason = first.get("finish_reason", reason)
        if isinstance(text, str):
            texts.append(text)
        if isinstance(reason, str):
            finish = reason
    record_output(attrs, "".join(texts) if texts else None, [], finish)
    last = chunks[-1] if chunks else {}
    if "prompt_token_count" in last or "generation_token_count" in last:  # Llama: cumulative counts
        return usage_of(chunks[0].get("prompt_token_count"), last.get("generation_token_count"))
    return {}
