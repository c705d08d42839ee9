"""Benchmark evaluators: judge throughput vs. concurrency, and the caller's cost with evaluators on.

Run:  .venv/bin/python benchmarks/bench_eval.py [--quick]

1. Throughput: spans evaluated per second by ``Hallucination`` through a running peekr (bus ->
   evaluator thread -> fake judge over real HTTP with 50 ms latency per call; two judge calls
   per span: extraction + verification) at several ``max_concurrency`` values.
2. Caller cost: time the user's thread spends per recorded LLM span (``peekr.span`` enter/exit,
   i.e. start_span + publish), with no evaluator and with the Hallucination evaluator on,
   alternating rounds in the same process. With evaluators on, the 50 ms judge cannot keep
   up, so the evaluator's backlog overflows: those spans are dropped from evaluation and
   counted — the caller must not notice.
"""

from __future__ import annotations

import argparse
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

CONTEXT = "Paris is the capital of France. The Eiffel Tower is 330 metres tall."
RESPONSE = "Paris is the capital of France. The Eiffel Tower is 500 metres tall. It opened in 1889."


def _evaluator(fake: FakeProvider, concurrency: int, backlog: int = 100_000) -> Hallucination:
    judge = OpenAIJudge("gpt-4o-mini", base_url=fake.openai_base_url, api_key="sk-fake", max_retries=0)
    return Hallucination(
        context_extractor=lambda span: CONTEXT, judge=judge, max_concurrency=concurrency, max_backlog=backlog
    )


def _record(n: int) -> None:
    for _ in range(n):
        with peekr.span("openai.chat.completions", provider="openai", model="gpt-4o", input="q", output=RESPONSE):
            pass


def throughput(fake: FakeProvider, concurrency: int, n: int) -> tuple[float, int]:
    """Spans evaluated per second, and the judge's peak concurrent requests."""
    sink = InMemorySink()
    peekr.instrument(storage="none", sinks=[sink], evaluators=[_evaluator(fake, concurrency)], providers=[])
    _record(2)  # warm up: the evaluation thread, the judge client, the SDK import
    _wait(sink, 2)
    fake.reset()
    sink.events.clear()
    started = time.perf_counter()
    _record(n)
    _wait(sink, n)
    took = time.perf_counter() - started
    peekr.shutdown()
    return n / took, fake.max_concurrent


def _wait(sink: InMemorySink, n: int, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while sum(isinstance(e, EvalResult) for e in sink.events) < n:
        if time.monotonic() > deadline:
            raise RuntimeError("evaluations did not finish")
        peekr.flush(timeout=1.0)
        time.sleep(0.005)


def caller_cost(fake: FakeProvider, spans: int, rounds: int) -> tuple[list[float], list[float], dict[tuple[str, str], int]]:
    """Microseconds per recorded span on the caller's thread: without and with evaluators."""
    without: list[float] = []
    with_eval: list[float] = []
    dropped: dict[tuple[str, str], int] = {}
    for _ in range(rounds):
        for evaluators in (None, [_evaluator(fake, 4, backlog=1000)]):
            peekr.instrument(storage="none", sinks=[InMemorySink()], evaluators=evaluators, providers=[])
            _record(200)  # warm up
            peekr.flush()
            started = time.perf_counter_ns()
            _record(spans)
            took = (time.perf_counter_ns() - started) / spans / 1000
            (with_eval if evaluators else without).append(took)
            peekr.flush(timeout=2.0)
            peekr.shutdown(timeout=2.0)
            if evaluators:
                for key, value in peekr.stats().dropped.items():
                    dropped[key] = dropped.get(key, 0) + value
    return without, with_eval, dropped


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer spans (smoke run)")
    args = parser.parse_args()
    levels = [1, 2, 4, 8] if args.quick else [1, 2, 4, 8, 16, 32]
    print(f"# peekr evaluator benchmark  (python {platform.python_version()}, {platform.machine()}, {sys.platform})")
    with FakeProvider(latency=0.05, chat_responder=FakeJudge()) as fake:
        print("\n## Throughput: fake judge, 50 ms per call, 2 calls per span\n")
        print("| max_concurrency | spans | spans evaluated/s | peak concurrent judge requests |")
        print("| ---: | ---: | ---: | ---: |")
        for level in levels:
            n = max(20, level * (6 if args.quick else 12))
            rate, peak = throughput(fake, level, n)
            print(f"| {level} | {n} | {rate:.1f} | {peak} |")
        spans, rounds = (5_000, 3) if args.quick else (20_000, 5)
        without, with_eval, dropped = caller_cost(fake, spans, rounds)
        print(f"\n## Caller cost per recorded span ({rounds} alternating rounds of {spans} spans)\n")
        print("| configuration | median µs/span | min | max |")
        print("| --- | ---: | ---: | ---: |")
        for label, values in (("no evaluators", without), ("Hallucination on (judge 50 ms)", with_eval)):
            print(f"| {label} | {statistics.median(values):.2f} | {min(values):.2f} | {max(values):.2f} |")
        print(f"\nDropped from evaluation while the judge could not keep up (counted): {dropped}")


if __name__ == "__main__":
    main()
