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

__all__ = ["StreamState", "describe_request", "model_name", "record_response"]

#: GenerateContentConfig fields copied into ``attributes.request`` (tools are reduced to names).
_REQUEST_FIELDS = (
    ("temperature", "temperature"),
    ("max_output_tokens", "maxOutputTokens"),
    ("top_p", "topP"),
    ("top_k", "topK"),
    ("stop_sequences", "stopSequences"),
    ("response_mime_type", "responseMimeType"),
)


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

    The stream recorder hands each chunk to ``add``, which folds it into the running values at once (it
    runs on the caller's thread for every chunk: the cost must stay well under a microsecond) and keeps no
    reference to it, so memory stays bounded on long streams (the text pieces aside) and the chunks are
    freed as soon as without peekr. ``apply`` writes the result into the span attributes at the end.

    The SDK's models are pydantic models, which keep every declared field in the instance ``__dict__``
    (None when absent). An attribute read on them goes through pydantic's ``__getattr__`` hook (~400
    instructions, where a dict item costs ~100), so ``add`` reads each model's ``__dict__`` once and its
    fields from there; an object without them there takes plain attribute reads, with the same result.
    """

    __slots__ = ("finish_reason", "model_version", "response_id", "text", "tool_calls", "usage")

    def __init__(self) -> None:
        self.text: list[str] = []  # the non-thought text pieces, in order
        self.tool_calls: list[Any] = []
        self.finish_reason: Any = None
        self.usage: Any = None
        self.model_version: Any = None
        self.response_id: str | None = None

    def add(self, chunk: Any) -> None:
        """Fold one ``GenerateContentResponse`` into the running values."""
        try:
            fields = chunk.__dict__
            usage = fields["usage_metadata"]
            version = fields["model_version"]
            candidates = fields["candidates"]
        except (AttributeError, KeyError):  # not a pydantic model with these fields
            fields = None
            usage = chunk.usage_metadata
            version = chunk.model_version
            candidates = chunk.candidates
        if usage is not None:
            self.usage = usage  # the last reported counts are the final ones
        if version:
            self.model_version = version
        if self.response_id is None:  # every chunk of a stream carries it: taken once, from the first
            # Not declared by every 1.x release: .get / getattr.
            response_id = fields.get("response_id") if fields is not None else getattr(chunk, "response_id", None)
            if isinstance(response_id, str) and response_id:
                self.response_id = response_id
        if not candidates:
            return
        candidate = candidates[0]
        try:
            candidate_fields = candidate.__dict__
            finish_reason = candidate_fields["finish_reason"]
            content = candidate_fields["content"]
        except (AttributeError, KeyError):
            finish_reason = candidate.finish_reason
            content = candidate.content
        if finish_reason is not None:
            self.finish_reason = finish_reason
        if content is None:
            return
        parts = content.parts
        if not parts:
            return
        for part in parts:
            try:
                part_fields = part.__dict__
                piece = part_fields["text"]
                if piece is None:
                    call = part_fields["function_call"]
                    if call is not None:
                        self.tool_calls.append(call)
                elif not part_fields["thought"]:
                    self.text.append(piece)
            except (AttributeError, KeyError):  # raised before this part changed anything
                self._add_part(part)

    def _add_part(self, part: Any) -> None:
        """``add`` for one part whose fields are not in its ``__dict__``: attribute reads."""
        piece = part.text
        if piece is None:
            if part.function_call is not None:
                self.tool_calls.append(part.function_call)
        elif not part.thought:
            self.text.append(piece)

    def apply(self, attributes: dict[str, Any]) -> None:
        """Write model, output, tool calls, finish reason and tokens into the span attributes."""
        version = model_name(self.model_version)
        if version:
            attributes["model"] = version
        if self.response_id is not None:
            attributes["response_id"] = self.response_id
        if self.text:
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
    state.add(response)
    state.apply(attributes)
