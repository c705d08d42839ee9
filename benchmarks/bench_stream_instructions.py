"""Marginal cost per stream chunk as instruction counts (load-independent), by the slope over two stream lengths.

``bench_overhead.py`` gives added CPU per chunk as (added per stream − added per call) / chunks, which on a
shared 2-core machine swings by several µs between runs. Counting instructions under callgrind does not
depend on load: one *run* executes ``W`` warm-up and ``N`` timed fully consumed streams of a given length
through the real SDK on the in-process fake provider (``benchmarks/_overhead_providers.py``), with peekr
(SQLite storage, flushed) or without. Two lengths and both variants give the slope::

    per chunk = [(peekr, long) − (peekr, short) − (none, long) + (none, short)] / ((W + N) × (long − short))

(callgrind counts the whole process, warm-up included, so every stream of the run is in the divisor; start-up
and one-time costs are the same at both lengths and cancel.) One command runs the 4 × providers valgrind
runs and prints the table::

    .venv/bin/python benchmarks/bench_stream_instructions.py --all            # every provider, 2 runs at once
    .venv/bin/python benchmarks/bench_stream_instructions.py --all --providers openai_chat --prompt echo

Every thread is counted (the caller, peekr's bus thread and SQLite writer; ``--separate-threads=no``).

Bus wake-ups. peekr's bus wakes every ``flush_interval`` (0.2 s) of *wall* time; under callgrind one idle
wake-up costs ~100k instructions (120 s idle: +50M and +76M instructions over 2 s idle, two runs each), and a
long run lasts a minute or more longer than a short one on a loaded machine, so with the default interval the
slope counted tens of thousands of instructions per chunk of wall-clock ticks, varying with the load. ``--all``
therefore runs peekr with ``--flush-interval 3600``: the bus then works only when ``peekr.flush()`` (or a full
batch) wakes it, every span is still encoded and stored inside the run, and the slope is the per-chunk work
alone. (Without valgrind a 100-chunk stream takes about a millisecond, so real ticks are no per-chunk cost.)

Prompt. The fake answers with ``"Echo: "`` + the last user text, so a longer stream needs a longer user
message. ``--prompt fixed`` (the default) pads the system prompt with the words the short run's user message
lacks, so both lengths send the same prompt (same bytes, same input tokens) and the slope is the cost of the
output alone: the per-chunk callback plus peekr's per-byte work on the output text (capture, encoding,
storage). ``--prompt echo`` (the original form) lets the prompt grow with the output, so the slope also counts
capturing, encoding and storing one more prompt word per chunk.

Garbage collector. Each run calls ``gc.collect()`` once after the warm-up streams and the warm-up flush, in both
variants (``--gc pin``, the default), so the timed streams of every run start with the collector's generation
counters at zero. Without it, whether one more full collection (``gc_collect_main`` ≈ 46M instructions ≈ 34k
per chunk at ``--streams 12 --warmup 3``) lands in the long run and not in the short one depended on where the
counters stood after start-up and the warm-up, which any change to what is allocated per stream, and the bus
thread's timing, moved: single OpenAI chat figures of the same code ranged from 14k to 60k. With the pin, a
collection can only be triggered by what the timed streams (and the final flush) allocate themselves, and it is
counted: the collector stays enabled and nothing is frozen, so the young collections peekr's per-chunk
allocations cause are in the figure. Each run reports the collections of each generation during its timed
part, and ``--all`` prints them. ``--gc free`` gives the old behaviour (no collection before the timed streams).
Runs of the same code at the same path now agree within ~3 %; the process layout (e.g. where the files are)
still moves CPython's type-attribute cache collisions by a few thousand instructions per chunk (OpenAI chat 9.0k to
14.7k at four paths), so compare code changes at the same path, and over several paths to tell a change from a
new draw (``benchmarks/results/stream_instructions.md``).

``--no-usage`` (or ``PEEKR_BENCH_NO_USAGE=1`` for a single run) turns off the OpenAI stream-usage request
(``peekr.integrations.openai.inject_stream_usage``). Convert with ~12,000 instructions per µs on the
benchmark machine (``bench_call_instructions.py``: 191k ≈ 15.5 µs). A single run (what ``--all`` launches
under valgrind)::

    valgrind --tool=callgrind --separate-threads=no --callgrind-out-file=/tmp/cg.out \\
      .venv/bin/python benchmarks/bench_stream_instructions.py openai_chat peekr 99 60

Providers: openai_chat, openai_responses, anthropic, gemini, bedrock.

The issue's own measure, load-independent (``--issue-measure``). ``bench_overhead.py`` times (added per stream −
added per non-streamed call) / items, which spreads what a stream costs once more than a call over its chunks;
on this machine its 95 % intervals are several µs wide. ``--issue-measure`` computes the same quotient from
instruction counts: per provider, both variants at two stream counts and two call counts (slopes give whole
streams and whole calls, start-up cancels), at the benchmark's 49-word prompt (50 text pieces plus the
provider's framing events, as ``bench_overhead.py``), and OpenAI chat also with the caller's own
``stream_options.include_usage`` (``stream-usage``, the issue's "50 chunks + usage chunk"). Instructions per
item become µs at the uninstrumented SDK's own rate on this machine (its instructions per stream over its
process CPU per stream, timed without valgrind before the valgrind runs start). That rate is the SDK's, cache
misses included; Peekr's instructions can cost more each (``results/stream_instructions.md``), so the µs
column is an estimate, the instruction column the measurement::

    .venv/bin/python benchmarks/bench_stream_instructions.py --issue-measure            # 44 valgrind runs, ~20 min
    .venv/bin/python benchmarks/bench_stream_instructions.py --issue-measure --providers openai_chat --keep /tmp/im
"""

