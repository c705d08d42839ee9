"""LlamaIndex dispatcher signals -> peekr spans.

LlamaIndex's root dispatcher tells a *span handler* when every instrumented method enters and
leaves (``span_enter`` / ``span_exit`` / ``span_drop``, each with LlamaIndex's span id and its
parent's), and an *event handler* about what happens inside (``QueryStartEvent``,
``RetrievalEndEvent``, ``LLMChatStartEvent``...; each event names the LlamaIndex span it happened
in). Most LlamaIndex spans are plumbing (``_query``, ``get_response``, text splitting), so peekr
records only the operations the events name:

==========================  ===========================  ==============================
events                      span name                    ``kind``
==========================  ===========================  ==============================
Query start / end           ``llamaindex.query``         ``chain``
Retrieval start / end       ``llamaindex.retrieve``      ``retrieval`` (shared shape)
Synthesize start / end      ``llamaindex.synthesize``    ``chain``
Embedding start / end       ``llamaindex.embedding``     ``embedding``
LLM chat / completion       ``llamaindex.llm``           ``llm``
==========================  ===========================  ==============================

Parenting: :meth:`Tracker.innermost` walks from LlamaIndex's active span id up its parents to the
nearest LlamaIndex span peekr records (LLM and embedding spans excepted: a provider call inside
one replaces it); it is registered as a parent resolver, so ``start_span`` nests provider spans,
``peekr.span()`` blocks and the next LlamaIndex span under it. Nothing here changes peekr's
current span. LLM and embedding spans are dropped when a provider span started inside them (the
provider span holds the call), else recorded with the model and the tokens LlamaIndex reports.

Bounded: open LlamaIndex spans and open peekr spans are each capped at ``MAX_OPEN``; past that the
oldest are given up and counted under ``("integrations.llamaindex", "open_spans_limit")``.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

from ..._capture import capture
from ..._errors import checkpoint, handle_internal_errors
from ..._runtime import record_dropped
from ..._tracer import ActiveSpan, start_span
from .._framework import PendingLLM, _llm_run, add_parent_resolver
from .._retrieval import document, retrieval_attribute

__all__ = ["MAX_OPEN", "Tracker"]

MAX_OPEN = 10_000
_MAX_DEPTH = 256  # parent walk limit (LlamaIndex span trees are shallow)
_REQUEST_KEYS = ("temperature", "max_tokens", "top_p", "seed")

#: event class name -> (operation, "start" | "end" | "progress")
_EVENTS: dict[str, tuple[str, str]] = {
    "QueryStartEvent": ("query", "start"),
    "QueryEndEvent": ("query", "end"),
    "RetrievalStartEvent": ("retrieve", "start"),
    "RetrievalEndEvent": ("retrieve", "end"),
    "SynthesizeStartEvent": ("synthesize", "start"),
    "SynthesizeEndEvent": ("synthesize", "end"),
    "EmbeddingStartEvent": ("embedding", "start"),
    "EmbeddingEndEvent": ("embedding", "end"),
    "LLMChatStartEvent": ("llm", "start"),
    "LLMChatEndEvent": ("llm", "end"),
    "LLMCompletionStartEvent": ("llm", "start"),
    "LLMCompletionEndEvent": ("llm", "end"),
    "LLMChatInProgressEvent": ("llm", "progress"),
    "LLMCompletionInProgressEvent": ("llm", "progress"),
}
_KINDS = {"query": "chain", "retrieve": "retrieval", "synthesize": "chain", "embedding": "embedding", "llm": "llm"}
#: Operations a provider call can stand for: dropped when a provider span starts inside them.
_REPLACEABLE = frozenset({"llm", "embedding"})


class _LlamaPending(PendingLLM):
    """A LlamaIndex LLM / embedding operation open here (nested LLM events are the same call)."""

    __slots__ = ("open",)

    def __init__(self) -> None:
        super().__init__()
        self.open = True


class _Op:
    """One recorded operation: its peekr span, and what ending it needs."""

    __slots__ = ("op", "pending", "previous", "span")

    def __init__(self, op: str, span: ActiveSpan) -> None:
        self.op = op
        self.span = span
        self.pending: _LlamaPending | None = None
        self.previous: PendingLLM | None = None


def _set_captured(attributes: dict[str, Any], key: str, value: Any) -> None:
    captured = capture(value)
    if captured is not None:
        attributes[key] = captured


def _query_text(query: Any) -> Any:
    """A QueryBundle's text, or the string itself."""
    return getattr(query, "query_str", query)


