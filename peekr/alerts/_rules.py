"""Alert rules: a condition over a sliding window, per group (model, feature, tenant...).

Every rule is a frozen dataclass validated at construction, so a typo fails at ``instrument()``
(or when the collector loads its alerts file), not when the alert should have fired.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from .._duration import parse_seconds
from ._channels import Channel, Log
from ._windows import Bucket, Series, latency_bin, percentile

__all__ = [
    "GROUP_FIELDS",
    "Cost",
    "CostSpike",
    "ErrorRate",
    "LatencyP95",
    "Rule",
    "ScoreBelow",
    "TokenGrowth",
]

#: What a rule may group by.
GROUP_FIELDS = ("model", "provider", "feature", "tenant", "user", "endpoint", "name")
GroupBy = Literal["model", "provider", "feature", "tenant", "user", "endpoint", "name"]
#: Buckets per window: the window slides in steps of window / _STEPS.
_STEPS = 30


def _check_number(name: str, value: object, *, minimum: float = 0.0, above_minimum: bool = True) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, got {value!r}")
    if (value <= minimum) if above_minimum else (value < minimum):
        raise ValueError(f"{name} must be {'>' if above_minimum else '>='} {minimum:g}, got {value!r}")


@dataclass(frozen=True, kw_only=True)
class Rule:
    """What every rule has.

    Args:
        window: The sliding window the condition is computed over (``"5m"``, ``"1h"``, seconds).
        by: Evaluate per ``model``, ``provider``, ``feature``, ``tenant``, ``user``, ``endpoint``
            or span ``name``; None: over everything.
        cooldown: After an alert for a rule and group, the same alert is not sent again for this
            long while the condition holds (default: the window).
        notify: Where alerts go: ``peekr.alerts.Log()`` (the default), ``Webhook(url)``,
            ``Slack(webhook_url)``.
        name: How the alert is titled; default e.g. ``error rate > 5% over 5m``.
    """

    kind: ClassVar[str] = "rule"
    window: float | str = "5m"
    by: GroupBy | None = None
    cooldown: float | str | None = None
    notify: Sequence[Channel] = ()
    name: str | None = None
    window_seconds: float = field(init=False, repr=False, compare=False)
    cooldown_seconds: float = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "window_seconds", parse_seconds(self.window, "window"))
        cooldown = self.window_seconds if self.cooldown is None else parse_seconds(self.cooldown, "cooldown")
        object.__setattr__(self, "cooldown_seconds", cooldown)
        if self.by is not None and self.by not in GROUP_FIELDS:
            raise ValueError(f"by={self.by!r}; expected one of {', '.join(GROUP_FIELDS)} or None")
        if self.name is not None and not isinstance(self.name, str):
            raise TypeError(f"name must be a string, got {self.name!r}")
        if isinstance(self.notify, Channel) or isinstance(self.notify, str):
            raise TypeError(f"notify expects a list of channels, got {self.notify!r}")
        for channel in self.notify:
            if not isinstance(channel, Channel):
                raise TypeError(f"notify expects peekr.alerts channels (Log, Webhook, Slack), got {channel!r}")
        object.__setattr__(self, "notify", tuple(self.notify) or (Log(),))
        self._validate()

    def _validate(self) -> None:
        """Check the rule's own thresholds."""

    # -- what the engine calls -------------------------------------------------------------------

    @property
    def label(self) -> str:
        """The alert's title."""
        return self.name or self.describe()

    def describe(self) -> str:
        """A default title such as ``error rate > 5% over 5m``."""
        return self.kind

    @property
    def history(self) -> float:
        """How many seconds of buckets the rule reads."""
        return self.window_seconds

    def new_series(self) -> Series:
        """An empty series for one group."""
        return Series(self.window_seconds / _STEPS, self.history)

    def takes_spans(self) -> bool:
        """True for rules over spans; False for rules over evaluation results."""
        return True

    def add(self, bucket: Bucket, span: Any) -> None:
        """Count a model-call span into a bucket."""
        bucket.calls += 1

    def check(self, series: Series, now: float) -> tuple[float, float, str] | None:
        """``(value, threshold, message)`` when the condition holds now, else None."""
        raise NotImplementedError

    def _window(self, series: Series, now: float) -> list[Bucket]:
        return series.between(now - self.window_seconds, now + 1.0)

    def _window_text(self) -> str:
        return _short(self.window_seconds)


