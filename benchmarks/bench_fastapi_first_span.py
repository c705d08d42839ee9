"""What one Peekr span costs inside a busy FastAPI request, against what the same span costs alone (issue 19).

``bench_call_instructions.py`` and ``bench_fastapi_instructions.py`` count instructions; on a 2-core VM those do not
predict time: Peekr's ~164k instructions on the app's thread cost ~100-170 µs per request there. This benchmark
separates the two effects with the public API only. The app is ``bench_fastapi.make_app("off")`` (the endpoint
awaiting one ``AsyncOpenAI.chat.completions.create`` on the in-process fake provider, no Peekr middleware, no
provider patched: ``instrument(providers=[], storage="none")``), called through ASGI in one process. Before each
request an outer ASGI layer runs one of:

- ``none``: nothing (the baseline), and ``none-again``: nothing (the null pair: how far two equal modes differ);
- ``span-1``, ``span-3``, ``span-10``: that many ``with peekr.span("bench.step"): pass`` blocks (each starts a span,
  ends it and hands it to the bus, as every recorded call does);
- ``loop``: a tight loop (``sum(range(40))`` repeated) calibrated to cost what one span costs alone: the same
  CPU, but almost no code or data of its own to bring into the cache;
- ``minimal``: the least a recorder could do on the app's thread, as a floor for a redesign: two clock reads, two
  random ids and a tuple appended to a bounded deque (not Peekr's code; the deque is cleared when full).

The modes alternate in batches of ``--size`` requests, shuffled each round, so every mode sees the same load and
process layout; garbage collection is off inside a batch and run between batches. Printed: one span's cost alone (a
tight loop of spans outside any request, same process), and per mode the app thread's CPU per request and the
paired difference to ``none`` (median, with the 20th-80th percentile of the rounds).

    .venv/bin/python benchmarks/bench_fastapi_first_span.py --rounds 80 --size 200 --cpu 1
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import random
import statistics
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

MODES = ("none", "none-again", "span-1", "span-3", "span-10", "loop", "minimal")


def _span_once() -> None:
    import peekr

    with peekr.span("bench.step"):
        pass


def alone_us(work: Callable[[], None], repeat: int = 2_000, between: Callable[[], object] = lambda: None) -> float:
    """Best of 7 timings of ``work`` in a tight loop, µs per call (warm caches: the cost alone).

    ``between`` runs after each timing, untimed (``peekr.flush``: the spans of one timing fit the bus's queue, so
    none is dropped, which would be cheaper than a hand-off).
    """
    best = float("inf")
    for _ in range(7):
        started = time.thread_time()
        for _ in range(repeat):
            work()
        best = min(best, (time.thread_time() - started) / repeat * 1e6)
        between()
    return best


def _loop_step() -> None:
    sum(range(40))


_handed: deque[tuple[Any, ...]] = deque()


def _minimal_once() -> None:
    """Two clock reads, a trace id and a span id, one tuple handed off: a floor, not Peekr's code."""
    started = time.perf_counter_ns()
    tick = time.time_ns() >> 20 & 0xFFFF
    trace_id = (tick << 112 | random.getrandbits(112)).to_bytes(16, "big").hex()
    span_id = (tick << 48 | random.getrandbits(48)).to_bytes(8, "big").hex()
    if len(_handed) >= 20_000:
        _handed.clear()
    _handed.append(("bench.step", trace_id, span_id, {"provider": "bench"}, started, time.perf_counter_ns()))


