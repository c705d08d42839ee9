"""What a request asks the fake to do, read from its model name; the deterministic reply and token rules.

Model-name vocabulary (case-insensitive substrings, combinable, e.g. ``gpt-4o-tool-slow``):

- ``error-NNN``: answer with HTTP status NNN in the provider's own error shape (429 adds ``Retry-After: 1``).
- ``midstream-error``: a stream sends 2 content chunks, then fails in the provider's in-stream error shape.
- ``tool``: answer with a call to the first tool in the request (or ``get_weather``), unless the last
  message is already a tool result; then answer with text as usual.
- ``slow``: wait 50 ms before answering and between stream chunks.
- ``latency-NNN``: wait NNN ms before answering.
- ``nousage``: report no token usage at all.
- ``cache``: report half the input tokens (rounded down) as cache reads and a quarter as cache writes, each
  provider in its own accounting (OpenAI and Gemini count them inside the prompt total; Anthropic and Bedrock
  report them beside an ``input_tokens`` that excludes them).

Token rule: a token is a whitespace-separated word. Input tokens = words in every text the request sends
(system prompt, instructions, all messages, tool results); output tokens = words in the reply text plus words
in each tool call's arguments as sent (``json.dumps`` with default separators). Reply text = ``"Echo: "`` +
the last user message (or tool result) text, so ``"Hello there"`` gets ``"Echo: Hello there"`` (3 tokens).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "SLOW_DELAY",
    "Behaviour",
    "Prompt",
    "Reply",
    "ToolCall",
    "Usage",
    "default_reply",
    "pieces",
    "text_of",
    "usage_for",
    "words",
]

SLOW_DELAY = 0.05
"""Seconds the ``slow`` keyword waits before answering and between chunks."""

DEFAULT_TOOL = "get_weather"

_ERROR = re.compile(r"(?<!midstream-)error-(\d{3})")
_LATENCY = re.compile(r"latency-(\d+)")


@dataclass(frozen=True)
class Behaviour:
    """Switches parsed from a model name (see the module docstring)."""

    error_status: int | None = None
    midstream_error: bool = False
    tool: bool = False
    slow: bool = False
    latency: float = 0.0
    usage: bool = True
    cache: bool = False

    @classmethod
    def from_model(cls, model: object) -> Behaviour:
        """Parse the vocabulary out of a model name (a non-string model means default behaviour)."""
        name = model.lower() if isinstance(model, str) else ""
        error = _ERROR.search(name)
        latency = _LATENCY.search(name)
        return cls(
            error_status=int(error.group(1)) if error else None,
            midstream_error="midstream-error" in name,
            tool="tool" in name,
            slow="slow" in name,
            latency=int(latency.group(1)) / 1000 if latency else 0.0,
            usage="nousage" not in name,
            cache="cache" in name,
        )

    @property
    def delay(self) -> float:
        """Seconds to wait before the response headers."""
        return self.latency + (SLOW_DELAY if self.slow else 0.0)

    @property
    def chunk_pause(self) -> float:
        """Seconds to wait between stream chunks."""
        return SLOW_DELAY if self.slow else 0.0


@dataclass(frozen=True)
class Prompt:
    """The provider-neutral view of a request that the default reply needs."""

    texts: Sequence[str]
    last_text: str
    tools: Sequence[tuple[str, dict[str, Any]]] = ()
    after_tool_result: bool = False

    @property
    def input_tokens(self) -> int:
        """Words in every text of the request."""
        return sum(words(t) for t in self.texts)


@dataclass(frozen=True)
class ToolCall:
    """One tool call of a reply; `arguments` is the decoded JSON object."""

    name: str
    arguments: dict[str, Any]

    @property
    def arguments_json(self) -> str:
        """The arguments exactly as the fake sends them."""
        return json.dumps(self.arguments)


@dataclass(frozen=True)
class Reply:
    """The assistant's answer, before any provider formats it."""

    text: str = ""
    tool_calls: Sequence[ToolCall] = field(default_factory=tuple)

    @property
    def output_tokens(self) -> int:
        """Words in the text plus words in each tool call's arguments JSON."""
        return words(self.text) + sum(words(c.arguments_json) for c in self.tool_calls)


@dataclass(frozen=True)
class Usage:
    """Token counts of one answer; `input` counts every prompt token, cached or not."""

    input: int
    output: int
    cache_read: int = 0
    cache_write: int = 0

    @property
    def uncached_input(self) -> int:
        """Prompt tokens neither read from nor written to the cache (Anthropic's and Bedrock's input count)."""
        return self.input - self.cache_read - self.cache_write

    @property
    def total(self) -> int:
        """Every prompt token plus the output tokens."""
        return self.input + self.output


def usage_for(prompt: Prompt, reply: Reply, behaviour: Behaviour) -> Usage | None:
    """The usage to report, or None under ``nousage``."""
    if not behaviour.usage:
        return None
    tokens = prompt.input_tokens
    read, write = (tokens // 2, tokens // 4) if behaviour.cache else (0, 0)
    return Usage(tokens, reply.output_tokens, read, write)


def words(text: str) -> int:
    """The fake's token count: whitespace-separated words."""
    return len(text.split())


def pieces(text: str) -> list[str]:
    """Split text into one stream chunk per word, keeping whitespace so the chunks join back to `text`."""
    return [p for p in re.split(r"(?<=\s)(?=\S)", text) if p]


def text_of(value: Any) -> Iterator[str]:
    """Every text inside a message, content block list, tool result or Gemini part, in order."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from text_of(item)
    elif isinstance(value, dict):
        if isinstance(value.get("text"), str):
            yield value["text"]
        for key in ("content", "parts", "toolResult", "output"):
            if key in value:
                yield from text_of(value[key])
        for key in ("json", "functionResponse"):
            if key in value:
                inner = value[key]
                yield json.dumps(inner.get("response", inner) if key == "functionResponse" else inner)


def default_reply(prompt: Prompt, behaviour: Behaviour) -> Reply:
    """The deterministic answer: a tool call when asked for one, else an echo of the last user text."""
    if behaviour.tool and not prompt.after_tool_result:
        if not prompt.tools:
            return Reply(tool_calls=(ToolCall(DEFAULT_TOOL, {"city": "Paris"}),))
        name, schema = prompt.tools[0]
        return Reply(tool_calls=(ToolCall(name, _arguments(schema, prompt.last_text)),))
    return Reply(text=f"Echo: {prompt.last_text}")


def _arguments(schema: dict[str, Any], text: str) -> dict[str, Any]:
    """Fill every required property (or the first one) with a value of its type; strings get `text`."""
    properties: dict[str, Any] = schema.get("properties") or {}
    if not properties:
        return {}
    names = [n for n in schema.get("required") or () if n in properties] or list(properties)[:1]
    samples = {"integer": 1, "number": 1.5, "boolean": True, "array": [], "object": {}}
    result = {}
    for name in names:
        kind = str(properties[name].get("type", "string")).lower()
        result[name] = samples.get(kind, text)
    return result
