"""Reading Bedrock requests and responses into span attributes (pure functions, no SDK imports).

Token rule (Bedrock reports cache tokens *beside* the input count, not inside it): the Converse
``usage.inputTokens``, the ``x-amzn-bedrock-input-token-count`` header, the stream's
``amazon-bedrock-invocationMetrics.inputTokenCount`` and Claude's ``usage.input_tokens`` all
exclude ``cacheRead*``/``cacheWrite*`` (AWS prompt-caching guide: ``totalTokens`` = input +
output + cache read + cache write). peekr's ``tokens_input`` includes them, as everywhere in
peekr (docs/internals.md): ``tokens_input = input + cache_read + cache_write``; the raw cache
counts go to ``tokens_cache_read`` / ``tokens_cache_write``. ``tokens_total`` is the reported
total when there is one, else ``tokens_input + tokens_output``. Nothing is estimated: a count
the response does not carry stays unset.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ..._capture import capture
from ..._tracer import ActiveSpan

__all__ = [
    "ConverseStreamState",
    "apply_usage",
    "converse_output",
    "converse_usage",
    "first_token",
    "converse_input",
    "converse_request",
    "invoke_request",
    "record_converse",
    "record_output",
    "set_captured",
    "set_tokens",
    "to_int",
    "tool_call",
    "usage_of",
]

# Request parameters under the names DESIGN.md uses, whatever the model family calls them.
_PARAMS = {
    "maxTokens": "max_tokens",
    "max_tokens": "max_tokens",
    "max_new_tokens": "max_tokens",
    "maxTokenCount": "max_tokens",
    "max_gen_len": "max_tokens",
    "max_completion_tokens": "max_tokens",
    "temperature": "temperature",
    "topP": "top_p",
    "top_p": "top_p",
    "p": "top_p",
    "topK": "top_k",
    "top_k": "top_k",
    "k": "top_k",
    "stopSequences": "stop_sequences",
    "stop_sequences": "stop_sequences",
    "stop": "stop_sequences",
}


def to_int(value: Any) -> int | None:
    """An int from an int or a decimal string (headers); None for anything else."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def set_captured(attrs: dict[str, Any], key: str, value: Any) -> None:
    """``attrs[key] = capture(value)``, leaving the key out when content capture is off."""
    captured = capture(value)
    if captured is not None:
        attrs[key] = captured


def set_tokens(
    attrs: dict[str, Any],
    input_tokens: Any,
    output_tokens: Any,
    total: Any = None,
    cache_read: Any = None,
    cache_write: Any = None,
) -> None:
    """Apply the module's token rule; only counts the provider reported are set."""
    inp, out, tot = to_int(input_tokens), to_int(output_tokens), to_int(total)
    read, write = to_int(cache_read), to_int(cache_write)
    if read is not None:
        attrs["tokens_cache_read"] = read
    if write is not None:
        attrs["tokens_cache_write"] = write
    if inp is not None:
        inp += (read or 0) + (write or 0)
        attrs["tokens_input"] = inp
    if out is not None:
        attrs["tokens_output"] = out
    if tot is not None:
        attrs["tokens_total"] = tot
    elif inp is not None and out is not None:
        attrs["tokens_total"] = inp + out


def _params(into: dict[str, Any], source: Any) -> None:
    if isinstance(source, Mapping):
        for key, value in source.items():
            name = _PARAMS.get(key)
            if name is not None and name not in into and isinstance(value, (int, float, str, list, tuple)):
                into[name] = value


