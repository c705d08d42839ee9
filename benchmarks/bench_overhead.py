"""Per-call overhead of peekr and two peers on the real OpenAI client, in-process (no sockets).

Usage::

    .venv/bin/python benchmarks/bench_overhead.py            # full run (~4 min on 2 cores), writes
                                                             # benchmarks/results/overhead.md
    .venv/bin/python benchmarks/bench_overhead.py --quick --no-write
    .venv/bin/python benchmarks/bench_overhead.py --cell peekr stream50 300   # one cell, JSON out

Variants (each in a fresh process per cell):

- ``none``: the uninstrumented SDK;
- ``peekr``: ``peekr.instrument(storage="sqlite")`` (the default storage: the bus thread, JSON
  encoding, cost and SQLite writes are all real);
- ``peekr-jsonl`` (``--variants none,peekr-jsonl``): the same with ``storage="jsonl"``;
- ``peekr-nocost`` (diagnostic): ``peekr`` with the bus's ``cost_usd`` computation stubbed out;
- ``otel``: ``opentelemetry-instrumentation-openai`` (OpenLLMetry) with the OTel SDK, a
  ``BatchSpanProcessor`` and a JSON-lines file exporter;
- ``openinference``: ``openinference-instrumentation-openai``, same OTel pipeline.

Scenarios: ``sync`` (``chat.completions.create``), ``async`` (``AsyncOpenAI``), ``stream50`` (a
streamed reply of 50 content chunks, 52 chunks in all) and ``stream5`` (5 content chunks, 7 in
all), all with the same prompt; per-chunk cost = (added(stream50) - added(stream5)) / 45. The fake provider runs in-process
through its httpx2 transport (``FakeProvider.transport()``), so the figures are the client-side
cost of a call with a zero-latency server.

Method: rounds are interleaved (every variant of a scenario runs once per round, in a shuffled
order); each cell is a fresh process that warms up, then times ``calls`` calls; "added" is the
median over rounds of (variant - none) within the same round. CPU is process CPU time (all
threads: peekr's bus thread and the OTel batch thread count) from the first timed call until
everything is persisted. Every variant must persist exactly one record per call, checked by
counting rows/lines after the flush; a cell that does not fails the run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "overhead.md"
VARIANTS = ["none", "peekr", "otel", "openinference"]  # also: peekr-jsonl
SCENARIOS = ["sync", "async", "stream50", "stream5"]
CHUNKS = {"stream50": 52, "stream5": 7}  # role chunk + content chunks + finish chunk
#: The issue's figure for the bare sync call, in-process, on the reference machine.
REFERENCE_BARE_CALL_US = 720
SYSTEM = {"role": "system", "content": "You are a helpful assistant. Answer briefly and cite your sources."}


QUESTION = "What is the capital of France, and what is it famous for?"
#: Streamed replies, one chunk per word (the fake's chat responder answers with these, so both
#: stream scenarios send the same prompt and differ only in the number of chunks).
REPLIES = {"stream50": " ".join(f"word{i}" for i in range(50)), "stream5": "one two three four five"}


def _messages(scenario: str) -> list[dict[str, str]]:
    return [SYSTEM, {"role": "user", "content": QUESTION}]


# -- one cell (runs in its own process) ---------------------------------------------------------------


class _JsonLinesExporter:
    """A file span exporter for the OTel peers: one JSON object per span and line."""

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
    """Instrument; return (flush everything, count persisted records)."""
    if variant == "none":
        return (lambda: None), (lambda: -1)
    if variant.startswith("peekr"):
        import peekr

        if variant == "peekr-nocost":  # diagnostic: the same without the bus's cost computation
            import peekr._cost

            peekr._cost.compute_cost = lambda attributes: None
        if variant != "peekr-jsonl":
            path = workdir / "traces.db"
            peekr.instrument(storage="sqlite", path=path)

            def count() -> int:
                with sqlite3.connect(path) as db:
                    return int(db.execute("SELECT COUNT(*) FROM spans").fetchone()[0])

        else:
            path = workdir / "traces.jsonl"
            peekr.instrument(storage="jsonl", path=path)

            def count() -> int:
                return sum(1 for _ in path.open(encoding="utf-8"))

        def flush() -> None:
            assert peekr.flush(120), "peekr.flush timed out"

        return flush, count
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    path = workdir / "otel.jsonl"
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(_JsonLinesExporter(path)))  # type: ignore[arg-type]
    if variant == "otel":
        from opentelemetry.instrumentation.openai import OpenAIInstrumentor
    else:
        from openinference.instrumentation.openai import OpenAIInstrumentor
    OpenAIInstrumentor().instrument(tracer_provider=provider)

    def otel_flush() -> None:
        assert provider.force_flush(120_000), "force_flush timed out"

    return otel_flush, lambda: sum(1 for _ in path.open(encoding="utf-8")) if path.exists() else 0


def run_cell(
    variant: str, scenario: str, calls: int, warmup: int, pairs: int = 12, pair_calls: int = 0
) -> dict[str, Any]:
    """Time ``calls`` calls of ``scenario`` under ``variant`` in this process."""
    workdir = Path(tempfile.mkdtemp(prefix="peekr-bench-"))
    flush, count = _setup(variant, workdir)
    pair_calls = pair_calls or max(2, calls // 6)
    from peekr.testing.fake_provider import FakeProvider

    reply = REPLIES.get(scenario)
    fake = FakeProvider(max_logged_requests=16, chat_responder=(lambda body: reply) if reply else None)
    messages = _messages(scenario)
    if scenario == "async":
        client_async = fake.async_openai_client(in_process=True)

        async def many(n: int) -> None:
            for _ in range(n):
                await client_async.chat.completions.create(model="gpt-4o-mini", messages=messages)  # type: ignore[arg-type]

        def batch(n: int) -> None:
            asyncio.run(many(n))

    else:
        client = fake.openai_client(in_process=True)
        stream = scenario.startswith("stream")

        def batch(n: int) -> None:
            create = client.chat.completions.create
            if stream:
                for _ in range(n):
                    for _chunk in create(model="gpt-4o-mini", messages=messages, stream=True):  # type: ignore[arg-type]
                        pass
            else:
                for _ in range(n):
                    create(model="gpt-4o-mini", messages=messages)  # type: ignore[arg-type]

    batch(warmup)
    flush()
    calibration_ms = _calibrate()
    paired = _paired_in_process(variant, batch, flush, pairs, pair_calls)
    rss_warm = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    cpu0, wall0 = time.process_time(), time.perf_counter()
    batch(calls)
    wall1 = time.perf_counter()
    flush()
    cpu1, wall2 = time.process_time(), time.perf_counter()
    persisted = count()
    expected = -1 if variant == "none" else warmup + calls + pairs * pair_calls
    return {
        "variant": variant,
        "scenario": scenario,
        "calls": calls,
        "wall_us": (wall1 - wall0) / calls * 1e6,
        "cpu_us": (cpu1 - cpu0) / calls * 1e6,
        "flush_ms": (wall2 - wall1) * 1e3,
        "maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "maxrss_warm_kib": rss_warm,
        "persisted": persisted,
        "expected": expected,
        "calibration_ms": calibration_ms,
        "paired_cpu_us": paired,
    }


def _suppressed(variant: str) -> Any:
    """A context manager in which ``variant`` records nothing (its wrappers pass straight through)."""
    from contextlib import contextmanager

    @contextmanager
    def block() -> Any:
        if variant.startswith("peekr"):
            from peekr._context import suppress_instrumentation

            with suppress_instrumentation():
                yield
        elif variant in ("otel", "openinference"):
            from opentelemetry import context
            from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY

            token = context.attach(context.set_value(_SUPPRESS_INSTRUMENTATION_KEY, True))
            try:
                yield
            finally:
                context.detach(token)
        else:
            yield

    return block


def _paired_in_process(
    variant: str, batch: Callable[[int], None], flush: Callable[[], None], pairs: int, calls: int
) -> float:
    """Median over ``pairs`` back-to-back batches of (recorded - suppressed) process CPU per call.

    Both halves of a pair run within a fraction of a second in the same process, so they see the
    same machine load; the recorded half includes flushing everything it produced (minus the fixed
    cost of an idle flush, which real programs pay once per flush interval). Suppressed
    calls still pass through the wrappers (about a microsecond), so this slightly under-counts.
    For ``none`` both halves are identical: the result is the noise floor.
    """
    suppressed = _suppressed(variant)
    # A flush has a fixed cost (a round trip to the bus thread, a commit) that real programs pay every
    # flush_interval, not every few calls: measure it on an idle pipeline and take it out below.
    idle = []
    for _ in range(5):
        start = time.process_time()
        flush()
        idle.append(time.process_time() - start)
    idle_flush = statistics.median(idle)
    diffs = []
    for i in range(pairs):
        times = {}
        for recorded in (i % 2 == 0, i % 2 == 1):  # alternate which half goes first
            start = time.process_time()
            if recorded:
                batch(calls)
                flush()
                start += idle_flush
            else:
                with suppressed():
                    batch(calls)
            times[recorded] = time.process_time() - start
        diffs.append((times[True] - times[False]) / calls * 1e6)
    return statistics.median(diffs)


def _calibrate() -> float:
    """Milliseconds for a fixed pure-Python loop: how fast this machine ran during the cell."""
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        total = 0
        for i in range(200_000):
            total += i & 7
        best = min(best, time.perf_counter() - start)
    return best * 1e3


# -- driver --------------------------------------------------------------------------------------------


#: Bytecode cache for the cells, outside the venv. Deployed apps run from .pyc files; without them
#: every cell recompiles each module, and compiling genai-prices' 1.6 MB price table alone costs
#: ~1 s and a ~60 MiB transient peak that no real process pays after its first start.
PYCACHE = Path(tempfile.gettempdir()) / "peekr-bench-pycache"


def _cell(variant: str, scenario: str, calls: int, warmup: int) -> dict[str, Any]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PEEKR_", "OTEL_", "TRACELOOP_")) and k != "PYTHONDONTWRITEBYTECODE"
    }
    env["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
    out = subprocess.run(
        [sys.executable, __file__, "--cell", variant, scenario, str(calls), "--warmup", str(warmup)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=600,
        check=False,
    )
    if out.returncode != 0:
        raise SystemExit(f"cell {variant}/{scenario} failed:\n{out.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    if result["expected"] >= 0 and result["persisted"] != result["expected"]:
        raise SystemExit(f"cell {variant}/{scenario}: persisted {result['persisted']} of {result['expected']} records")
    return result


def components() -> str:
    """Where peekr's time goes, piece by piece, in this process (best of 7 runs each), next to a fixed
    pure-Python loop measured at the same moment (so the figures survive a loaded machine)."""
    from openai.types.chat import ChatCompletion, ChatCompletionChunk

    import peekr
    from peekr._capture import capture
    from peekr._cost import compute_cost
    from peekr._tracer import start_span
    from peekr.integrations._streams import StreamRecorder, traced_iterator
    from peekr.integrations.openai import _chat as chat
    from peekr.integrations.openai._common import load_sdk_types, trace_sync_stream

    load_sdk_types()
    peekr.instrument(storage="none", providers=["openai"])
    messages = _messages("sync")
    kwargs = {"model": "gpt-4o-mini", "messages": messages, "temperature": 0.2}
    completion = ChatCompletion.model_validate(
        {
            "id": "x",
            "object": "chat.completion",
            "created": 1,
            "model": "gpt-4o-mini",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "Paris."}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 24, "completion_tokens": 5, "total_tokens": 29},
        }
    )
    chunks = [
        ChatCompletionChunk.model_validate(
            {
                "id": "x",
                "object": "chat.completion.chunk",
                "created": 1,
                "model": "gpt-4o-mini",
                "choices": [{"index": 0, "delta": {"content": f"w{i} "}, "finish_reason": None}],
            }
        )
        for i in range(200)
    ]
    cost_attributes = {"provider": "openai", "model": "gpt-4o-mini", "tokens_input": 24, "tokens_output": 5}
    compute_cost(cost_attributes)

    class _Response:
        def close(self) -> None:
            pass

    class _Stream:
        def __init__(self, n: int) -> None:
            self._iterator = iter(chunks[:n])
            self.response = _Response()

    def loop() -> None:
        total = 0
        for i in range(1000):
            total += i & 7

    def per_call() -> None:
        name, attributes = chat.describe_chat(None, (), kwargs)
        span = start_span(name, attributes)
        assert span is not None
        chat.record_chat_completion(span, completion)
        span.end()

    def stream(n: int, *, pipeline: str) -> Callable[[], None]:
        def run() -> None:
            source = _Stream(n)
            span = start_span("openai.chat.completions", {"provider": "openai"})
            assert span is not None
            if pipeline == "recorder":  # the shared StreamRecorder + traced_iterator alone
                kept: list[Any] = []
                for _ in traced_iterator(source._iterator, StreamRecorder(span, kept.append, lambda s: None, "x")):
                    pass
                return
            hidden: list[Any] = []
            source._iterator = chat._skip_usage_chunk(source._iterator, hidden)
            make_on_chunk, finalize = chat.chat_stream_callbacks(hidden)
            trace_sync_stream(span, source, make_on_chunk, finalize, "x")
            for _ in source._iterator:
                pass

        return run

    def best(fn: Callable[[], object], n: int) -> float:
        runs = []
        for _ in range(7):
            start = time.perf_counter()
            for _ in range(n):
                fn()
            runs.append((time.perf_counter() - start) / n * 1e6)
        return min(runs)

    reference = best(loop, 200)
    rows = [
        ("describe + start_span + record + end (one non-streamed chat call, caller's thread)", best(per_call, 2000)),
        ("  of which capture(messages)", best(lambda: capture(messages), 2000)),
        ("compute_cost (bus thread, per span)", best(lambda: compute_cost(dict(cost_attributes)), 300)),
    ]
    chunk_rows = []
    for pipeline in ("recorder", "openai"):
        short, long = best(stream(2, pipeline=pipeline), 2000), best(stream(200, pipeline=pipeline), 300)
        chunk_rows.append((pipeline, (long - short) / 198, short))
    peekr.shutdown()
    lines = [
        "## Components (in-process, best of 7; `--components`)",
        "",
        f"A fixed 1000-iteration Python loop took {reference:.1f} µs during this measurement; the last column "
        "gives each figure in those units, which carry over to another machine better than µs do.",
        "",
        "| piece | µs | loops |",
        "| --- | ---: | ---: |",
    ]
    lines += [f"| {name} | {value:.2f} | {value / reference:.3f} |" for name, value in rows]
    for pipeline, per_chunk, fixed in chunk_rows:
        label = "shared StreamRecorder + traced_iterator" if pipeline == "recorder" else "whole OpenAI chat pipeline"
        lines.append(f"| per stream chunk: {label} | {per_chunk:.3f} | {per_chunk / reference:.4f} |")
        lines.append(f"| per stream, fixed part: {label} | {fixed:.2f} | {fixed / reference:.3f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=600, help="timed calls per cell (streams: a third)")
    parser.add_argument("--warmup", type=int, default=60)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--quick", action="store_true", help="2 rounds, 300 calls: a smoke run")
    parser.add_argument("--no-write", action="store_true", help=f"do not write {RESULTS.relative_to(ROOT)}")
    parser.add_argument("--json", help="also write every cell's raw result to this file")
    parser.add_argument("--components", action="store_true", help="only the in-process component timings")
    parser.add_argument("--cell", nargs=3, metavar=("VARIANT", "SCENARIO", "CALLS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.cell:
        variant, scenario, calls = args.cell
        print(json.dumps(run_cell(variant, scenario, int(calls), args.warmup)))
        return
    if args.components:
        print(components())
        return
    if args.quick:
        args.rounds, args.calls = 2, 300
    variants = args.variants.split(",")
    scenarios = args.scenarios.split(",")
    if "none" not in variants:
        variants.insert(0, "none")
    rng = random.Random(42)
    results: list[dict[str, Any]] = []
    started = time.perf_counter()
    for variant in variants:  # fill the bytecode cache; these cells are not counted
        _cell(variant, "stream5", 5, 2)
    for round_no in range(args.rounds):
        for scenario in scenarios:
            order = variants[:]
            rng.shuffle(order)
            stream = scenario.startswith("stream")
            calls = args.calls // 3 if stream else args.calls
            warmup = args.warmup // 3 if stream else args.warmup
            for variant in order:
                result = _cell(variant, scenario, calls, warmup)
                result["round"] = round_no
                results.append(result)
                print(
                    f"round {round_no} {scenario:9} {variant:13} {result['wall_us']:8.1f} us/call "
                    f"cpu {result['cpu_us']:8.1f} us  rss {result['maxrss_kib'] / 1024:6.1f} MiB",
                    file=sys.stderr,
                )
    elapsed = time.perf_counter() - started
    report = summarise(results, variants, scenarios, args, elapsed)
    print(report)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1), encoding="utf-8")
    if not args.no_write:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(report, encoding="utf-8")


def _paired(results: list[dict[str, Any]], variant: str, scenario: str, key: str) -> float:
    """Median over rounds of (variant - none) for ``key`` within each round."""
    by_round: dict[int, dict[str, float]] = {}
    for r in results:
        if r["scenario"] == scenario:
            by_round.setdefault(r["round"], {})[r["variant"]] = r[key]
    return statistics.median(v[variant] - v["none"] for v in by_round.values() if variant in v and "none" in v)


def _median(results: list[dict[str, Any]], variant: str, scenario: str, key: str) -> float:
    return float(statistics.median(r[key] for r in results if r["variant"] == variant and r["scenario"] == scenario))


def summarise(
    results: list[dict[str, Any]], variants: list[str], scenarios: list[str], args: Any, elapsed: float
) -> str:
    """The markdown report."""
    import openai

    lines = [
        "# Per-call overhead: peekr vs peers (OpenAI client, in-process transport)",
        "",
        f"Generated by `benchmarks/bench_overhead.py` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: "
        f"{args.rounds} interleaved rounds, {args.calls} timed calls per cell ({args.calls // 3} for streams) "
        f"after {args.warmup} warm-up calls, a fresh process per cell; run took {elapsed:.0f} s.",
        f"Python {platform.python_version()}, openai {openai.__version__}, {os.cpu_count()} CPUs "
        f"({platform.machine()}), load average at the end {os.getloadavg()[0]:.1f}.",
        "",
        "Every instrumented cell persisted exactly one record per call (counted after the flush).",
        "",
        "## Absolute (median per call)",
        "",
        "| scenario | variant | wall µs/call | CPU µs/call (all threads, until persisted) | peak RSS MiB |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for scenario in scenarios:
        for variant in variants:
            lines.append(
                f"| {scenario} | {variant} | {_median(results, variant, scenario, 'wall_us'):.1f} "
                f"| {_median(results, variant, scenario, 'cpu_us'):.1f} "
                f"| {_median(results, variant, scenario, 'maxrss_kib') / 1024:.1f} |"
            )
    lines += [
        "",
        "## Added by instrumentation (median of per-round differences to `none`)",
        "",
        "| variant | sync µs/call | sync CPU µs/call | async µs/call | async CPU µs/call "
        "| µs per stream chunk | CPU µs per stream chunk | stream50 µs/call | extra peak RSS MiB |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for variant in variants:
        if variant == "none":
            continue
        row = [variant]
        for scenario in ("sync", "async"):
            if scenario in scenarios:
                row += [
                    f"{_paired(results, variant, scenario, 'wall_us'):+.1f}",
                    f"{_paired(results, variant, scenario, 'cpu_us'):+.1f}",
                ]
            else:
                row += ["–", "–"]
        if "stream50" in scenarios and "stream5" in scenarios:
            span = CHUNKS["stream50"] - CHUNKS["stream5"]
            for key in ("wall_us", "cpu_us"):
                per_chunk = (
                    _paired(results, variant, "stream50", key) - _paired(results, variant, "stream5", key)
                ) / span
                row.append(f"{per_chunk:+.2f}")
            row.append(f"{_paired(results, variant, 'stream50', 'wall_us'):+.1f}")
        else:
            row += ["–", "–", "–"]
        rss = statistics.median(_paired(results, variant, scenario, "maxrss_kib") / 1024 for scenario in scenarios)
        row.append(f"{rss:+.1f}")
        lines.append("| " + " | ".join(row) + " |")
    lines += [
        "",
        "## Added CPU, paired in-process (recorded minus suppressed batches in the same process)",
        "",
        "Each cell also alternates batches with the variant recording and with its instrumentation suppressed "
        "(peekr's `suppress_instrumentation()`, OTel's suppression key), a fraction of a second apart, and takes "
        "the median difference in process CPU per call (all threads, flush included). This cancels most of the "
        "machine-load noise of the cross-process figures above. The `none` row is the noise floor.",
        "",
        "| variant | sync CPU µs/call | async CPU µs/call | stream50 CPU µs/call | CPU µs per stream chunk |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for variant in variants:
        row = [variant]
        for scenario in ("sync", "async", "stream50"):
            row.append(f"{_median(results, variant, scenario, 'paired_cpu_us'):+.1f}" if scenario in scenarios else "–")
        if "stream50" in scenarios and "stream5" in scenarios:
            span = CHUNKS["stream50"] - CHUNKS["stream5"]
            per_chunk = (
                _median(results, variant, "stream50", "paired_cpu_us")
                - _median(results, variant, "stream5", "paired_cpu_us")
            ) / span
            row.append(f"{per_chunk:+.2f}")
        else:
            row.append("–")
        lines.append("| " + " | ".join(row) + " |")
    if "sync" in scenarios:
        bare_cpu = _median(results, "none", "sync", "cpu_us")
        factor = REFERENCE_BARE_CALL_US / bare_cpu
        calibration = statistics.median(r["calibration_ms"] for r in results)
        lines += [
            "",
            "## Scaled to the reference machine (estimate)",
            "",
            f"This run's bare sync call took {bare_cpu:.0f} µs of CPU; the issue's reference machine does it in "
            f"~{REFERENCE_BARE_CALL_US} µs. Scaling the paired CPU figures by {factor:.2f} (assumes a uniform slowdown; "
            f"a fixed pure-Python loop took {calibration:.1f} ms per cell, median):",
            "",
            "| variant | sync CPU µs/call | async CPU µs/call | CPU µs per stream chunk |",
            "| --- | ---: | ---: | ---: |",
        ]
        for variant in variants:
            if variant == "none":
                continue
            row = [variant]
            for scenario in ("sync", "async"):
                row.append(
                    f"{_median(results, variant, scenario, 'paired_cpu_us') * factor:+.1f}"
                    if scenario in scenarios
                    else "–"
                )
            if "stream50" in scenarios and "stream5" in scenarios:
                span = CHUNKS["stream50"] - CHUNKS["stream5"]
                per_chunk = (
                    _median(results, variant, "stream50", "paired_cpu_us")
                    - _median(results, variant, "stream5", "paired_cpu_us")
                ) / span
                row.append(f"{per_chunk * factor:+.2f}")
            else:
                row.append("–")
            lines.append("| " + " | ".join(row) + " |")
    lines += [
        "",
        "Targets for peekr: ≤ 100 µs added per call (background work included, i.e. the CPU column), "
        "≤ 1 µs per stream chunk, ≤ 15 MiB extra peak RSS.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
