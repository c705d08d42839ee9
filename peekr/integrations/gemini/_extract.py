"""Reading google-genai requests and responses into span attributes (no SDK import needed).

Requests are read leniently: ``config`` may be a ``GenerateContentConfig`` or a dict (snake_case or
the camelCase aliases the SDK accepts), and missing pieces are skipped. Responses are the SDK's own
``GenerateContentResponse`` models, whose declared fields (None when absent) are read directly on
the stream path, for speed. All of it runs inside peekr's ``handle_internal_errors`` boundary: an
unexpected shape costs an attribute, never the user's call, and the span still ends.

Rules (also in docs/providers/gemini.md):

- ``model``: ``response.model_version`` when the server reports one, else the request's ``model``;
  both with a leading ``models/`` (or a ``.../models/`` resource path) removed, so
  ``"models/gemini-2.0-flash"`` and ``"gemini-2.0-flash"`` group together and price alike.
- ``tokens_input`` = ``prompt_token_count`` + ``tool_use_prompt_token_count``; ``tokens_output`` =
  ``candidates_token_count`` + ``thoughts_token_count``; ``tokens_total`` = ``total_token_count``
  (Google defines it as the sum of those four, so input + output == total). Cached prompt tokens
  are part of ``prompt_token_count`` (``tokens_cache_read``), thoughts part of the output
  (``tokens_reasoning``), as docs/internals.md requires. A count the server did not report is
  left unset, never guessed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from ... import _runtime
from ..._capture import capture

__all__ = ["FOLD_EVERY", "StreamState", "describe_request", "model_name", "record_response"]

#: GenerateContentConfig fields copied into ``attributes.request`` (tools are reduced to names).
_REQUEST_FIELDS = (
    ("temperature", "temperature"),
    ("max_output_tokens", "maxOutputTokens"),
    ("top_p", "topP"),
    ("top_k", "topK"),
    ("stop_sequences", "stopSequences"),
    ("response_mime_type", "responseMimeType"),
)

#: A stream folds its buffered chunks into running values every this many chunks. Few: each chunk is a
#: graph of 25-45 garbage-collected objects (response, candidates, content, parts, usage, HTTP headers), so
#: holding a few dozen makes the cyclic garbage collector run about once per stream and walk them all
#: (256 cost ~4 µs per chunk on the benchmark machine); folding every 4 keeps it as quiet as without peekr.
FOLD_EVERY = 4


def model_name(name: object) -> str | None:
    """``"models/gemini-x"`` -> ``"gemini-x"``; ``"publishers/google/models/gemini-x"`` -> ``"gemini-x"``."""
    if not isinstance(name, str) or not name:
        return None
    if name.startswith("models/") or "/models/" in name:
        return name.rpartition("models/")[2] or name
    return name


def _field(config: Any, snake: str, camel: str) -> Any:
    if isinstance(config, Mapping):
        value = config.get(snake)
        return config.get(camel) if value is None else value
    return getattr(config, snake, None)


def _tool_names(tools: Any) -> list[str]:
    """Function declaration names, callable names (automatic function calling), built-in tool kinds."""
    names: list[str] = []
    if not isinstance(tools, (list, tuple)):
        tools = [tools]
    for tool in tools:
        items: Iterable[tuple[Any, Any]]
        if isinstance(tool, Mapping):
            items = tool.items()
        elif hasattr(type(tool), "model_fields"):  # types.Tool
            items = ((key, getattr(tool, key, None)) for key in type(tool).model_fields)
        else:  # a Python callable for automatic function calling, or an MCP session
            names.append(str(getattr(tool, "__name__", None) or type(tool).__name__))
            continue
        for key, value in items:
            if value is None:
                continue
            if key in ("function_declarations", "functionDeclarations"):
                for declaration in value or ():
                    name = _field(declaration, "name", "name")
                    if name:
                        names.append(str(name))
            else:
                names.append(str(key))
    return names


def _plain(value: Any) -> Any:
    """SDK objects as plain containers, *with* their defaults, bytes kept as bytes.

    ``capture()`` would dump SDK models itself, but (1) with ``exclude_unset``, which drops
    ``UserContent``'s default ``role="user"`` (chat history would lose its roles), and (2) in JSON
    mode, where ``inline_data`` bytes become URL-safe base64 that its base64 detector misses, so an
    image would be stored as a long cut string. Dumped here in python mode, bytes reach
    ``capture()`` as bytes and become ``[bytes: N bytes, sha256:...]``.
    """
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        try:
            return dump(exclude_none=True)
        except Exception:  # an object that only looks like pydantic: capture() will describe it
            return value
    return value


def describe_request(kwargs: Mapping[str, Any], stream: bool) -> dict[str, Any]:
    """The attributes known before the call: provider, model, input, request, and ``stream=True`` for streams."""
    attributes: dict[str, Any] = {"provider": "gemini", "model": model_name(kwargs.get("model"))}
    if stream:
        attributes["stream"] = True
    runtime = _runtime.get_runtime()
    if runtime is None or not runtime.settings.capture_content:
        return attributes  # input and request are content: nothing more to record
    config = kwargs.get("config")
    contents = _plain(kwargs.get("contents"))
    system = _field(config, "system_instruction", "systemInstruction") if config is not None else None
    captured = capture({"system": _plain(system), "contents": contents} if system is not None else contents)
    if captured is not None:
        attributes["input"] = captured
    request: dict[str, Any] = {}
    if config is not None:
        for snake, camel in _REQUEST_FIELDS:
            value = _field(config, snake, camel)
            if value is not None:
                request[snake] = value
        tools = _field(config, "tools", "tools")
        if tools:
            request["tools"] = _tool_names(tools)
    if stream:
        request["stream"] = True
    if request:
        captured = capture(request)
        if captured is not None:
            attributes["request"] = captured
    return attributes


def _usage_attributes(attributes: dict[str, Any], usage: Any) -> None:
    prompt = getattr(usage, "prompt_token_count", None)
    tool_prompt = getattr(usage, "tool_use_prompt_token_count", None)
    candidates = getattr(usage, "candidates_token_count", None)
    thoughts = getattr(usage, "thoughts_token_count", None)
    total = getattr(usage, "total_token_count", None)
    cached = getattr(usage, "cached_content_token_count", None)
    if prompt is not None or tool_prompt is not None:
        attributes["tokens_input"] = (prompt or 0) + (tool_prompt or 0)
    if candidates is not None or thoughts is not None:
        attributes["tokens_output"] = (candidates or 0) + (thoughts or 0)
    if total is not None:
        attributes["tokens_total"] = total
    if cached is not None:
        attributes["tokens_cache_read"] = cached
    if thoughts is not None:
        attributes["tokens_reasoning"] = thoughts


def _finish_reason(value: Any) -> str:
    # FinishReason is a (str, Enum): str() would give "FinishReason.STOP", the value is "STOP".
    return str(getattr(value, "value", value))


def _tool_call(call: Any) -> dict[str, Any]:
    args = call.args
    arguments = json.dumps(args if args is not None else {}, default=str)
    return {"id": call.id, "type": "function", "name": call.name, "arguments": arguments}


class StreamState:
    """What a stream (or one whole response) said so far: text, tool calls, finish reason, usage, model, id.

    The stream recorder hands each chunk to ``add`` (a list append: the per-chunk cost must stay well
    under a microsecond), which calls ``fold()`` every ``FOLD_EVERY`` chunks; ``apply`` folds the rest at
    the end. ``fold`` reads the buffered chunks into the running values and lets them go, so memory stays
    bounded on long streams and the chunks are freed about as soon as without peekr.
    """

    __slots__ = ("finish_reason", "model_version", "pending", "response_id", "text", "tool_calls", "usage")

    def __init__(self) -> None:
        self.pending: list[Any] = []
        self.text: list[str] | None = None
        self.tool_calls: list[Any] = []
        self.finish_reason: Any = None
        self.usage: Any = None
        self.model_version: Any = None
        self.response_id: str | None = None

    def add(self, chunk: Any) -> None:
        """Buffer one chunk; fold the buffer once it holds ``FOLD_EVERY`` chunks."""
        pending = self.pending
        pending.append(chunk)
        if len(pending) >= FOLD_EVERY:
            self.fold()

    def fold(self) -> None:
        """Fold the buffered chunks (``GenerateContentResponse`` objects) into the running values."""
        pending = self.pending  # emptied in place: the stream wrapper holds its bound ``append``
        if not pending:
            return
        # Plain attribute reads: each is a declared field (None when absent) of the SDK's pydantic models.
        for chunk in reversed(pending):
            if chunk.usage_metadata is not None:
                self.usage = chunk.usage_metadata  # the last reported counts are the final ones
                break
        for chunk in reversed(pending):
            if chunk.model_version:
                self.model_version = chunk.model_version
                break
        if self.response_id is None:  # every chunk of a stream carries it: taken once, from the first
            for chunk in pending:
                response_id = getattr(chunk, "response_id", None)  # getattr: not declared by every 1.x release
                if isinstance(response_id, str) and response_id:
                    self.response_id = response_id
                    break
        text = self.text
        for chunk in pending:
            candidates = chunk.candidates
            if not candidates:
                continue
            candidate = candidates[0]
            if candidate.finish_reason is not None:
                self.finish_reason = candidate.finish_reason
            content = candidate.content
            parts = content.parts if content is not None else None
            if not parts:
                continue
            for part in parts:
                piece = part.text
                if piece is not None:
                    if not part.thought:
                        if text is None:
                            text = self.text = []
                        text.append(piece)
                elif part.function_call is not None:
                    self.tool_calls.append(part.function_call)
        pending.clear()

    def apply(self, attributes: dict[str, Any]) -> None:
        """Write model, output, tool calls, finish reason and tokens into the span attributes."""
        self.fold()
        version = model_name(self.model_version)
        if version:
            attributes["model"] = version
        if self.response_id is not None:
            attributes["response_id"] = self.response_id
        if self.text is not None:
            captured = capture("".join(self.text))
            if captured is not None:
                attributes["output"] = captured
        if self.tool_calls:  # content like the output (its arguments): absent with capture_content=False
            captured = capture([_tool_call(call) for call in self.tool_calls])
            if captured is not None:
                attributes["tool_calls"] = captured
        if self.finish_reason is not None:
            attributes["finish_reason"] = _finish_reason(self.finish_reason)
        if self.usage is not None:
            _usage_attributes(attributes, self.usage)


def record_response(attributes: dict[str, Any], response: Any) -> None:
    """Fill the span attributes from one non-streamed ``GenerateContentResponse``."""
    state = StreamState()
    state.pending.append(response)
    state.apply(attributes)