def converse_request(params: Mapping[str, Any], stream: bool) -> dict[str, Any]:
    """``inferenceConfig`` (plus known ``additionalModelRequestFields``), tool names, stream."""
    request: dict[str, Any] = {}
    _params(request, params.get("inferenceConfig"))
    _params(request, params.get("additionalModelRequestFields"))
    tool_config = params.get("toolConfig")
    if isinstance(tool_config, Mapping):
        names = [
            t["toolSpec"].get("name")
            for t in tool_config.get("tools") or ()
            if isinstance(t, Mapping) and isinstance(t.get("toolSpec"), Mapping)
        ]
        if names:
            request["tools"] = names
        choice = tool_config.get("toolChoice")
        if isinstance(choice, Mapping) and choice:
            request["tool_choice"] = next(iter(choice))
    if stream:
        request["stream"] = True
    return request


def converse_input(params: Mapping[str, Any]) -> Any:
    """What the span's ``input`` holds: the messages, with the system prompt when there is one."""
    system = params.get("system")
    messages = params.get("messages")
    return {"system": system, "messages": messages} if system else messages


def invoke_request(body: Any, stream: bool) -> dict[str, Any]:
    """Inference parameters from a model-native JSON body (Claude, Nova, Titan, Llama, ...)."""
    request: dict[str, Any] = {}
    if isinstance(body, Mapping):
        _params(request, body)
        _params(request, body.get("inferenceConfig"))  # Amazon Nova
        _params(request, body.get("textGenerationConfig"))  # Amazon Titan
        tools = body.get("tools")  # Claude messages / OpenAI-style
        if isinstance(tools, list):
            names = [_tool_name(t) for t in tools]
            if any(names):
                request["tools"] = [n for n in names if n]
    if stream:
        request["stream"] = True
    return request


def _tool_name(tool: Any) -> str | None:
    if not isinstance(tool, Mapping):
        return None
    function = tool.get("function")
    if isinstance(function, Mapping):
        return function.get("name")
    return tool.get("name")


def tool_call(call_id: Any, name: Any, arguments: str) -> dict[str, Any]:
    """One entry of the ``tool_calls`` attribute (OpenAI-style, arguments as a JSON string)."""
    return {"id": call_id, "type": "function", "name": name, "arguments": arguments}


def record_output(
    attrs: dict[str, Any], text: str | None, tool_calls: list[dict[str, Any]], finish_reason: Any
) -> None:
    """Set ``output``, ``tool_calls`` and ``finish_reason`` (content through ``capture``)."""
    if text is not None:
        set_captured(attrs, "output", text)
    if tool_calls:
        set_captured(attrs, "tool_calls", tool_calls)
    if isinstance(finish_reason, str):
        attrs["finish_reason"] = finish_reason


def first_token(span: ActiveSpan | None) -> None:
    """Stamp ``ttft_ms`` at the first generated content. The stream recorder stamps the first event,
    which on Bedrock is ``messageStart`` / ``message_start`` (no token yet): this overwrites it."""
    if span is not None:
        span.attributes["ttft_ms"] = round(span.elapsed_ms(), 3)


def usage_of(
    input_tokens: Any = None,
    output_tokens: Any = None,
    total: Any = None,
    cache_read: Any = None,
    cache_write: Any = None,
) -> dict[str, Any]:
    """Raw counts as one source reports them (input excludes cache, as everywhere on Bedrock)."""
    return {"input": input_tokens, "output": output_tokens, "total": total, "read": cache_read, "write": cache_write}


def apply_usage(attrs: dict[str, Any], *sources: Mapping[str, Any]) -> None:
    """Set the token attributes from the first source reporting each count (e.g. headers, then body)."""
    merged: dict[str, Any] = {}
    for key in ("input", "output", "total", "read", "write"):
        for source in sources:
            value = to_int(source.get(key))
            if value is not None:
                merged[key] = value
                break
    if merged:
        set_tokens(
            attrs,
            merged.get("input"),
            merged.get("output"),
            merged.get("total"),
            merged.get("read"),
            merged.get("write"),
        )