async def _run(rounds: int, size: int, modes: tuple[str, ...]) -> dict[str, Any]:
    from bench_fastapi import make_app
    from bench_fastapi_instructions import Client, _scope, start_lifespan

    import peekr

    app_off = make_app("off", str(Path(tempfile.mkdtemp(prefix="peekr-bench-first-")) / "unused.db"))
    peekr.instrument(providers=[], storage="none")
    span_us = alone_us(_span_once, between=lambda: peekr.flush(60))
    assert not sum(peekr.stats().dropped.values()), "spans dropped while timing one alone"
    loop_us = alone_us(_loop_step)
    loops = max(1, round(span_us / loop_us))
    minimal_us = alone_us(_minimal_once)
    work: dict[str, tuple[Callable[[], None], int]] = {
        "none": (_loop_step, 0),
        "none-again": (_loop_step, 0),
        "span-1": (_span_once, 1),
        "span-3": (_span_once, 3),
        "span-10": (_span_once, 10),
        "loop": (_loop_step, loops),
        "minimal": (_minimal_once, 1),
    }
    current: list[tuple[Callable[[], None], int]] = [work["none"]]

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            step, times = current[0]
            for _ in range(times):
                step()
        await app_off(scope, receive, send)

    state, stop = await start_lifespan(app)
    client = Client()
    sent = 0

    async def batch(mode: str) -> float:
        nonlocal sent
        current[0] = work[mode]
        gc.collect()
        started = time.thread_time()
        for i in range(size):
            await app(_scope(sent, state), client.receive, client.send)
            sent += 1
            if i % 200 == 199:  # a server's loop waits for its sockets now and then
                await asyncio.sleep(0.002)
        return (time.thread_time() - started) / size * 1e6

    gc.disable()
    try:
        for mode in modes * 2:  # warm-up
            await batch(mode)
        found: dict[str, list[float]] = {mode: [] for mode in modes}
        for r in range(rounds):
            order = list(modes)
            random.Random(r).shuffle(order)
            for mode in order:
                found[mode].append(await batch(mode))
            if r % 10 == 9:
                print(f"round {r + 1}/{rounds} done (load {os.getloadavg()[0]:.1f})", file=sys.stderr, flush=True)
    finally:
        gc.enable()
    await stop()
    peekr.flush(60)
    dropped = sum(peekr.stats().dropped.values())
    peekr.shutdown()
    assert not dropped, f"{dropped} spans dropped"
    assert client.answered == sent, f"{client.answered} of {sent} requests answered"
    return {
        "found": found,
        "span_us": span_us,
        "loop_us": loop_us * loops,
        "loops": loops,
        "minimal_us": minimal_us,
    }


def report(result: dict[str, Any], rounds: int, size: int, modes: tuple[str, ...]) -> str:
    found = result["found"]
    base = found[modes[0]]
    lines = [
        f"One span alone (tight loop, same process): {result['span_us']:.2f} µs; the `loop` mode's "
        f"{result['loops']} x `sum(range(40))` alone: {result['loop_us']:.2f} µs; the `minimal` hand-off alone: "
        f"{result['minimal_us']:.2f} µs.",
        "",
        "| mode | app thread CPU per request (median) | paired Δ vs none (median) | 20th-80th percentile |",
        "| --- | ---: | ---: | ---: |",
    ]
    for mode in modes:
        diffs = sorted(v - b for v, b in zip(found[mode], base, strict=True))
        low, high = diffs[len(diffs) // 5], diffs[(len(diffs) * 4) // 5]
        lines.append(
            f"| {mode} | {statistics.median(found[mode]):,.1f} µs | {statistics.median(diffs):+.1f} µs "
            f"| {low:+.1f} to {high:+.1f} |"
        )
    lines.append("")
    lines.append(
        f"{rounds} rounds x {size} requests per mode, modes shuffled each round; load {os.getloadavg()[0]:.1f}."
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=60)
    parser.add_argument("--size", type=int, default=200, help="requests per batch")
    parser.add_argument("--cpu", type=int, help="pin the process to this CPU (fewer migrations, less noise)")
    parser.add_argument("--modes", default=",".join(MODES), help=", ".join(MODES) + " (the first is the baseline)")
    args = parser.parse_args()
    modes = tuple(m.strip() for m in args.modes.split(",") if m.strip())
    unknown = [m for m in modes if m not in MODES]
    if unknown or not modes:
        parser.error(f"unknown mode(s) {', '.join(unknown) or '(none given)'}; choose from {', '.join(MODES)}")
    if args.rounds < 5 or args.size < 1:
        parser.error("--rounds must be at least 5 and --size at least 1")
    if args.cpu is not None:
        try:
            os.sched_setaffinity(0, {args.cpu})
        except (OSError, ValueError) as exc:
            parser.error(f"--cpu {args.cpu}: {exc} (this machine has CPUs {sorted(os.sched_getaffinity(0))})")
    result = asyncio.run(_run(args.rounds, args.size, modes))
    print(report(result, args.rounds, args.size, modes))


if __name__ == "__main__":
    main()
