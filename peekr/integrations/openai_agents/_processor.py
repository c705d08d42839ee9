"""The tracing processor: OpenAI Agents SDK traces and spans -> peekr spans.

Parenting: an SDK span's peekr span is the child of its SDK parent's peekr span (``parent_id``,
else the trace's ``agents.workflow`` span); the workflow span is the child of whatever parents a
provider span here (the current span, an open LangChain run). SDK spans peekr does not record
(response / generation, turn, task, MCP listings, voice) are transparent: their children attach to
the nearest recorded ancestor. Provider spans started inside an SDK span (the model call inside
the SDK's response span) find their parent through :meth:`PeekrTracingProcessor.innermost`, which
reads the SDK's own current span (``Scope``, set and reset by the SDK); the processor never
changes peekr's current span (see ``peekr/integrations/_framework.py``).

One span per model call: while an SDK response / generation span is open, a :class:`PendingLLM`
sits in ``_llm_run``; a provider span started there covers it, and the SDK span is dropped. A
model call through a provider peekr does not patch (e.g. LiteLLM) is recorded as ``agents.llm``.

The SDK calls processors synchronously, in the run's own context, and catches what they raise.
Open spans are bounded (``MAX_OPEN_SPANS``); past that the oldest is given up and counted under
``("integrations.openai_agents", "open_spans_limit")`` in ``peekr.stats().dropped``.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

from agents.tracing import Span as AgentsSpan
from agents.tracing import Trace as AgentsTrace
from agents.tracing import TracingProcessor
from agents.tracing.scope import Scope

from ..._capture import capture
from ..._context import SpanContextLike
from ..._errors import checkpoint, handle_internal_errors
from ..._runtime import record_dropped
from ..._tracer import ActiveSpan, start_span
from .._framework import PendingLLM, _llm_run, add_parent_resolver

__all__ = ["MAX_NAMES", "MAX_OPEN_SPANS", "PeekrTracingProcessor"]

MAX_OPEN_SPANS = 10_000
MAX_NAMES = 100  # tool and handoff names listed on an agent span
_FRAMEWORK = "openai_agents"
#: SDK span type -> (peekr span name, kind) for the spans recorded as framework spans.
_RECORDED = {
    "agent": ("agents.agent", "agent"),
    "function": ("agents.tool", "tool"),
    "handoff": ("agents.handoff", "handoff"),
    "guardrail": ("agents.guardrail", "guardrail"),
    "custom": ("agents.custom", "custom"),
}
_MODEL_CALLS = ("response", "generation")


class _Open:
    """An open SDK trace or span: its peekr span (None when not recorded) and what its children attach to."""

    __slots__ = ("pending", "previous_llm", "span", "target")

    def __init__(self, span: ActiveSpan | None, target: SpanContextLike | None) -> None:
        self.span = span
        self.target = target
        self.pending: PendingLLM | None = None
        self.previous_llm: PendingLLM | None = None


def _set_captured(attributes: dict[str, Any], key: str, value: Any) -> None:
    captured = capture(value)
    if captured is not None:
        attributes[key] = captured


def _maybe_json(value: Any) -> Any:
    """A tool's arguments arrive as a JSON string: record the object when it parses."""
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _mark_error(span: ActiveSpan, error: Mapping[str, Any] | None) -> None:
    """An SDK span error (``{message, data}``, no exception object) marks ``span`` failed."""
    if not error or span.status == "error":
        return
    span.status = "error"
    span.attributes["error"] = {"type": "agents.SpanError", "message": str(error.get("message", ""))[:2000]}
    _set_captured(span.attributes, "error_data", error.get("data"))


def _usage(usage: Any) -> dict[str, int]:
    """Token counts from a generation's usage dict or a Responses ``usage`` object."""
    if usage is None:
        return {}
    get: Callable[[str], Any] = usage.get if isinstance(usage, Mapping) else lambda k: getattr(usage, k, None)
    prompt, completion = get("input_tokens"), get("output_tokens")
    if not isinstance(prompt, int) or not isinstance(completion, int):
        return {}
    total = get("total_tokens")
    return {
        "tokens_input": prompt,
        "tokens_output": completion,
        "tokens_total": total if isinstance(total, int) else prompt + completion,
    }


