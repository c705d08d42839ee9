"""Collector ingest with several processes: spans/s and p99 request latency, PostgreSQL and SQLite.

    eval "$(bash scripts/deps/postgres.sh)"
    .venv/bin/python benchmarks/bench_pg_scale.py [--requests 200] [--batch 500] [--concurrency 8] [--workers 1 4]

For each worker count, a real ``peekr server --workers N`` subprocess on a fresh database (rate
limit on, at a rate no run reaches, so the shared token bucket is on the measured path) receives
pre-built gzipped wire-format bodies of fresh spans from an asyncio httpx client in this
process (``bench_server.load``). A second figure, ``store only``, calls ``PostgresStore.ingest``
directly (no HTTP, no JSON parsing or validation) with ``--concurrency`` batches in flight: what
one process can write to PostgreSQL. The query, trace-list and purge figures at scale come from
``bench_server_scale.py``. Results go to benchmarks/results/pg_scale.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
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

    def __init__(self, db: str, workers: int) -> None:
        self.url = f"http://127.0.0.1:{free_port()}"
        cmd = [sys.executable, "-m", "peekr.cli", "server", "--db", db, "--port", self.url.rsplit(":", 1)[1],
               "--workers", str(workers), "--rate-limit", "100000", "--rate-burst", "100000",
               "--purge-interval", "0", "--log-level", "warning"]  # fmt: skip
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


def _drop(name: str) -> None:
    import asyncpg

    async def drop() -> None:
        conn = await asyncpg.connect(os.environ["PEEKR_TEST_POSTGRES_DSN"])
        await conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await conn.close()

    asyncio.run(drop())


def http_ingest(backend: str, workers: int, payloads: list[bytes], concurrency: int) -> dict[str, float]:
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
        server = Collector(db, workers)
        try:
            asyncio.run(load(server.url, key, payloads[:concurrency], concurrency))  # warm every worker
            return asyncio.run(load(server.url, key, payloads[concurrency:], concurrency))
        finally:
            server.stop()
    finally:
        if name:
            _drop(name)
        tmp.cleanup()


def store_ingest(n_batches: int, batch: int, concurrency: int) -> dict[str, float]:
    """``PostgresStore.ingest`` in this process, ``concurrency`` batches in flight."""
    from peekr.server._pg_store import PostgresStore

    made = pg_database()
    if made is None:
        raise SystemExit("PEEKR_TEST_POSTGRES_DSN is not set")
    dsn, name = made
    batches = [[Span.model_validate(make_span(b * batch + i)) for i in range(batch)] for b in range(n_batches)]

    async def main() -> dict[str, float]:
        store = PostgresStore(dsn)
        await store.open()
        try:
            await store.ingest("warm", batches.pop(), [], [])
            queue = list(batches)
            started, cpu = time.perf_counter(), time.process_time()

            async def worker() -> None:
                while queue:
                    await store.ingest("bench", queue.pop(), [], [])

            await asyncio.gather(*(worker() for _ in range(concurrency)))
            elapsed = time.perf_counter() - started
            return {"spans_per_s": len(batches) * batch / elapsed, "client_cpu_s": time.process_time() - cpu}
        finally:
            await store.close()

    try:
        return asyncio.run(main())
    finally:
        _drop(name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results/pg_scale.md"))
    args = parser.parse_args()
    backends = ["postgres", "sqlite"] if args.backend == "both" else [args.backend]
    payloads = bodies(args.requests + args.concurrency, args.batch)
    lines = [
        f"# bench_pg_scale.py: {args.requests} requests x {args.batch} spans, concurrency {args.concurrency}, "
        f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs",
        "",
        "| run | spans/s | p50 ms | p99 ms | load average before |",
        "|---|---|---|---|---|",
    ]
    for backend in backends:
        for workers in args.workers:
            before = os.getloadavg()[0]
            r = http_ingest(backend, workers, payloads, args.concurrency)
            row = (f"| {backend}, HTTP, {workers} worker(s) | {r['spans_per_s']:,.0f} | {r['p50_ms']:.0f} | "
                   f"{r['p99_ms']:.0f} | {before:.1f} |")  # fmt: skip
            print(row, flush=True)
            lines.append(row)
    if "postgres" in backends:
        for conc in (1, 4):
            before = os.getloadavg()[0]
            r = store_ingest(max(args.requests // 5, 20), args.batch, conc)
            row = f"| postgres, store only, 1 process, {conc} batch(es) in flight | {r['spans_per_s']:,.0f} | | | {before:.1f} |"
            print(row, flush=True)
            lines.append(row)
    text = "\n".join(lines) + "\n"
    print(text)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
