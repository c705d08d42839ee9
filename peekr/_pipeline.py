"""The processor stage: what producers publish becomes what subscribers receive.

Producers (``ActiveSpan.end``, evaluators, ``peekr.feedback``) publish ``Inbound`` items on any
thread: a ``PendingSpan`` (a finished span not yet built into a record, to keep the caller's
thread cheap) or a ready ``Event``. The bus owns one ``Pipeline`` and runs it on its own thread
for every batch, before fan-out; subscribers receive ``Event`` records only (``Span``,
``EvalResult``, ``Feedback``). The stage, in order, for each span:

0. sample: spans of traces the sampler holds (``peekr._sampling``: rate says drop, but
   ``keep_errors``) wait, unbuilt, until their trace is decided; dropped ones are never built;
1. build: a ``PendingSpan`` becomes a ``Span`` record;
2. redact: ``retention_class="pii"`` spans lose every attribute not on the allow-list
   (``peekr._redact``), when the runtime was started with ``redact_pii=True``;
3. scrub: every string of the record goes through the ``Scrubber`` (``peekr._scrub``), when
   ``instrument(scrub=...)`` asked for it (also the attributes and error of ``EvalResult`` and
   the note of ``Feedback``);
4. processors: ``cost_usd`` from the price table, then any extra ``SpanProcessor`` (spend
   budgets count here: they see scrubbed records with a cost);
5. observers: every record (spans, evaluation results, feedback) is shown to each observer
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
from ._sampling import HOLD, HeldTraces
from ._scrub import Scrubber
from ._span import Span

__all__ = ["Inbound", "Observer", "PendingSpan", "Pipeline", "SpanProcessor", "add_cost"]


class PendingSpan(Protocol):
    """A finished span handed to the bus before its record is built (``peekr._tracer.ActiveSpan``)."""

    retention_class: str
    attributes: dict[str, Any]
    trace_id: str
    status: str
    #: ``peekr._sampling.KEEP`` / ``HOLD`` (``DROP`` spans are never published).
    sampling: int
    #: For a ``HOLD`` span: it was the last open span of its trace here.
    closes_trace: bool

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
        held: The sampler's buffer of held traces (None: no sampling).
        scrubber: Scrub every string of every record (None: off).
        observers: Shown every record, after the processors.
    """

    def __init__(
        self,
        *,
        redact_pii: bool = True,
        processors: Sequence[SpanProcessor] = (add_cost,),
        held: HeldTraces | None = None,
        scrubber: Scrubber | None = None,
        observers: Sequence[Observer] = (),
    ) -> None:
        self.redact_pii = redact_pii
        self.processors = tuple(processors)
        self.held = held
        self.scrubber = scrubber
        self.observers = tuple(observers)

    @property
    def holding(self) -> bool:
        """True while spans of undecided traces wait in the sampling buffer."""
        return self.held is not None and self.held.held_spans > 0

    def process(self, batch: Sequence[Inbound]) -> tuple[list[Event], int]:
        """The records for ``batch`` in order, and how many spans could not be built (dropped)."""
        records: list[Event] = []
        append = records.append
        failed = 0
        held = self.held
        scrub = self.scrubber.scrub_event if self.scrubber is not None else None
        redact = self.redact_pii
        processors = self.processors
        for item in batch:
            # ``type(...) is``, not isinstance: pydantic's metaclass makes isinstance cost ~1 µs.
            # No ``typing.cast`` in this loop: at run time it is a function call per item.
            kind = type(item)
            if kind is Span:
                self._finish(item, records)  # type: ignore[arg-type]
            elif kind is EvalResult or kind is Feedback:
                if scrub is not None:
                    self._scrub(item)  # type: ignore[arg-type]
                append(item)  # type: ignore[arg-type]
            else:
                pending: PendingSpan = item  # type: ignore[assignment]
                if held is not None and pending.sampling == HOLD:
                    released: list[PendingSpan] = []
                    held.offer(pending, pending.status, pending.closes_trace, released)
                    for span in released:
                        failed += self._build(span, records)
                elif scrub is not None:
                    failed += self._build(pending, records)
                else:  # the common case, ``_build`` and ``_finish`` inline: this runs for every span
                    try:
                        if redact and pending.retention_class == "pii":
                            redact_pii(pending.attributes)  # an allow-list: what is not known to be safe is redacted
                        record = pending.to_span()
                    except Exception as exc:  # a span that could not be built is dropped, never half-written
                        log_internal_error("bus.enrich", exc)
                        failed += 1
                        continue
                    for processor in processors:
                        try:
                            processor(record)
                        except Exception as exc:
                            log_internal_error("bus.enrich", exc)
                    append(record)
        if held is not None and held.held_spans:
            failed += self._expire_into(records)
        if self.observers:
            self._observe(records)
        return records, failed

    def expire(self, everything: bool = False) -> tuple[list[Event], int]:
        """Decide held traces past their timeout (``everything``: all of them, at shutdown)."""
        records: list[Event] = []
        failed = self._expire_into(records, everything)
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

    def _expire_into(self, records: list[Event], everything: bool = False) -> int:
        if self.held is None:
            return 0
        released: list[PendingSpan] = []
        self.held.expire(released, everything=everything)
        return sum(self._build(span, records) for span in released)

    def _scrub(self, event: Event) -> None:
        try:
            assert self.scrubber is not None
            self.scrubber.scrub_event(event)
        except Exception as exc:  # pragma: no cover - the scrubber catches per string
            log_internal_error("bus.scrub", exc)

    def _build(self, pending: PendingSpan, records: list[Event]) -> int:
        """Build, redact, scrub and enrich one pending span into ``records``; 1 if it was dropped.

        ``process`` inlines this and ``_finish`` for the common case (no scrubber, no held trace): a change
        here belongs there too.
        """
        try:
            if self.redact_pii and pending.retention_class == "pii":
                redact_pii(pending.attributes)  # an allow-list: what is not known to be safe is redacted
            span = pending.to_span()
        except Exception as exc:  # a span that could not be built is dropped, never half-written
            log_internal_error("bus.enrich", exc)
            return 1
        self._finish(span, records)
        return 0

    def _finish(self, span: Span, records: list[Event]) -> None:
        if self.scrubber is not None:
            try:
                self.scrubber.scrub_value(span.attributes)
            except Exception as exc:  # pragma: no cover - defensive: never store what could not be scrubbed
                log_internal_error("bus.scrub", exc)
                attributes = cast(dict[str, Any], span.attributes)
                attributes.clear()
                attributes["scrub_failed"] = True
        for processor in self.processors:
            try:
                processor(span)
            except Exception as exc:
                log_internal_error("bus.enrich", exc)
        records.append(span)
