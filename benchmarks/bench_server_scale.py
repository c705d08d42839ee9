"""Collector queries on a large database: trace list, waterfall and every stats view (SQLite, PostgreSQL).

    .venv/bin/python benchmarks/bench_server_scale.py [--spans 1000000] [--days 30] [--backend sqlite|postgres|both]

Builds a database of ``--spans`` spans (traces of 4 spans over ``--days`` days, 30 % of the LLM
spans with a hallucination score) fast: the schema comes from the store's own migrations, rows go
in by ``executemany`` (SQLite) or ``COPY`` (PostgreSQL), and the rollups are then built by the same
backfill the migration runs. A real ``peekr server`` subprocess then answers the queries over
HTTP; times are client-side on 127.0.0.1 (server time plus ~1 ms). PostgreSQL uses
PEEKR_TEST_POSTGRES_DSN (a new database, dropped afterwards). Last, the retention purge of the
oldest day is timed (PostgreSQL drops that day's partition; SQLite deletes its rows). Results go
to benchmarks/results/server_scale.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "tests" / "_helpers"))  # the data and its bulk build, shared with a test

from bench_server import Server, pg_database  # noqa: E402
from scale_data import END, TENANT, build_postgres_bulk, generate  # noqa: E402

from peekr.server._admin import create_key  # noqa: E402
from peekr.server._backends import open_store  # noqa: E402
from peekr.server._store import format_time  # noqa: E402


async def _open_and_close(db: str) -> None:
    store = open_store(db)
    await store.open()  # schema (and an empty backfill) from the store's own migrations
    await store.close()


def build_sqlite(path: str, n_spans: int, days: int) -> None:
    """Migrated schema, bulk rows, then the migration's own rollup backfill."""
    from peekr.server._sqlite_rollups import backfill

    asyncio.run(_open_and_close(path))
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = OFF")
    for spans, evals in generate(n_spans, days):
        db.execute("BEGIN")
        db.executemany(
            "INSERT INTO spans (span_id, trace_id, parent_id, name, start_time, end_time, duration_ms, status, "
            "tenant_id, retention_class, attributes) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            [(s[0], s[1], s[2], s[3], format_time(s[4]), format_time(s[5]), s[6], s[7], TENANT, s[8],
              json.dumps(s[9], separators=(",", ":"))) for s in spans],
        )  # fmt: skip
        db.executemany(
            "INSERT INTO eval_results (span_id, trace_id, evaluator, status, scores, attributes, error, created_at, "
            "tenant_id, record_key) VALUES (?,?,?,?,?,'{}',NULL,?,?,?)",
            [(e[0], e[1], e[2], e[3], json.dumps(e[4]), format_time(e[5]), TENANT, e[6]) for e in evals],
        )
        db.execute("COMMIT")
    db.execute("BEGIN")
    backfill(db)
    db.execute("COMMIT")
    db.execute("ANALYZE")
    db.close()


def build_postgres(dsn: str, n_spans: int, days: int) -> None:
    """The bulk build (``scale_data.build_postgres_bulk``: COPY, SQL rollups, indexes built last)."""
    started = time.perf_counter()

    def progress(text: str) -> None:
        print(f"[{time.perf_counter() - started:7.1f} s, load {os.getloadavg()[0]:.1f}] {text}", flush=True)

    asyncio.run(build_postgres_bulk(dsn, generate(n_spans, days), progress=progress))


