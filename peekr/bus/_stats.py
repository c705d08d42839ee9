"""Counters behind ``peekr.stats()``."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["BusStats", "Counters", "DROP_REASONS"]

#: The fixed vocabulary of drop reasons (sinks may add their own, e.g. ``http_401``).
DROP_REASONS = ("queue_full", "sink_error", "shutdown", "rate_limited", "timeout")


@dataclass(frozen=True)
class BusStats:
    """A snapshot of what the bus did since ``instrument()``.

    Attributes:
        state: ``running``, ``shutting_down`` or ``closed``.
        published: Events accepted by ``publish()``.
        queued: Events waiting in the hand-off queue right now.
        delivered: Per subscriber: events it stored successfully. For the HTTP exporter: the
            records the collector acknowledged as stored or as duplicates (its ``accepted``),
            not what was merely sent, spooled or rejected.
        dropped: Per ``(subscriber, reason)``: events lost. The subscriber ``"bus"`` is the
            hand-off queue itself (``queue_full`` when producers outrun the bus, ``shutdown`` for
            events published after shutdown). Records the collector refused as invalid are
            ``(exporter, "rejected")``, also summed per subscriber in ``rejected``.
        spooled: Per subscriber with an on-disk spool (``HTTPExporter(spool_dir=...)``): events
            waiting there right now, neither delivered nor lost; they move to ``delivered`` once
            the collector takes them. So for an exporter, published events = delivered + dropped
            + spooled (+ those still in flight).
        internal_errors: Errors inside peekr that were swallowed (your calls were unaffected).
        unencodable_values: Attribute values (a dict that contains itself, nesting deeper than
            ~254 levels, an object whose ``str()`` raises, a lone surrogate) that could not be
            encoded as JSON and were stored as ``"[unencodable: <why>]"`` markers instead; the
            rest of their span and every other span were stored. Counted since the process started.
        sampling: With ``instrument(sample_rate=...)``: ``traces_sampled_out`` and
            ``spans_sampled_out`` (never recorded, or held and then dropped: not losses, so not
            in ``dropped``), ``traces_kept_for_errors`` (their rate said drop, an error span
            kept them), ``spans_held`` (waiting for their trace to finish right now),
            ``orphaned`` (held traces decided after the hold timeout or at shutdown) and
            ``overflow`` (held traces decided early because the buffer was full). Empty without
            sampling. See docs/sampling.md.
    """

    state: str
    published: int
    queued: int
    delivered: Mapping[str, int] = field(default_factory=dict)
    dropped: Mapping[tuple[str, str], int] = field(default_factory=dict)
    internal_errors: int = 0
    unencodable_values: int = 0
    spooled: Mapping[str, int] = field(default_factory=dict)
    sampling: Mapping[str, int] = field(default_factory=dict)

    @property
    def rejected(self) -> dict[str, int]:
        """Per subscriber: records the collector refused as invalid (the ``rejected`` drops)."""
        return {sub: n for (sub, reason), n in self.dropped.items() if reason == "rejected"}

    @property
    def dropped_total(self) -> int:
        """All events lost, whatever the subscriber or reason."""
        return sum(self.dropped.values())


class Counters:
    """Thread-safe drop and delivery counters (updates are rare or come from the bus thread)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.delivered: Counter[str] = Counter()
        self.dropped: Counter[tuple[str, str]] = Counter()

    def drop(self, subscriber: str, reason: str, n: int = 1) -> None:
        """Count ``n`` events lost by ``subscriber`` for ``reason``."""
        if n > 0:
            with self._lock:
                self.dropped[(subscriber, reason)] += n

    def deliver(self, subscriber: str, n: int) -> None:
        """Count ``n`` events stored by ``subscriber``."""
        with self._lock:
            self.delivered[subscriber] += n

    def snapshot(self) -> tuple[dict[str, int], dict[tuple[str, str], int]]:
        """Copies of the counters."""
        with self._lock:
            return dict(self.delivered), dict(self.dropped)
