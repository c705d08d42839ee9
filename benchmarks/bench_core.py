"""Core runtime benchmark: publish cost on the caller's thread, and sustained throughput into sinks.

Run: .venv/bin/python benchmarks/bench_core.py [--spans 200000]

(a) publish cost: ns per `bus.publish(span)` on the caller's thread (p50/p99), next to the cost
    of building the span itself (`with peekr.span(...)`, which includes publish) and of a bare
    `deque.append` baseline measured the same way.
(b) sustained end-to-end throughput: spans/s from `peekr.span()` on the main thread until every
    span is committed to SQLite / appended to JSONL, in a fresh process per sink, with peak RSS
    (the producer backs off while the queue is nearly full, so nothing is dropped).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections import deque


def peak_rss_mib() -> float:
    """This process's peak RSS (VmHWM: unlike ru_maxrss it is not inherited across exec)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _percentiles(samples: list[int]) -> tuple[float, float]:
    samples.sort()
    return samples[len(samples) // 2], samples[int(len(samples) * 0.99)]


def publish_cost(n: int = 200_000) -> dict[str, float]:
    import peekr
    from peekr._runtime import get_runtime
    from peekr.sinks import InMemorySink

    peekr.instrument(storage="none", sinks=[InMemorySink(max_events=10)], queue_size=n * 2, batch_size=4096)
    runtime = get_runtime()
    assert runtime is not None
    span = peekr.Span(trace_id="1" * 32, span_id="1" * 16, name="x", start_time="t", end_time="t", duration_ms=1.0)
    clock = time.perf_counter_ns
    publish = runtime.bus.publish

    timer_overhead = []
    for _ in range(n):
        t0 = clock()
        t1 = clock()
        timer_overhead.append(t1 - t0)
    base = []
    d: deque[object] = deque()
    for _ in range(n):
        t0 = clock()
        d.append(span)
        base.append(clock() - t0)
    pub = []
    for i in range(n):
        t0 = clock()
        publish(span)
        pub.append(clock() - t0)
        if i % 4096 == 0:
            time.sleep(0)
    whole = []
    for _ in range(n // 4):
        t0 = clock()
        with peekr.span("bench", i=1):
            pass
        whole.append(clock() - t0)
    peekr.shutdown(timeout=30)
    out = {}
    for name, samples in (("timer", timer_overhead), ("deque_append", base), ("publish", pub), ("span_total", whole)):
        p50, p99 = _percentiles(samples)
        out[f"{name}_p50_ns"], out[f"{name}_p99_ns"] = p50, p99
    return out


def throughput_child(storage: str, n: int, path: str, mode: str) -> dict[str, float]:
    """Publish ``n`` spans and wait until the sink has stored them all.

    mode ``span``: each span is a real ``with peekr.span(...)`` block on this thread (the whole
    path). mode ``publish``: ready-made spans are published (the bus and sink alone).
    """
    import peekr
    from peekr._runtime import get_runtime
    from peekr._span import build_span, iso_utc, new_span_id, new_trace_id

    queue_size = 20_000
    peekr.instrument(storage=storage, path=path, queue_size=queue_size, batch_size=1024, providers=[])
    runtime = get_runtime()
    assert runtime is not None
    bus = runtime.bus
    now = iso_utc(time.time_ns())
    trace_id = new_trace_id()
    started = time.perf_counter()
    cpu0 = time.process_time()
    for i in range(n):
        if mode == "span":
            with peekr.span("openai.chat.completions", model="gpt-4o-mini", tokens_total=i % 500, provider="bench"):
                pass
        else:
            bus.publish(
                build_span(
                    {
                        "trace_id": trace_id,
                        "span_id": new_span_id(),
                        "parent_id": None,
                        "name": "openai.chat.completions",
                        "start_time": now,
                        "end_time": now,
                        "duration_ms": 1.0,
                        "status": "ok",
                        "tenant_id": None,
                        "retention_class": "default",
                        "attributes": {"model": "gpt-4o-mini", "tokens_total": i % 500, "provider": "bench"},
                    }
                )
            )
        if i % 256 == 0:
            while bus.backlog() > queue_size * 0.8:  # back off instead of overrunning the sink
                time.sleep(0.0005)
    assert peekr.shutdown(timeout=120)
    elapsed = time.perf_counter() - started
    stats = peekr.stats()
    return {
        "spans": n,
        "seconds": elapsed,
        "spans_per_s": n / elapsed,
        "cpu_s": time.process_time() - cpu0,
        "delivered": stats.delivered.get(storage, 0),
        "dropped": stats.dropped_total,
        "peak_rss_mib": peak_rss_mib(),
    }


def baseline_rss_child() -> dict[str, float]:
    import peekr  # noqa: F401

    return {"peak_rss_mib": peak_rss_mib()}


def _run_child(*args: str) -> dict[str, float]:
    out = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--spans", type=int, default=200_000)
    parser.add_argument("--child", nargs="*")
    args = parser.parse_args()
    if args.child is not None:
        if args.child[0] == "baseline":
            print(json.dumps(baseline_rss_child()))
        else:
            print(json.dumps(throughput_child(args.child[0], int(args.child[1]), args.child[2], args.child[3])))
        return

    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores")
    costs = publish_cost()
    print("\n(a) cost on the caller's thread (ns per span; timer overhead included)")
    for name in ("timer", "deque_append", "publish", "span_total"):
        print(f"  {name:<14} p50 {costs[f'{name}_p50_ns']:>7.0f}   p99 {costs[f'{name}_p99_ns']:>7.0f}")

    print(f"\n(b) sustained end-to-end throughput, {args.spans:,} spans, fresh process each")
    base = _run_child("baseline")
    print(f"  baseline: `import peekr` peak RSS {base['peak_rss_mib']:.1f} MiB")
    with tempfile.TemporaryDirectory() as tmp:
        for mode, label in (("publish", "bus + sink (ready-made spans)"), ("span", "whole path (peekr.span blocks)")):
            print(f"  {label}:")
            for storage, filename in (("sqlite", f"{mode}.db"), ("jsonl", f"{mode}.jsonl")):
                r = _run_child(storage, str(args.spans), os.path.join(tmp, filename), mode)
                print(
                    f"    {storage:<6} {r['spans_per_s']:>9,.0f} spans/s  ({r['seconds']:.2f} s, cpu {r['cpu_s']:.2f} s)"
                    f"  delivered {r['delivered']:,.0f}  dropped {r['dropped']:,.0f}"
                    f"  peak RSS {r['peak_rss_mib']:.1f} MiB"
                )


if __name__ == "__main__":
    main()