def _short(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


@dataclass(frozen=True, kw_only=True)
class ErrorRate(Rule):
    """Fires when the share of model calls that failed exceeds ``above`` (0.05 = 5 %).

    Args:
        above: The error rate (0..1) above which the alert fires.
        min_calls: Calls needed in the window before the rate is judged (default 20).
    """

    kind: ClassVar[str] = "error_rate"
    above: float = 0.05
    min_calls: int = 20

    def _validate(self) -> None:
        _check_number("above", self.above, minimum=0.0, above_minimum=False)
        if self.above >= 1:
            raise ValueError(f"above is a rate from 0 to 1 (0.05 = 5%), got {self.above!r}")
        _check_number("min_calls", self.min_calls, minimum=1, above_minimum=False)

    def describe(self) -> str:
        return f"error rate > {self.above:.0%} over {self._window_text()}"

    def add(self, bucket: Bucket, span: Any) -> None:
        bucket.calls += 1
        if span.status == "error":
            bucket.errors += 1

    def check(self, series: Series, now: float) -> tuple[float, float, str] | None:
        buckets = self._window(series, now)
        calls = sum(b.calls for b in buckets)
        if calls < self.min_calls:
            return None
        errors = sum(b.errors for b in buckets)
        rate = errors / calls
        if rate <= self.above:
            return None
        return rate, self.above, f"{errors} of {calls} calls failed ({rate:.1%}) in the last {self._window_text()}"


@dataclass(frozen=True, kw_only=True)
class LatencyP95(Rule):
    """Fires when the 95th percentile of model-call latency exceeds ``above_ms``.

    Percentiles come from a log histogram (bins 10 % wide, rounded up), never understated.
    """

    kind: ClassVar[str] = "latency_p95"
    above_ms: float = 10_000.0
    min_calls: int = 20

    def _validate(self) -> None:
        _check_number("above_ms", self.above_ms)
        _check_number("min_calls", self.min_calls, minimum=1, above_minimum=False)

    def describe(self) -> str:
        return f"latency p95 > {self.above_ms:g} ms over {self._window_text()}"

    def add(self, bucket: Bucket, span: Any) -> None:
        bucket.calls += 1
        index = latency_bin(float(span.duration_ms or 0.0))
        bucket.latency[index] = bucket.latency.get(index, 0) + 1

    def check(self, series: Series, now: float) -> tuple[float, float, str] | None:
        buckets = self._window(series, now)
        if sum(b.calls for b in buckets) < self.min_calls:
            return None
        merged: dict[int, int] = {}
        for b in buckets:
            for index, n in b.latency.items():
                merged[index] = merged.get(index, 0) + n
        p95 = percentile(merged, 0.95)
        if p95 is None or p95 <= self.above_ms:
            return None
        return p95, self.above_ms, f"p95 latency ≈ {p95:,.0f} ms over the last {self._window_text()}"


@dataclass(frozen=True, kw_only=True)
class Cost(Rule):
    """Fires when spend (``cost_usd``) in the window exceeds ``above_usd``."""

    kind: ClassVar[str] = "cost"
    above_usd: float = 10.0

    def _validate(self) -> None:
        _check_number("above_usd", self.above_usd)

    def describe(self) -> str:
        return f"cost > ${self.above_usd:g} per {self._window_text()}"

    def add(self, bucket: Bucket, span: Any) -> None:
        bucket.calls += 1
        bucket.cost += float(span.attributes.get("cost_usd") or 0.0)

    def check(self, series: Series, now: float) -> tuple[float, float, str] | None:
        spent = sum(b.cost for b in self._window(series, now))
        if spent <= self.above_usd:
            return None
        return spent, self.above_usd, f"${spent:,.4f} spent in the last {self._window_text()}"


@dataclass(frozen=True, kw_only=True)
class _Growth(Rule):
    """Compares the window with the average window of the ``baseline`` period before it."""

    factor: float = 3.0
    baseline: float | str = "1d"
    min_baseline: float = 0.0
    baseline_seconds: float = field(init=False, repr=False, compare=False)

    def _validate(self) -> None:
        _check_number("factor", self.factor, minimum=1.0)
        object.__setattr__(self, "baseline_seconds", parse_seconds(self.baseline, "baseline"))
        if self.baseline_seconds < self.window_seconds:
            raise ValueError(f"baseline ({self.baseline!r}) must be at least the window ({self.window!r})")
        _check_number("min_baseline", self.min_baseline, above_minimum=False)

    @property
    def history(self) -> float:
        return self.window_seconds + self.baseline_seconds

    def _value(self, bucket: Bucket) -> float:
        raise NotImplementedError

    def check(self, series: Series, now: float) -> tuple[float, float, str] | None:
        current = sum(self._value(b) for b in self._window(series, now))
        start = now - self.window_seconds
        past = series.between(start - self.baseline_seconds, start)
        if not past or past[0].start > start - self.baseline_seconds + self.window_seconds:
            return None  # less than one window of baseline yet: nothing to compare with
        covered = start - past[0].start
        expected = sum(self._value(b) for b in past) * self.window_seconds / covered
        if expected <= self.min_baseline or current <= self.factor * expected:
            return None
        return current, self.factor * expected, self._message(current, expected)

    def _message(self, current: float, expected: float) -> str:
        raise NotImplementedError


@dataclass(frozen=True, kw_only=True)
class CostSpike(_Growth):
    """Fires when spend in the window is more than ``factor`` × the baseline's average window.

    Args:
        factor: How many times the usual spend (default 3).
        baseline: The period before the window that sets "usual" (default ``"1d"``).
        min_baseline: Usual spend (USD per window) below which no spike is judged (default 0).
    """

    kind: ClassVar[str] = "cost_spike"

    def describe(self) -> str:
        return f"cost spike > {self.factor:g}× the {_short(self.baseline_seconds)} average per {self._window_text()}"

    def add(self, bucket: Bucket, span: Any) -> None:
        bucket.calls += 1
        bucket.cost += float(span.attributes.get("cost_usd") or 0.0)

    def _value(self, bucket: Bucket) -> float:
        return bucket.cost

    def _message(self, current: float, expected: float) -> str:
        return (
            f"${current:,.4f} spent in the last {self._window_text()}, {current / expected:.1f}× the usual "
            f"${expected:,.4f} (average over the previous {_short(self.baseline_seconds)})"
        )


@dataclass(frozen=True, kw_only=True)
class TokenGrowth(_Growth):
    """Fires when tokens in the window are more than ``factor`` × the baseline's average window."""

    kind: ClassVar[str] = "token_growth"
    factor: float = 2.0

    def describe(self) -> str:
        return f"tokens > {self.factor:g}× the {_short(self.baseline_seconds)} average per {self._window_text()}"

    def add(self, bucket: Bucket, span: Any) -> None:
        bucket.calls += 1
        bucket.tokens += int(span.attributes.get("tokens_total") or 0)

    def _value(self, bucket: Bucket) -> float:
        return float(bucket.tokens)

    def _message(self, current: float, expected: float) -> str:
        return (
            f"{current:,.0f} tokens in the last {self._window_text()}, {current / expected:.1f}× the usual "
            f"{expected:,.0f} (average over the previous {_short(self.baseline_seconds)})"
        )


@dataclass(frozen=True, kw_only=True)
class ScoreBelow(Rule):
    """Fires when an evaluator's mean score in the window drops below ``below``.

    Args:
        evaluator: The score's name (``"hallucination"``, or any evaluator's score name).
        below: The mean score under which the alert fires.
        min_scores: Scores needed in the window before the mean is judged (default 10).
    """

    kind: ClassVar[str] = "score_below"
    evaluator: str = "hallucination"
    below: float = 0.7
    min_scores: int = 10

    def _validate(self) -> None:
        if not isinstance(self.evaluator, str) or not self.evaluator:
            raise TypeError(f"evaluator must be a score name such as 'hallucination', got {self.evaluator!r}")
        _check_number("below", self.below)
        _check_number("min_scores", self.min_scores, minimum=1, above_minimum=False)

    def describe(self) -> str:
        return f"mean {self.evaluator} score < {self.below:g} over {self._window_text()}"

    def takes_spans(self) -> bool:
        return False

    def add(self, bucket: Bucket, span: Any) -> None:  # ``span`` is the score here
        bucket.score_n += 1
        bucket.score_sum += float(span)

    def check(self, series: Series, now: float) -> tuple[float, float, str] | None:
        buckets = self._window(series, now)
        n = sum(b.score_n for b in buckets)
        if n < self.min_scores:
            return None
        mean = sum(b.score_sum for b in buckets) / n
        if mean >= self.below:
            return None
        return (
            mean,
            self.below,
            f"mean {self.evaluator} score {mean:.2f} over {n} scored calls in the last {self._window_text()}",
        )
