"""What peekr and its peers add per call and per stream chunk, on the real SDKs, in-process (no sockets).

Usage::

    .venv/bin/python benchmarks/bench_overhead.py            # full run, writes benchmarks/results/overhead.md
    .venv/bin/python benchmarks/bench_overhead.py --quick --no-write          # a short smoke run (~2 min)
    .venv/bin/python benchmarks/bench_overhead.py --providers openai-chat --variants peekr --scenarios call
    .venv/bin/python benchmarks/bench_overhead.py --components                # peekr's pieces in isolation
    .venv/bin/python benchmarks/bench_overhead.py --gc 100                    # GC collections per call

Providers (``--providers``): ``openai-chat`` (``chat.completions.create``; also an ``async`` scenario:
50 concurrent ``AsyncOpenAI`` calls, and ``stream-usage``: the stream with the caller's own
``stream_options={"include_usage": True}``, the issue's "50 chunks + usage chunk", where every variant and the
uninstrumented half receive the usage chunk and peekr asks for nothing; in ``stream`` the caller does not ask and
peekr asks for usage on its behalf and hides the extra chunk, so that figure includes what the request costs),
``openai-responses`` (``responses.create``), ``anthropic``
(``messages.create``), ``gemini`` (``models.generate_content``) and ``bedrock`` (``converse``). Each has
a ``call`` scenario (not streamed) and a ``stream`` scenario (the same prompt, ``stream=True`` /
``*_stream``, fully consumed: 50 text pieces plus the provider's framing events). Clients and transports:
``benchmarks/_overhead_providers.py``.

Variants (``--variants``): ``none`` (no instrumentation at all: the noise floor), ``peekr``
(``peekr.instrument(storage="sqlite")``: the bus thread, encoding, cost and SQLite writes are real) and
the provider's two peers (``openinference`` and ``openllmetry``), each with the OTel SDK, a ``BatchSpanProcessor`` and a JSON-lines file exporter.
``peers`` in ``--variants`` means both of each provider's peers.

Method:

- One fresh process per (provider, variant) and round; rounds rotate the order of the cells.
- Inside a cell, batches alternate between the SDK *uninstrumented* (the variant's instrumentation
  removed: ``peekr.uninstrument()``, ``Instrumentor().uninstrument()``, and clients made while it was
  off) and *instrumented*, in ABBA order, so both halves of a pair see the same machine load. Every
  batch ends with the variant's flush (both halves, so the fixed cost of a flush cancels out): CPU of
  everything the instrumentation does in the background is counted. Every batch of the non-streamed and
  streamed scenarios holds the same number of units (8), so each unit carries the same share of a batch's
  write (``BATCH``).
- Per batch: the caller's thread CPU (``time.thread_time``), the process CPU over all threads
  (``time.process_time``: the caller, peekr's bus thread and SQLite writer, the peers' export thread)
  until flushed, and the wall time of the calls.
- Added per call = instrumented - uninstrumented of the same pair. Added per stream chunk = (added per
  stream - added per non-streamed call of the same pair) / items the caller iterated: the per-call cost
  (request capture, span start and end, one record written) comes off, what is left is what the stream
  costs beyond a call, spread over its chunks.
- Medians over all pairs of all rounds; 95 % confidence intervals by a two-level bootstrap (resampling
  rounds, then pairs inside each). The load average is printed with every round and the result.
- Every instrumented call must be recorded: peekr's SQLite rows are counted against the calls made (a
  missing row fails the run); the peers' exported spans are counted and shown.
- ``BENCH_PEEKR_OPTIONS`` (a JSON object) passes more ``peekr.instrument()`` arguments to the ``peekr``
  variant, for diagnostics: ``'{"flush_interval": 3600}'`` keeps the bus asleep until each batch's flush.
"""

from __future__ import annotations

import argparse
import gc
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
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import _overhead_providers as providers_mod  # a sibling module (the script's directory is on sys.path)

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "overhead.md"
PROVIDERS = list(providers_mod.PROVIDERS)
#: Calls per batch. Non-streamed calls and streams alike hold 8: each batch ends with a flush, whose write has a
#: fixed cost beyond its records (a SQLite transaction, ~330 µs for peekr here), and with the same count per batch
#: every unit carries the same share of it, so (added per stream - added per call) removes it. (With 30 calls per
#: batch against 8 streams, a stream carried ~3.7 times a call's share: ~0.6 µs per chunk that was the batching.)
BATCH = {"call": 8, "stream": 8, "stream-usage": 8, "async": 1}
#: Streamed scenarios: per chunk = (added per stream − added per call) / items.
STREAMS = ("stream", "stream-usage")
STREAM_LABELS = {"stream": "", "stream-usage": "caller asks for usage"}
METRICS = ("cpu", "caller", "wall")
METRIC_NAMES = {
    "cpu": "CPU, all threads",
    "caller": "CPU, caller's thread",
    "wall": "wall (caller)",
}


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