def _response_text(response: Any) -> Any:
    """A Response's text (``response`` field), a streaming response's text so far, or None."""
    text = getattr(response, "response", None)
    if isinstance(text, str):
        return text
    return getattr(response, "response_txt", None)


def _message(message: Any) -> dict[str, Any]:
    role = getattr(message, "role", "user")
    return {"role": str(getattr(role, "value", role)), "content": getattr(message, "content", None)}


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _usage(response: Any) -> dict[str, int]:
    """Token counts from what the LLM class reported: ``additional_kwargs`` or the raw response's usage."""
    extra = getattr(response, "additional_kwargs", None) or {}
    prompt, completion = _int(extra.get("prompt_tokens")), _int(extra.get("completion_tokens"))
    if prompt is None or completion is None:
        raw = getattr(response, "raw", None)
        usage = raw.get("usage") if isinstance(raw, Mapping) else getattr(raw, "usage", None)
        if isinstance(usage, Mapping):
            prompt = _int(usage.get("prompt_tokens", usage.get("input_tokens")))
            completion = _int(usage.get("completion_tokens", usage.get("output_tokens")))
        elif usage is not None:
            prompt = _int(getattr(usage, "prompt_tokens", getattr(usage, "input_tokens", None)))
            completion = _int(getattr(usage, "completion_tokens", getattr(usage, "output_tokens", None)))
    if prompt is None or completion is None:
        return {}
    return {"tokens_input": prompt, "tokens_output": completion, "tokens_total": prompt + completion}