def _pctl(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def measure(url: str, key: str, days: int) -> dict[str, dict[str, float]]:
    """p50/p95 in ms of each query family, over HTTP."""
    headers = {"Authorization": f"Bearer {key}"}
    day = {"since": format_time(END - timedelta(days=1)), "until": format_time(END)}
    month = {"since": format_time(END - timedelta(days=min(days, 30))), "until": format_time(END)}
    week = {"since": format_time(END - timedelta(days=min(days, 7))), "until": format_time(END)}
    out: dict[str, dict[str, float]] = {}
    with httpx.Client(timeout=300, headers=headers) as client:

        def timed(path: str, params: dict[str, Any]) -> tuple[float, Any]:
            t0 = time.perf_counter()
            r = client.get(url + path, params=params)
            elapsed = (time.perf_counter() - t0) * 1000
            r.raise_for_status()
            return elapsed, r.json()

        timed("/v1/traces", {"limit": 50})  # warm-up
        first = timed("/v1/traces", {"limit": 50})[1]
        cursor = first["next_cursor"]
        lists = {
            "newest": {},
            "page 2": {"cursor": cursor},
            "model": {"model": "o3"},
            "status=error": {"status": "error"},
            "user": {"user_id": "user-7"},
            "session": {"session_id": "session-4242"},
            "feature": {"feature": "extract"},
            "endpoint": {"endpoint": "/api/v1/admin"},
            "name prefix": {"name": "anthropic"},
            "last day": day,
            "variant": {"experiment_variant": "b"},
            "min score": {"min_score": 0.9},
            "max score": {"max_score": 0.3},
            "search, common word": {"q": "declined"},
            "search, rare word (1 span in 1,000)": {"q": "chargeback"},
            "search, rare word, last day": {"q": "chargeback", **day},
        }
        all_times: list[float] = []
        for label, params in lists.items():
            times = [timed("/v1/traces", {"limit": 50, **params})[0] for _ in range(7)]
            all_times += times
            out[f"traces list: {label}"] = {"p50": statistics.median(times), "p95": _pctl(times, 0.95)}
        out["traces list: all filters"] = {"p50": statistics.median(all_times), "p95": _pctl(all_times, 0.95)}
        trace_ids = [t["trace_id"] for t in first["traces"]]
        trace_ids += [t["trace_id"] for t in timed("/v1/traces", {"limit": 50, **day})[1]["traces"]]
        times = [timed(f"/v1/traces/{t}", {})[0] for t in trace_ids]
        out["waterfall (4 spans)"] = {"p50": statistics.median(times), "p95": _pctl(times, 0.95)}
        stats = {
            "aggregates day, by model per hour": ("/v1/stats/aggregates", {**day, "group_by": "model", "interval": "hour"}),
            "aggregates day, by feature per minute (answered per hour)": (
                "/v1/stats/aggregates", {**day, "group_by": "feature", "interval": "minute"}),
            "aggregates day, totals": ("/v1/stats/aggregates", day),
            "aggregates month, by model per day": (
                "/v1/stats/aggregates", {**month, "group_by": "model", "interval": "day"}),
            "aggregates month, by endpoint per hour (answered per day)": (
                "/v1/stats/aggregates", {**month, "group_by": "endpoint", "interval": "hour"}),
            "aggregates day, by user per hour (top 10)": (
                "/v1/stats/aggregates", {**day, "group_by": "user_id", "interval": "hour"}),
            "aggregates month, by user per day (top 10)": (
                "/v1/stats/aggregates", {**month, "group_by": "user_id", "interval": "day"}),
            "aggregates week, by feature per hour": (
                "/v1/stats/aggregates", {**week, "group_by": "feature", "interval": "hour"}),
            "scores day": ("/v1/stats/scores", day),
            "scores month": ("/v1/stats/scores", month),
            "worst day: hallucination": ("/v1/stats/worst", {**day, "metric": "hallucination"}),
            "worst day: latency": ("/v1/stats/worst", {**day, "metric": "latency"}),
            "worst day: cost": ("/v1/stats/worst", {**day, "metric": "cost"}),
        }  # fmt: skip
        for label, (path, params) in stats.items():
            times = [timed(path, params)[0] for _ in range(5)]
            out[label] = {"p50": statistics.median(times), "p95": max(times)}
    return out


def purge_oldest_day(db: str, days: int) -> tuple[float, int]:
    """Retention purge of the oldest day (default class kept ``days - 1`` days): (seconds, spans deleted)."""
    from peekr.server._purge import purge_once

    async def main() -> tuple[float, int]:
        store = open_store(db)
        await store.open()
        try:
            started = time.perf_counter()
            deleted = await purge_once(store, {"default": days - 1}, END)
            return time.perf_counter() - started, deleted
        finally:
            await store.close()

    return asyncio.run(main())


def _pg_size(dsn: str) -> int:
    import asyncpg

    async def size() -> int:
        conn = await asyncpg.connect(dsn)
        try:
            return int(await conn.fetchval("SELECT pg_database_size(current_database())"))
        finally:
            await conn.close()

    return asyncio.run(size())


def _pg_kept(name: str) -> tuple[str, bool]:
    """The DSN of database ``name`` on PEEKR_TEST_POSTGRES_DSN's server (created if missing), and
    whether it was already built."""
    import asyncpg

    base = os.environ.get("PEEKR_TEST_POSTGRES_DSN")
    if not base:
        raise SystemExit("PEEKR_TEST_POSTGRES_DSN is not set")
    dsn = urlunsplit(urlsplit(base)._replace(path="/" + name))

    async def ensure() -> bool:
        conn = await asyncpg.connect(base)
        try:
            if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
                await conn.execute(f"CREATE DATABASE {name}")
                return False
        finally:
            await conn.close()
        db = await asyncpg.connect(dsn)
        try:
            # The bulk build writes the rollups, then recreates the indexes (the trigram one last).
            built = await db.fetchval(
                "SELECT to_regclass('span_rollups') IS NOT NULL AND to_regclass('spans_text_trgm') IS NOT NULL"
            )
            if built and await db.fetchval("SELECT EXISTS (SELECT 1 FROM span_rollups)"):
                return True
        finally:
            await db.close()
        raise SystemExit(f"database {name} exists but was not fully built: drop it first")

    return dsn, asyncio.run(ensure())


def run(
    backend: str, n_spans: int, days: int, keep: str | None = None, purge_kept: bool = False
) -> tuple[float, dict[str, dict[str, float]]]:
    """Build, serve, measure, then purge the oldest day (not of a kept database unless ``purge_kept``);
    returns (build seconds, figures).

    ``keep``: the database to build and keep, or to reuse if it exists (build time 0): a SQLite
    file, or a PostgreSQL database name on PEEKR_TEST_POSTGRES_DSN's server.
    """
    cleanup: Any = lambda: None  # noqa: E731
    started = time.perf_counter()
    if backend == "sqlite" and keep:
        if not os.path.exists(keep):
            build_sqlite(keep, n_spans, days)
        db = keep
    elif backend == "sqlite":
        tmp = tempfile.TemporaryDirectory(prefix="peekr-scale-")
        db = os.path.join(tmp.name, "collector.db")
        build_sqlite(db, n_spans, days)
        cleanup = tmp.cleanup
    elif keep:
        db, built = _pg_kept(keep)
        if not built:
            build_postgres(db, n_spans, days)
    else:
        made = pg_database()
        if made is None:
            raise SystemExit("PEEKR_TEST_POSTGRES_DSN is not set")
        db, name = made
        build_postgres(db, n_spans, days)

        def cleanup() -> None:
            import asyncpg

            async def drop() -> None:
                conn = await asyncpg.connect(os.environ["PEEKR_TEST_POSTGRES_DSN"])
                await conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
                await conn.close()

            asyncio.run(drop())

    build_s = time.perf_counter() - started
    try:
        key = create_key(db, TENANT, "read")[1]
        server = Server(db)
        try:
            figures = measure(server.url, key, days)
        finally:
            server.stop()
        if backend == "postgres":
            size = _pg_size(db) / 1e9
            figures[f"database size on disk: {size:.1f} GB"] = {"p50": 0.0, "p95": 0.0}
        if not keep or purge_kept:  # a kept database is measured again later: do not purge it
            seconds, deleted = purge_oldest_day(db, days)
            figures[f"retention purge of the oldest day ({deleted:,} spans)"] = {
                "p50": seconds * 1000,
                "p95": seconds * 1000,
            }
        return build_s, figures
    finally:
        cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--spans", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results/server_scale.md"))
    parser.add_argument(
        "--keep",
        help="build this database and keep it, or reuse it if it exists (SQLite: a file; PostgreSQL: a database name)",
    )
    parser.add_argument("--purge-kept", action="store_true", help="with --keep: also time the purge (drops a day)")
    parser.add_argument("--build-only", action="store_true", help="with --keep: build, do not measure")
    args = parser.parse_args()
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    load = os.getloadavg()[0]
    lines = [
        f"# bench_server_scale.py: {args.spans:,} spans over {args.days} days, "
        f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, load average {load:.1f} on {os.cpu_count()} CPUs",
        "",
    ]
    if args.build_only and args.keep:
        if args.backend == "postgres":
            db, built = _pg_kept(args.keep)
            if not built:
                build_postgres(db, args.spans, args.days)
        elif not os.path.exists(args.keep):
            build_sqlite(args.keep, args.spans, args.days)
        return
    results = {b: run(b, args.spans, args.days, args.keep, args.purge_kept) for b in backends}
    lines.append("| query | " + " | ".join(f"{b} p50 / p95 ms" for b in backends) + " |")
    lines.append("|---|" + "---|" * len(backends))
    for label in next(iter(results.values()))[1]:
        cells = [f"{results[b][1][label]['p50']:.1f} / {results[b][1][label]['p95']:.1f}" for b in backends]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines.append(
        "| database build incl. rollup backfill (s) | " + " | ".join(f"{results[b][0]:.0f}" for b in backends) + " |"
    )
    text = "\n".join(lines) + "\n"
    print(text)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