class _Variant:
    """Switch a variant's instrumentation on and off, flush it, count what it persisted."""

    def __init__(self, variant: str, provider: providers_mod.Provider, workdir: Path) -> None:
        self.variant = variant
        self.on: Callable[[], object] = lambda: None
        self.off: Callable[[], object] = lambda: None
        self.flush: Callable[[], None] = lambda: None
        self.count: Callable[[], int] = lambda: -1
        if variant == "none":
            return
        if variant == "peekr":
            import peekr
            from peekr.integrations import setup_integrations

            path = workdir / "traces.db"
            names = [provider.peekr_provider]
            # BENCH_PEEKR_OPTIONS (JSON): more instrument() arguments, e.g. {"flush_interval": 3600} (a diagnostic)
            options = json.loads(os.environ.get("BENCH_PEEKR_OPTIONS", "{}"))
            peekr.instrument(storage="sqlite", path=path, providers=names, **options)

            def count() -> int:
                with sqlite3.connect(path) as db:
                    return int(db.execute("SELECT COUNT(*) FROM spans").fetchone()[0])

            def flush() -> None:
                assert peekr.flush(120), "peekr.flush timed out"

            self.on = lambda: setup_integrations(names)
            self.off = peekr.uninstrument
            self.flush, self.count = flush, count
            return
        import importlib

        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        peers = {name: (module, cls) for name, module, cls in providers_mod.PEERS[provider.name]}
        if variant == "otel":  # the previous harness's name for OpenLLMetry
            variant = "openllmetry"
        module, cls = peers[variant]
        instrumentor = getattr(importlib.import_module(module), cls)()
        spans = workdir / "otel.jsonl"
        tracer_provider = TracerProvider()
        tracer_provider.add_span_processor(BatchSpanProcessor(_JsonLinesExporter(spans)))  # type: ignore[arg-type]
        instrumentor.instrument(tracer_provider=tracer_provider)

        def otel_flush() -> None:
            assert tracer_provider.force_flush(120_000), "force_flush timed out"

        if provider.name != "bedrock":
            self.on = lambda: instrumentor.instrument(tracer_provider=tracer_provider)
            self.off = instrumentor.uninstrument
        # else: the Bedrock peers wrap each client as boto3 creates it (and unwrap every client they
        # made on uninstrument): the clients made before instrumenting are the uninstrumented SDK.
        self.flush = otel_flush
        self.count = lambda: sum(1 for _ in spans.open(encoding="utf-8")) if spans.exists() else 0


def _batch(fn: Callable[[], int], n: int, flush: Callable[[], None]) -> tuple[float, float, float, int]:
    """Run ``fn`` ``n`` times; (process CPU incl. flush, caller-thread CPU, wall) in seconds, items seen."""
    gc.collect()
    cpu0, own0, wall0 = time.process_time(), time.thread_time(), time.perf_counter()
    items = 0
    for _ in range(n):
        items += fn()
    wall1, own1 = time.perf_counter(), time.thread_time()
    flush()
    return time.process_time() - cpu0, own1 - own0, wall1 - wall0, items