class Tracker:
    """The open LlamaIndex spans (for parenting) and the peekr spans recorded for them."""

    def __init__(self) -> None:
        from llama_index.core.instrumentation.span import active_span_id

        self._active_span_id = active_span_id  # LlamaIndex's ContextVar: the innermost open LlamaIndex span
        self._lock = threading.Lock()
        #: LlamaIndex span id -> (parent id, name of the class or function it instruments, its top k)
        self._tree: OrderedDict[str, tuple[str | None, str, int | None]] = OrderedDict()
        #: LlamaIndex span id -> the operation recorded in it
        self._ops: OrderedDict[str, _Op] = OrderedDict()
        add_parent_resolver(self.innermost)

    # -- parenting --------------------------------------------------------------------------------

    def innermost(self) -> ActiveSpan | None:
        """The nearest recorded query / retrieval / synthesis span around LlamaIndex's active span."""
        span_id = self._active_span_id.get()
        depth = 0
        while span_id is not None and depth < _MAX_DEPTH:
            op = self._ops.get(span_id)
            if op is not None and op.op not in _REPLACEABLE and op.span.is_recording:
                return op.span
            entry = self._tree.get(span_id)
            span_id = entry[0] if entry is not None else None
            depth += 1
        return None

    # -- span handler -----------------------------------------------------------------------------

    def enter(self, span_id: str, parent_id: str | None, instance: Any, bound_args: Any) -> None:
        """A LlamaIndex span starts: remember its parent and what it instruments."""
        name = type(instance).__name__ if instance is not None else str(span_id).rpartition("-")[0]
        top_k = _int(getattr(instance, "_similarity_top_k", None)) if instance is not None else None
        evicted = 0
        with self._lock:
            self._tree[span_id] = (parent_id, name, top_k)
            while len(self._tree) > MAX_OPEN:
                self._tree.popitem(last=False)
                evicted += 1
        if evicted:
            record_dropped("integrations.llamaindex", "open_spans_limit", evicted)

    def leave(self, span_id: str, error: BaseException | None) -> None:
        """A LlamaIndex span ends (``error`` when it raised): end what is still open in it."""
        with self._lock:
            self._tree.pop(span_id, None)
            op = self._ops.get(span_id)
            # a streamed LLM call ends with its end event, after the method returned its generator
            if op is None or (error is None and op.op == "llm"):
                return
            del self._ops[span_id]
        self._finish(op, error)

    # -- events -----------------------------------------------------------------------------------

    def event(self, event: Any) -> None:
        """One dispatcher event."""
        known = _EVENTS.get(type(event).__name__)
        span_id = getattr(event, "span_id", None)
        if known is None:
            if type(event).__name__ == "ExceptionEvent" and span_id is not None:
                self._fail(span_id, getattr(event, "exception", None))
            return
        if span_id is None:
            return
        op, phase = known
        if phase == "start":
            self._start(span_id, op, event)
        elif phase == "end":
            self._end(span_id, op, event)
        else:
            with self._lock:
                recorded = self._ops.get(span_id)
            if recorded is not None and "ttft_ms" not in recorded.span.attributes:
                recorded.span.mark_first_token()
                recorded.span.attributes["stream"] = True

    def _start(self, span_id: str, op: str, event: Any) -> None:
        outer = _llm_run.get()
        if op in _REPLACEABLE and isinstance(outer, _LlamaPending) and outer.open:
            return  # CustomLLM.chat calling complete, an embedding batch inside another: one call
        with self._lock:
            if span_id in self._ops:
                return
            entry = self._tree.get(span_id)
        run_name, top_k = (entry[1], entry[2]) if entry is not None else (op, None)
        attributes: dict[str, Any] = {"kind": _KINDS[op], "framework": "llamaindex", "run_name": run_name}
        if op in ("query", "synthesize"):
            _set_captured(attributes, "input", _query_text(event.query))
        elif op == "retrieve":
            attributes["retrieval"] = retrieval_attribute(_query_text(event.str_or_query_bundle), top_k, ())
        elif op == "embedding":
            model = (getattr(event, "model_dict", None) or {}).get("model_name")
            if isinstance(model, str):
                attributes["model"] = model
        else:
            self._llm_attributes(attributes, event)
        span = start_span(f"llamaindex.{op}", attributes)
        if span is None:  # peekr is not running, or instrumentation is suppressed here
            return
        recorded = _Op(op, span)
        if op in _REPLACEABLE:
            recorded.pending = _LlamaPending()
            recorded.previous = _llm_run.get()
            _llm_run.set(recorded.pending)
        evicted = 0
        with self._lock:
            self._ops[span_id] = recorded
            while len(self._ops) > MAX_OPEN:
                self._ops.popitem(last=False)
                evicted += 1
        if evicted:
            record_dropped("integrations.llamaindex", "open_spans_limit", evicted)

    @staticmethod
    def _llm_attributes(attributes: dict[str, Any], event: Any) -> None:
        model_dict = getattr(event, "model_dict", None) or {}
        attributes["provider"] = "llamaindex"
        class_name = model_dict.get("class_name")
        if isinstance(class_name, str):
            attributes["llm_class"] = class_name
        model = model_dict.get("model") or model_dict.get("model_name")
        if isinstance(model, str):
            attributes["model"] = model
        request = {k: model_dict[k] for k in _REQUEST_KEYS if isinstance(model_dict.get(k), (int, float))}
        if request:
            attributes["request"] = request
        messages = getattr(event, "messages", None)
        if isinstance(messages, Sequence):
            _set_captured(attributes, "input", [_message(m) for m in messages])
        else:
            _set_captured(attributes, "input", getattr(event, "prompt", None))

    def _pop(self, span_id: str, op: str) -> _Op | None:
        with self._lock:
            recorded = self._ops.get(span_id)
            if recorded is None or recorded.op != op:
                return None
            del self._ops[span_id]
            return recorded

    def _end(self, span_id: str, op: str, event: Any) -> None:
        recorded = self._pop(span_id, op)
        if recorded is None:
            return
        attributes = recorded.span.attributes
        if op in ("query", "synthesize"):
            _set_captured(attributes, "output", _response_text(event.response))
        elif op == "retrieve":
            self._documents(recorded.span, event.nodes)
        elif op == "embedding":
            embeddings = getattr(event, "embeddings", None) or []
            attributes["embedding_count"] = len(embeddings)
            if embeddings and isinstance(embeddings[0], Sequence):
                attributes["embedding_dimensions"] = len(embeddings[0])
        else:
            response = getattr(event, "response", None)
            message = getattr(response, "message", None)
            _set_captured(
                attributes, "output", _message(message) if message is not None else getattr(response, "text", None)
            )
            attributes.update(_usage(response))
        self._finish(recorded, None)

    def _documents(self, span: ActiveSpan, nodes: Any) -> None:
        retrieval = span.attributes.get("retrieval") or {}
        docs = []
        for scored in nodes or ():
            node = getattr(scored, "node", scored)
            get_content = getattr(node, "get_content", None)
            text = get_content() if callable(get_content) else getattr(node, "text", None)
            docs.append(
                document(
                    getattr(node, "node_id", None),
                    getattr(scored, "score", None),
                    text,
                    getattr(node, "metadata", None),
                )
            )
        value = retrieval_attribute(None, retrieval.get("top_k"), docs, "similarity")
        if "query" in retrieval:
            value["query"] = retrieval["query"]
        span.attributes["retrieval"] = value

    def _fail(self, span_id: str, error: Any) -> None:
        with self._lock:
            recorded = self._ops.pop(span_id, None)
        if recorded is not None:
            self._finish(recorded, error if isinstance(error, BaseException) else None)

    @staticmethod
    def _finish(recorded: _Op, error: BaseException | None) -> None:
        if recorded.pending is not None:
            recorded.pending.open = False
            if _llm_run.get() is recorded.pending:
                _llm_run.set(recorded.previous)
            if recorded.pending.covered:
                return  # the provider span holds this call
        if isinstance(error, GeneratorExit):  # a stream the caller closed early: not a failure
            error = None
        recorded.span.end(error=error)


