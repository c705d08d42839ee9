"""Production controls: what sampling (0.1) and scrubbing cost or save, in the same run.

Usage::

    .venv/bin/python benchmarks/bench_controls.py              # ~2 min on 2 cores
    .venv/bin/python benchmarks/bench_controls.py --calls 500 --rounds 3 --quick

(a) per-call overhead on the real OpenAI client (in-process fake transport, zero latency): process
    CPU per call (every thread: the bus and SQLite included, until everything is persisted), for
    ``none`` (no peekr), ``peekr`` (default SQLite storage), ``sample0.1`` (``sample_rate=0.1,
    keep_errors=False``: sampled-out calls are decided before the request is read),
    ``sample0.1+errors`` (``keep_errors=True``: every call is recorded and held until its trace
    ends, then 90 % dropped unbuilt) and ``scrub`` (``scrub=True``). Fresh process per cell,
    variants interleaved per round in a shuffled order; "added" = median over rounds of
    (variant - none) within the round.
(b) publish cost on the caller's thread: ns per ``with peekr.span()`` block (p50/p99), same variants.
(c) the scrubbing stage alone: CPU µs per typical chat span (system + user message, a reply, request
    options, ids) through ``Pipeline.process`` with and without the ``Scrubber``, and per span
    full of secrets.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

VARIANTS = ("none", "peekr", "sample0.1", "sample0.1+errors", "scrub")
OPTIONS: dict[str, dict[str, Any]] = {
    "peekr": {},
    "sample0.1": {"sample_rate": 0.1, "keep_errors": False},
    "sample0.1+errors": {"sample_rate": 0.1, "keep_errors": True},
    "scrub": {"scrub": True},
}
SYSTEM = "You are a helpful assistant for Acme Travel. Answer concisely and cite the booking reference."
USER = (
    "Hi, I booked a flight to Lisbon for 12 March 2026, booking ref QX7-2291. Can I change it to the "
    "14th and add a second bag? My colleague is travelling with me on the same booking."
)


def _cell(variant: str, calls: int) -> dict[str, float]:
    """One fresh process: CPU and wall per call, and caller-thread publish cost."""
    from peekr.testing.fake_provider import FakeProvider

    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        import peekr

        if variant != "none":
            peekr.instrument(storage="sqlite", path="traces.db", providers=["openai"], **OPTIONS[variant])
        fake = FakeProvider()
        client = fake.openai_client(in_process=True)
        messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": USER}]
        for _ in range(50):  # warm-up
            client.chat.completions.create(model="gpt-4o-mini", messages=messages)  # type: ignore[arg-type]
        if variant != "none":
            peekr.flush(30)
        cpu0, wall0 = time.process_time(), time.perf_counter()
        for _ in range(calls):
            client.chat.completions.create(model="gpt-4o-mini", messages=messages)  # type: ignore[arg-type]
        if variant != "none":
            assert peekr.flush(60)
        cpu = (time.process_time() - cpu0) / calls * 1e6
        wall = (time.perf_counter() - wall0) / calls * 1e6
        samples = []
        if variant != "none":
            clock = time.perf_counter_ns
            for _ in range(20_000):
                t0 = clock()
                with peekr.span("step", feature="bench"):
                    pass
                samples.append(clock() - t0)
            assert peekr.flush(60)
            peekr.shutdown(30)
        samples.sort()
        return {
            "cpu_us": cpu,
            "wall_us": wall,
            "span_p50_ns": samples[len(samples) // 2] if samples else 0,
            "span_p99_ns": samples[int(len(samples) * 0.99)] if samples else 0,
        }


def _run_cell(variant: str, calls: int) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--cell", variant, str(calls)], capture_output=True, text=True, check=True
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def _chat_span() -> dict[str, Any]:
    return {
        "provider": "openai",
        "model": "gpt-4o-mini",
        "input": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": USER}],
        "output": "Echo: " + USER,
        "request": {"temperature": 0.2, "max_tokens": 256, "stream": False},
        "response_id": "chatcmpl-9xYzAbC123",
        "finish_reason": "stop",
        "tokens_input": 64,
        "tokens_output": 40,
        "tokens_total": 104,
    }


def _stage(n: int) -> dict[str, float]:
    """µs per span through the pipeline, with and without scrubbing."""
    import copy

    from peekr._pipeline import Pipeline
    from peekr._scrub import Scrubber
    from peekr._span import new_trace_id
    from peekr._tracer import ActiveSpan

    class _Runtime:
        sampler = None

    secrets = _chat_span()
    secrets["input"][1]["content"] = (
        USER + " Card 4111 1111 1111 1111, mail jane@example.org, call +1 415 555 0132, "
        "IBAN DE89 3704 0044 0532 0130 00, key sk-proj-Q2hhdEdQVF9wcm9qZWN0X2tleV9leGFtcGxlMTIz"
    )
    results: dict[str, float] = {}
    for label, attrs, scrubber in (
        ("off", _chat_span(), None),
        ("scrub", _chat_span(), Scrubber()),
        ("scrub_secrets", secrets, Scrubber()),
    ):
        pipeline = Pipeline(scrubber=scrubber, processors=())
        runtime: Any = _Runtime()
        best = float("inf")
        for _ in range(5):
            batch = [
                ActiveSpan(
                    runtime, "openai.chat.completions", new_trace_id(), None, None, "default", copy.deepcopy(attrs)
                )
                for _ in range(n)
            ]
            t0 = time.process_time()  # CPU time: a busy machine's preemptions do not count
            pipeline.process(batch)
            best = min(best, (time.process_time() - t0) / n * 1e6)
        results[label] = best
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--cell", nargs=2)
    args = parser.parse_args()
    if args.cell:
        print(json.dumps(_cell(args.cell[0], int(args.cell[1]))))
        return

    rounds: list[dict[str, dict[str, float]]] = []
    for r in range(args.rounds):
        order = list(VARIANTS)
        random.shuffle(order)
        rounds.append({v: _run_cell(v, args.calls) for v in order})
        print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)
    load = os.getloadavg()[0]
    print(f"(a)+(b) {args.calls} OpenAI calls per cell, {args.rounds} rounds, load average {load:.1f}")
    print(f"  {'variant':18} {'CPU/call':>10} {'added':>10} {'wall/call':>10} {'span p50':>10} {'span p99':>10}")
    for v in VARIANTS:
        cpu = statistics.median(r[v]["cpu_us"] for r in rounds)
        added = statistics.median(r[v]["cpu_us"] - r["none"]["cpu_us"] for r in rounds)
        wall = statistics.median(r[v]["wall_us"] for r in rounds)
        p50 = statistics.median(r[v]["span_p50_ns"] for r in rounds)
        p99 = statistics.median(r[v]["span_p99_ns"] for r in rounds)
        print(f"  {v:18} {cpu:8.1f}µs {added:+8.1f}µs {wall:8.1f}µs {p50:8.0f}ns {p99:8.0f}ns")
    stage = _stage(2000 if args.quick else 10_000)
    print("(c) pipeline stage, µs per typical chat span (best of 5)")
    print(
        f"  without scrubbing {stage['off']:.1f}  with scrubbing {stage['scrub']:.1f}  "
        f"(+{stage['scrub'] - stage['off']:.1f})  span full of secrets {stage['scrub_secrets']:.1f} "
        f"(+{stage['scrub_secrets'] - stage['off']:.1f})"
    )


if __name__ == "__main__":
    main()
