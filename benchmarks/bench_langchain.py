"""Added cost per LangChain chain invocation: peekr vs the uninstrumented chain vs OpenInference.

Usage::

    .venv/bin/python benchmarks/bench_langchain.py                  # 7 rounds x 400 invocations
    .venv/bin/python benchmarks/bench_langchain.py --rounds 3 --calls 200
    .venv/bin/python benchmarks/bench_langchain.py --cell peekr 400  # one cell, JSON out

The chain: ``ChatPromptTemplate | ChatOpenAI | StrOutputParser`` (three LangChain runs around one
OpenAI call), ChatOpenAI on the real OpenAI client through the fake provider's in-process httpx2
transport (no sockets: the client-side cost of a call with a zero-latency server).

Variants (each cell a fresh process):

- ``none``: the uninstrumented chain;
- ``peekr``: ``peekr.instrument(storage="sqlite")`` (LangChain and OpenAI integrations: 4 spans
  per invocation — 3 chain runs and the ``openai.chat.completions`` span — stored in SQLite);
- ``openinference``: ``openinference-instrumentation-langchain`` with the OTel SDK, a
  ``BatchSpanProcessor`` and a JSON-lines file exporter (4 spans: 3 chain runs and the LLM run).

Method: rounds are interleaved (every variant once per round, shuffled); each cell warms up, then
times ``calls`` invocations; "added" is the median over rounds of (variant - none) within the same
round. CPU is process CPU time (all threads: peekr's bus thread, the OTel batch thread) from the
first timed call until everything is persisted; each variant must persist 4 records per call.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

VARIANTS = ["none", "peekr", "openinference"]
SPANS_PER_CALL = 4


class _JsonLinesExporter:
    """A file span exporter for the OTel peer: one JSON object per span and line."""

    def __init__(self, path: Path) -> None:
        self._file = path.open("a", encoding="utf-8")

    def export(self, spans: Any) -> Any:
        from opentelemetry.sdk.trace.export import SpanExportResult

        for span in spans:
            self._file.write(span.to_json(indent=None))
            self._file.write("\n")
        self._file.flush()
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        self._file.close()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True


def _setup(variant: str, workdir: Path) -> tuple[Callable[[], None], Callable[[], int]]:
    """Instrument for ``variant``; return (flush, count of persisted records)."""
    if variant == "none":
        return (lambda: None), (lambda: 0)
    if variant == "peekr":
        import peekr

        db = workdir / "traces.db"
        peekr.instrument(storage="sqlite", path=str(db))

        def count() -> int:
            with sqlite3.connect(db) as conn:
                return int(conn.execute("SELECT COUNT(*) FROM spans").fetchone()[0])

        def flush_peekr() -> None:
            assert peekr.flush(timeout=120), "peekr.flush timed out"

        return flush_peekr, count
    from openinference.instrumentation.langchain import LangChainInstrumentor
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    path = workdir / "otel.jsonl"
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(_JsonLinesExporter(path)))  # type: ignore[arg-type]
    LangChainInstrumentor().instrument(tracer_provider=provider)

    def flush() -> None:
        assert provider.force_flush(120_000), "force_flush timed out"

    return flush, lambda: sum(1 for _ in path.open(encoding="utf-8")) if path.exists() else 0


def cell(variant: str, calls: int) -> dict[str, float]:
    """Time ``calls`` chain invocations in this process; µs per invocation (wall and CPU)."""
    with tempfile.TemporaryDirectory() as tmp:
        flush, count = _setup(variant, Path(tmp))
        from langchain_core.output_parsers import StrOutputParser
        from langchain_core.prompts import ChatPromptTemplate
        from langchain_openai import ChatOpenAI

        from peekr.testing.fake_provider import FakeProvider

        client = FakeProvider().openai_client(in_process=True)
        llm = ChatOpenAI(model="gpt-4o-mini", api_key="sk-fake", client=client.chat.completions, root_client=client)
        chain = ChatPromptTemplate.from_messages([("user", "Tell me about {topic}")]) | llm | StrOutputParser()
        for _ in range(30):  # warm-up (imports, caches); not counted
            chain.invoke({"topic": "owls"})
        flush()
        before = count()
        wall0, cpu0 = time.perf_counter(), time.process_time()
        for _ in range(calls):
            chain.invoke({"topic": "owls"})
        wall = time.perf_counter() - wall0
        flush()
        cpu = time.process_time() - cpu0
        stored = count() - before
        expected = 0 if variant == "none" else SPANS_PER_CALL * calls
        assert stored == expected, f"{variant}: {stored} records persisted, expected {expected}"
        return {"wall_us": wall / calls * 1e6, "cpu_us": cpu / calls * 1e6}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cell", nargs=2, metavar=("VARIANT", "CALLS"))
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=400)
    args = parser.parse_args()
    if args.cell:
        print(json.dumps(cell(args.cell[0], int(args.cell[1]))))
        return
    rounds: list[dict[str, dict[str, float]]] = []
    for _ in range(args.rounds):
        order = random.sample(VARIANTS, len(VARIANTS))
        results = {}
        for variant in order:
            out = subprocess.run(
                [sys.executable, __file__, "--cell", variant, str(args.calls)],
                capture_output=True,
                text=True,
                check=True,
                env={**os.environ, "PEEKR_RAISE_INTERNAL_ERRORS": "0"},
            )
            results[variant] = json.loads(out.stdout.strip().splitlines()[-1])
        rounds.append(results)
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    print(f"# {stamp}, Python {platform.python_version()}, load average {os.getloadavg()[0]:.1f}, ", end="")
    print(f"{args.rounds} rounds x {args.calls} invocations")
    base_wall = statistics.median(r["none"]["wall_us"] for r in rounds)
    base_cpu = statistics.median(r["none"]["cpu_us"] for r in rounds)
    print(f"uninstrumented chain: {base_wall:.0f} µs wall, {base_cpu:.0f} µs CPU per invocation")
    print("| variant | added wall µs/invocation | added CPU µs/invocation (background included) |")
    print("| --- | --- | --- |")
    for variant in VARIANTS[1:]:
        wall = statistics.median(r[variant]["wall_us"] - r["none"]["wall_us"] for r in rounds)
        cpu = statistics.median(r[variant]["cpu_us"] - r["none"]["cpu_us"] for r in rounds)
        print(f"| {variant} | +{wall:.0f} | +{cpu:.0f} |")


if __name__ == "__main__":
    main()
