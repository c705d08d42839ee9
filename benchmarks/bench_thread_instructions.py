"""Instructions per recorded OpenAI call on each of Peekr's threads, in the real runtime (load-independent).

``bench_call_instructions.py`` counts the caller's work and the processor stage on one thread. This
one runs everything as a program does: ``peekr.instrument(storage="sqlite")`` (the bus thread with
its anyio loop, the fan-out, the hop to aiosqlite's connection thread, the multi-row INSERT), the
real OpenAI SDK in process through ``FakeProvider(...).openai_client(in_process=True)``, in batches
of ``--batch`` calls each followed by ``peekr.flush()`` (the bus wakes once per batch: its flush
interval is set to an hour, so batches do not depend on how fast valgrind runs).

Two runs under ``valgrind --tool=callgrind --separate-threads=yes`` with ``PYTHONHASHSEED=0`` —
0 calls and ``--calls`` calls, with the *same number of flushes* — and the difference per thread,
divided by the calls, is what one call adds to that thread, idle flushes taken out (as in
``bench_call_cpu.py``). Threads are named from the order they were started (valgrind numbers
them so; ``start()`` is serialized in the measured program, so that order is the order of the list it
prints). After the warm-up the price-table loader is joined, a full collection (``gc.collect()``)
starts both runs with empty generations, and ``callgrind_control --zero`` clears every thread's
counters, so what the warm-up did (where its collections landed) is not counted. ``peekr`` is
byte-compiled first, so no run compiles it. To count another checkout's ``peekr`` (a before/after
pair), run with ``PYTHONPATH=<that checkout>``: the measured program then imports it from there.

Usage::

    .venv/bin/python benchmarks/bench_thread_instructions.py                  # 1,000 calls, batches of 100
    .venv/bin/python benchmarks/bench_thread_instructions.py --calls 2000 --batch 150
    .venv/bin/python benchmarks/bench_thread_instructions.py --child 300 --batch 100 --flushes 3   # one run, no valgrind
    PYTHONPATH=/tmp/main-copy .venv/bin/python benchmarks/bench_thread_instructions.py  # /tmp/main-copy/peekr

About 12,000 instructions are 1 µs of CPU on this machine's cores when caches are warm.
"""

from __future__ import annotations

import argparse
import gc
import glob
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MESSAGES: list[Any] = [
    {"role": "system", "content": "You are a terse assistant."},
    {"role": "user", "content": "What is the capital of France? Answer in one word."},
]
WARMUP = 200


def record_thread_starts() -> list[str]:
    """Thread names, from now on, indexed as valgrind numbers the threads (``MainThread`` first).

    Valgrind gives a new thread the lowest number free, so a thread that has ended (the price table's loader)
    passes its number on: such an entry names every thread that held it, ``"first / second"``, and callgrind's
    figures for that number are theirs together.
    """
    started: list[str] = ["MainThread"]
    free: list[int] = []
    start = threading.Thread.start
    lock = threading.Lock()

    def recording_start(self: threading.Thread) -> None:
        with lock:  # start() returns once the thread runs: the list is in the order valgrind numbers them
            if free:
                slot = min(free)
                free.remove(slot)
                started[slot] = f"{started[slot]} / {self.name}"
            else:
                slot = len(started)
                started.append(self.name)
            run = self.run

            def run_then_free() -> None:
                try:
                    run()
                finally:
                    with lock:
                        free.append(slot)

            self.run = run_then_free  # type: ignore[method-assign]
            start(self)

    threading.Thread.start = recording_start  # type: ignore[method-assign]
    return started


def child(calls: int, batch: int, flushes: int) -> None:
    """The measured program: warm up, then ``flushes`` rounds of up to ``batch`` calls and a flush."""
    started = record_thread_starts()

    import peekr
    from peekr.testing.fake_provider import FakeProvider

    db = Path(tempfile.mkdtemp(prefix="peekr-bench-threads-")) / "traces.db"
    peekr.instrument(storage="sqlite", path=db, flush_interval=3600.0)
    client = FakeProvider(max_logged_requests=16).openai_client(in_process=True)

    def call() -> None:
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)

    for i in range(WARMUP):
        call()
        if i % batch == batch - 1:
            assert peekr.flush(600)
    assert peekr.flush(600)
    for thread in threading.enumerate():
        if thread.name == "peekr-prices":  # the price table loads once: not part of any call
            thread.join(600)
    gc.collect()  # both runs start the measured part with empty generations (see bench_stream_instructions.py)
    if os.environ.get("PEEKR_BENCH_HANDSHAKE"):  # the parent zeroes callgrind's counters now
        print("READY", flush=True)
        sys.stdin.readline()
    left = calls
    for _ in range(flushes):
        for _ in range(min(batch, left)):
            call()
        left -= min(batch, left)
        assert peekr.flush(600)
    assert left == 0, "more calls than --flushes x --batch"
    peekr.shutdown()
    import sqlite3

    with sqlite3.connect(db) as conn:
        stored = int(conn.execute("SELECT COUNT(*) FROM spans").fetchone()[0])
    assert stored == WARMUP + calls, f"{stored} spans stored, expected {WARMUP + calls}"
    print(json.dumps({"threads": started, "stored": stored}))


