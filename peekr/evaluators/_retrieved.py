"""The retrieved documents of recent traces: the default context of ``Hallucination``.

Every span the evaluators see passes through :meth:`RetrievedContext.observe` before the span
filters run; retrieval spans (``kind="retrieval"``, any framework or vector store: the shared
``retrieval`` attribute, docs/internals.md) leave their documents' text here, keyed by trace.
An evaluated span of the same trace gets, as context, the documents of the retrievals that ended
before it did.

Bounded: at most ``max_traces`` traces (least recently written evicted first, counted as
``("evaluators.<name>", "context_evicted")`` in ``peekr.stats().dropped``), ``max_documents`` per
trace (more counted as ``context_truncated``), entries older than ``ttl`` seconds are forgotten
(their time is up: not counted as lost).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from .._span import Span

__all__ = ["RetrievedContext"]


class _Trace:
    __slots__ = ("documents", "seen", "written")

    def __init__(self, now: float) -> None:
        self.written = now
        self.documents: list[tuple[str, str]] = []  # (end_time of the retrieval, text)
        self.seen: set[str] = set()


class RetrievedContext:
    """Retrieved document texts per trace (see the module docstring). Thread-safe."""

    def __init__(
        self,
        on_drop: Callable[[str, int], None],
        *,
        max_traces: int = 1000,
        max_documents: int = 200,
        ttl: float = 600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._on_drop = on_drop
        self.max_traces = max_traces
        self.max_documents = max_documents
        self.ttl = ttl
        self._clock = clock
        self._traces: OrderedDict[str, _Trace] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._traces)

    def observe(self, span: Span) -> None:
        """Keep the documents' text of a retrieval span (other spans are ignored)."""
        attributes = span.attributes
        if attributes.get("kind") != "retrieval":
            return
        retrieval = attributes.get("retrieval")
        documents = retrieval.get("documents") if isinstance(retrieval, dict) else None
        texts = [d["text"] for d in documents or () if isinstance(d, dict) and isinstance(d.get("text"), str)]
        if not texts:
            return
        now = self._clock()
        evicted = truncated = 0
        with self._lock:
            self._expire(now)
            entry = self._traces.get(span.trace_id)
            if entry is None:
                entry = self._traces[span.trace_id] = _Trace(now)
            else:
                self._traces.move_to_end(span.trace_id)
                entry.written = now
            for text in texts:
                if text in entry.seen:
                    continue  # the same document from a retriever and the store beneath it
                if len(entry.documents) >= self.max_documents:
                    truncated += 1
                    continue
                entry.seen.add(text)
                entry.documents.append((span.end_time, text))
            while len(self._traces) > self.max_traces:
                self._traces.popitem(last=False)
                evicted += 1
        if evicted:
            self._on_drop("context_evicted", evicted)
        if truncated:
            self._on_drop("context_truncated", truncated)

    def documents(self, span: Span) -> list[str]:
        """The texts retrieved in ``span``'s trace by retrievals that ended before it did."""
        with self._lock:
            self._expire(self._clock())
            entry = self._traces.get(span.trace_id)
            if entry is None:
                return []
            return [text for end, text in entry.documents if end <= span.end_time]

    def _expire(self, now: float) -> None:
        while self._traces:
            trace_id, oldest = next(iter(self._traces.items()))
            if now - oldest.written <= self.ttl:
                return
            del self._traces[trace_id]
