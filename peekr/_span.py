"""The span record: what every LLM call and every user block becomes.

Fields follow DESIGN.md exactly. The hot path builds spans with ``Span.model_construct`` (no
validation); anything read back from disk or the network goes through ``Span.model_validate``.
"""

from __future__ import annotations

import random
from time import time_ns as _time_ns
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, with_config
from typing_extensions import TypedDict

from ._clock import iso_utc

__all__ = [
    "RETENTION_CLASSES",
    "RetentionClass",
    "Span",
    "SpanAttributes",
    "Status",
    "build_span",
    "iso_utc",
    "new_span_id",
    "new_trace_id",
]

Status = Literal["ok", "error"]
RetentionClass = Literal["default", "short", "long", "pii"]
RETENTION_CLASSES: tuple[str, ...] = ("default", "short", "long", "pii")


@with_config(ConfigDict(extra="allow"))
class SpanAttributes(TypedDict, total=False):
    """Known span attribute keys with their types; users may add keys of their own.

    At run time this is a plain ``dict``, so ``span.attributes.get("model")`` and
    ``span.attributes["eval_scores"]["hallucination"]`` both work.
    """

    model: str
    provider: str
    tokens_input: int
    tokens_output: int
    tokens_total: int
    input: Any
    output: Any
    error: dict[str, Any]
    session_id: str
    user_id: str
    eval_scores: dict[str, float | None]
    experiment_variant: str
    experiment: str  # the name given to peekr.experiment(); docs/experiments.md
    feature: str
    endpoint: str
    cost_usd: float
    ttft_ms: float
    finish_reason: str
    response_id: str
    request: dict[str, Any]
    tool_calls: list[Any]
    hallucination_details: list[dict[str, Any]]
    tokens_cache_read: int
    tokens_cache_write: int
    tokens_reasoning: int
    stream: bool
    eval_errors: dict[str, str | None]
    # Keys recorded by guardrails, evaluators and the framework integrations. Typed ``Any``: a ``pii``
    # span stores "[redacted]" in place of a structured value, and a framework may report None, so a
    # narrower type would reject spans peekr itself wrote when they are read back. Shapes in the docs.
    guardrails: Any  # list of {"guard", "on", "action", "matches"}: docs/scrubbing.md
    hallucination_eval: Any  # the hallucination evaluator's summary: docs/evaluation.md
    kind: Any  # str: "chain", "retrieval", "agent", "tool", ...: docs/integrations/
    framework: Any  # str: "langchain", "llamaindex", "openai_agents", "chroma", ...
    run_name: Any
    retrieval: Any  # {"query", "documents": [...], "top_k", ...}: docs/integrations/vector-stores.md
    indexing: Any
    collection: Any
    embedding_dimensions: Any
    metadata: Any
    data: Any
    error_data: Any
    agent_actions: Any
    agent_output: Any
    agents_trace_id: Any  # OpenAI Agents SDK spans: docs/integrations/openai-agents.md
    group_id: Any
    tools: Any
    output_type: Any
    from_agent: Any
    to_agent: Any
    triggered: Any


class Span(BaseModel):
    """One finished unit of work: an LLM call, or a block the user traced.

    Example:
        >>> span = Span.model_validate_json(line)  # one line of traces.jsonl
        >>> span.attributes.get("tokens_total")
    """

    model_config = ConfigDict(extra="forbid")

    trace_id: str = Field(pattern=r"^[0-9a-f]{32}$", description="W3C trace id, 32 lowercase hex chars")
    span_id: str = Field(pattern=r"^[0-9a-f]{16}$", description="W3C span id, 16 lowercase hex chars")
    parent_id: str | None = Field(default=None, pattern=r"^[0-9a-f]{16}$")
    name: str = Field(min_length=1)
    start_time: str = Field(description="ISO-8601 UTC with microseconds and a trailing Z")
    end_time: str
    duration_ms: float = Field(ge=0)
    status: Status = "ok"
    tenant_id: str | None = None
    retention_class: RetentionClass = "default"
    attributes: SpanAttributes = Field(default_factory=lambda: SpanAttributes())


_getrandbits = random.getrandbits  # the module's generator, bound once (``random.seed()`` still reseeds it)

#: A trace id Peekr starts begins with the time in ticks of 2**20 ns (~1 ms), 16 bits (wrapping every ~69 s).
_TICK_SHIFT = 20
_TICK_MASK = 0xFFFF


def new_trace_id() -> str:
    """Return a W3C trace id (32 hex chars): a 16-bit time tick, then 112 random bits.

    The tick (``time_ns() >> 20``, ~1 ms, modulo 2**16) keeps the traces of one moment next to each
    other in every trace-id index, so a commit rewrites a few index pages rather than one per trace: in
    ``traces.db`` holding 100,000 spans that halves the bytes written per span
    (``benchmarks/bench_sqlite_commit.py``). The tick wraps every ~69 s, so the first hex digits of the
    traces of more than a minute are spread as evenly as random ones, and the short ids ``peekr view``
    shows (the first 8 or 12 hex digits) stay unique prefixes. The right-most 112 bits are random:
    W3C Trace Context Level 2 asks that of at least the right-most 7 bytes, and ratio sampling reads
    the low 64.
    """
    # ``int.to_bytes().hex()`` gives the same 32 lowercase digits as ``f"{n:032x}"`` at half its cost.
    return (((_time_ns() >> _TICK_SHIFT & _TICK_MASK) << 112 | _getrandbits(112)) or 1).to_bytes(16, "big").hex()


def new_span_id() -> str:
    """Return a W3C span id (16 hex chars): the same 16-bit time tick as ``new_trace_id``, then 48 random bits.

    For the same reason: the span-id index (``traces.db``'s primary key) grows in one place. Two spans
    share an id only if they start in the same ~1 ms tick (modulo ~69 s) and draw the same 48 bits.
    """
    return (((_time_ns() >> _TICK_SHIFT & _TICK_MASK) << 48 | _getrandbits(48)) or 1).to_bytes(8, "big").hex()


_SPAN_FIELDS = frozenset(Span.model_fields)
_set_attr = object.__setattr__


def build_span(values: dict[str, Any]) -> Span:
    """A ``Span`` from already-correct values, without validation (the hot path).

    Does what ``Span.model_construct`` does for this model (no defaults to fill: every field is
    given), at a fraction of its cost; anything read from outside goes through ``model_validate``.
    """
    span = Span.__new__(Span)
    _set_attr(span, "__dict__", values)
    _set_attr(span, "__pydantic_fields_set__", set(_SPAN_FIELDS))
    _set_attr(span, "__pydantic_extra__", None)
    _set_attr(span, "__pydantic_private__", None)
    return span
