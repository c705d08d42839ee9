"""Trace sampling: keep a fraction of traces, whole, and every trace that contains an error.

The decision is per trace and deterministic from its id, with OpenTelemetry's
``TraceIdRatioBased`` rule (the low 64 bits of the trace id below ``round(rate * 2**64)``), so
another tool sampling the same traces at the same rate agrees. Three outcomes, fixed when a
trace's first span starts in this process (children inherit their parent's outcome):

- ``KEEP``: the rate says keep; its spans go through the pipeline as usual.
- ``DROP``: the rate says drop and ``keep_errors=False``: nothing is recorded at all
  (``start_span`` returns None; the cheapest path), counted as sampled out.
- ``HOLD``: the rate says drop but ``keep_errors=True``: its spans are recorded and held, not
  built, in the pipeline's bounded buffer until the trace's last open span ends here; then the
  trace is kept whole if one of its spans has ``status="error"``, else dropped whole.

A held trace whose spans never all end (a stream never closed) is decided on what it has after
``hold_timeout`` seconds (kept if it already holds an error); when the buffer is full the oldest
held trace is decided the same way. Both are counted (``orphaned``, ``overflow``). A late span of
an already decided trace follows the decision, as long as it is remembered (the last
``MAX_DECISIONS`` traces); after that it is decided on its own.

Rates: ``sample_rates={"tenant:acme": 1.0, "feature:search": 0.5}``. Precedence: a tenant rule
beats a feature rule, which beats ``sample_rate``.
"""

from __future__ import annotations

import itertools
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "DROP",
    "HOLD",
    "KEEP",
    "HeldTraces",
    "Sampler",
    "SamplingConfig",
    "ratio_keeps",
    "validate_sampling",
]

KEEP, DROP, HOLD = 0, 1, 2

_TRACE_ID_LIMIT = (1 << 64) - 1
#: Decisions remembered for late spans of decided traces.
MAX_DECISIONS = 50_000
#: Traces with open HOLD spans tracked at once (older entries are forgotten and counted).
MAX_OPEN_TRACES = 100_000


def ratio_keeps(trace_id: str, rate: float) -> bool:
    """OpenTelemetry ``TraceIdRatioBased``: keep when the low 64 bits are below ``rate * 2**64``."""
    if rate >= 1.0:
        return True
    if rate <= 0.0:
        return False
    return (int(trace_id[-16:], 16) & _TRACE_ID_LIMIT) < round(rate * (_TRACE_ID_LIMIT + 1))


def _check_rate(where: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"instrument({where}) must be a number from 0.0 to 1.0, got {value!r}")
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"instrument({where}) must be from 0.0 to 1.0, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class SamplingConfig:
    """Validated sampling options (see ``validate_sampling``)."""

    rate: float = 1.0
    keep_errors: bool = True
    tenant_rates: Mapping[str, float] = field(default_factory=dict)
    feature_rates: Mapping[str, float] = field(default_factory=dict)
    hold_timeout: float = 30.0
    max_held_spans: int = 10_000

    @property
    def active(self) -> bool:
        """False when every trace is kept anyway (no sampling work at all)."""
        rates = [self.rate, *self.tenant_rates.values(), *self.feature_rates.values()]
        return any(r < 1.0 for r in rates)


def validate_sampling(
    sample_rate: Any, keep_errors: Any, sample_rates: Any, hold_timeout: Any = 30.0, max_held_spans: Any = 10_000
) -> SamplingConfig:
    """Check ``instrument()``'s sampling options; raise ``ValueError``/``TypeError`` with the reason."""
    rate = _check_rate(f"sample_rate={sample_rate!r}", sample_rate)
    if not isinstance(keep_errors, bool):
        raise TypeError(f"instrument(keep_errors=...) expects a bool, got {keep_errors!r}")
    tenants: dict[str, float] = {}
    features: dict[str, float] = {}
    if sample_rates is not None:
        if not isinstance(sample_rates, Mapping):
            raise TypeError(
                'instrument(sample_rates=...) expects a dict like {"tenant:acme": 1.0, "feature:search": 0.5}, '
                f"got {type(sample_rates).__name__}"
            )
        for key, value in sample_rates.items():
            kind, sep, name = key.partition(":") if isinstance(key, str) else ("", "", "")
            if not sep or kind not in ("tenant", "feature") or not name:
                raise ValueError(
                    f'instrument(sample_rates=...): key {key!r} must be "tenant:<tenant_id>" or "feature:<feature>"'
                )
            rate_for_key = _check_rate(f"sample_rates[{key!r}]={value!r}", value)
            (tenants if kind == "tenant" else features)[name] = rate_for_key
    if isinstance(hold_timeout, bool) or not isinstance(hold_timeout, (int, float)) or not hold_timeout > 0:
        raise ValueError(f"instrument(sample_hold_timeout=...) must be a positive number, got {hold_timeout!r}")
    if isinstance(max_held_spans, bool) or not isinstance(max_held_spans, int) or max_held_spans <= 0:
        raise ValueError(f"instrument(sample_max_held=...) must be a positive int, got {max_held_spans!r}")
    return SamplingConfig(rate, keep_errors, tenants, features, float(hold_timeout), max_held_spans)