def _guarded(where: str, action: Any, *args: Any) -> None:
    with handle_internal_errors(f"llamaindex.{where}"):
        checkpoint(f"llamaindex.{where}")
        action(*args)


def make_handlers(tracker: Tracker) -> tuple[Any, Any]:
    """The span handler and event handler to add to LlamaIndex's root dispatcher."""
    from llama_index.core.instrumentation.event_handlers import BaseEventHandler
    from llama_index.core.instrumentation.span_handlers import BaseSpanHandler

    class PeekrSpanHandler(BaseSpanHandler[Any]):
        """Tells the tracker when LlamaIndex spans start and end (keeps no spans of its own)."""

        @classmethod
        def class_name(cls) -> str:
            return "PeekrSpanHandler"

        def span_enter(
            self,
            id_: str,
            bound_args: Any,
            instance: Any = None,
            parent_id: str | None = None,
            tags: dict[str, Any] | None = None,
            **kwargs: Any,
        ) -> None:
            _guarded("span_enter", tracker.enter, id_, parent_id, instance, bound_args)

        def span_exit(self, id_: str, bound_args: Any, instance: Any = None, result: Any = None, **kwargs: Any) -> None:
            _guarded("span_exit", tracker.leave, id_, None)

        def span_drop(
            self, id_: str, bound_args: Any, instance: Any = None, err: BaseException | None = None, **kwargs: Any
        ) -> None:
            _guarded("span_drop", tracker.leave, id_, err)

        def new_span(self, *args: Any, **kwargs: Any) -> None:
            return None

        def prepare_to_exit_span(self, *args: Any, **kwargs: Any) -> None:
            return None

        def prepare_to_drop_span(self, *args: Any, **kwargs: Any) -> None:
            return None

    class PeekrEventHandler(BaseEventHandler):
        """Turns query / retrieval / synthesis / embedding / LLM events into peekr spans."""

        @classmethod
        def class_name(cls) -> str:
            return "PeekrEventHandler"

        def handle(self, event: Any, **kwargs: Any) -> None:
            _guarded("event", tracker.event, event)

    return PeekrSpanHandler(), PeekrEventHandler()
