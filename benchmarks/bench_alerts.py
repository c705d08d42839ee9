"""Cost of alerts and budgets on Peekr's bus thread, per span (never on the caller's thread).

Usage::

    .venv/bin/python benchmarks/bench_alerts.py            # 200,000 spans
    .venv/bin/python benchmarks/bench_alerts.py --spans 50000

Real ``Span`` records (4 models, 3 tenants, 2 % errors, costs and tokens) are shown to an
``AlertEngine`` with the six rule kinds grouped by model, and to a ``BudgetLedger`` with a
per-tenant and a total budget, the way the bus's pipeline does; the figure is CPU time per span.
For scale: building one span record on the bus thread costs ~2-3 µs, storing it in SQLite ~10-20 µs.
"""

from __future__ import annotations

import argparse
import os
import random
import time

from peekr import Span
from peekr._budgets import Budget, BudgetLedger
from peekr.alerts import Cost, CostSpike, ErrorRate, LatencyP95, ScoreBelow, TokenGrowth
from peekr.alerts._engine import AlertEngine


def spans(n: int) -> list[Span]:
    rng = random.Random(7)
    out = []
    for i in range(n):
        out.append(
            Span(
                trace_id=f"{i + 1:032x}",
                span_id=f"{i + 1:016x}",
                name="openai.chat.completions",
                start_time="2026-12-03T10:00:00Z",
                end_time="2026-12-03T10:00:01Z",
                duration_ms=rng.lognormvariate(6.5, 0.6),
                status="error" if rng.random() < 0.02 else "ok",
                tenant_id=rng.choice(["acme", "globex", "initech"]),
                attributes={
                    "provider": "openai",
                    "model": rng.choice(["gpt-4o", "gpt-4o-mini", "o3", "gpt-5"]),
                    "cost_usd": rng.random() / 100,
                    "tokens_total": rng.randint(50, 3000),
                },
            )
        )
    return out


def per_span(fn: object, records: list[Span]) -> float:
    start = time.thread_time()
    for record in records:
        fn(record)  # type: ignore[operator]
    return (time.thread_time() - start) / len(records) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=200_000)
    args = parser.parse_args()
    records = spans(args.spans)
    rules = [
        ErrorRate(by="model"),
        LatencyP95(by="model"),
        Cost(by="tenant"),
        CostSpike(window="1h", baseline="1d"),
        TokenGrowth(window="1h", baseline="1d"),
        ScoreBelow(by="model"),
    ]
    engine = AlertEngine(rules)
    ledger = BudgetLedger(
        [Budget(limit_usd=1e9, per="tenant", on_exceed="raise"), Budget(limit_usd=1e9)], default_tenant=None
    )
    print(f"load average {os.getloadavg()[0]:.2f}, {args.spans:,} spans, CPU µs per span on the bus thread")
    print(f"  alerts, 6 rules:            {per_span(engine.observe, records):6.2f}")
    print(f"  alerts, 1 rule (ErrorRate): {per_span(AlertEngine([ErrorRate()]).observe, records):6.2f}")
    print(f"  budgets, 2 budgets:         {per_span(ledger.observe, records):6.2f}")
    start = time.thread_time()
    for _ in range(100_000):
        ledger.check()
    print(f"  budget check on the caller's thread, budgets not spent: {(time.thread_time() - start) * 10:.3f} µs")


if __name__ == "__main__":
    main()
