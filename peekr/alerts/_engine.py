"""The alert engine: counts spans and scores into each rule's windows, judges, and delivers.

``observe`` runs where records flow (the SDK's bus thread, the collector's ingest handler) and
costs a few dict operations per rule. Rules are judged at most once per ``evaluate_every``
seconds. Alerts go to a bounded queue served by one daemon thread (``peekr-alerts``) that does
the HTTP, with retries, so a slow or dead receiver never slows the app: when the queue is full
the alert is dropped and counted.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ._alert import Alert
from ._channels import Channel
from ._rules import Rule
from ._windows import Series

__all__ = ["AlertEngine", "AlertStats"]

logger = logging.getLogger("peekr")

_MAX_REMEMBERED_SPANS = 20_000


@dataclass
class AlertStats:
    """Counters of an engine since it started."""

    fired: int = 0
    #: Alerts not sent again because the same rule and group alerted within its cooldown.
    suppressed: int = 0
    delivered: int = 0
    #: ``reason -> n``: ``queue_full`` (receivers too slow), ``delivery_failed`` (every attempt
    #: failed), ``too_many_groups`` (records of groups beyond ``max_groups`` per rule, not judged).
    dropped: dict[str, int] = field(default_factory=dict)


def _group_value(span: Any, by: str) -> Any:
    if by == "tenant":
        return span.tenant_id
    if by == "name":
        return span.name
    if by == "user":
        return span.attributes.get("user_id")
    return span.attributes.get(by)


class AlertEngine:
    """Judge ``rules`` over what is observed; deliver what fires.

    Args:
        rules: The rules.
        per_tenant: Keep separate windows per tenant (the collector: one team's errors never
            trigger another's alert).
        clock: Seconds since the epoch (tests pass a fake clock).
        evaluate_every: Judge the rules at most this often (seconds).
        queue_size: Alerts waiting for delivery at most; more are dropped and counted.
        max_groups: Groups (models, tenants...) tracked per rule; records of more are counted.
        on_drop: Called with ``(reason, n)`` for each loss (the SDK counts them in ``peekr.stats()``).
        on_delivered: Called with ``n`` for alerts delivered.
    """

    def __init__(
        self,
        rules: Sequence[Rule],
        *,
        per_tenant: bool = False,
        clock: Callable[[], float] = time.time,
        evaluate_every: float = 1.0,
        queue_size: int = 1000,
        max_groups: int = 1000,
        on_drop: Callable[[str, int], None] | None = None,
        on_delivered: Callable[[int], None] | None = None,
    ) -> None:
        self.rules = tuple(rules)
        self.per_tenant = per_tenant
        self.clock = clock
        self.evaluate_every = evaluate_every
        self.max_groups = max_groups
        self.stats = AlertStats()
        self._on_drop = on_drop
        self._on_delivered = on_delivered
        self._span_rules = [(i, r) for i, r in enumerate(self.rules) if r.takes_spans()]
        self._score_rules = [(i, r) for i, r in enumerate(self.rules) if not r.takes_spans()]
        self._series: list[dict[tuple[Any, Any], Series]] = [{} for _ in self.rules]
        self._quiet_until: dict[tuple[int, Any, Any], float] = {}
        self._next_evaluation = 0.0
        #: span_id -> the span (for grouping the scores evaluators publish later), bounded.
        self._spans: OrderedDict[str, Any] = OrderedDict()
        self._queue: queue.Queue[tuple[Alert, Channel] | None] = queue.Queue(maxsize=queue_size)
        self._thread: threading.Thread | None = None
        self._lock = threading.RLock()

    def bind(self, on_drop: Callable[[str, int], None], on_delivered: Callable[[int], None]) -> None:
        """Report losses and deliveries to these callbacks (the SDK's bus counters)."""
        self._on_drop = on_drop
        self._on_delivered = on_delivered

    # -- observing ---------------------------------------------------------------------------------

    def observe(self, record: Any) -> None:
        """Count one record: a model-call ``Span`` or an ``EvalResult``; other records are ignored."""
        with self._lock:
            scores = getattr(record, "scores", None)
            if scores is not None:
                self._observe_scores(record, scores)
            elif "provider" in getattr(record, "attributes", ()):
                self._observe_span(record)
            now = self.clock()
            if now >= self._next_evaluation:
                self._judge(now)

    def _observe_span(self, span: Any) -> None:
        now = self.clock()
        tenant = span.tenant_id if self.per_tenant else None
        for index, rule in self._span_rules:
            series = self._series_for(index, rule, tenant, None if rule.by is None else _group_value(span, rule.by))
            if series is not None:
                rule.add(series.bucket(now), span)
        if self._score_rules:
            self._spans[span.span_id] = span
            if len(self._spans) > _MAX_REMEMBERED_SPANS:
                self._spans.popitem(last=False)

    def _observe_scores(self, result: Any, scores: dict[str, Any]) -> None:
        if not self._score_rules:
            return
        now = self.clock()
        span = self._spans.get(result.span_id)
        tenant = result.tenant_id if self.per_tenant else None
        for index, rule in self._score_rules:
            score = scores.get(rule.evaluator)  # type: ignore[attr-defined]
            if score is None:
                continue
            group = None
            if rule.by is not None:
                if rule.by == "tenant":
                    group = result.tenant_id
                elif span is not None:
                    group = _group_value(span, rule.by)
            series = self._series_for(index, rule, tenant, group)
            if series is not None:
                rule.add(series.bucket(now), score)

    def _series_for(self, index: int, rule: Rule, tenant: Any, group: Any) -> Series | None:
        table = self._series[index]
        key = (tenant, group)
        series = table.get(key)
        if series is None:
            if len(table) >= self.max_groups:
                self._drop("too_many_groups")
                return None
            series = table[key] = rule.new_series()
        return series

    # -- judging -----------------------------------------------------------------------------------

    def evaluate(self, now: float | None = None) -> list[Alert]:
        """Judge every rule and group now; returns (and delivers) the alerts that fire."""
        with self._lock:
            return self._judge(self.clock() if now is None else now)

    def _judge(self, now: float) -> list[Alert]:
        self._next_evaluation = now + self.evaluate_every
        fired: list[Alert] = []
        for index, rule in enumerate(self.rules):
            table = self._series[index]
            for key, series in list(table.items()):
                series.expire(now)
                if not series.buckets:
                    del table[key]  # an idle group: free it
                    continue
                result = rule.check(series, now)
                if result is None:
                    continue
                quiet = (index, *key)
                if now < self._quiet_until.get(quiet, 0.0):
                    self.stats.suppressed += 1
                    continue
                self._quiet_until[quiet] = now + rule.cooldown_seconds
                tenant, group = key
                value, threshold, message = result
                alert = Alert(
                    rule=rule.label,
                    kind=rule.kind,
                    group_by=rule.by,
                    group=None if group is None else str(group),
                    tenant_id=tenant if self.per_tenant else (str(group) if rule.by == "tenant" and group else None),
                    value=value,
                    threshold=threshold,
                    message=message,
                    fired_at=now,
                )
                self.stats.fired += 1
                fired.append(alert)
                for channel in rule.notify:
                    self._enqueue(alert, channel)
        if len(self._quiet_until) > 10 * self.max_groups:  # forget cooldowns long over
            self._quiet_until = {k: v for k, v in self._quiet_until.items() if v > now}
        return fired

    # -- delivering --------------------------------------------------------------------------------

    def _enqueue(self, alert: Alert, channel: Channel) -> None:
        try:
            self._queue.put_nowait((alert, channel))
        except queue.Full:
            self._drop("queue_full")

    def start(self) -> None:
        """Start the ``peekr-alerts`` thread: delivers alerts, and judges the rules every
        ``evaluate_every`` seconds when no records arrive (a burst of errors followed by silence
        still alerts)."""
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._deliver_forever, name="peekr-alerts", daemon=True)
            self._thread.start()

    def _deliver_forever(self) -> None:
        import httpx

        with httpx.Client(follow_redirects=False) as client:
            while True:
                try:
                    item = self._queue.get(timeout=self.evaluate_every)
                except queue.Empty:
                    try:
                        self.evaluate()
                    except Exception as exc:  # a rule's bug must not end the thread
                        logger.warning("peekr: alert rules could not be evaluated: %r", exc)
                    continue
                if item is None:
                    return
                alert, channel = item
                self._deliver(alert, channel, client)

    def _deliver(self, alert: Alert, channel: Channel, client: Any) -> None:
        for attempt in range(channel.attempts):
            try:
                channel.send(alert, client)
            except Exception as exc:  # a receiver's failure: retry, then count; never raise
                if attempt + 1 < channel.attempts:
                    time.sleep(0.5 * 2**attempt)
                    continue
                logger.warning("peekr: alert %r could not be delivered to %s: %r", alert.title, channel.label, exc)
                self._drop("delivery_failed")
                return
            self.stats.delivered += 1
            if self._on_delivered is not None:
                self._on_delivered(1)
            return

    def _drop(self, reason: str) -> None:
        self.stats.dropped[reason] = self.stats.dropped.get(reason, 0) + 1
        if self._on_drop is not None:
            self._on_drop(reason, 1)

    def close(self, timeout: float = 2.0) -> bool:
        """Deliver what is queued (within ``timeout`` seconds) and stop the delivery thread."""
        thread = self._thread
        if thread is None or not thread.is_alive():
            return True
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._queue.put(None, timeout=max(0.01, deadline - time.monotonic()))
                break
            except queue.Full:
                if time.monotonic() >= deadline:
                    return False
        thread.join(max(0.0, deadline - time.monotonic()))
        return not thread.is_alive()
