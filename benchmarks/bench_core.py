"""Core runtime benchmark: publish cost on the caller's thread, and sustained throughput into sinks.

Run: .venv/bin/python benchmarks/bench_core.py [--spans 200000] [--rounds 5] [--compare ../main]

(a) publish cost: ns per `bus.publish(span)` on the caller's thread (p50/p99), next to the cost
    of building the span itself (`with peekr.span(...)`, which includes publish) and of a bare
    `deque.append` baseline measured the same way.
(b) sustained end-to-end throughput: spans/s from `peekr.span()` on the main thread until every
    span is committed to SQLite / appended to JSONL, in a fresh process per sink, with peak RSS
    (the producer backs off while the queue is nearly full, so nothing is dropped). Rounds are
    interleaved (every variant once per round, order rotated), each run reports its CPU per span
    (whole process, and per thread: producer, bus, SQLite writer) and the load average; medians
    with a bootstrap interval. ``--compare SRC`` adds the same runs with another checkout's peekr
    (PYTHONPATH=SRC), for before/after ratios taken in the same rounds.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from typing import Any


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


def _thread_cpu() -> dict[str, float]:
    """CPU seconds (user + system) of each live thread of this process, by role."""
    tick = os.sysconf("SC_CLK_TCK")
    names = {t.native_id: t.name for t in threading.enumerate()}
    out: dict[str, float] = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        name = names.get(int(tid), "")
        role = (
            "producer"
            if name == "MainThread"
            else "bus"
            if name.startswith("peekr-bus")
            else "writer"
            if "connection_worker" in name
            else "other"
        )
        out[role] = out.get(role, 0.0) + (int(fields[11]) + int(fields[12])) / tick
    return out


def throughput_child(storage: str, n: int, path: str, mode: str) -> dict[str, Any]:
    """Publish ``n`` spans and wait until the sink has stored them all.

    mode ``span``: each span is a real ``with peekr.span(...)`` block on this thread (the whole
    path). mode ``publish``: ready-made spans are published (the bus and sink alone).
    CPU is reported per span: the whole process, and each thread (read before shutdown).
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
    trace_id = new_trace_id()  # one trace for all (the ``span`` mode starts a trace per span)
    threads0 = _thread_cpu()
    started = time.perf_counter()
    usage0 = resource.getrusage(resource.RUSAGE_SELF)
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
    while bus.backlog() > 0:
        time.sleep(0.0005)
    assert peekr.flush(timeout=120)
    elapsed = time.perf_counter() - started
    threads = _thread_cpu()
    assert peekr.shutdown(timeout=120)
    usage1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (usage1.ru_utime - usage0.ru_utime) + (usage1.ru_stime - usage0.ru_stime)
    stats = peekr.stats()
    return {
        "peekr": os.path.dirname(peekr.__file__),
        "spans": n,
        "seconds": elapsed,
        "spans_per_s": n / elapsed,
        "cpu_us_per_span": cpu * 1e6 / n,
        "threads_us_per_span": {
            role: (seconds - threads0.get(role, 0.0)) * 1e6 / n for role, seconds in threads.items()
        },
        "delivered": stats.delivered.get(storage, 0),
        "dropped": stats.dropped_total,
        "peak_rss_mib": peak_rss_mib(),
        "load": os.getloadavg()[0],
    }


def baseline_rss_child() -> dict[str, float]:
    import peekr  # noqa: F401

    return {"peak_rss_mib": peak_rss_mib()}


def _run_child(*args: str, src: str | None = None) -> dict[str, Any]:
    env = dict(os.environ)
    if src is not None:  # another checkout's peekr (e.g. the main branch), for a same-run before/after
        env["PYTHONPATH"] = os.path.abspath(src) + os.pathsep + env.get("PYTHONPATH", "")
    out = subprocess.run(
        [sys.executable, __file__, "--child", *args], capture_output=True, text=True, check=True, env=env
    )
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def median_ci(values: list[float], resamples: int = 2000) -> tuple[float, float, float]:
    """Median and a 95 % bootstrap interval."""
    rng = random.Random(1)
    medians = sorted(statistics.median(rng.choices(values, k=len(values))) for _ in range(resamples))
    return statistics.median(values), medians[int(resamples * 0.025)], medians[int(resamples * 0.975) - 1]


def _fmt(values: list[float], unit: str, digits: int = 0) -> str:
    mid, low, high = median_ci(values)
    return f"{mid:,.{digits}f} {unit} [{low:,.{digits}f}–{high:,.{digits}f}]"