from __future__ import annotations

import argparse
import compileall
import gc
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _overhead_providers as providers
from _layout import shift_layout

PROVIDER_NAMES = ("openai_chat", "openai_responses", "anthropic", "gemini", "bedrock")
INSTRUCTIONS_PER_US = 12_000
_COLLECTED = re.compile(r"Collected\s*:\s*(\d+)")
_GC_LINE = re.compile(r"^timed gc collections: (\d+) (\d+) (\d+)$", re.MULTILINE)
_ITEMS_LINE = re.compile(r"^items per unit: (\d+)$", re.MULTILINE)
_US_LINE = re.compile(r"^us per unit: ([\d.]+)$", re.MULTILINE)


def run_once(
    name: str,
    variant: str,
    words: int,
    count: int,
    *,
    warmup: int = 20,
    pad_to: int = 0,
    storage: str = "sqlite",
    flush_interval: float = 0.2,
    gc_pin: bool = True,
    scenario: str = "stream",
    timed: int = 0,
) -> None:
    """Run ``warmup`` + ``count`` streams whose reply echoes ``words`` prompt words (what valgrind measures).

    ``pad_to`` > ``words`` appends the missing prompt words to the system prompt (``--prompt fixed``).
    ``gc_pin`` runs one full collection right before the timed streams (see the module docstring). Prints
    the collections of each generation during the timed streams and the final flush to stderr, and the items
    the caller iterated per unit. ``scenario`` is the provider's scenario to run (``stream``, ``call``, or
    OpenAI chat's ``stream-usage``). ``timed`` > 0 (no valgrind): after the run, ``timed`` rounds of ``count``
    units each, timed with ``time.process_time``; prints the median µs per unit (``--issue-measure`` converts
    instructions to µs at the uninstrumented SDK's own rate with it).
    """
    if variant not in ("none", "peekr"):
        raise SystemExit("variant: none or peekr")
    providers.PROMPT = " ".join(f"word{i}" for i in range(1, words + 1))
    providers.EXPECTED_TAIL = f"word{words}"
    if pad_to > words:
        providers.SYSTEM += " " + " ".join(f"word{i}" for i in range(words + 1, pad_to + 1))
    import peekr
    import peekr.integrations.openai as openai_integration

    if os.environ.get("PEEKR_BENCH_NO_USAGE"):
        openai_integration.inject_stream_usage = False
    provider = getattr(providers, name)()
    with tempfile.TemporaryDirectory() as tmp:
        if variant == "peekr":
            peekr.instrument(storage=storage, path=str(Path(tmp) / "traces.db"), flush_interval=flush_interval)
        provider.rebuild()
        if scenario not in provider.scenarios:
            raise SystemExit(f"{name} has no {scenario!r} scenario (it has {', '.join(provider.scenarios)})")
        stream = provider.scenarios[scenario]
        items = 0
        for _ in range(warmup):  # imports, caches, the price table
            items = stream()
        if variant == "peekr":
            peekr.flush()
        if gc_pin:  # counters at zero in both variants: only the timed streams' allocations trigger collections
            gc.collect()
        before = [generation["collections"] for generation in gc.get_stats()]
        for _ in range(count):
            items = stream()
        if variant == "peekr":
            peekr.flush()
        after = [generation["collections"] for generation in gc.get_stats()]
        print("timed gc collections:", *(a - b for a, b in zip(after, before, strict=True)), file=sys.stderr)
        print(f"items per unit: {items}", file=sys.stderr)
        if timed:
            rounds = []
            for _ in range(timed):
                started = time.process_time()
                for _ in range(count):
                    stream()
                rounds.append((time.process_time() - started) / count * 1e6)
                if variant == "peekr":
                    peekr.flush()
            print(f"us per unit: {statistics.median(rounds):.1f}", file=sys.stderr)
        if variant == "peekr":
            peekr.uninstrument()


