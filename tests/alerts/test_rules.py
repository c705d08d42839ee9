"""Alert rules on synthetic windows: each fires when its condition holds and stays quiet when not.

The engine is driven with real ``Span`` / ``EvalResult`` records and a clock the test moves,
so a window of an hour takes no time.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from typing import Any

import pytest

from peekr import EvalResult, Span
from peekr.alerts import Cost, CostSpike, ErrorRate, LatencyP95, Rule, ScoreBelow, TokenGrowth
from peekr.alerts._engine import AlertEngine

_ids = itertools.count(1)


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def call(
    *, model: str = "gpt-4o", status: str = "ok", ms: float = 800.0, usd: float = 0.001, tokens: int = 100,
    tenant: str | None = None, feature: str | None = None,
) -> Span:  # fmt: skip
    n = next(_ids)
    attributes: dict[str, Any] = {
        "provider": "openai", "model": model, "cost_usd": usd, "tokens_total": tokens,
    }  # fmt: skip
    if feature:
        attributes["feature"] = feature
    return Span(
        trace_id=f"{n:032x}", span_id=f"{n:016x}", name="openai.chat.completions",
        start_time="2026-12-03T10:00:00Z", end_time="2026-12-03T10:00:01Z", duration_ms=ms,
        status=status, tenant_id=tenant, attributes=attributes,  # type: ignore[arg-type]
    )  # fmt: skip


def score(span: Span, value: float, name: str = "hallucination") -> EvalResult:
    return EvalResult(
        span_id=span.span_id, trace_id=span.trace_id, evaluator=name, scores={name: value},
        created_at="2026-12-03T10:00:02Z", tenant_id=span.tenant_id,
    )  # fmt: skip


def engine(*rules: Rule, per_tenant: bool = False) -> tuple[AlertEngine, Clock]:
    clock = Clock()
    return AlertEngine(rules, clock=clock, evaluate_every=3600.0, per_tenant=per_tenant), clock


def feed(eng: AlertEngine, clock: Clock, records: Iterable[Any], every: float = 1.0) -> None:
    for record in records:
        eng.observe(record)
        clock.now += every


def test_error_rate_fires_above_the_rate_and_not_below() -> None:
    eng, clock = engine(ErrorRate(above=0.1, window="5m", min_calls=20))
    feed(eng, clock, [call(status="error" if i % 10 == 0 else "ok") for i in range(40)])  # 10 %: not above
    assert eng.evaluate() == []
    feed(eng, clock, [call(status="error") for _ in range(3)])  # 7 of 43 = 16 %
    (alert,) = eng.evaluate()
    assert alert.kind == "error_rate" and alert.rule == "error rate > 10% over 5m"
    assert alert.value == pytest.approx(7 / 43) and alert.threshold == 0.1
    assert alert.message == "7 of 43 calls failed (16.3%) in the last 5m"


def test_error_rate_waits_for_min_calls() -> None:
    eng, clock = engine(ErrorRate(above=0.1, min_calls=20))
    feed(eng, clock, [call(status="error") for _ in range(19)])
    assert eng.evaluate() == []
    feed(eng, clock, [call(status="error")])
    assert len(eng.evaluate()) == 1


def test_old_calls_leave_the_window() -> None:
    eng, clock = engine(ErrorRate(above=0.1, window="5m", min_calls=5))
    feed(eng, clock, [call(status="error") for _ in range(10)])
    clock.now += 301  # all ten are now older than five minutes
    feed(eng, clock, [call() for _ in range(10)])
    assert eng.evaluate() == []


def test_latency_p95_by_model() -> None:
    eng, clock = engine(LatencyP95(above_ms=2000, by="model", min_calls=20))
    feed(eng, clock, [call(model="fast", ms=300) for _ in range(40)])
    feed(eng, clock, [call(model="slow", ms=300 if i < 30 else 9000) for i in range(40)])  # 25 % slow
    (alert,) = eng.evaluate()
    assert (alert.group_by, alert.group) == ("model", "slow")
    assert 9000 <= alert.value <= 9000 * 1.1  # histogram bins are 10 % wide, rounded up
    assert alert.title == "latency p95 > 2000 ms over 5m (model=slow)"


def test_latency_p95_quiet_when_only_a_few_calls_are_slow() -> None:
    eng, clock = engine(LatencyP95(above_ms=2000, min_calls=20))
    feed(eng, clock, [call(ms=9000 if i < 4 else 300) for i in range(100)])  # 4 % slow: p95 is fast
    assert eng.evaluate() == []


def test_cost_per_window_by_tenant() -> None:
    eng, clock = engine(Cost(above_usd=1.0, window="1h", by="tenant"))
    feed(eng, clock, [call(usd=0.1, tenant="acme") for _ in range(11)])  # $1.10
    feed(eng, clock, [call(usd=0.1, tenant="globex") for _ in range(9)])  # $0.90
    (alert,) = eng.evaluate()
    assert (alert.group, alert.tenant_id) == ("acme", "acme")
    assert alert.value == pytest.approx(1.1) and alert.message == "$1.1000 spent in the last 1h"


def test_cost_spike_against_the_baseline() -> None:
    eng, clock = engine(CostSpike(factor=3, window="1h", baseline="1d"))
    for _ in range(24):  # a day at $0.10 per hour
        feed(eng, clock, [call(usd=0.01) for _ in range(10)], every=360)
    assert eng.evaluate() == []  # the last hour is usual
    feed(eng, clock, [call(usd=0.01) for _ in range(10)], every=1)  # a normal hour would not fire
    assert eng.evaluate() == []
    feed(eng, clock, [call(usd=0.05) for _ in range(10)], every=1)  # +$0.50 within the hour
    (alert,) = eng.evaluate()
    assert alert.kind == "cost_spike" and alert.value > 3 * 0.1
    assert "the usual $0.1" in alert.message


def test_cost_spike_needs_a_baseline_first() -> None:
    eng, clock = engine(CostSpike(factor=2, window="1h", baseline="1d"))
    feed(eng, clock, [call(usd=5.0) for _ in range(10)])  # a first, expensive hour: nothing to compare with
    assert eng.evaluate() == []


def test_token_growth() -> None:
    eng, clock = engine(TokenGrowth(factor=2, window="10m", baseline="1h"))
    for _ in range(6):
        feed(eng, clock, [call(tokens=100) for _ in range(10)], every=60)
    assert eng.evaluate() == []
    feed(eng, clock, [call(tokens=1000) for _ in range(10)], every=1)
    (alert,) = eng.evaluate()
    assert alert.kind == "token_growth" and "tokens in the last 10m" in alert.message


def test_score_below_groups_scores_by_the_scored_span() -> None:
    eng, clock = engine(ScoreBelow(evaluator="hallucination", below=0.7, by="feature", min_scores=5))
    good = [call(feature="faq") for _ in range(5)]
    bad = [call(feature="search") for _ in range(5)]
    feed(eng, clock, [*good, *bad])
    feed(eng, clock, [score(s, 0.9) for s in good] + [score(s, 0.4) for s in bad])
    feed(eng, clock, [score(good[0], 0.1, name="answer_relevance")])  # another evaluator: ignored
    (alert,) = eng.evaluate()
    assert (alert.group, alert.value) == ("search", pytest.approx(0.4))  # type: ignore[comparison-overlap]
    assert alert.message == "mean hallucination score 0.40 over 5 scored calls in the last 5m"


def test_cooldown_deduplicates_and_counts() -> None:
    eng, clock = engine(ErrorRate(above=0.1, min_calls=5, window="5m", cooldown="10m"))
    feed(eng, clock, [call(status="error") for _ in range(5)])
    assert len(eng.evaluate()) == 1
    feed(eng, clock, [call(status="error") for _ in range(5)])
    assert eng.evaluate() == []  # still failing, but within the cooldown
    assert (eng.stats.fired, eng.stats.suppressed) == (1, 1)
    clock.now += 600
    feed(eng, clock, [call(status="error") for _ in range(5)])
    assert len(eng.evaluate()) == 1


def test_per_tenant_windows_keep_tenants_apart() -> None:
    eng, clock = engine(ErrorRate(above=0.5, min_calls=10), per_tenant=True)
    feed(eng, clock, [call(status="error", tenant="acme") for _ in range(10)])
    feed(eng, clock, [call(tenant="globex") for _ in range(30)])  # would dilute a shared window to 25 %
    (alert,) = eng.evaluate()
    assert alert.tenant_id == "acme" and alert.title == "error rate > 50% over 5m (tenant=acme)"


def test_groups_beyond_the_bound_are_counted_not_tracked() -> None:
    eng, clock = engine(Cost(above_usd=100, by="model"))
    eng.max_groups = 3
    feed(eng, clock, [call(model=f"m{i}") for i in range(5)])
    assert eng.stats.dropped == {"too_many_groups": 2}


def test_framework_and_manual_spans_are_not_model_calls() -> None:
    eng, clock = engine(ErrorRate(above=0.1, min_calls=1))
    manual = Span(
        trace_id="f" * 32, span_id="e" * 16, name="my-step", start_time="2026-12-03T10:00:00Z",
        end_time="2026-12-03T10:00:01Z", duration_ms=5.0, status="error",
    )  # fmt: skip
    feed(eng, clock, [manual])
    assert eng.evaluate() == []


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda: ErrorRate(above=5), ValueError, r"above is a rate from 0 to 1"),
        (lambda: ErrorRate(window="soon"), ValueError, r"window='soon' is not a duration"),
        (lambda: LatencyP95(above_ms=-1), ValueError, r"above_ms must be > 0"),
        (lambda: Cost(above_usd="10"), TypeError, r"above_usd must be a number"),  # type: ignore[arg-type]
        (lambda: CostSpike(factor=0.5), ValueError, r"factor must be > 1"),
        (lambda: CostSpike(window="1d", baseline="1h"), ValueError, r"baseline .* must be at least the window"),
        (lambda: ScoreBelow(evaluator=""), TypeError, r"evaluator must be a score name"),
        (lambda: Cost(by="region"), ValueError, r"by='region'; expected one of model, provider"),  # type: ignore[arg-type]
        (lambda: Cost(notify="slack"), TypeError, r"notify expects a list of channels"),  # type: ignore[arg-type]
        (lambda: Cost(notify=[print]), TypeError, r"notify expects peekr.alerts channels"),  # type: ignore[list-item]
    ],
)
def test_bad_rules_raise_clearly(make: Any, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        make()