def throughput(spans: int, rounds: int, storages: list[str], modes: list[str], compare: str | None) -> None:
    """Interleaved rounds: every variant once per round, the order rotated each round."""
    variants: list[tuple[str, str, str | None]] = [(mode, storage, None) for mode in modes for storage in storages]
    if compare is not None:
        variants = [v for mode, storage, _ in variants for v in ((mode, storage, compare), (mode, storage, None))]
    results: dict[tuple[str, str, str | None], list[dict[str, Any]]] = {v: [] for v in variants}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(rounds):
            order = variants[r % len(variants) :] + variants[: r % len(variants)]
            for mode, storage, src in order:
                path = os.path.join(tmp, f"{mode}-{r}.{'db' if storage == 'sqlite' else 'jsonl'}")
                res = _run_child(storage, str(spans), path, mode, src=src)
                results[(mode, storage, src)].append(res)
                label = f"{mode}/{storage}" + (" (compare)" if src else "")
                threads = "  ".join(f"{k} {v:.1f}" for k, v in sorted(res["threads_us_per_span"].items()))
                print(
                    f"  round {r + 1} {label:<26} {res['spans_per_s']:>8,.0f} spans/s  cpu {res['cpu_us_per_span']:5.1f}"
                    f" µs/span ({threads})  dropped {res['dropped']}  RSS {res['peak_rss_mib']:.0f} MiB"
                    f"  load {res['load']:.1f}",
                    flush=True,
                )
                for name in os.listdir(tmp):
                    os.remove(os.path.join(tmp, name))
    print(f"\n  medians over {rounds} rounds [95 % bootstrap interval]")
    for (mode, storage, src), runs in results.items():
        label = f"{mode}/{storage}" + (f" ({src})" if src else "")
        roles = sorted({role for res in runs for role in res["threads_us_per_span"]})
        per_thread = ", ".join(
            f"{role} {statistics.median(res['threads_us_per_span'].get(role, 0.0) for res in runs):.1f}"
            for role in roles
        )
        print(
            f"  {label:<26} {_fmt([res['spans_per_s'] for res in runs], 'spans/s')}"
            f"  cpu {_fmt([res['cpu_us_per_span'] for res in runs], 'µs/span', 1)} ({per_thread})"
            f"  delivered {min(res['delivered'] for res in runs):,}/{spans:,}  dropped {max(res['dropped'] for res in runs)}"
            f"  peak RSS ≤ {max(res['peak_rss_mib'] for res in runs):.0f} MiB"
        )
    if compare is not None:
        print("\n  same-round ratio, this checkout / compare (median [95 % interval])")
        for mode in modes:
            for storage in storages:
                new, old = results[(mode, storage, None)], results[(mode, storage, compare)]
                rate = [a["spans_per_s"] / b["spans_per_s"] for a, b in zip(new, old, strict=True)]
                cpu = [a["cpu_us_per_span"] / b["cpu_us_per_span"] for a, b in zip(new, old, strict=True)]
                print(f"  {mode}/{storage:<8} spans/s ×{_fmt(rate, '', 2)}   cpu per span ×{_fmt(cpu, '', 2)}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--spans", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds of the throughput runs")
    parser.add_argument("--storage", default="sqlite,jsonl", help="comma-separated: sqlite, jsonl")
    parser.add_argument("--mode", default="publish,span", help="comma-separated: publish, span")
    parser.add_argument("--compare", metavar="SRC", help="also run another checkout's peekr (its source root)")
    parser.add_argument("--skip-publish-cost", action="store_true", help="only the throughput runs")
    parser.add_argument("--child", nargs="*")
    args = parser.parse_args()
    if args.child is not None:
        if args.child[0] == "baseline":
            print(json.dumps(baseline_rss_child()))
        else:
            print(json.dumps(throughput_child(args.child[0], int(args.child[1]), args.child[2], args.child[3])))
        return

    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, load average {os.getloadavg()}")
    if not args.skip_publish_cost:
        costs = publish_cost()
        print("\n(a) cost on the caller's thread (ns per span; timer overhead included)")
        for name in ("timer", "deque_append", "publish", "span_total"):
            print(f"  {name:<14} p50 {costs[f'{name}_p50_ns']:>7.0f}   p99 {costs[f'{name}_p99_ns']:>7.0f}")

    print(f"\n(b) sustained end-to-end throughput, {args.spans:,} spans, fresh process each, {args.rounds} rounds")
    base = _run_child("baseline")
    print(f"  baseline: `import peekr` peak RSS {base['peak_rss_mib']:.1f} MiB")
    print("  cpu = whole process per span; per thread: producer (the caller), bus, writer (SQLite's), other")
    throughput(args.spans, args.rounds, args.storage.split(","), args.mode.split(","), args.compare)
    print(f"  load average at the end {os.getloadavg()}")


if __name__ == "__main__":
    main()