def run_cell(provider_name: str, variant: str, pairs: int, scenarios: Sequence[str], warmup: int) -> dict[str, Any]:
    """Time ``pairs`` ABBA pairs of each scenario, uninstrumented vs instrumented, in this process."""
    workdir = Path(tempfile.mkdtemp(prefix="peekr-bench-"))
    provider = providers_mod.PROVIDERS[provider_name]()
    scenarios = [s for s in scenarios if s in provider.scenarios]
    provider.save("off")  # clients made before any instrumentation
    switch = _Variant(variant, provider, workdir)
    provider.rebuild()
    provider.save("on")  # clients made while instrumented (peers that wrap clients at creation)
    made = 0

    current = [True]

    def use(on: bool) -> None:
        if on == current[0]:
            return
        current[0] = on
        if on:
            switch.on()
            provider.load("on")
        else:
            switch.off()
            provider.load("off")

    for scenario in scenarios:  # warm up: the SDKs' lazy imports, caches, both states
        for on in (False, True):
            use(on)
            for _ in range(warmup):
                provider.scenarios[scenario]()
            made += warmup * provider.calls_per_run.get(scenario, 1) if on else 0
            switch.flush()
    on_now = True
    samples: dict[str, list[dict[str, Any]]] = {s: [] for s in scenarios}
    for _ in range(pairs):
        for scenario in scenarios:
            fn, n = provider.scenarios[scenario], BATCH[scenario]
            per_run = provider.calls_per_run.get(scenario, 1)
            halves: dict[bool, tuple[float, float, float, int]] = {}
            for on in (on_now, not on_now):  # ABBA: the state just measured goes first next time
                use(on)
                halves[on] = _batch(fn, n, switch.flush)
                made += n * per_run if on else 0
            on_now = not on_now
            calls = n * per_run
            sample = {
                f"{metric}_{state}": halves[on][k] / calls * 1e6
                for k, metric in enumerate(METRICS)
                for state, on in (("off", False), ("on", True))
            }
            sample["items"] = halves[False][3] / n  # per call, as the caller saw it
            assert halves[True][3] == halves[False][3], (scenario, halves)
            samples[scenario].append(sample)
    use(True)
    switch.flush()
    persisted = switch.count()
    if variant == "peekr" and persisted != made:
        raise SystemExit(f"{provider_name}/{variant}: persisted {persisted} spans for {made} calls")
    return {
        "provider": provider_name,
        "variant": variant,
        "samples": samples,
        "persisted": persisted,
        "calls": made,
        "maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "load": os.getloadavg()[0],
    }