def _events(prefix: str) -> dict[int, dict[str, int]]:
    """Every event's total (``Ir``, and with ``--cache-sim=yes`` the misses) per valgrind thread number, from
    ``prefix-NN`` files."""
    found: dict[int, dict[str, int]] = {}
    for path in glob.glob(prefix + "-*"):
        match = re.search(r"-(\d+)$", path)
        if match is None:
            continue
        text = Path(path).read_text(errors="replace")
        names = re.search(r"^events:\s*(.+)$", text, re.MULTILINE)
        totals = re.search(r"^(?:summary|totals):\s*(.+)$", text, re.MULTILINE)
        if names and totals:
            found[int(match.group(1))] = dict(
                zip(names.group(1).split(), map(int, totals.group(1).split()), strict=False)
            )
    return found


def callgrind_run(
    script: str, args: list[str], out: str, what: str, valgrind_args: Sequence[str] = ()
) -> dict[str, Any]:
    """Run ``script args`` under callgrind (every thread apart, ``PYTHONHASHSEED=0``); counters zeroed when the
    program prints ``READY`` (``PEEKR_BENCH_HANDSHAKE``). Returns its last stdout line (JSON) with ``totals``,
    instructions per valgrind thread number, and ``events``, every event's total per thread number (the cache
    misses too when ``valgrind_args`` turn the cache simulation on)."""
    env = dict(os.environ, PYTHONHASHSEED="0", PEEKR_BENCH_HANDSHAKE="1")
    command = [
        "valgrind", "--tool=callgrind", "--separate-threads=yes", *valgrind_args, f"--callgrind-out-file={out}",
        sys.executable, script, *args,
    ]  # fmt: skip
    with subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT
    ) as child_process:
        assert child_process.stdin is not None and child_process.stdout is not None
        for line in child_process.stdout:  # warm-up done: count from here on, in every thread
            if line.strip() == "READY":
                subprocess.run(["callgrind_control", "--zero", str(child_process.pid)], check=True, capture_output=True)
                break
        child_process.stdin.write("go\n")
        child_process.stdin.flush()
        stdout, stderr = child_process.communicate()
    if child_process.returncode != 0:
        raise SystemExit(f"{what} failed:\n{stderr[-3000:]}")
    info: dict[str, Any] = json.loads(stdout.strip().splitlines()[-1])
    info["events"] = {str(tid): events for tid, events in _events(out).items()}
    info["totals"] = {int(tid): events.get("Ir", 0) for tid, events in info["events"].items()}
    return info


def _run(calls: int, batch: int, flushes: int, out: str) -> dict[str, Any]:
    args = ["--child", str(calls), "--batch", str(batch), "--flushes", str(flushes)]
    return callgrind_run(__file__, args, out, f"run with {calls} calls")


def _by_name(run: dict[str, Any]) -> dict[str, int]:
    """Instructions per thread name (the order of ``threads`` is the run's own: threads race to start)."""
    names: list[str] = run["threads"]
    totals: dict[str, int] = {}
    for tid, count in run["totals"].items():
        name = names[tid - 1] if tid - 1 < len(names) else f"thread {tid}"
        totals[name] = totals.get(name, 0) + count
    return totals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--flushes", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--keep", help="directory to keep the callgrind files in (default: a temporary one)")
    args = parser.parse_args()
    flushes = args.flushes if args.flushes is not None else -(-args.calls // args.batch)
    if args.child is not None:
        child(args.child, args.batch, flushes)
        return
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "peekr")], check=True)
    workdir = args.keep or tempfile.mkdtemp(prefix="peekr-cg-")
    os.makedirs(workdir, exist_ok=True)
    base = _run(0, args.batch, flushes, os.path.join(workdir, "cg.0.out"))
    full = _run(args.calls, args.batch, flushes, os.path.join(workdir, "cg.n.out"))
    print(f"{args.calls} calls in {flushes} batches of {args.batch} (each flushed); load {os.getloadavg()[0]:.1f}")
    print("| thread | instructions per call |")
    print("| --- | ---: |")
    before, after = _by_name(base), _by_name(full)
    for name in sorted(set(before) | set(after), key=lambda n: -after.get(n, 0)):
        per_call = (after.get(name, 0) - before.get(name, 0)) / args.calls
        print(f"| {name} | {per_call:,.0f} |")
    print(f"| all threads | {(sum(after.values()) - sum(before.values())) / args.calls:,.0f} |")
    print(f"callgrind files: {workdir}")


if __name__ == "__main__":
    main()
