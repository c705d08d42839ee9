"""The scale benchmark's bulk PostgreSQL build (tests/_helpers/scale_data.py) leaves the database a
store ingest of the same spans leaves: the same rows, rollups, partitions and indexes, and a real
collector on either answers every stats and trace-list query the same."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import anyio
import asyncpg
import httpx
import pytest
from collector_helpers import auth, fresh_postgres_database, new_key, postgres_dsn
from scale_data import END, TENANT, build_postgres_bulk, generate, ingest_through_store

from peekr.server import ServerSettings
from peekr.server._store import format_time
from peekr.server._testing import run_collector

SPANS, DAYS, SEED = 3_000, 3, 7

# Float sums (cost, duration) are added in a different order: equal within rounding.
_TABLES = {
    "spans": "SELECT tenant_id, span_id, trace_id, parent_id, name, start_time, end_time, duration_ms, status, "
    "retention_class, attributes::text FROM spans ORDER BY span_id",
    "eval_results": "SELECT tenant_id, record_key, span_id, trace_id, evaluator, status, scores::text, "
    "attributes::text, error, created_at FROM eval_results ORDER BY record_key",
    "span_rollups": "SELECT tenant_id, grain, dim, bucket, key, value, calls, errors, tokens_input, tokens_output, "
    "tokens_total, cost_sum, cost_n, duration_sum, hist::text FROM span_rollups ORDER BY 1, 2, 3, 4, 5",
    "span_scores": "SELECT * FROM span_scores ORDER BY 1, 2, 3",
    "score_rollups": "SELECT * FROM score_rollups ORDER BY 1, 2, 3, 4, 5",
    "indexes": "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY 2",
    "tables": "SELECT relname, relkind::text FROM pg_class WHERE relnamespace = 'public'::regnamespace "
    "AND relkind IN ('r', 'p') ORDER BY 1",
}


def _close(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


async def _dump(dsn: str) -> dict[str, list[tuple[Any, ...]]]:
    conn = await asyncpg.connect(dsn)
    try:
        return {name: [tuple(r) for r in await conn.fetch(sql)] for name, sql in _TABLES.items()}
    finally:
        await conn.close()


def _queries(trace_id: str) -> list[tuple[str, dict[str, Any]]]:
    whole = {"since": format_time(END - timedelta(days=DAYS)), "until": format_time(END)}
    # Edges inside minutes: the answer also reads the spans of the partial minutes.
    ragged = {"since": "2026-11-29T07:13:21Z", "until": "2026-11-30T18:41:05.5Z"}
    out: list[tuple[str, dict[str, Any]]] = []
    for window in (whole, ragged):
        for group_by in (None, "model", "name", "feature", "endpoint", "provider", "user_id"):
            for interval in (None, "minute", "hour", "day"):
                params = {**window, **({"group_by": group_by} if group_by else {})}
                out.append(("/v1/stats/aggregates", {**params, **({"interval": interval} if interval else {})}))
        out.append(("/v1/stats/scores", window))
        out += [("/v1/stats/worst", {**window, "metric": m}) for m in ("hallucination", "latency", "cost")]
        out.append(("/v1/traces", {**window, "limit": 50}))
    filters: list[dict[str, Any]] = [
        {}, {"model": "o3"}, {"status": "error"}, {"user_id": "user-7"}, {"feature": "extract"},
        {"name": "anthropic"}, {"min_score": 0.9}, {"max_score": 0.3}, {"q": "chargeback"},
        {"experiment_variant": "b"},
    ]  # fmt: skip
    out += [("/v1/traces", {"limit": 50, **params}) for params in filters]
    out.append((f"/v1/traces/{trace_id}", {}))
    return out


@pytest.fixture
def two_databases() -> Iterator[tuple[str, str]]:
    base = postgres_dsn()
    assert base is not None
    with fresh_postgres_database(base) as through_store, fresh_postgres_database(base) as bulk:
        yield through_store, bulk


def test_bulk_build_equals_store_ingest(two_databases: tuple[str, str]) -> None:
    through_store, bulk = two_databases
    # Small chunks: the bulk build creates partitions and copies chunk by chunk, as at 10M spans.
    anyio.run(ingest_through_store, through_store, generate(SPANS, DAYS, SEED, chunk_size=700))
    anyio.run(lambda: build_postgres_bulk(bulk, generate(SPANS, DAYS, SEED, chunk_size=700)))

    expected, got = anyio.run(_dump, through_store), anyio.run(_dump, bulk)
    assert len(expected["spans"]) == SPANS and len(expected["eval_results"]) > 200
    assert len(expected["span_rollups"]) > 1000 and expected["score_rollups"]
    for table in _TABLES:
        assert len(got[table]) == len(expected[table]), table
        for a, b in zip(got[table], expected[table], strict=True):
            assert _close(a, b), (table, a, b)

    answers: dict[str, list[Any]] = {}
    for db in (through_store, bulk):
        key = new_key(db, TENANT, "read")
        with run_collector(ServerSettings(db=db, rate_limit=0, purge_interval_s=0)) as running:
            with httpx.Client(base_url=running.url, headers=auth(key), timeout=60) as client:
                first = client.get("/v1/traces", params={"limit": 50}).json()
                queries = _queries(first["traces"][0]["trace_id"])
                queries.append(("/v1/traces", {"limit": 50, "cursor": first["next_cursor"]}))
                replies = [client.get(path, params=params) for path, params in queries]
        assert all(r.status_code == 200 for r in replies), [r.text for r in replies if r.status_code != 200]
        answers[db] = [r.json() for r in replies]
    assert sum(len(a.get("rows", a.get("traces", []))) for a in answers[bulk]) > 1000
    for (path, params), a, b in zip(queries, answers[through_store], answers[bulk], strict=True):
        assert _close(b, a), (path, params, a, b)