def converse_usage(usage: Any) -> dict[str, Any]:
    """Converse ``usage`` (also Amazon Nova's body ``usage``, whose cache keys end in ``Count``)."""
    if not isinstance(usage, Mapping):
        return {}
    return usage_of(
        usage.get("inputTokens"),
        usage.get("outputTokens"),
        usage.get("totalTokens"),
        usage.get("cacheReadInputTokens", usage.get("cacheReadInputTokenCount")),
        usage.get("cacheWriteInputTokens", usage.get("cacheWriteInputTokenCount")),
    )


def converse_output(response: Mapping[str, Any]) -> tuple[str, list[dict[str, Any]], Any]:
    """Text, tool calls and stop reason of a Converse response (or an Amazon Nova body)."""
    output = response.get("output")
    message = output.get("message") if isinstance(output, Mapping) else None
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    content = message.get("content") if isinstance(message, Mapping) else None
    for block in content if isinstance(content, list) else ():
        if not isinstance(block, Mapping):
            continue
        if isinstance(block.get("text"), str):
            texts.append(block["text"])
        elif isinstance(block.get("toolUse"), Mapping):
            use = block["toolUse"]
            calls.append(tool_call(use.get("toolUseId"), use.get("name"), json.dumps(use.get("input"), default=str)))
    return "".join(texts), calls, response.get("stopReason")


def record_converse(attrs: dict[str, Any], response: Mapping[str, Any]) -> None:
    """A Converse response into the span attributes."""
    record_output(attrs, *converse_output(response))
    apply_usage(attrs, converse_usage(response.get("usage")))


class ConverseStreamState:
    """Accumulates ConverseStream events (also Amazon Nova's invoke stream, which uses them).

    ``on_event`` runs on the user's thread for every event, so it only does a few dict lookups.
    """

    __slots__ = ("metadata", "span", "stop_reason", "texts", "tools", "waiting")

    def __init__(self, span: ActiveSpan | None = None) -> None:
        self.span = span
        self.waiting = span is not None  # for the first content delta (ttft_ms)
        self.texts: list[str] = []
        self.tools: dict[Any, list[Any]] = {}  # contentBlockIndex -> [id, name, [fragments]]
        self.stop_reason: Any = None
        self.metadata: Any = None

    def on_event(self, event: Mapping[str, Any]) -> None:
        """Take one parsed stream event."""
        block = event.get("contentBlockDelta")
        if block is not None:
            if self.waiting:
                self.waiting = False
                first_token(self.span)
            delta = block.get("delta") or {}
            if "text" in delta:  # the common case first: one membership test, one append
                self.texts.append(delta["text"])
                return
            use = delta.get("toolUse")
            if use is not None:
                entry = self.tools.setdefault(block.get("contentBlockIndex"), [None, None, []])
                entry[2].append(use.get("input") or "")
            return
        start = event.get("contentBlockStart")
        if start is not None:
            use = (start.get("start") or {}).get("toolUse")
            if use is not None:
                entry = self.tools.setdefault(start.get("contentBlockIndex"), [None, None, []])
                entry[0], entry[1] = use.get("toolUseId"), use.get("name")
            return
        stop = event.get("messageStop")
        if stop is not None:
            self.stop_reason = stop.get("stopReason")
            return
        metadata = event.get("metadata")
        if metadata is not None:
            self.metadata = metadata

    def output(self) -> tuple[str, list[dict[str, Any]], Any]:
        """Text, tool calls and stop reason seen so far."""
        calls = [tool_call(i, n, "".join(parts)) for i, n, parts in self.tools.values()]
        return "".join(self.texts), calls, self.stop_reason

    def record(self, attrs: dict[str, Any]) -> None:
        """Write what was seen (possibly a partial stream) into the span attributes."""
        record_output(attrs, *self.output())
        apply_usage(attrs, self.usage())
        if self.waiting:  # no content arrived: there is no time to first token
            attrs.pop("ttft_ms", None)

    def usage(self) -> dict[str, Any]:
        """The raw counts of the ``metadata`` event, if it arrived."""
        return converse_usage(self.metadata.get("usage")) if isinstance(self.metadata, Mapping) else {}
