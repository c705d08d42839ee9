"""Benchmark evaluators: judge throughput vs. concurrency, and the caller's cost with evaluators on.

Run:  .venv/bin/python benchmarks/bench_eval.py [--quick]

1. Throughput: spans evaluated per second by ``Hallucination`` through a running peekr (bus ->
   evaluator thread -> fake judge over real HTTP with 50 ms latency per call; two judge calls
   per span: extraction + verification) at several ``max_concurrency`` values.
2. Caller cost: time the user's thread spends per recorded LLM span (``peekr.span`` enter/exit,
   i.e. start_span + publish), with no evaluator and with the Hallucination evaluator on,
   alternating rounds in the same process: wall time, and the caller thread's own CPU time
   (``time.thread_time``; wall minus CPU is time spent waiting for the GIL held by peekr's
   background threads). With evaluators on, the 50 ms judge cannot keep up, so the evaluator's
   backlog overflows: those spans are dropped from evaluation and counted.

The fake judge runs in a child process, like a real remote judge: its CPU is not the app's.
"""

from __future__ import annotations

import argparse
import multiprocessing
import platform
import statistics
import sys
import time

import peekr
from peekr._events import EvalResult
from peekr.evaluators import Hallucination, OpenAIJudge
from peekr.evaluators._fake_judge import FakeJudge
from peekr.sinks.memory import InMemorySink
from peekr.testing.fake_provider import FakeProvider

Conn = "multiprocessing.connection.Connection"


def _serve(conn: Conn, latency: float) -> None:  # type: ignore[valid-type]
    with FakeProvider(latency=latency, chat_responder=FakeJudge()) as fake:
        conn.send(fake.openai_base_url)  # type: ignore[attr-defined]
        while True:
            command = conn.recv()  # type: ignore[attr-defined]
            if command == "reset":
                fake.reset()
                conn.send(None)  # type: ignore[attr-defined]
            elif command == "peak":
                conn.send(fake.max_concurrent)  # type: ignore[attr-defined]
            else:
                return


class JudgeServer:
    """The fake judge (FakeProvider + FakeJudge) in a child process."""

    def __init__(self, latency: float) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(child, latency), daemon=True)
        self._process.start()
        self.openai_base_url: str = self._conn.recv()

    def reset(self) -> None:
        self._conn.send("reset")
        self._conn.recv()

    @property
    def max_concurrent(self) -> int:
        self._conn.send("peak")
        return int(self._conn.recv())

    def close(self) -> None:
        self._conn.send("stop")
        self._process.join(5)


CONTEXT = "Paris is the capital of France. The Eiffel Tower is 330 metres tall."
RESPONSE = "Paris is the capital of France. The Eiffel Tower is 500 metres tall. It opened in 1889."


def _evaluator(fake: JudgeServer, concurrency: int, backlog: int = 100_000) -> Hallucination:
    judge = OpenAIJudge("gpt-4o-mini", base_url=fake.openai_base_url, api_key="sk-fake", max_retries=0)
    return Hallucination(
        context_extractor=lambda span: CONTEXT, judge=judge, max_concurrency=concurrency, max_backlog=backlog
    )


def _record(n: int) -> None:
    for _ in range(n):
        with peekr.span("openai.chat.completions", provider="openai", model="gpt-4o", input="q", output=RESPONSE):
            pass


def throughput(fake: JudgeServer, concurrency: int, n: int) -> tuple[float, int, float]:
    """Spans evaluated per second, the judge's peak concurrent requests, app CPU ms per span."""
    sink = InMemorySink()
    peekr.instrument(storage="none", sinks=[sink], evaluators=[_evaluator(fake, concurrency)], providers=[])
    _record(2)  # warm up: the evaluation thread, the judge client, the SDK import
    _wait(sink, 2)
    fake.reset()
    sink.events.clear()  # benchmark-only: start counting results from zero
    started, cpu = time.perf_counter(), time.process_time()
    _record(n)
    _wait(sink, n)
    took, cpu = time.perf_counter() - started, time.process_time() - cpu
    peekr.shutdown()
    return n / took, fake.max_concurrent, cpu / n * 1000


