"""The live console's cost on the caller: publish cost with ``console`` off and on, in the same run.

Run: .venv/bin/python benchmarks/bench_console.py [--spans 20000] [--rounds 5]

Each round times, on the caller's thread, ``start_span(...).end()`` for a burst of root spans
(20,000 by default, sent as fast as the loop goes: far above 20,000 spans/s) with the console off,
then on (``console=True``, stderr sent to /dev/null), alternating so background load hits both
alike. Reported: ns per span (p50 and p99 over spans, median over rounds), how many console lines
were printed and how many spans the rate limit held back (``stats().dropped``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time


def one_round(n: int, console: bool) -> dict[str, float]:
    import peekr
    from peekr._tracer import start_span
    from peekr.sinks import InMemorySink

    peekr.instrument(storage="none", sinks=[InMemorySink(max_events=10)], console=console, providers=[],
                     queue_size=n * 2, batch_size=4096)  # fmt: skip
    clock = time.perf_counter_ns
    samples = []
    for i in range(n):
        t0 = clock()
        span = start_span("job")
        if span is not None:
            span.end()
        samples.append(clock() - t0)
        if i % 4096 == 0:
            time.sleep(0)
    peekr.flush(30)
    stats = peekr.stats()
    peekr.shutdown(timeout=30)
    samples.sort()
    return {
        "p50_ns": samples[len(samples) // 2],
        "p99_ns": samples[int(len(samples) * 0.99)],
        "lines": stats.delivered.get("console", 0),
        "held_back": stats.dropped.get(("console", "rate_limited"), 0),
        "lost": stats.dropped_total - stats.dropped.get(("console", "rate_limited"), 0),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    real_stderr = sys.stderr
    results: dict[bool, list[dict[str, float]]] = {False: [], True: []}
    with open(os.devnull, "w") as devnull:
        for _ in range(args.rounds):
            for console in (False, True):
                sys.stderr = devnull
                try:
                    results[console].append(one_round(args.spans, console))
                finally:
                    sys.stderr = real_stderr
    load = os.getloadavg()[0]
    print(f"{args.spans:,} root spans per burst, {args.rounds} rounds, load average {load:.1f}")
    print(f"{'console':<8} {'p50 ns/span':>12} {'p99 ns/span':>12} {'lines':>7} {'held back':>10} {'lost':>5}")
    for console in (False, True):
        rows = results[console]
        p50 = statistics.median(r["p50_ns"] for r in rows)
        p99 = statistics.median(r["p99_ns"] for r in rows)
        lines = statistics.median(r["lines"] for r in rows)
        held = statistics.median(r["held_back"] for r in rows)
        lost = max(r["lost"] for r in rows)
        print(
            f"{'on' if console else 'off':<8} {p50:>12,.0f} {p99:>12,.0f} {lines:>7,.0f} {held:>10,.0f} {lost:>5,.0f}"
        )


if __name__ == "__main__":
    main()
