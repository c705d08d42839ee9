"""The processor stage: what producers publish becomes what subscribers receive.

Producers (``ActiveSpan.end``, evaluators, ``peekr.feedback``) publish ``Inbound`` items on any
thread: a ``PendingSpan`` (a finished span not yet built into a record, to keep the caller's
thread cheap) or a ready ``Event``. The bus owns one ``Pipeline`` and runs it on its own thread
for every batch, before fan-out; subscribers receive ``Event`` records only (``Span``,
``EvalResult``, ``Feedback``). The stage, in order, for each span:

1. build: a ``PendingSpan`` becomes a ``Span`` record;
2. redact: ``retention_class="pii"`` spans lose every attribute not on the allow-list
   (``peekr._redact``), when the runtime was started with ``redact_pii=True``;
3. processors: ``cost_usd`` from the price table, then any extra ``SpanProcessor``
   (spend budgets count here);
4. observers: every record (spans, evaluation results, feedback) is shown to each observer
   (the alert engine), which reads it and must not change it.

A span that cannot be built is dropped and counted (``("bus", "internal_error")``), never
half-written; a processor that fails on a span is logged and the span kept as it is.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeAlias, cast

from ._cost import compute_cost
from ._errors import log_internal_error
from ._events import EvalResult, Event, Feedback
from ._redact import redact_pii
from ._span import Span

__all__ = ["Inbound", "Observer", "PendingSpan", "Pipeline", "SpanProcessor", "add_cost"]


class PendingSpan(Protocol):
    """A finished span handed to the bus before its record is built (``peekr._tracer.ActiveSpan``)."""

    retention_class: str
    attributes: dict[str, Any]

    def to_span(self) -> Span:
        """The ``Span`` record (called once, on the bus thread)."""
        ...


#: What producers publish.
Inbound: TypeAlias = "PendingSpan | Span | EvalResult | Feedback"

#: A processor: changes one ``Span`` record in place on the bus thread.
SpanProcessor: TypeAlias = Callable[[Span], None]
#: An observer: reads every record after the processors (never changes it).
Observer: TypeAlias = Callable[[Event], None]


def add_cost(span: Span) -> None:
    """Fill ``attributes.cost_usd`` for a provider span with a model and token counts."""
    attributes = span.attributes
    if "cost_usd" not in attributes and "provider" in attributes and "model" in attributes:
        cost = compute_cost(attributes)
        if cost is not None:
            attributes["cost_usd"] = cost


class Pipeline:
    """The processor stage the bus runs on every batch (see the module docstring).

    Args:
        redact_pii: Redact the attributes of ``retention_class="pii"`` spans.
        processors: Run on every ``Span`` record, in order; default: ``add_cost``.
        observers: Shown every record, after the processors.
    """

    def __init__(
        self,
        *,
        redact_pii: bool = True,
        processors: Sequence[SpanProcessor] = (add_cost,),
        observers: Sequence[Observer] = (),
    ) -> None:
        self.redact_pii = redact_pii
        self.processors = tuple(processors)
        self.observers = tuple(observers)

    def process(self, batch: Sequence[Inbound]) -> tuple[list[Event], int]:
        """The records for ``batch`` in order, and how many spans could not be built (dropped)."""
        records: list[Event] = []
        failed = 0
        processors = self.processors
        redact = self.redact_pii
        for item in batch:
            # ``type(...) is``, not isinstance: pydantic's metaclass makes isinstance cost ~1 µs.
            kind = type(item)
            if kind is Span:
                span = cast(Span, item)
            elif kind is EvalResult or kind is Feedback:
                records.append(cast(Event, item))
                continue
            else:
                pending = cast(PendingSpan, item)
                try:
                    if redact and pending.retention_class == "pii":
                        redact_pii(pending.attributes)  # an allow-list: what is not known to be safe is redacted
                    span = pending.to_span()
                except Exception as exc:  # a span that could not be built is dropped, never half-written
                    log_internal_error("bus.enrich", exc)
                    failed += 1
                    continue
            for processor in processors:
                try:
                    processor(span)
                except Exception as exc:
                    log_internal_error("bus.enrich", exc)
            records.append(span)
        if self.observers:
            self._observe(records)
        return records, failed

    def _observe(self, records: list[Event]) -> None:
        for observer in self.observers:
            for record in records:
                try:
                    observer(record)
                except Exception as exc:  # an observer's bug never costs a record
                    log_internal_error("bus.observe", exc)