class Sampler:
    """The caller-side half: the outcome of a new trace, counters, and open HOLD spans per trace.

    ``decide`` and ``opened``/``closed`` run on the caller's thread for every span of a sampled
    runtime; counters use ``itertools.count`` (atomic under the GIL, no lock).
    """

    def __init__(self, config: SamplingConfig) -> None:
        self.config = config
        self._dropped_spans = itertools.count()
        self._dropped_traces = itertools.count()
        self._open: dict[str, int] = {}
        self._lock = threading.Lock()
        self.forgotten_open = 0

    def reset_after_fork(self) -> None:
        """In a forked child: a fresh lock (another thread may have held it at the fork) and no open spans."""
        self._lock = threading.Lock()
        self._open = {}

    def rate_for(self, tenant_id: str | None, feature: Any) -> float:
        """The rate of a trace: tenant rule > feature rule > ``sample_rate``."""
        config = self.config
        if tenant_id is not None and config.tenant_rates:
            rate = config.tenant_rates.get(tenant_id)
            if rate is not None:
                return rate
        if feature is not None and config.feature_rates and isinstance(feature, str):
            rate = config.feature_rates.get(feature)
            if rate is not None:
                return rate
        return config.rate

    def decide(self, trace_id: str, tenant_id: str | None, feature: Any) -> int:
        """``KEEP``, ``DROP`` or ``HOLD`` for a trace starting here."""
        if ratio_keeps(trace_id, self.rate_for(tenant_id, feature)):
            return KEEP
        return HOLD if self.config.keep_errors else DROP

    def count_dropped(self, new_trace: bool) -> None:
        """A span never recorded (``DROP``); ``new_trace`` when it started the trace here."""
        next(self._dropped_spans)
        if new_trace:
            next(self._dropped_traces)

    def opened(self, trace_id: str) -> None:
        """A ``HOLD`` span started."""
        with self._lock:
            open_ = self._open
            open_[trace_id] = open_.get(trace_id, 0) + 1
            if len(open_) > MAX_OPEN_TRACES:  # spans that never end: forget the oldest trace
                del open_[next(iter(open_))]
                self.forgotten_open += 1

    def closed(self, trace_id: str) -> bool:
        """A ``HOLD`` span ended; True when it was the trace's last open span here."""
        with self._lock:
            left = self._open.get(trace_id, 1) - 1
            if left > 0:
                self._open[trace_id] = left
                return False
            self._open.pop(trace_id, None)
            return True

    def forget(self, trace_id: str) -> None:
        """Stop tracking a trace decided without all its spans (timeout, overflow)."""
        with self._lock:
            self._open.pop(trace_id, None)

    def early_counts(self) -> tuple[int, int]:
        """``(traces, spans)`` dropped before being recorded."""
        # ``repr(count(n))`` is ``count(n)``: read without advancing.
        return _peek(self._dropped_traces), _peek(self._dropped_spans)


def _peek(counter: itertools.count[int]) -> int:
    return int(repr(counter)[6:-1])


class _Held:
    __slots__ = ("error", "since", "spans")

    def __init__(self, now: float) -> None:
        self.spans: list[Any] = []
        self.error = False
        self.since = now


class HeldTraces:
    """The bus-side half: ``HOLD`` spans waiting for their trace to finish (bus thread only)."""

    def __init__(self, sampler: Sampler) -> None:
        self.sampler = sampler
        self._held: OrderedDict[str, _Held] = OrderedDict()
        self._held_spans = 0
        self._decided: OrderedDict[str, bool] = OrderedDict()
        self.kept_traces = 0  # rescued: held, then kept for an error
        self.dropped_traces = 0
        self.dropped_spans = 0
        self.orphaned = 0
        self.overflow = 0

    def offer(self, span: Any, status: str, last: bool, out: list[Any]) -> None:
        """Take one ``HOLD`` pending span; append to ``out`` the spans of traces decided as kept."""
        trace_id: str = span.trace_id
        decided = self._decided.get(trace_id)
        if decided is not None:  # a late span of a decided trace follows the decision
            if decided:
                out.append(span)
            elif status == "error":  # too late to rescue the rest: kept on its own, counted
                out.append(span)
            else:
                self.dropped_spans += 1
            return
        held = self._held.get(trace_id)
        if held is None:
            held = self._held[trace_id] = _Held(time.monotonic())
        held.spans.append(span)
        self._held_spans += 1
        if status == "error":
            held.error = True
        if last:
            self._decide(trace_id, out)
        elif self._held_spans > self.sampler.config.max_held_spans:
            self.overflow += 1
            self._decide(next(iter(self._held)), out, forget=True)

    def _decide(self, trace_id: str, out: list[Any], *, forget: bool = False) -> None:
        held = self._held.pop(trace_id)
        self._held_spans -= len(held.spans)
        if forget:
            self.sampler.forget(trace_id)
        self._decided[trace_id] = held.error
        if len(self._decided) > MAX_DECISIONS:
            self._decided.popitem(last=False)
        if held.error:
            self.kept_traces += 1
            out.extend(held.spans)
        else:
            self.dropped_traces += 1
            self.dropped_spans += len(held.spans)

    def expire(self, out: list[Any], *, everything: bool = False) -> None:
        """Decide the held traces older than ``hold_timeout`` (all of them at shutdown)."""
        if not self._held:
            return
        deadline = time.monotonic() - self.sampler.config.hold_timeout
        held = self._held
        while held:
            trace_id = next(iter(held))  # insertion order is age order: stop at the first young one
            if not everything and held[trace_id].since > deadline:
                break
            self.orphaned += 1
            self._decide(trace_id, out, forget=True)

    @property
    def held_spans(self) -> int:
        """Spans waiting right now."""
        return self._held_spans

    def stats(self) -> dict[str, int]:
        """The counters for ``peekr.stats().sampling``."""
        early_traces, early_spans = self.sampler.early_counts()
        return {
            "traces_sampled_out": early_traces + self.dropped_traces,
            "spans_sampled_out": early_spans + self.dropped_spans,
            "traces_kept_for_errors": self.kept_traces,
            "spans_held": self._held_spans,
            "orphaned": self.orphaned,
            "overflow": self.overflow + self.sampler.forgotten_open,
        }