def _valgrind(args: list[str], env: dict[str, str], out_dir: str) -> tuple[int, str, int]:
    """Instructions collected by callgrind over one run of this script with ``args`` (all threads).

    Also returns the run's collections per generation during its timed part ("g0/g1/g2", "?" if unknown)
    and the items the caller iterated per unit (0 if unknown).
    """
    out = Path(out_dir) / ("cg." + ".".join(args) + ".out")
    gc_file = out.with_suffix(".gc")
    items_file = out.with_suffix(".items")
    if out.exists():  # a finished run kept by an earlier --keep: reuse its count
        summary = re.search(r"^summary: (\d+)", out.read_text(), re.MULTILINE)
        if summary is not None:
            return (
                int(summary.group(1)),
                gc_file.read_text() if gc_file.exists() else "?",
                int(items_file.read_text()) if items_file.exists() else 0,
            )
    command = [
        "valgrind",
        "--tool=callgrind",
        "--separate-threads=no",
        "--dump-instr=no",
        f"--callgrind-out-file={out}",
        sys.executable,
        __file__,
        *args,
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    match = _COLLECTED.search(done.stderr)
    if done.returncode != 0 or match is None:
        raise SystemExit(f"valgrind run {args} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    collections = _GC_LINE.search(done.stderr)
    gc_counts = "/".join(collections.groups()) if collections is not None else "?"
    items = _ITEMS_LINE.search(done.stderr)
    item_count = int(items.group(1)) if items is not None else 0
    gc_file.write_text(gc_counts)
    items_file.write_text(str(item_count))
    return int(match.group(1)), gc_counts, item_count


def _byte_compile() -> None:
    """Byte-compile peekr and the benchmarks before any valgrind run: a run that finds no .pyc compiles the
    sources (tens of millions of instructions, landing in whichever run imports a module first) and would add
    that to one cell only."""
    import peekr

    for tree in (Path(peekr.__file__).parent, Path(__file__).resolve().parent):
        compileall.compile_dir(tree, quiet=1)


def run_all(options: argparse.Namespace) -> None:
    """Every provider × {none, peekr} × {short, long} under valgrind; print instructions per chunk."""
    names = options.providers.split(",") if options.providers else list(PROVIDER_NAMES)
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    if options.no_usage:
        env["PEEKR_BENCH_NO_USAGE"] = "1"
    pad = options.long if options.prompt == "fixed" else 0
    jobs = [
        (name, variant, words)
        for name in names
        for variant in ("none", "peekr")
        for words in (options.short, options.long)
    ]
    _byte_compile()
    started = time.monotonic()
    load = os.getloadavg()
    if options.keep:
        Path(options.keep).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch, ThreadPoolExecutor(options.jobs) as pool:
        out_dir = options.keep or scratch
        counts = dict(
            zip(
                jobs,
                pool.map(
                    lambda job: _valgrind(
                        [job[0], job[1], str(job[2]), str(options.streams), "--warmup", str(options.warmup)]
                        + (["--pad-to", str(pad)] if pad else [])
                        + (["--storage", options.storage] if options.storage != "sqlite" else [])
                        + (["--flush-interval", str(options.flush_interval)] if job[1] == "peekr" else [])
                        + ["--gc", options.gc],
                        env,
                        out_dir,
                    ),
                    jobs,
                ),
                strict=True,
            )
        )
    streams = options.warmup + options.streams
    chunks = streams * (options.long - options.short)
    print(
        f"# bench_stream_instructions --all: streams of {options.short} and {options.long} echoed words "
        f"(+1 'Echo:' piece), {options.warmup} warm-up + {options.streams} streams per run, prompt "
        f"{options.prompt}{', no stream usage' if options.no_usage else ''}, gc {options.gc}; load at start "
        f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, {time.monotonic() - started:.0f} s"
    )
    print(
        "| provider | none, per chunk | peekr, per chunk | peekr − none, instructions per chunk | ≈ µs "
        "| timed collections g0/g1/g2: none short, none long, peekr short, peekr long |"
    )
    print("| --- | ---: | ---: | ---: | ---: | --- |")
    for name in names:
        none = (counts[(name, "none", options.long)][0] - counts[(name, "none", options.short)][0]) / chunks
        peekr = (counts[(name, "peekr", options.long)][0] - counts[(name, "peekr", options.short)][0]) / chunks
        added = peekr - none
        collections = ", ".join(
            counts[(name, variant, words)][1]
            for variant in ("none", "peekr")
            for words in (options.short, options.long)
        )
        print(
            f"| {name} | {none:,.0f} | {peekr:,.0f} | **{added:,.0f}** | {added / INSTRUCTIONS_PER_US:.2f} "
            f"| {collections} |"
        )


def _timed(args: list[str], env: dict[str, str]) -> float:
    """µs of process CPU per unit for one run of this script with ``args`` (no valgrind; ``--timed``)."""
    done = subprocess.run([sys.executable, __file__, *args], env=env, capture_output=True, text=True, check=False)
    match = _US_LINE.search(done.stderr)
    if done.returncode != 0 or match is None:
        raise SystemExit(f"timed run {args} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return float(match.group(1))


def run_issue_measure(options: argparse.Namespace) -> None:
    """The issue's per-chunk measure, (added per stream − added per call) / items, in instructions.

    Per provider, both variants under valgrind at two stream counts and two call counts (slopes: per stream
    and per call, whole units); OpenAI chat also with the caller's ``stream_options.include_usage``. The
    instructions are converted to µs at the uninstrumented SDK's own rate on this machine: its instructions
    per stream against its process CPU per stream, timed without valgrind in the same command.
    """
    names = options.providers.split(",") if options.providers else list(PROVIDER_NAMES)
    rows = [(name, "stream") for name in names] + [("openai_chat", "stream-usage")] * ("openai_chat" in names)
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    short, long = (int(n) for n in options.counts.split(","))
    call_short, call_long = (int(n) for n in options.call_counts.split(","))
    units = {"stream": (short, long, options.warmup), "call": (call_short, call_long, options.call_warmup)}

    def args(name: str, scenario: str, variant: str, count: int, layout: int = 0) -> list[str]:
        warmup = units["call" if scenario == "call" else "stream"][2]
        return (
            [name, variant, str(providers.WORDS), str(count), "--warmup", str(warmup), "--scenario", scenario]
            + (["--flush-interval", str(options.flush_interval)] if variant == "peekr" else [])
            + (["--layout", str(layout)] if layout else [])
        )

    layouts = range(options.layouts)
    jobs = []
    for name, scenario in rows + [(name, "call") for name in names]:
        first, second, _ = units["call" if scenario == "call" else "stream"]
        jobs += [
            (name, scenario, variant, count, layout)
            for layout in layouts
            for variant in ("none", "peekr")
            for count in (first, second)
        ]
    _byte_compile()
    started = time.monotonic()
    load = os.getloadavg()
    # The SDK's own rate first, alone on the machine (valgrind would compete for the CPUs).
    rate_us = {row: _timed(args(*row, "none", 20) + ["--timed", str(options.timed_rounds)], env) for row in rows}
    if options.keep:
        Path(options.keep).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch, ThreadPoolExecutor(options.jobs) as pool:
        out_dir = options.keep or scratch
        counts = dict(zip(jobs, pool.map(lambda job: _valgrind(args(*job), env, out_dir), jobs), strict=True))

    def per_unit(name: str, scenario: str, variant: str, layout: int) -> float:
        first, second, _ = units["call" if scenario == "call" else "stream"]
        high, low = (
            counts[(name, scenario, variant, second, layout)][0],
            counts[(name, scenario, variant, first, layout)][0],
        )
        return (high - low) / (second - first)

    print(
        f"# bench_stream_instructions --issue-measure: (added per stream − added per call) / items, callgrind, "
        f"every thread; streams {short} and {long} (+{options.warmup} warm-up), calls {call_short} and {call_long} "
        f"(+{options.call_warmup} warm-up), peekr flush interval {options.flush_interval:g} s, {options.layouts} "
        f"process layout(s), median shown (range over layouts in brackets); load at start "
        f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, {time.monotonic() - started:.0f} s"
    )
    print(
        "| provider | scenario | items | SDK alone, per stream | Peekr adds per stream | Peekr adds per call "
        "| **per item** | SDK's rate (instructions per µs) | **≈ µs per item** | timed collections g0/g1/g2 |"
    )
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for name, scenario in rows:
        items = counts[(name, scenario, "peekr", long, 0)][2]
        if items != counts[(name, scenario, "none", long, 0)][2] or not items:
            raise SystemExit(f"{name} {scenario}: the variants iterated different items, or none were counted")
        none, stream_added, call_added, measure = ([] for _ in range(4))
        for layout in layouts:
            none.append(per_unit(name, scenario, "none", layout))
            stream_added.append(per_unit(name, scenario, "peekr", layout) - none[-1])
            call_added.append(per_unit(name, "call", "peekr", layout) - per_unit(name, "call", "none", layout))
            measure.append((stream_added[-1] - call_added[-1]) / items)
        rate = statistics.median(none) / rate_us[(name, scenario)]
        spread = f" [{min(measure):,.0f} to {max(measure):,.0f}]" if len(measure) > 1 else ""
        spread_us = f" [{min(measure) / rate:.2f} to {max(measure) / rate:.2f}]" if len(measure) > 1 else ""
        collections = ", ".join(counts[(name, scenario, variant, long, 0)][1] for variant in ("none", "peekr"))
        print(
            f"| {name} | {scenario} | {items} | {statistics.median(none):,.0f} "
            f"| {statistics.median(stream_added):+,.0f} | {statistics.median(call_added):+,.0f} "
            f"| **{statistics.median(measure):,.0f}**{spread} | {rate:,.0f} "
            f"| **{statistics.median(measure) / rate:.2f}**{spread_us} | {collections} |"
        )


def main() -> None:
    if "--issue-measure" in sys.argv[1:]:
        parser = argparse.ArgumentParser(description="The issue's per-chunk measure in instructions, every provider.")
        parser.add_argument("--issue-measure", action="store_true")
        parser.add_argument("--providers", default="", help="comma-separated subset of " + ", ".join(PROVIDER_NAMES))
        parser.add_argument("--counts", default="4,24", help="streams per run, short and long")
        parser.add_argument("--warmup", type=int, default=4, help="warm-up streams per run")
        parser.add_argument("--call-counts", default="20,120", help="non-streamed calls per run, short and long")
        parser.add_argument("--call-warmup", type=int, default=20, help="warm-up calls per run")
        parser.add_argument("--timed-rounds", type=int, default=7, help="timed rounds of the SDK alone (its rate)")
        parser.add_argument("--jobs", type=int, default=2, help="valgrind runs at once")
        parser.add_argument("--layouts", type=int, default=1, help="process layouts per cell (median; see --layout)")
        parser.add_argument("--flush-interval", type=float, default=3600.0, help="peekr's bus wake-up interval")
        parser.add_argument("--keep", default="", help="keep the callgrind files here (reused by a later run)")
        options = parser.parse_args()
        unknown = set(filter(None, options.providers.split(","))) - set(PROVIDER_NAMES)
        if unknown:
            parser.error(f"--providers: unknown {', '.join(sorted(unknown))}; choose from {', '.join(PROVIDER_NAMES)}")
        for value in (options.counts, options.call_counts):
            pair = value.split(",")
            if len(pair) != 2 or not all(n.isdigit() for n in pair) or int(pair[0]) >= int(pair[1]):
                parser.error(f"expected two counts, the smaller first (e.g. 4,24), got {value!r}")
        if options.layouts < 1:
            parser.error("--layouts: at least 1")
        run_issue_measure(options)
        return
    if "--all" in sys.argv[1:]:
        parser = argparse.ArgumentParser(description="Every provider's marginal instructions per stream chunk.")
        parser.add_argument("--all", action="store_true")
        parser.add_argument("--providers", default="", help="comma-separated subset of " + ", ".join(PROVIDER_NAMES))
        parser.add_argument("--short", type=int, default=9, help="echoed words of the short stream")
        parser.add_argument("--long", type=int, default=99, help="echoed words of the long stream")
        parser.add_argument("--streams", type=int, default=40, help="timed streams per run")
        parser.add_argument("--warmup", type=int, default=10, help="warm-up streams per run")
        parser.add_argument("--prompt", choices=("fixed", "echo"), default="fixed")
        parser.add_argument("--no-usage", action="store_true", help="OpenAI: do not request stream usage")
        parser.add_argument("--jobs", type=int, default=2, help="valgrind runs at once")
        parser.add_argument(
            "--storage", default="sqlite", help="peekr's storage (none: recording and the bus only, to split the cost)"
        )
        parser.add_argument(
            "--flush-interval",
            type=float,
            default=3600.0,
            help="peekr's bus wake-up interval (default: none during the run; see the module docstring)",
        )
        parser.add_argument(
            "--gc",
            choices=("pin", "free"),
            default="pin",
            help="pin: gc.collect() right before the timed streams of every run (default); free: the old behaviour",
        )
        parser.add_argument("--keep", default="", help="keep the callgrind files here (for callgrind_annotate)")
        run_all(parser.parse_args())
        return
    parser = argparse.ArgumentParser(description="One run (what --all measures under valgrind).")
    parser.add_argument("provider", choices=PROVIDER_NAMES)
    parser.add_argument("variant", choices=("none", "peekr"))
    parser.add_argument("words", type=int)
    parser.add_argument("count", type=int)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--pad-to", type=int, default=0)
    parser.add_argument("--storage", default="sqlite")
    parser.add_argument("--flush-interval", type=float, default=0.2)
    parser.add_argument("--gc", choices=("pin", "free"), default="pin")
    parser.add_argument("--scenario", default="stream", help="stream, call, or stream-usage (OpenAI chat)")
    parser.add_argument("--timed", type=int, default=0, help="then time this many rounds (no valgrind)")
    parser.add_argument("--layout", type=int, default=0, help="shift the process layout first (see _layout.py)")
    options = parser.parse_args()
    kept = shift_layout(options.layout)  # noqa: F841 - alive for the whole run
    run_once(
        options.provider,
        options.variant,
        options.words,
        options.count,
        warmup=options.warmup,
        pad_to=options.pad_to,
        storage=options.storage,
        flush_interval=options.flush_interval,
        gc_pin=options.gc == "pin",
        scenario=options.scenario,
        timed=options.timed,
    )


if __name__ == "__main__":
    main()