class PeekrTracingProcessor(TracingProcessor):
    """Turns Agents SDK traces and spans into peekr spans (see the module docstring)."""

    def __init__(self, enabled: Callable[[], bool]) -> None:
        self._enabled = enabled
        self._open: OrderedDict[str, _Open] = OrderedDict()
        self._lock = threading.Lock()
        add_parent_resolver(self.innermost)

    # -- bookkeeping ------------------------------------------------------------------------------

    def _get(self, key: str | None) -> _Open | None:
        if key is None:
            return None
        with self._lock:
            return self._open.get(key)

    def _store(self, key: str, entry: _Open) -> None:
        evicted = 0
        with self._lock:
            self._open[key] = entry
            while len(self._open) > MAX_OPEN_SPANS:
                self._open.popitem(last=False)
                evicted += 1
        if evicted:
            record_dropped("integrations.openai_agents", "open_spans_limit", evicted)

    def _pop(self, key: str) -> _Open | None:
        with self._lock:
            return self._open.pop(key, None)

    def innermost(self) -> ActiveSpan | None:
        """The peekr span of the innermost open SDK span here (for provider and store spans), or None."""
        if not self._open:
            return None
        sdk_span = Scope.get_current_span()
        entry = self._get(sdk_span.span_id) if sdk_span is not None else None
        if entry is None:
            trace = Scope.get_current_trace()
            entry = self._get(trace.trace_id) if trace is not None else None
        target = entry.target if entry is not None else None
        return target if isinstance(target, ActiveSpan) else None

    def _parent_of(self, sdk_span: AgentsSpan[Any]) -> SpanContextLike | None:
        entry = self._get(sdk_span.parent_id) or self._get(sdk_span.trace_id)
        return entry.target if entry is not None else None

    # -- traces -----------------------------------------------------------------------------------

    def on_trace_start(self, trace: AgentsTrace) -> None:
        """A workflow starts (``Runner.run`` or ``agents.trace()``): the root ``agents.workflow`` span."""
        if not self._enabled():
            return
        with handle_internal_errors("openai_agents.on_trace_start"):
            checkpoint("openai_agents.on_trace_start")
            attributes: dict[str, Any] = {"kind": "workflow", "framework": _FRAMEWORK, "run_name": trace.name}
            attributes["agents_trace_id"] = trace.trace_id
            group_id = getattr(trace, "group_id", None)
            if isinstance(group_id, str):
                attributes["group_id"] = group_id
            metadata = getattr(trace, "metadata", None)
            if metadata:
                _set_captured(attributes, "metadata", metadata)
            span = start_span("agents.workflow", attributes)  # under an open framework run or the current span
            if span is not None:
                self._store(trace.trace_id, _Open(span, span))

    def on_trace_end(self, trace: AgentsTrace) -> None:
        """The workflow ends."""
        with handle_internal_errors("openai_agents.on_trace_end"):
            checkpoint("openai_agents.on_trace_end")
            entry = self._pop(trace.trace_id)
            if entry is not None and entry.span is not None:
                entry.span.end()

    # -- spans ------------------------------------------------------------------------------------

    def on_span_start(self, span: AgentsSpan[Any]) -> None:
        """An SDK span starts: a peekr span for the recorded types, a pass-through entry for the rest."""
        if not self._enabled():
            return
        with handle_internal_errors("openai_agents.on_span_start"):
            checkpoint("openai_agents.on_span_start")
            data = span.span_data
            kind = data.type
            parent = self._parent_of(span)
            if kind in _RECORDED:
                name, span_kind = _RECORDED[kind]
                attributes = {"kind": span_kind, "framework": _FRAMEWORK}
                attributes.update(self._start_attributes(kind, data))
                started = self._start(name, attributes, parent)
                if started is not None:
                    self._store(span.span_id, _Open(started, started))
                return
            if kind in _MODEL_CALLS:
                # Started now for its timing; dropped at the end when a provider span covered the call.
                attributes = {"kind": "llm", "framework": _FRAMEWORK, "provider": "openai_agents"}
                entry = _Open(self._start("agents.llm", attributes, parent), parent)
                entry.pending = PendingLLM()
                entry.previous_llm = _llm_run.get()
                _llm_run.set(entry.pending)
                self._store(span.span_id, entry)
                return
            if parent is not None:  # transparent: turn, task, MCP listings, voice
                self._store(span.span_id, _Open(None, parent))

    @staticmethod
    def _start(name: str, attributes: dict[str, Any], parent: SpanContextLike | None) -> ActiveSpan | None:
        if parent is None:
            return start_span(name, attributes)
        return start_span(name, attributes, trace_id=parent.trace_id, parent_id=parent.span_id)

    @staticmethod
    def _start_attributes(kind: str, data: Any) -> dict[str, Any]:
        attributes: dict[str, Any] = {}
        name = getattr(data, "name", None)
        if isinstance(name, str):
            attributes["run_name"] = name
        return attributes

    @staticmethod
    def _agent_attributes(attributes: dict[str, Any], data: Any) -> None:
        """The agent's tools, handoffs and output type (the SDK fills them in after the span starts)."""
        for key in ("tools", "handoffs"):
            value = getattr(data, key, None)
            if isinstance(value, list):
                attributes[key] = [str(v) for v in value][:MAX_NAMES]
        if isinstance(data.output_type, str):
            attributes["output_type"] = data.output_type

    def on_span_end(self, span: AgentsSpan[Any]) -> None:
        """An SDK span ends: its results onto the peekr span, which ends."""
        with handle_internal_errors("openai_agents.on_span_end"):
            checkpoint("openai_agents.on_span_end")
            entry = self._pop(span.span_id)
            if entry is None:
                return
            if entry.pending is not None and _llm_run.get() is entry.pending:
                _llm_run.set(entry.previous_llm)
            recorded = entry.span
            if recorded is None:
                # A transparent span (the SDK's turn or task span) failed: a guardrail tripped, the
                # turn limit was hit. The nearest recorded ancestor (agent, workflow) shows it.
                if isinstance(entry.target, ActiveSpan) and entry.target.is_recording:
                    _mark_error(entry.target, span.error)
                return
            if entry.pending is not None and entry.pending.covered:
                return
            data = span.span_data
            attributes = recorded.attributes
            kind = data.type
            if kind == "agent":
                self._agent_attributes(attributes, data)
            elif kind == "function":
                _set_captured(attributes, "input", _maybe_json(data.input))
                _set_captured(attributes, "output", data.output)
                if data.mcp_data:
                    _set_captured(attributes, "mcp_data", data.mcp_data)
            elif kind == "handoff":
                attributes["from_agent"] = data.from_agent
                attributes["to_agent"] = data.to_agent
            elif kind == "guardrail":
                attributes["triggered"] = bool(data.triggered)
            elif kind == "custom":
                _set_captured(attributes, "data", data.data)
            elif kind in _MODEL_CALLS:
                self._model_call(attributes, data)
            _mark_error(recorded, span.error)
            recorded.end()

    @staticmethod
    def _model_call(attributes: dict[str, Any], data: Any) -> None:
        """A model call no provider span recorded: model, tokens, input and output from the SDK span."""
        response = getattr(data, "response", None)  # ResponseSpanData
        model = getattr(data, "model", None) or getattr(response, "model", None)
        if isinstance(model, str):
            attributes["model"] = model
        usage = getattr(data, "usage", None) or getattr(response, "usage", None)
        attributes.update(_usage(usage))
        _set_captured(attributes, "input", getattr(data, "input", None))
        output = getattr(data, "output", None)
        if output is None and response is not None:
            output = getattr(response, "output", None)
        _set_captured(attributes, "output", output)

    # -- lifecycle --------------------------------------------------------------------------------

    def shutdown(self) -> None:
        """Nothing to release: spans go to peekr's bus, which ``peekr.shutdown()`` drains."""

    def force_flush(self) -> None:
        """Nothing buffered here."""
