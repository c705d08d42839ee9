"""What one small commit into ``traces.db`` costs per span: random trace ids against time-prefixed ones.

A program making a few LLM calls a second hands the SQLite sink a few spans per bus tick, and each commit
writes every B-tree page it touched to the WAL. Inserts at random places in an index touch one page per
span; inserts next to each other share pages. This benchmark stores spans through the real
``SQLiteSink`` into a file already holding ``--prefill`` spans (whose trace ids are spread evenly, as in a
file written for longer than the ~69 s after which the time tick wraps), ``--per-commit`` spans per commit,
with trace ids from the previous generator (128 random bits) and from ``peekr._span.new_trace_id`` (a
16-bit time tick of ~1 ms, then 112 random bits), in alternating order over ``--rounds`` rounds, each in a
fresh file.

Usage::

    .venv/bin/python benchmarks/bench_sqlite_commit.py                      # ~2 min on 2 cores
    .venv/bin/python benchmarks/bench_sqlite_commit.py --prefill 10000 --per-commit 150 --rounds 3

Reported per span, medians over the rounds: process CPU (the caller and the sink's connection thread)
and bytes handed to ``write()`` (``/proc/self/io``, every thread: the WAL and, at checkpoints, the
database file). Every span must be stored.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from peekr._span import Span, build_span, iso_utc, new_span_id, new_trace_id
from peekr.sinks import SQLiteSink

ATTRIBUTES: dict[str, Any] = {
    "provider": "openai",
    "model": "gpt-4o-mini",
    "tokens_input": 25,
    "tokens_output": 5,
    "tokens_total": 30,
    "cost_usd": 0.0000068,
    "input": [
        {"role": "system", "content": "You are a terse assistant."},
        {"role": "user", "content": "What is the capital of France? Answer in one word."},
    ],
    "output": "Paris",
    "finish_reason": "stop",
}


def random_trace_id() -> str:
    """The trace-id generator before time-prefixed ids."""
    return f"{random.getrandbits(128) or 1:032x}"


def random_span_id() -> str:
    """The span-id generator before time-prefixed ids."""
    return f"{random.getrandbits(64) or 1:016x}"


GENERATORS: dict[str, tuple[Callable[[], str], Callable[[], str]]] = {
    "random": (random_trace_id, random_span_id),
    "time-prefixed": (new_trace_id, new_span_id),
}


def _spans(n: int, ids: tuple[Callable[[], str], Callable[[], str]]) -> list[Span]:
    trace_id, span_id = ids
    now = iso_utc(time.time_ns())
    return [
        build_span(
            {
                "trace_id": trace_id(),
                "span_id": span_id(),
                "parent_id": None,
                "name": "openai.chat.completions",
                "start_time": now,
                "end_time": now,
                "duration_ms": 312.5,
                "status": "ok",
                "tenant_id": None,
                "retention_class": "default",
                "attributes": dict(ATTRIBUTES),
            }
        )
        for _ in range(n)
    ]


def _written_bytes() -> int:
    with open("/proc/self/io") as io:
        for line in io:
            if line.startswith("wchar:"):
                return int(line.split()[1])
    return 0


async def one(generator: str, prefill: int, per_commit: int, commits: int) -> dict[str, float]:
    """Fill a fresh file, then time ``commits`` commits of ``per_commit`` spans."""
    ids = GENERATORS[generator]
    with tempfile.TemporaryDirectory(prefix="peekr-bench-commit-") as workdir:
        path = Path(workdir) / "traces.db"
        sink = SQLiteSink(path)
        await sink.open()
        for start in range(0, prefill, 1024):
            # A file written for longer than the tick's wrap (~69 s): its ids' ticks are spread evenly.
            await sink.write(_spans(min(1024, prefill - start), GENERATORS["random"]))
        batches = [_spans(per_commit, ids) for _ in range(commits)]
        cpu = time.process_time()
        wrote = _written_bytes()
        for batch in batches:
            await sink.write(batch)
        cpu = time.process_time() - cpu
        wrote = _written_bytes() - wrote
        await sink.aclose()
        with sqlite3.connect(path) as db:
            stored = db.execute("SELECT COUNT(*) FROM spans").fetchone()[0]
    expected = prefill + per_commit * commits
    if stored != expected:
        raise SystemExit(f"{generator}: {stored} spans stored, expected {expected}")
    n = per_commit * commits
    return {"cpu_us": cpu / n * 1e6, "kib": wrote / n / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--prefill", default="10000,100000", help="spans already in the file (comma-separated)")
    parser.add_argument("--per-commit", default="20,150", help="spans per commit (comma-separated)")
    parser.add_argument("--spans", type=int, default=6000, help="spans stored in the timed commits")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f}; {args.rounds} rounds; medians per span")
    print("| spans in file | spans per commit | trace and span ids | CPU µs | KiB written |")
    print("| ---: | ---: | --- | ---: | ---: |")
    for prefill in (int(v) for v in args.prefill.split(",")):
        for per_commit in (int(v) for v in args.per_commit.split(",")):
            results: dict[str, list[dict[str, float]]] = {name: [] for name in GENERATORS}
            for i in range(args.rounds):
                order = list(GENERATORS) if i % 2 == 0 else list(reversed(GENERATORS))
                for name in order:
                    commits = max(1, args.spans // per_commit)
                    results[name].append(asyncio.run(one(name, prefill, per_commit, commits)))
            for name, runs in results.items():
                cpu = statistics.median(r["cpu_us"] for r in runs)
                kib = statistics.median(r["kib"] for r in runs)
                print(f"| {prefill:,} | {per_commit} | {name} | {cpu:.1f} | {kib:.1f} |", flush=True)
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