def _wait(sink: InMemorySink, n: int, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while sum(isinstance(e, EvalResult) for e in sink.events) < n:
        if time.monotonic() > deadline:
            raise RuntimeError("evaluations did not finish")
        peekr.flush(timeout=1.0)
        time.sleep(0.005)


def caller_cost(
    fake: JudgeServer, spans: int, rounds: int
) -> tuple[dict[str, list[tuple[float, float]]], dict[tuple[str, str], int]]:
    """(wall µs, caller-thread CPU µs) per recorded span, per configuration; and what was dropped."""
    results: dict[str, list[tuple[float, float]]] = {"off": [], "on": []}
    dropped: dict[tuple[str, str], int] = {}
    for _ in range(rounds):
        for key, evaluators in (("off", None), ("on", [_evaluator(fake, 4, backlog=1000)])):
            peekr.instrument(storage="none", sinks=[InMemorySink()], evaluators=evaluators, providers=[])
            _record(200)  # warm up
            peekr.flush()
            time.sleep(0.5)  # let the evaluator thread get busy with the judge
            wall, cpu = time.perf_counter_ns(), time.thread_time_ns()
            _record(spans)
            cpu, wall = time.thread_time_ns() - cpu, time.perf_counter_ns() - wall
            results[key].append((wall / spans / 1000, cpu / spans / 1000))
            peekr.flush(timeout=2.0)
            peekr.shutdown(timeout=2.0)
            if evaluators:
                for name, value in peekr.stats().dropped.items():
                    dropped[name] = dropped.get(name, 0) + value
    return results, dropped


def judge_cpu(fake: JudgeServer, n: int) -> float:
    """CPU ms of the evaluating thread per evaluation (sequential ``Hallucination.evaluate`` calls)."""
    import anyio

    from peekr._span import Span, iso_utc, new_span_id, new_trace_id

    h = _evaluator(fake, 1)
    h.prepare()
    now = iso_utc(time.time_ns())
    span = Span(
        trace_id=new_trace_id(),
        span_id=new_span_id(),
        name="openai.chat.completions",
        start_time=now,
        end_time=now,
        duration_ms=1.0,
        attributes={"provider": "openai", "model": "gpt-4o", "input": "q", "output": RESPONSE},
    )

    async def run(count: int) -> float:
        started = time.thread_time()
        for _ in range(count):
            await h.evaluate(span)
        took = time.thread_time() - started
        await h.aclose()
        return took

    anyio.run(run, 3)  # warm up
    return anyio.run(run, n) / n * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer spans (smoke run)")
    args = parser.parse_args()
    levels = [1, 2, 4, 8] if args.quick else [1, 2, 4, 8, 16, 32]
    print(f"# peekr evaluator benchmark  (python {platform.python_version()}, {platform.machine()}, {sys.platform})")
    fake = JudgeServer(latency=0.05)
    try:
        print("\n## Throughput: fake judge, 50 ms per call, 2 calls per span\n")
        print("| max_concurrency | spans | spans evaluated/s | peak concurrent judge requests | app CPU ms/span |")
        print("| ---: | ---: | ---: | ---: | ---: |")
        for level in levels:
            n = max(20, level * (6 if args.quick else 12))
            rate, peak, cpu_ms = throughput(fake, level, n)
            print(f"| {level} | {n} | {rate:.1f} | {peak} | {cpu_ms:.1f} |")
        cpu_ms = judge_cpu(fake, 30 if args.quick else 100)
        print(f"\nEvaluating thread CPU per evaluation (sequential, 2 judge calls): {cpu_ms:.1f} ms")
        spans, rounds = (5_000, 3) if args.quick else (20_000, 5)
        results, dropped = caller_cost(fake, spans, rounds)
        print(f"\n## Caller cost per recorded span ({rounds} alternating rounds of {spans} spans)\n")
        print("| configuration | wall µs/span (median, min–max) | caller CPU µs/span (median, min–max) |")
        print("| --- | ---: | ---: |")
        labels = {"off": "no evaluators", "on": "Hallucination on (judge 50 ms, max_concurrency=4)"}
        for key, values in results.items():
            walls, cpus = [v[0] for v in values], [v[1] for v in values]
            print(
                f"| {labels[key]} | {statistics.median(walls):.1f} ({min(walls):.1f}–{max(walls):.1f}) "
                f"| {statistics.median(cpus):.1f} ({min(cpus):.1f}–{max(cpus):.1f}) |"
            )
        print(f"\nDropped from evaluation while the judge could not keep up (counted): {dropped}")
    finally:
        fake.close()


if __name__ == "__main__":
    main()
