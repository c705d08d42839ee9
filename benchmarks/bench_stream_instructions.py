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
"""

from __future__ import annotations

import argparse
import compileall
import gc
import os
import re
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _overhead_providers as providers

PROVIDER_NAMES = ("openai_chat", "openai_responses", "anthropic", "gemini", "bedrock")
INSTRUCTIONS_PER_US = 12_000
_COLLECTED = re.compile(r"Collected\s*:\s*(\d+)")
_GC_LINE = re.compile(r"^timed gc collections: (\d+) (\d+) (\d+)$", re.MULTILINE)


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
) -> None:
    """Run ``warmup`` + ``count`` streams whose reply echoes ``words`` prompt words (what valgrind measures).

    ``pad_to`` > ``words`` appends the missing prompt words to the system prompt (``--prompt fixed``).
    ``gc_pin`` runs one full collection right before the timed streams (see the module docstring). Prints
    the collections of each generation during the timed streams and the final flush to stderr.
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
        stream = provider.scenarios["stream"]
        for _ in range(warmup):  # imports, caches, the price table
            stream()
        if variant == "peekr":
            peekr.flush()
        if gc_pin:  # counters at zero in both variants: only the timed streams' allocations trigger collections
            gc.collect()
        before = [generation["collections"] for generation in gc.get_stats()]
        for _ in range(count):
            stream()
        if variant == "peekr":
            peekr.flush()
        after = [generation["collections"] for generation in gc.get_stats()]
        print("timed gc collections:", *(a - b for a, b in zip(after, before, strict=True)), file=sys.stderr)
        if variant == "peekr":
            peekr.uninstrument()


def _valgrind(args: list[str], env: dict[str, str], out_dir: str) -> tuple[int, str]:
    """Instructions collected by callgrind over one run of this script with ``args`` (all threads).

    Also returns the run's collections per generation during its timed part ("g0/g1/g2", "?" if unknown).
    """
    out = Path(out_dir) / ("cg." + ".".join(args) + ".out")
    gc_file = out.with_suffix(".gc")
    if out.exists():  # a finished run kept by an earlier --keep: reuse its count
        summary = re.search(r"^summary: (\d+)", out.read_text(), re.MULTILINE)
        if summary is not None:
            return int(summary.group(1)), gc_file.read_text() if gc_file.exists() else "?"
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
    gc_file.write_text(gc_counts)
    return int(match.group(1)), gc_counts


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
    # Byte-compile first: a run that finds no .pyc compiles the sources (tens of millions of instructions,
    # landing in whichever run imports a module first) and would add that to one length only.
    import peekr

    for tree in (Path(peekr.__file__).parent, Path(__file__).resolve().parent):
        compileall.compile_dir(tree, quiet=1)
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


def main() -> None:
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
    options = parser.parse_args()
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
    )


if __name__ == "__main__":
    main()
