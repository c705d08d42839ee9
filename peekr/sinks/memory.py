"""``InMemorySink``: keeps events in a list, for tests and notebooks."""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Sequence

from .._events import EvalResult, Event, Feedback, merge_eval_result
from .._span import Span

__all__ = ["InMemorySink"]


class InMemorySink:
    """Stores every event it receives (up to ``max_events``; beyond that they are counted).

    Example:
        >>> sink = InMemorySink()
        >>> peekr.instrument(storage="none", sinks=[sink])
        >>> ...; peekr.flush()
        >>> [s.name for s in sink.spans]
    """

    name = "memory"

    def __init__(self, max_events: int = 1_000_000) -> None:
        if max_events <= 0:
            raise ValueError(f"max_events must be positive, got {max_events!r}")
        self.max_events = max_events
        self.events: list[Event] = []
        self.dropped = 0
        self._lock = threading.Lock()

    async def write(self, batch: Sequence[Event]) -> None:
        """Keep the events."""
        with self._lock:
            room = self.max_events - len(self.events)
            self.events.extend(batch[:room])
            self.dropped += max(0, len(batch) - room)

    async def flush(self, timeout: float | None = None) -> None:
        """Nothing to flush."""

    async def aclose(self) -> None:
        """Nothing to release; the events stay readable."""

    @property
    def spans(self) -> list[Span]:
        """The spans received, with evaluation results merged into copies of their attributes."""
        with self._lock:
            events = list(self.events)
        results: dict[str, list[EvalResult]] = {}
        for event in events:
            if isinstance(event, EvalResult):
                results.setdefault(event.span_id, []).append(event)
        spans = []
        for event in events:
            if isinstance(event, Span):
                if event.span_id in results:
                    attributes = copy.deepcopy(dict(event.attributes))
                    for result in results[event.span_id]:
                        merge_eval_result(attributes, result)
                    event = event.model_copy(update={"attributes": attributes})
                spans.append(event)
        return spans

    @property
    def feedback(self) -> list[Feedback]:
        """The feedback records received."""
        with self._lock:
            return [e for e in self.events if isinstance(e, Feedback)]

    @property
    def eval_results(self) -> list[EvalResult]:
        """The evaluation results received."""
        with self._lock:
            return [e for e in self.events if isinstance(e, EvalResult)]

    def clear(self) -> None:
        """Forget everything received so far."""
        with self._lock:
            self.events.clear()
            self.dropped = 0

    def wait_for_spans(self, count: int, timeout: float = 5.0) -> list[Span]:
        """Block until at least ``count`` spans arrived (the bus delivers asynchronously)."""
        deadline = time.monotonic() + timeout
        while True:
            spans = self.spans
            if len(spans) >= count or time.monotonic() >= deadline:
                return spans
            time.sleep(0.01)
