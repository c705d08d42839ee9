"""Instructions per FastAPI request on each thread, with and without Peekr (load-independent).

``bench_fastapi.py`` measures requests/s and CPU per request of a uvicorn server, which swing with
the machine's load. This one counts what a request costs each thread, in process and without a
server: the same app (``bench_fastapi.make_app``: ``GET /chat/{conv_id}`` awaiting one
``AsyncOpenAI.chat.completions.create`` through the in-process fake provider) called straight
through ASGI, in batches of ``--batch`` requests each followed by ``peekr.flush()`` (the bus wakes
once per batch: its flush interval is an hour, so the count does not depend on valgrind's speed).

Scenarios (``--scenarios``, comma-separated):

- ``chat-off``: the app without Peekr;
- ``chat-sqlite``: ``PeekrMiddleware`` + ``lifespan(storage="sqlite")`` (two spans per request stored);
- ``chat-none``: the same with ``storage="none"`` (recorded and handed to the bus, nothing stored);
- ``chat-middleware`` / ``chat-llm``: ``chat-none`` split in two, to tell the request span's share from the
  LLM span's: ``PeekrMiddleware`` with no provider patched (the request span alone), and the provider patched
  without the middleware (the LLM span alone);
- ``trivial-off`` / ``trivial-peekr``: an endpoint that returns at once (no LLM call) among ten other
  routes, without and with ``PeekrMiddleware`` (``storage="none"``): the middleware's own share.

Each scenario runs twice under ``valgrind --tool=callgrind --separate-threads=yes`` with
``PYTHONHASHSEED=0``, with 0 and with ``--requests`` requests and the same number of flushes, after
a warm-up, a full collection and ``callgrind_control --zero`` (as ``bench_thread_instructions.py``
does); the difference per thread divided by the requests is what one request adds there.

Usage::

    .venv/bin/python benchmarks/bench_fastapi_instructions.py                   # every scenario, ~9 min
    .venv/bin/python benchmarks/bench_fastapi_instructions.py --scenarios chat-off,chat-none --requests 500
    .venv/bin/python benchmarks/bench_fastapi_instructions.py --cache-sim --scenarios chat-off,chat-sqlite \\
        --requests 600                                  # also the cache misses per request, ~8 min
    .venv/bin/python benchmarks/bench_fastapi_instructions.py --cache-sim --last-level 2048 ...  # a 2 MiB L2
    .venv/bin/python benchmarks/bench_fastapi_instructions.py --cache-sim --scenarios chat-off,chat-none \\
        --layouts 3                 # each run at 3 process layouts: Peekr's part, median [range]
    .venv/bin/python benchmarks/bench_fastapi_instructions.py --cpu 5 --requests 4000 --batch 800  # no valgrind:
                                                                     # CPU per request, interleaved rounds
    .venv/bin/python benchmarks/bench_fastapi_instructions.py --gc 3 --scenarios chat-off,chat-sqlite,chat-none \
        --requests 30000      # no valgrind: garbage collections per request with the bus waking on its own

``--layouts N`` repeats every run at N process layouts (``_layout.py``) and prints what Peekr adds per request
against the ``-off`` run of the same layout, as the median and range over layouts. The same code moves by ±8k
instructions per request between layouts, so a before/after pair from two checkouts (two layouts) needs it.

About 12,000 instructions are 1 µs of CPU on this machine's cores when caches are warm; the app's own
code runs at roughly 7,000 per µs under load (`results/fastapi.md`).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from _layout import shift_layout
from bench_thread_instructions import _by_name, callgrind_run, record_thread_starts

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ("chat-off", "chat-sqlite", "chat-none", "chat-middleware", "chat-llm", "trivial-off", "trivial-peekr")
#: The app variant (``bench_fastapi.make_app``) of each ``chat-*`` scenario.
CHAT_VARIANTS = {
    "chat-off": "off",
    "chat-sqlite": "thread",
    "chat-none": "thread-nostore",
    "chat-middleware": "middleware-only",
    "chat-llm": "llm-only",
}
WARMUP = 200
Scope = dict[str, Any]


class Client:
    """The ASGI ``receive`` and ``send`` of bodiless requests; counts the responses completed (each must be a 200)."""

    def __init__(self) -> None:
        self.answered = 0

    async def receive(self) -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            assert message["status"] == 200, message
        elif message["type"] == "http.response.body" and not message.get("more_body"):
            self.answered += 1


async def start_lifespan(app: Any) -> tuple[dict[str, Any], Callable[[], Awaitable[None]]]:
    """Start ``app``'s ASGI lifespan; returns the state the requests' scopes carry and the coroutine that stops it."""
    state: dict[str, Any] = {}
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    lifespan = asyncio.ensure_future(
        app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": state}, inbox.get, outbox.put)
    )
    await inbox.put({"type": "lifespan.startup"})
    started = await outbox.get()
    assert started["type"] == "lifespan.startup.complete", started

    async def stop() -> None:
        await inbox.put({"type": "lifespan.shutdown"})
        await outbox.get()
        await lifespan

    return state, stop


def _scope(i: int, state: dict[str, Any]) -> Scope:
    path = f"/chat/c{i}"  # a new path each time, as a conversation id would be
    return {
        "type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1",
        "method": "GET", "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
        "root_path": "", "headers": [(b"host", b"bench")], "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 2),
        "state": state,
    }  # fmt: skip


def _trivial_app(middleware: bool) -> Any:
    from fastapi import FastAPI

    from peekr.integrations.fastapi import PeekrMiddleware

    app = FastAPI()
    if middleware:
        app.add_middleware(PeekrMiddleware)

    async def chat(conv_id: str) -> dict[str, str]:
        return {"conv_id": conv_id}

    app.add_api_route("/chat/{conv_id}", chat)
    for i in range(10):  # a few more routes to match against, as in a real app
        app.add_api_route(f"/other{i}/{{item}}", chat)
    return app


async def _drive(scenario: str, requests: int, batch: int, flushes: int, gc_mode: bool = False) -> dict[str, Any]:
    """Warm up, wait for the parent to zero the counters, then the measured batches.

    Returns the requests answered and the measured part's CPU seconds (process, main thread). ``gc_mode``
    (``--gc``): Peekr keeps its default flush interval (the bus wakes on its own, as in a server), the
    loop pauses 10 ms every 200 requests (a server's loop waits for sockets too), and the garbage
    collections of the measured part are returned per thread and generation.
    """
    from bench_fastapi import make_app

    import peekr

    db = str(Path(tempfile.mkdtemp(prefix="peekr-bench-fastapi-cg-")) / "traces.db")
    peekr_on = scenario not in ("chat-off", "trivial-off")
    options: dict[str, Any] = {} if gc_mode else {"flush_interval": 3600.0}
    if scenario.startswith("chat"):
        app = make_app(CHAT_VARIANTS[scenario], db, peekr_options=options if peekr_on else None)
    else:
        app = _trivial_app(middleware=peekr_on)
        if peekr_on:
            peekr.instrument(storage="none", **options)
    state, stop = await start_lifespan(app)
    client = Client()
    receive, send = client.receive, client.send

    # peekr.flush() waits for the bus thread; off the loop's thread so the loop stays free
    pool = ThreadPoolExecutor(1, thread_name_prefix="bench-flush")
    loop = asyncio.get_running_loop()

    async def flush() -> None:
        if peekr_on:
            assert await loop.run_in_executor(pool, peekr.flush, 600.0)

    for i in range(WARMUP):
        await app(_scope(i, state), receive, send)
        if i % batch == batch - 1:
            await flush()
    await flush()
    for thread in threading.enumerate():
        if thread.name == "peekr-prices":  # the price table loads once: not part of any request
            thread.join(600)
    gc.collect()
    if os.environ.get("PEEKR_BENCH_HANDSHAKE"):  # the parent zeroes callgrind's counters now
        print("READY", flush=True)
        await loop.run_in_executor(pool, sys.stdin.readline)
    left = requests
    collections: dict[str, dict[int, list[float]]] = {}
    gc_started: dict[str, float] = {}

    def on_collection(phase: str, info: dict[str, int]) -> None:
        thread = threading.current_thread().name
        if phase == "start":
            gc_started[thread] = time.thread_time()
            return
        found = collections.setdefault(thread, {}).setdefault(info["generation"], [0, 0.0])
        found[0] += 1
        found[1] += time.thread_time() - gc_started.pop(thread, time.thread_time())

    if gc_mode:
        gc.callbacks.append(on_collection)
    cpu, main_cpu = time.process_time(), time.thread_time()
    if gc_mode:  # no flush until the end: the bus wakes on its own
        for i in range(requests):
            await app(_scope(WARMUP + i, state), receive, send)
            if i % 200 == 199:
                await asyncio.sleep(0.01)
        await flush()
    else:
        for _ in range(flushes):
            for i in range(min(batch, left)):
                await app(_scope(WARMUP + i, state), receive, send)
            left -= min(batch, left)
            await flush()
        assert left == 0, "more requests than --flushes x --batch"
    cpu, main_cpu = time.process_time() - cpu, time.thread_time() - main_cpu
    if gc_mode:
        gc.callbacks.remove(on_collection)
    await stop()
    if scenario.startswith("trivial") and peekr_on:
        peekr.shutdown()
    pool.shutdown()
    if scenario == "chat-sqlite":
        import sqlite3

        with sqlite3.connect(db) as conn:
            stored = int(conn.execute("SELECT COUNT(*) FROM spans").fetchone()[0])
        assert stored == 2 * (WARMUP + requests), f"{stored} spans stored, expected {2 * (WARMUP + requests)}"
    return {"answered": client.answered, "cpu": cpu, "main_cpu": main_cpu, "gc": collections}


def child(scenario: str, requests: int, batch: int, flushes: int, layout: int = 0, gc_mode: bool = False) -> None:
    """The measured program; prints the threads in valgrind's numbering order and the requests answered."""
    kept = shift_layout(layout)  # noqa: F841 - before FastAPI, the SDK and peekr are imported; alive for the run
    started = record_thread_starts()
    result = asyncio.run(_drive(scenario, requests, batch, flushes, gc_mode))
    answered = result["answered"]
    assert answered == WARMUP + requests, f"{answered} requests answered, expected {WARMUP + requests}"
    print(json.dumps({"threads": started, **result}))


def cache_sim_args(last_level_kib: int = 1024) -> tuple[str, ...]:
    """``--cache-sim``: this machine's L1 caches (64 KiB, 8-way, 64-byte lines) and, as the last level, a cache the
    size of one core's L2 (1 MiB, 16-way; ``--last-level`` for another size): a miss there is a trip to the shared
    L3 or to memory."""
    return ("--cache-sim=yes", "--I1=65536,8,64", "--D1=65536,8,64", f"--LL={last_level_kib * 1024},16,64")


def _run(
    scenario: str,
    requests: int,
    batch: int,
    flushes: int,
    out: str,
    valgrind_args: tuple[str, ...] = (),
    layout: int = 0,
) -> dict[str, Any]:
    args = ["--child", scenario, str(requests), "--batch", str(batch), "--flushes", str(flushes)]
    if layout:
        args += ["--layout", str(layout)]
    what = f"{scenario} with {requests} requests" + (f", layout {layout}" if layout else "")
    return callgrind_run(__file__, args, out, what, valgrind_args)


def _off_of(scenario: str) -> str:
    return f"{scenario.split('-')[0]}-off"


def _print_layouts(
    runs: dict[tuple[str, int, int], dict[str, Any]], scenarios: list[str], requests: int, layouts: int, misses: bool
) -> None:
    """What Peekr adds per request against the ``-off`` scenario of the same layout: median over layouts [range]."""
    print(f"\nPeekr adds per request, against the same layout's `-off` run: median of {layouts} layouts [range]\n")
    header = "| scenario | main thread: instructions | all threads: instructions |"
    print(header + (" main thread: L2-sized misses |" if misses else ""))
    print("| --- | ---: | ---: |" + (" ---: |" if misses else ""))

    def per_request(scenario: str, layout: int) -> tuple[float, float, float]:
        before, after = runs[(scenario, 0, layout)], runs[(scenario, requests, layout)]
        main = (_by_name(after).get("MainThread", 0) - _by_name(before).get("MainThread", 0)) / requests
        every = (sum(_by_name(after).values()) - sum(_by_name(before).values())) / requests
        lost = (_main_misses(after) - _main_misses(before)) / requests if misses else 0.0
        return main, every, lost

    def cell(values: list[float]) -> str:
        median = statistics.median(values)
        return f"{median:+,.0f} [{min(values):+,.0f} to {max(values):+,.0f}]" if len(values) > 1 else f"{median:+,.0f}"

    for scenario in scenarios:
        off = _off_of(scenario)
        if off == scenario or off not in scenarios:
            continue
        added: list[tuple[float, ...]] = []
        for layout in range(layouts):
            on, base = per_request(scenario, layout), per_request(off, layout)
            added.append(tuple(a - b for a, b in zip(on, base, strict=True)))
        columns = [cell([row[i] for row in added]) for i in range(3 if misses else 2)]
        print(f"| {scenario} | " + " | ".join(columns) + " |")


def _main_misses(run: dict[str, Any]) -> int:
    """The main thread's L2-sized last-level misses in one ``--cache-sim`` run."""
    return _misses(run).get("MainThread", {}).get("L2", 0)


def _misses(run: dict[str, Any]) -> dict[str, dict[str, int]]:
    """Instructions, L1 misses and L2-sized last-level misses per thread name (``--cache-sim`` runs)."""
    names: list[str] = run["threads"]
    found: dict[str, dict[str, int]] = {}
    for tid, events in run["events"].items():
        index = int(tid) - 1
        name = names[index] if index < len(names) else f"thread {tid}"
        kept = found.setdefault(name, {"Ir": 0, "L1": 0, "L2": 0})
        kept["Ir"] += events.get("Ir", 0)
        kept["L1"] += sum(events.get(e, 0) for e in ("I1mr", "D1mr", "D1mw"))
        kept["L2"] += sum(events.get(e, 0) for e in ("ILmr", "DLmr", "DLmw"))
    return found


def _print_misses(
    runs: dict[tuple[str, int], dict[str, Any]], scenarios: list[str], requests: int, last_level_kib: int
) -> None:
    print(
        "\n| scenario | thread | instructions per request | L1 misses per request "
        f"| last-level misses ({last_level_kib:,} KiB) per request |"
    )
    print("| --- | --- | ---: | ---: | ---: |")
    for scenario in scenarios:
        before, after = _misses(runs[(scenario, 0)]), _misses(runs[(scenario, requests)])
        total = {"Ir": 0.0, "L1": 0.0, "L2": 0.0}
        for name in sorted(set(before) | set(after), key=lambda n: -after.get(n, {}).get("Ir", 0)):
            per = {k: (after.get(name, {}).get(k, 0) - before.get(name, {}).get(k, 0)) / requests for k in total}
            for k in total:
                total[k] += per[k]
            if abs(per["Ir"]) >= 50:
                print(f"| {scenario} | {name} | {per['Ir']:,.0f} | {per['L1']:,.0f} | {per['L2']:,.0f} |")
        print(f"| {scenario} | all threads | {total['Ir']:,.0f} | {total['L1']:,.0f} | {total['L2']:,.0f} |")


def cpu_rounds(scenarios: list[str], rounds: int, requests: int, batch: int, flushes: int) -> None:
    """``--cpu``: no valgrind; CPU per request of the measured part, scenarios interleaved over rounds."""
    found: dict[str, list[tuple[float, float]]] = {s: [] for s in scenarios}
    loads = []
    for r in range(rounds):
        for scenario in scenarios[r % len(scenarios) :] + scenarios[: r % len(scenarios)]:
            command = [sys.executable, __file__, "--child", scenario, str(requests), "--batch", str(batch)]
            command += ["--flushes", str(flushes)]
            done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=False)
            if done.returncode != 0:
                raise SystemExit(f"{scenario} failed:\n{done.stderr[-3000:]}")
            info = json.loads(done.stdout.strip().splitlines()[-1])
            found[scenario].append((info["cpu"] / requests * 1e6, info["main_cpu"] / requests * 1e6))
        loads.append(os.getloadavg()[0])
        print(f"round {r + 1}/{rounds} done (load {loads[-1]:.1f})", flush=True)
    print(f"\n{rounds} rounds x {requests} requests per scenario (batches of {batch}, each flushed); load per round "
          + ", ".join(f"{x:.1f}" for x in loads) + "\n")  # fmt: skip
    print("| scenario | process CPU per request (median) | vs its off | main thread per request | vs its off |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for scenario in scenarios:
        off = _off_of(scenario)
        cpu = statistics.median(c for c, _ in found[scenario])
        main_cpu = statistics.median(m for _, m in found[scenario])
        if off in found and off != scenario:  # the median of the per-round differences
            d_cpu = statistics.median(a[0] - b[0] for a, b in zip(found[scenario], found[off], strict=True))
            d_main = statistics.median(a[1] - b[1] for a, b in zip(found[scenario], found[off], strict=True))
            deltas = f"{d_cpu:+,.1f} µs", f"{d_main:+,.1f} µs"
        else:
            deltas = "—", "—"
        print(f"| {scenario} | {cpu:,.1f} µs | {deltas[0]} | {main_cpu:,.1f} µs | {deltas[1]} |")


def gc_rounds(scenarios: list[str], rounds: int, requests: int) -> None:
    """``--gc``: no valgrind; garbage collections per 1,000 requests and their CPU per request, by generation."""
    found: dict[str, list[dict[str, dict[str, list[float]]]]] = {s: [] for s in scenarios}
    cpu: dict[str, list[float]] = {s: [] for s in scenarios}
    for r in range(rounds):
        for scenario in scenarios[r % len(scenarios) :] + scenarios[: r % len(scenarios)]:
            command = [sys.executable, __file__, "--child", scenario, str(requests), "--gc"]
            done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=False)
            if done.returncode != 0:
                raise SystemExit(f"{scenario} failed:\n{done.stderr[-3000:]}")
            info = json.loads(done.stdout.strip().splitlines()[-1])
            found[scenario].append(info["gc"])
            cpu[scenario].append(info["cpu"] / requests * 1e6)
        print(f"round {r + 1}/{rounds} done (load {os.getloadavg()[0]:.1f})", flush=True)
    print(f"\n{rounds} rounds x {requests} requests per scenario; Peekr's default flush interval (the bus wakes on its"
          " own); medians over rounds; 'main' is the app's thread, 'all' every thread\n")  # fmt: skip
    print("| scenario | process CPU per request | gen 0 / 1 / 2 collections per 1,000 requests (all) "
          "| CPU in collections per request, all | of it on the main thread | full (gen 2) collection, ms each |")  # fmt: skip
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for scenario in scenarios:
        counts, spent, main, full_ms = [], [], [], []
        for run in found[scenario]:
            per_generation = [0.0, 0.0, 0.0]
            seconds = main_seconds = 0.0
            for thread, generations in run.items():
                for generation, (n, s) in generations.items():
                    per_generation[int(generation)] += n
                    seconds += s
                    main_seconds += s if thread == "MainThread" else 0.0
                    if int(generation) == 2:
                        full_ms.append(s / n * 1e3)
            counts.append([n / requests * 1000 for n in per_generation])
            spent.append(seconds / requests * 1e6)
            main.append(main_seconds / requests * 1e6)
        per_1000 = " / ".join(f"{statistics.median(c[g] for c in counts):.1f}" for g in range(3))
        full = f"{statistics.median(full_ms):.0f}" if full_ms else "–"
        print(f"| {scenario} | {statistics.median(cpu[scenario]):,.1f} µs | {per_1000} "
              f"| {statistics.median(spent):.1f} µs | {statistics.median(main):.1f} µs | {full} |")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help=", ".join(SCENARIOS))
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=250)
    parser.add_argument("--flushes", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--child", nargs=2, metavar=("SCENARIO", "REQUESTS"), help=argparse.SUPPRESS)
    parser.add_argument("--keep", help="directory to keep the callgrind files in (default: a temporary one)")
    parser.add_argument("--cpu", type=int, metavar="ROUNDS", help="no valgrind: CPU per request over ROUNDS rounds")
    parser.add_argument(
        "--gc", type=int, metavar="ROUNDS", nargs="?", const=0, help="no valgrind: garbage collections per request"
    )
    parser.add_argument(
        "--cache-sim", action="store_true", help="also count cache misses per request (L1, and an L2-sized last level)"
    )
    parser.add_argument(
        "--last-level", type=int, default=1024, metavar="KIB", help="--cache-sim: the last level's size (default 1024)"
    )
    parser.add_argument(
        "--layouts", type=int, default=1, metavar="N", help="repeat every run at N process layouts (see _layout.py)"
    )
    parser.add_argument("--layout", type=int, default=0, help=argparse.SUPPRESS)  # the child's
    args = parser.parse_args()
    if args.requests < 1 or args.batch < 1 or args.layouts < 1:
        parser.error("--requests, --batch and --layouts must be positive")
    if args.last_level < 64 or args.last_level & (args.last_level - 1):
        parser.error("--last-level must be a power of two of at least 64 (KiB)")
    if args.child is not None:
        requests = int(args.child[1])
        flushes_of_child = args.flushes or -(-requests // args.batch)
        child(args.child[0], requests, args.batch, flushes_of_child, args.layout, gc_mode=args.gc is not None)
        return
    flushes = args.flushes if args.flushes is not None else -(-args.requests // args.batch)
    scenarios = args.scenarios.split(",")
    unknown = sorted(set(scenarios) - set(SCENARIOS))
    if unknown:
        parser.error(f"unknown scenarios {unknown}; expected some of {', '.join(SCENARIOS)}")
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "peekr")], check=True)
    if args.cpu:
        cpu_rounds(scenarios, args.cpu, args.requests, args.batch, flushes)
        return
    if args.gc is not None:
        gc_rounds(scenarios, args.gc or 3, args.requests)
        return
    workdir = args.keep or tempfile.mkdtemp(prefix="peekr-cg-fastapi-")
    os.makedirs(workdir, exist_ok=True)
    jobs = [(s, n, layout) for layout in range(args.layouts) for s in scenarios for n in (0, args.requests)]
    print(f"{len(jobs)} valgrind runs, two at a time; load {os.getloadavg()[0]:.1f}", flush=True)
    valgrind_args = cache_sim_args(args.last_level) if args.cache_sim else ()

    def one(job: tuple[str, int, int]) -> dict[str, Any]:
        scenario, n, layout = job
        name = f"cg.{scenario}.{n}.out" if not layout else f"cg.{scenario}.{n}.layout{layout}.out"
        result = _run(scenario, n, args.batch, flushes, os.path.join(workdir, name), valgrind_args, layout)
        print(f"  {scenario}, {n} requests" + (f", layout {layout}" if layout else "") + ": done", flush=True)
        return result

    with ThreadPoolExecutor(2) as pool:
        by_layout = dict(zip(jobs, pool.map(one, jobs), strict=True))
    runs = {(s, n): run for (s, n, layout), run in by_layout.items() if layout == 0}
    print(
        f"\n{args.requests} requests per scenario in {flushes} batches of {args.batch} (each flushed); "
        f"load {os.getloadavg()[0]:.1f}\n"
    )
    print("| scenario | thread | instructions per request |")
    print("| --- | --- | ---: |")
    for scenario in scenarios:
        before, after = _by_name(runs[(scenario, 0)]), _by_name(runs[(scenario, args.requests)])
        for name in sorted(set(before) | set(after), key=lambda n: -after.get(n, 0)):
            per_request = (after.get(name, 0) - before.get(name, 0)) / args.requests
            if abs(per_request) >= 50:
                print(f"| {scenario} | {name} | {per_request:,.0f} |")
        total = (sum(after.values()) - sum(before.values())) / args.requests
        print(f"| {scenario} | all threads | {total:,.0f} |")
    if args.cache_sim:
        _print_misses(runs, scenarios, args.requests, args.last_level)
    if args.layouts > 1:
        _print_layouts(by_layout, scenarios, args.requests, args.layouts, args.cache_sim)
    print(f"callgrind files: {workdir}")


if __name__ == "__main__":
    main()