def gc_cell(provider_name: str, calls: int) -> dict[str, Any]:
    """Collections of the cyclic garbage collector per 100 calls, and its CPU per call, peekr off vs on.

    Deterministic where CPU time is not: a traced stream that keeps the SDK's objects alive (or leaves
    them in reference cycles) makes the collector run more often and walk more objects.
    """
    workdir = Path(tempfile.mkdtemp(prefix="peekr-bench-"))
    provider = providers_mod.PROVIDERS[provider_name]()
    provider.save("off")
    switch = _Variant("peekr", provider, workdir)
    provider.rebuild()
    provider.save("on")
    spent = [0.0, 0.0]

    def timer(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            spent[1] = time.thread_time()
        else:
            spent[0] += time.thread_time() - spent[1]

    gc.callbacks.append(timer)
    out: dict[str, Any] = {"provider": provider_name}
    for on in (False, True):
        if on:
            switch.on()
            provider.load("on")
        else:
            switch.off()
            provider.load("off")
        for scenario in ("call", "stream"):
            fn = provider.scenarios[scenario]
            for _ in range(10):
                fn()
            switch.flush()
            gc.collect()
            before = [g["collections"] for g in gc.get_stats()]
            spent[0] = 0.0
            for _ in range(calls):
                fn()
            switch.flush()
            after = [g["collections"] for g in gc.get_stats()]
            out[f"{scenario}_{'on' if on else 'off'}"] = {
                "collections": [round((b - a) * 100 / calls, 1) for a, b in zip(before, after, strict=True)],
                "gc_us": spent[0] / calls * 1e6,
            }
    gc.callbacks.remove(timer)
    return out


def gc_report(providers: Sequence[str], calls: int) -> str:
    """The ``--gc`` table: one fresh process per provider."""
    lines = [
        "## Garbage collection per call (`--gc`)",
        "",
        f"Collections of the cyclic garbage collector per 100 calls (generations 0 / 1 / 2) and its CPU per "
        f"stream, {calls} calls each, SDK uninstrumented (off) vs peekr, a fresh process per provider.",
        "",
        "| provider | call, off | call, peekr | stream, off | stream, peekr | GC µs per stream, off / peekr |",
        "| --- | --- | --- | --- | --- | ---: |",
    ]
    for provider in providers:
        out = subprocess.run(
            [sys.executable, __file__, "--gc-cell", provider, str(calls)],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=1200,
            check=False,
        )
        if out.returncode != 0:
            raise SystemExit(f"gc cell {provider} failed:\n{out.stderr[-4000:]}")
        r = json.loads(out.stdout.strip().splitlines()[-1])
        cells = [
            " / ".join(f"{x:g}" for x in r[key]["collections"])
            for key in ("call_off", "call_on", "stream_off", "stream_on")
        ]
        gc_us = f"{r['stream_off']['gc_us']:.1f} / {r['stream_on']['gc_us']:.1f}"
        lines.append(f"| {provider} | " + " | ".join(cells) + f" | {gc_us} |")
    return "\n".join(lines) + "\n"


# -- driver --------------------------------------------------------------------------------------------


#: Bytecode cache for the cells, outside the venv: deployed apps run from .pyc files.
PYCACHE = Path(tempfile.gettempdir()) / "peekr-bench-pycache"


def _cell(provider: str, variant: str, pairs: int, scenarios: Sequence[str], warmup: int) -> dict[str, Any]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PEEKR_", "OTEL_", "TRACELOOP_")) and k != "PYTHONDONTWRITEBYTECODE"
    }
    env["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
    env["OTEL_SDK_DISABLED"] = "false"
    env["TRACELOOP_TELEMETRY"] = "false"
    command = [sys.executable, __file__, "--cell", provider, variant, str(pairs), ",".join(scenarios)]
    out = subprocess.run(
        [*command, "--warmup", str(warmup)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=1200,
        check=False,
    )
    if out.returncode != 0:
        raise SystemExit(f"cell {provider}/{variant} failed:\n{out.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _variants_of(provider: str, wanted: Sequence[str]) -> list[str]:
    names = [name for name, _, _ in providers_mod.PEERS[provider]]
    out: list[str] = []
    for variant in wanted:
        if variant == "peers":
            out += names
        elif variant in ("none", "peekr") or variant in names:
            out.append(variant)
    return list(dict.fromkeys(out))


def _installed(provider: str, variant: str) -> bool:
    import importlib.util

    for name, module, _ in providers_mod.PEERS[provider]:
        if name == variant:
            try:
                return importlib.util.find_spec(module) is not None
            except ModuleNotFoundError:
                return False
    return True


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, help="fresh processes per provider × variant (default 6; quick: 2)")
    parser.add_argument("--pairs", type=int, help="ABBA pairs per scenario in each cell (default 12; quick: 4)")
    parser.add_argument("--warmup", type=int, help="calls per scenario and state before timing (default 10; quick: 5)")
    parser.add_argument("--providers", default=",".join(PROVIDERS))
    parser.add_argument("--variants", default="none,peekr,peers", help="none, peekr, peers or a peer's name")
    parser.add_argument("--scenarios", default="call,stream,stream-usage,async")
    parser.add_argument("--quick", action="store_true", help="2 rounds of 4 pairs: a smoke run")
    parser.add_argument("--no-write", action="store_true", help=f"do not write {RESULTS.relative_to(ROOT)}")
    parser.add_argument("--output", type=Path, default=RESULTS, help="the markdown report to write")
    parser.add_argument("--json", help="also write every cell's raw result to this file")
    parser.add_argument("--components", action="store_true", help="only the in-process component timings")
    parser.add_argument("--gc", type=int, metavar="CALLS", help="only the garbage-collection counts (e.g. 100)")
    parser.add_argument("--gc-cell", nargs=2, metavar=("PROVIDER", "CALLS"), help=argparse.SUPPRESS)
    parser.add_argument(
        "--cell", nargs=4, metavar=("PROVIDER", "VARIANT", "PAIRS", "SCENARIOS"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    try:  # checked here, in the parent, so a typo is named at once rather than in a child's traceback
        if not isinstance(json.loads(os.environ.get("BENCH_PEEKR_OPTIONS", "{}")), dict):
            raise ValueError("not an object")
    except ValueError:
        parser.error("BENCH_PEEKR_OPTIONS must be a JSON object, e.g. '{\"flush_interval\": 3600}'")
    quick = (2, 4, 5) if args.quick else (6, 12, 10)
    args.rounds = args.rounds if args.rounds is not None else quick[0]
    args.pairs = args.pairs if args.pairs is not None else quick[1]
    args.warmup = args.warmup if args.warmup is not None else quick[2]
    if args.cell:
        provider, variant, pairs, scenarios = args.cell
        print(json.dumps(run_cell(provider, variant, int(pairs), scenarios.split(","), args.warmup)))
        return
    if args.gc_cell:
        print(json.dumps(gc_cell(args.gc_cell[0], int(args.gc_cell[1]))))
        return
    if args.gc:
        print(gc_report(args.providers.split(","), args.gc))
        return
    if args.components:
        from _overhead_components import components

        print(components())
        return
    scenarios = args.scenarios.split(",")
    providers = args.providers.split(",")
    wanted = args.variants.split(",")
    missing: list[tuple[str, str]] = []
    cells: list[tuple[str, str]] = []
    for provider in providers:
        for variant in _variants_of(provider, wanted):
            if _installed(provider, variant):
                cells.append((provider, variant))
            else:
                missing.append((provider, variant))
    rng = random.Random(42)
    results: list[dict[str, Any]] = []
    loads = [os.getloadavg()[0]]
    started = time.perf_counter()
    for round_no in range(args.rounds):
        order = cells[:]
        rng.shuffle(order)
        for provider, variant in order:
            result = _cell(provider, variant, args.pairs, scenarios, args.warmup)
            result["round"] = round_no
            results.append(result)
            loads.append(result["load"])
            call = result["samples"].get("call")
            notes = []
            for name in STREAMS:
                stream = result["samples"].get(name)
                if stream and call:
                    per_chunk = statistics.median(_per_chunk(c, s, "cpu") for c, s in zip(call, stream, strict=True))
                    notes.append(f"{name} per chunk {per_chunk:+6.2f} us")
            note = ", ".join(notes)
            print(
                f"round {round_no} {provider:17} {variant:13} "
                + " ".join(
                    f"{s} {statistics.median(x['cpu_on'] - x['cpu_off'] for x in v):+8.1f}"
                    for s, v in result["samples"].items()
                )
                + f" us CPU/call  {note}  load {result['load']:.2f}",
                file=sys.stderr,
            )
    elapsed = time.perf_counter() - started
    report = summarise(results, cells, missing, args, elapsed, loads)
    print(report)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1), encoding="utf-8")
    if not args.no_write:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(report, encoding="utf-8")


# -- statistics ----------------------------------------------------------------------------------------


def _added(sample: dict[str, Any], metric: str) -> float:
    return float(sample[f"{metric}_on"] - sample[f"{metric}_off"])


def _per_chunk(call: dict[str, Any], stream: dict[str, Any], metric: str) -> float:
    return (_added(stream, metric) - _added(call, metric)) / float(stream["items"])


def _values(cells: list[dict[str, Any]], value: Callable[[dict[str, Any]], list[float]]) -> list[list[float]]:
    """One list of per-pair values per round (cell)."""
    return [v for v in (value(cell) for cell in cells) if v]


def _median_ci(groups: list[list[float]], iterations: int = 2000, seed: int = 7) -> tuple[float, float, float]:
    """Median of every value, and a 95 % two-level bootstrap interval (rounds, then pairs within)."""
    pooled = [x for group in groups for x in group]
    if not pooled:
        return float("nan"), float("nan"), float("nan")
    rng = random.Random(seed)
    medians = []
    for _ in range(iterations):
        sample: list[float] = []
        for group in rng.choices(groups, k=len(groups)):
            sample += rng.choices(group, k=len(group))
        medians.append(statistics.median(sample))
    medians.sort()
    return statistics.median(pooled), medians[int(0.025 * iterations)], medians[int(0.975 * iterations) - 1]


def _fmt(triple: tuple[float, float, float], digits: int = 1) -> str:
    median, low, high = triple
    return f"{median:+.{digits}f} [{low:+.{digits}f}, {high:+.{digits}f}]"


def summarise(
    results: list[dict[str, Any]],
    cells: list[tuple[str, str]],
    missing: list[tuple[str, str]],
    args: Any,
    elapsed: float,
    loads: list[float],
) -> str:
    """The markdown report."""
    import importlib.metadata as md

    def version(name: str) -> str:
        try:
            return md.version(name)
        except md.PackageNotFoundError:
            return "-"

    sdks = ", ".join(f"{name} {version(name)}" for name in ("openai", "anthropic", "google-genai", "boto3", "botocore"))
    peers = ", ".join(
        f"{name} {version(name)}"
        for name in (
            "openinference-instrumentation-openai",
            "opentelemetry-instrumentation-openai",
            "openinference-instrumentation-anthropic",
            "opentelemetry-instrumentation-anthropic",
            "openinference-instrumentation-google-genai",
            "opentelemetry-instrumentation-google-generativeai",
            "openinference-instrumentation-bedrock",
            "opentelemetry-instrumentation-bedrock",
        )
    )
    command = "benchmarks/bench_overhead.py " + " ".join(sys.argv[1:])
    lines = [
        "# Added cost per call and per stream chunk: peekr vs peers (real SDKs, in-process transports)",
        "",
        f"Generated by `.venv/bin/python {command.strip()}` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: "
        f"{args.rounds} rounds × {args.pairs} ABBA pairs per scenario, a fresh process per provider × variant × "
        f"round; run took {elapsed:.0f} s. Load average (1 min) during the run: min {min(loads):.2f}, "
        f"median {statistics.median(loads):.2f}, max {max(loads):.2f}; {os.cpu_count()} CPUs ({platform.machine()}), "
        f"Python {platform.python_version()}.",
        "",
        f"SDKs: {sdks}. Peers: {peers}.",
        "",
        "Method (module docstring): instrumented − uninstrumented batches of the same pair, medians over every pair "
        "of every round, [95 % bootstrap interval]. *CPU, all threads* is process CPU until everything is "
        "persisted (peekr's bus thread and SQLite writer, the peers' export thread); *caller* is the calling "
        "thread alone. Per chunk = (added per stream − added per non-streamed call) / items the caller iterated.",
        "",
    ]
    if missing:
        lines += [
            "Not measured (instrumentation not installed in this venv): "
            + ", ".join(f"{variant} for {provider}" for provider, variant in missing)
            + " (`uv pip install -r benchmarks/requirements-peers.txt`).",
            "",
        ]
    lines += [
        "## Added per stream chunk (µs)",
        "",
        "| provider | variant | items per stream | CPU, all threads | CPU, caller's thread | wall | spans / calls |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    by_cell: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for result in results:
        by_cell.setdefault((result["provider"], result["variant"]), []).append(result)
    for name in STREAMS:
        for provider, variant in cells:
            runs = by_cell.get((provider, variant), [])
            if not runs or name not in runs[0]["samples"] or "call" not in runs[0]["samples"]:
                continue
            items = statistics.median(s["items"] for r in runs for s in r["samples"][name])
            row = [provider + (STREAM_LABELS[name] and f" ({STREAM_LABELS[name]})"), variant, f"{items:.0f}"]
            for metric in METRICS:
                groups = _values(
                    runs,
                    lambda r, m=metric, sc=name: [  # type: ignore[misc]
                        _per_chunk(c, s, m) for c, s in zip(r["samples"]["call"], r["samples"][sc], strict=True)
                    ],
                )
                row.append(_fmt(_median_ci(groups), 2))
            row.append(_spans(runs))
            lines.append("| " + " | ".join(row) + " |")
    for scenario, title in (
        ("call", "Added per non-streamed call (µs)"),
        ("stream", "Added per stream, whole stream consumed (µs)"),
        ("stream-usage", "Added per stream, the caller asks for usage (`stream_options.include_usage`) (µs)"),
        ("async", "Added per async call, 50 concurrent (batch / 50, µs)"),
    ):
        rows = []
        for provider, variant in cells:
            runs = [r for r in by_cell.get((provider, variant), []) if scenario in r["samples"]]
            if not runs:
                continue
            base = statistics.median(s["cpu_off"] for r in runs for s in r["samples"][scenario])
            row = [provider, variant, f"{base:.0f}"]
            for metric in METRICS:
                groups = _values(runs, lambda r, m=metric, sc=scenario: [_added(s, m) for s in r["samples"][sc]])  # type: ignore[misc]
                row.append(_fmt(_median_ci(groups)))
            rows.append("| " + " | ".join(row) + " |")
        if rows:
            lines += [
                "",
                f"## {title}",
                "",
                "| provider | variant | uninstrumented CPU µs | CPU, all threads | CPU, caller's thread | wall |",
                "| --- | --- | ---: | ---: | ---: | ---: |",
                *rows,
            ]
    lines += [
        "",
        "`none` is the noise floor (both halves of every pair uninstrumented). Targets for peekr (issue 19): "
        "≤ 1 µs added per stream chunk for every provider; ≤ 50 µs wall and ≤ 60 µs CPU (all threads) per "
        "sync call; ≤ 50 µs per async call.",
        "",
    ]
    return "\n".join(lines)


def _spans(runs: list[dict[str, Any]]) -> str:
    persisted = sum(r["persisted"] for r in runs)
    calls = sum(r["calls"] for r in runs)
    if persisted < 0:
        return "–"
    return f"{persisted} / {calls}"


if __name__ == "__main__":
    main()
