"""Collector ingest with several processes: spans/s and p99 request latency, PostgreSQL and SQLite.

    eval "$(bash scripts/deps/postgres.sh)"
    .venv/bin/python benchmarks/bench_pg_scale.py [--requests 200] [--batch 500] [--concurrency 8] [--workers 1 4]
        [--text-search trigram|scan|both] [--repeat N]

For each worker count, a real ``peekr server --workers N`` subprocess on a fresh database (rate
limit on, at a rate no run reaches, so the shared token bucket is on the measured path) receives
pre-built gzipped wire-format bodies of fresh spans from an asyncio httpx client in this
process (``bench_server.load``). A second figure, ``store only``, calls ``PostgresStore.ingest``
directly (no HTTP, no JSON parsing or validation) with ``--concurrency`` batches in flight: what
one process can write to PostgreSQL. The query, trace-list and purge figures at scale come from
``bench_server_scale.py``. Results go to benchmarks/results/pg_scale.md.

Wall-clock rates swing with whatever else runs on the machine, so every PostgreSQL run also
reports CPU per span (Linux ``/proc``, PostgreSQL on this host): the collector's processes, the
PostgreSQL backends serving its database, and this load generator. ``--breakdown`` measures, in
this process, the CPU of each step of one span's way in (gunzip, JSON, validation, the store's
Python, PostgreSQL), interleaved over ``--rounds`` rounds: medians and their spread.

``--text-search`` starts the collector (and opens the store) with ``--text-search trigram`` (the
default: the trigram index of ``q``), ``scan`` (no index), or ``both``: every run in each mode,
alternating, ``--repeat`` times, so load swings hit both modes alike.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from datetime import datetime, timezone
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_server import bodies, load, make_span, pg_database  # noqa: E402

from peekr._span import Span  # noqa: E402
from peekr.server._admin import create_key  # noqa: E402
from peekr.server._testing import free_port  # noqa: E402


class Collector:
    """``peekr server --workers N`` in a subprocess."""

    def __init__(self, db: str, workers: int, text_search: str = "trigram") -> None:
        self.url = f"http://127.0.0.1:{free_port()}"
        cmd = [sys.executable, "-m", "peekr.cli", "server", "--db", db, "--port", self.url.rsplit(":", 1)[1],
               "--workers", str(workers), "--rate-limit", "100000", "--rate-burst", "100000",
               "--purge-interval", "0", "--log-level", "warning", "--text-search", text_search]  # fmt: skip
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(self.url + "/healthz").status_code == 200:
                    time.sleep(1.0 * workers)  # let every worker finish starting
                    return
            except httpx.TransportError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("collector did not start")
            time.sleep(0.2)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(30)


_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _cpu(pid: int) -> float:
    """User + system CPU seconds of one process (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants (uvicorn's worker processes)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo += [int(c) for c in f.read().split()]
        except OSError:
            pass
    return out


def _backends(dsn: str, name: str) -> list[int]:
    """PIDs of the PostgreSQL backends connected to database ``name``."""
    import asyncpg

    async def pids() -> list[int]:
        conn = await asyncpg.connect(dsn)
        try:
            return [r[0] for r in await conn.fetch("SELECT pid FROM pg_stat_activity WHERE datname = $1", name)]
        finally:
            await conn.close()

    return asyncio.run(pids())


def _drop(name: str) -> None:
    import asyncpg

    async def drop() -> None:
        conn = await asyncpg.connect(os.environ["PEEKR_TEST_POSTGRES_DSN"])
        await conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await conn.close()

    asyncio.run(drop())


def http_ingest(
    backend: str, workers: int, payloads: list[bytes], concurrency: int, text_search: str = "trigram"
) -> dict[str, float]:
    """One run over HTTP on a fresh database."""
    tmp = tempfile.TemporaryDirectory(prefix="peekr-pgscale-")
    name = None
    if backend == "postgres":
        made = pg_database()
        if made is None:
            raise SystemExit("PEEKR_TEST_POSTGRES_DSN is not set")
        db, name = made
    else:
        db = os.path.join(tmp.name, "collector.db")
    try:
        key = create_key(db, "bench", "ingest")[1]
        server = Collector(db, workers, text_search)
        try:
            asyncio.run(load(server.url, key, payloads[:concurrency], concurrency))  # warm every worker
            procs = _tree(server.proc.pid)
            pg = _backends(db, name) if name else []
            before = {p: _cpu(p) for p in procs + pg}
            client = time.process_time()
            out = asyncio.run(load(server.url, key, payloads[concurrency:], concurrency))
            client = time.process_time() - client
            if name:  # backends opened during the run started from 0
                pg = sorted(set(pg) | set(_backends(db, name)))
            spans = out["stored"] or 1
            out["collector_us"] = sum(_cpu(p) - before.get(p, 0.0) for p in procs) / spans * 1e6
            out["postgres_us"] = sum(_cpu(p) - before.get(p, 0.0) for p in pg) / spans * 1e6
            out["client_us"] = client / spans * 1e6
            return out
        finally:
            server.stop()
    finally:
        if name:
            _drop(name)
        tmp.cleanup()


def store_ingest(n_batches: int, batch: int, concurrency: int, text_search: str = "trigram") -> dict[str, float]:
    """``PostgresStore.ingest`` in this process, ``concurrency`` batches in flight."""
    from peekr.server._pg_store import PostgresStore

    made = pg_database()
    if made is None:
        raise SystemExit("PEEKR_TEST_POSTGRES_DSN is not set")
    dsn, name = made
    batches = [[Span.model_validate(make_span(b * batch + i)) for i in range(batch)] for b in range(n_batches)]

    async def main() -> dict[str, float]:
        store = PostgresStore(dsn, min_size=concurrency, text_search=text_search)
        await store.open()
        try:
            await store.ingest("warm", batches.pop(), [], [])
            pg = [r[0] for r in await store.pool.fetch("SELECT pid FROM pg_stat_activity WHERE datname = $1", name)]
            queue = list(batches)
            before = {p: _cpu(p) for p in pg}
            started, cpu = time.perf_counter(), time.process_time()

            async def worker() -> None:
                while queue:
                    await store.ingest("bench", queue.pop(), [], [])

            await asyncio.gather(*(worker() for _ in range(concurrency)))
            elapsed = time.perf_counter() - started
            n = len(batches) * batch
            return {
                "spans_per_s": n / elapsed,
                "python_us": (time.process_time() - cpu) / n * 1e6,
                "postgres_us": sum(_cpu(p) - before[p] for p in pg) / n * 1e6,
            }
        finally:
            await store.close()

    try:
        return asyncio.run(main())
    finally:
        _drop(name)


def breakdown(
    payloads: list[bytes], batch: int, rounds: int, text_search: str = "trigram"
) -> list[tuple[str, float, float, float, float]]:
    """CPU per span of each step, in this process: (step, mean, median, min, max) in microseconds.

    ``/proc`` counts CPU in 10 ms ticks (20 us per span of a 500-span batch): the mean over the
    rounds is the estimate for PostgreSQL's share, its median is only as fine as a tick.

    Each round takes a fresh body through every step (interleaved, so load swings hit every step
    alike); PostgreSQL's share is the CPU of the store's backends during ``PostgresStore.ingest``.
    The garbage collector is set up as in a collector process (``peekr.server._asgi.tune_gc``).
    """
    from peekr.server._asgi import tune_gc
    from peekr.server._body import read_limited_body
    from peekr.server._ingest import _parse
    from peekr.server._pg_store import PostgresStore
    from peekr.server._validate import validate_records

    made = pg_database()
    if made is None:
        raise SystemExit("PEEKR_TEST_POSTGRES_DSN is not set")
    dsn, name = made
    steps: dict[str, list[float]] = {
        k: [] for k in ("gunzip", "JSON parse", "validation", "store: Python", "store: PostgreSQL")
    }

    async def one(body: bytes) -> AsyncIterator[bytes]:
        yield body

    tune_gc()  # as in a collector process (``peekr server``)

    async def main() -> None:
        store = PostgresStore(dsn, text_search=text_search)
        await store.open()
        try:
            pg = [r[0] for r in await store.pool.fetch("SELECT pid FROM pg_stat_activity WHERE datname = $1", name)]
            for i, body in enumerate(payloads[: rounds + 1]):
                t0 = time.thread_time()
                data = await read_limited_body(one(body), content_length=None, content_encoding="gzip",
                                               max_body_bytes=1 << 30, max_decompressed_bytes=1 << 30)  # fmt: skip
                t1 = time.thread_time()
                parsed = _parse(data)
                t2 = time.thread_time()
                spans = validate_records("bench", parsed["spans"], [], []).spans
                t3 = time.thread_time()
                g0 = sum(_cpu(p) for p in pg)
                await store.ingest("bench", spans, [], [])
                t4, g1 = time.thread_time(), sum(_cpu(p) for p in pg)
                if i:  # the first round warms caches and prepared statements
                    for k, v in zip(steps, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, g1 - g0), strict=True):
                        steps[k].append(v / batch * 1e6)
        finally:
            await store.close()

    try:
        asyncio.run(main())
    finally:
        _drop(name)
    return [(k, statistics.mean(v), statistics.median(v), min(v), max(v)) for k, v in steps.items()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results/pg_scale.md"))
    parser.add_argument("--breakdown", action="store_true", help="only the CPU per span of each step (PostgreSQL)")
    parser.add_argument("--rounds", type=int, default=30, help="rounds of --breakdown")
    parser.add_argument(
        "--text-search", choices=["trigram", "scan", "both"], default="trigram", help="the collector's --text-search"
    )
    parser.add_argument("--repeat", type=int, default=1, help="times every run is repeated (modes alternate)")
    args = parser.parse_args()
    modes = ["trigram", "scan"] if args.text_search == "both" else [args.text_search]
    if args.breakdown:
        for mode in modes:
            breakdown_report(args, mode)
        return
    backends = ["postgres", "sqlite"] if args.backend == "both" else [args.backend]
    payloads = bodies(args.requests + args.concurrency, args.batch)
    lines = [
        f"# bench_pg_scale.py: {args.requests} requests x {args.batch} spans, concurrency {args.concurrency}, "
        f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs",
        "",
        "| run | spans/s | p50 ms | p99 ms | CPU us/span: collector / PostgreSQL / load generator | load average before |",
        "|---|---|---|---|---|---|",
    ]
    for _ in range(args.repeat):
        for mode in modes:
            lines += one_round(args, backends, payloads, mode)
    text = "\n".join(lines) + "\n"
    print(text)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)


def one_round(args: argparse.Namespace, backends: list[str], payloads: list[bytes], mode: str) -> list[str]:
    """Every HTTP and store-only run once with ``--text-search mode`` (PostgreSQL; SQLite always scans)."""
    lines = []
    label = f", {mode}"
    for backend in backends:
        for workers in args.workers:
            before = os.getloadavg()[0]
            r = http_ingest(backend, workers, payloads, args.concurrency, mode)
            cpu = f"{r['collector_us']:.0f} / {r['postgres_us']:.0f} / {r['client_us']:.0f}"
            if backend == "sqlite":
                cpu = f"{r['collector_us']:.0f} / - / {r['client_us']:.0f}"
            row = (f"| {backend}{label if backend == 'postgres' else ''}, HTTP, {workers} worker(s) | "
                   f"{r['spans_per_s']:,.0f} | {r['p50_ms']:.0f} | {r['p99_ms']:.0f} | {cpu} | {before:.1f} |")  # fmt: skip
            print(row, flush=True)
            lines.append(row)
    if "postgres" in backends:
        for conc in (1, 4):
            before = os.getloadavg()[0]
            r = store_ingest(max(args.requests // 5, 20), args.batch, conc, mode)
            row = (f"| postgres{label}, store only, 1 process, {conc} batch(es) in flight | {r['spans_per_s']:,.0f} "
                   f"| | | {r['python_us']:.0f} / {r['postgres_us']:.0f} / - | {before:.1f} |")  # fmt: skip
            print(row, flush=True)
            lines.append(row)
    return lines


def breakdown_report(args: argparse.Namespace, mode: str) -> None:
    """Print the ``--breakdown`` table of one --text-search mode."""
    load_before = os.getloadavg()
    rows = breakdown(bodies(args.rounds + 1, args.batch), args.batch, args.rounds, mode)
    text = "\n".join(
        [
            f"# bench_pg_scale.py --breakdown --text-search {mode}: {args.rounds} rounds x {args.batch} spans, "
            f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, load {load_before[0]:.1f} -> {os.getloadavg()[0]:.1f}",
            "",
            "| step | CPU us/span, mean | median | min | max |",
            "|---|---|---|---|---|",
            *(f"| {k} | {a:.1f} | {m:.1f} | {lo:.1f} | {hi:.1f} |" for k, a, m, lo, hi in rows),
            f"| **total** | **{sum(r[1] for r in rows):.1f}** | | | |",
        ]
    )
    print(text, flush=True)


if __name__ == "__main__":
    main()
