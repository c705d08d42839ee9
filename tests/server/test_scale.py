"""The collector at team scale: several processes on one database, PostgreSQL partitions and purge."""

from __future__ import annotations

import json
import math
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import anyio
import asyncpg
import httpx
import pytest
from collector_helpers import auth, body, database, eval_record, new_key, span_record
from server_process import peekr_server

from peekr.server import ServerSettings
from peekr.server._admin import revoke_key
from peekr.server._backends import open_store
from peekr.server._pg_schema import PG_MIGRATIONS
from peekr.server._purge import purge_once
from peekr.server._store import format_time
from peekr.server._testing import run_collector

NOW = datetime(2026, 11, 27, 15, 30, tzinfo=timezone.utc)
SPAN_WINDOW = {"since": "2025-01-01T00:00:00Z", "until": "2026-12-31T00:00:00Z"}


def _post(url: str, key: str, n: int = 1) -> httpx.Response:
    return httpx.post(f"{url}/v1/ingest", json=body([span_record() for _ in range(n)]), headers=auth(key))


# -- several collector processes ------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_key_revoked_is_refused_at_once_by_every_process(tmp_path: Path, backend: str) -> None:
    with database(backend, tmp_path) as db:
        key = new_key(db, "acme")
        with peekr_server(db, "--rate-limit", "0") as a, peekr_server(db, "--rate-limit", "0") as b:
            assert _post(a, key).status_code == 200 and _post(b, key).status_code == 200
            assert revoke_key(db, key.split("_")[2])
            for url in (a, b):
                refused = _post(url, key)
                assert refused.status_code == 401, refused.text
                assert refused.json()["error"]["code"] == "invalid_api_key"


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_rate_limit_holds_across_two_processes(tmp_path: Path, backend: str) -> None:
    with database(backend, tmp_path) as db:
        key, other = new_key(db, "acme"), new_key(db, "acme")
        limit = ("--rate-limit", "1", "--rate-burst", "4")
        with peekr_server(db, *limit) as a, peekr_server(db, *limit) as b:
            start = time.monotonic()
            answers = [_post(url, key) for url in [a, b] * 8]
            elapsed = time.monotonic() - start
            granted = [r.status_code for r in answers].count(200)
            # One bucket of 4 plus 1/s shared by both processes (each on its own would grant 8).
            assert 4 <= granted <= 4 + math.ceil(elapsed), (granted, elapsed)
            refused = [r for r in answers if r.status_code == 429]
            assert refused and int(refused[0].headers["Retry-After"]) >= 1
            assert "rate limit of 1 requests/s" in refused[0].json()["error"]["message"]
            assert _post(b, other).status_code == 200  # another key has its own bucket


def test_workers_share_one_rate_limit_on_postgres(tmp_path: Path) -> None:
    with database("postgres", tmp_path) as db:
        key = new_key(db, "acme")
        with peekr_server(db, "--workers", "2", "--rate-limit", "1", "--rate-burst", "3") as url:
            start = time.monotonic()
            codes = [_post(url, key).status_code for _ in range(12)]
            elapsed = time.monotonic() - start
            assert 3 <= codes.count(200) <= 3 + math.ceil(elapsed), (codes, elapsed)
            assert set(codes) == {200, 429}


# -- PostgreSQL partitions -------------------------------------------------------------------------


async def _leaves(dsn: str) -> set[str]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT relname FROM pg_class WHERE relname LIKE 'spans_d%' AND relkind = 'r'")
        return {r["relname"] for r in rows}
    finally:
        await conn.close()


def test_an_unpartitioned_database_is_converted_in_place(tmp_path: Path) -> None:
    spans = [
        span_record(
            start=NOW - timedelta(days=d), retention_class=c, model=f"m{d // 3 % 3}", tokens_total=d, cost_usd=0.5
        )
        for d in range(0, 40, 3)
        for c in ("default", "long")
    ]
    with database("postgres", tmp_path) as dsn:

        async def old_version() -> None:
            # The schema and data a collector before pg_m007 left behind.
            conn = await asyncpg.connect(dsn)
            try:
                await conn.execute("CREATE TABLE _peekr_migrations (name text PRIMARY KEY, applied_at timestamptz)")
                for name, step in PG_MIGRATIONS[:6]:
                    await (conn.execute(step) if isinstance(step, str) else step(conn))
                    await conn.execute("INSERT INTO _peekr_migrations VALUES ($1, now())", name)
                assert await conn.fetchval("SELECT relkind FROM pg_class WHERE relname = 'spans'") == b"r"
            finally:
                await conn.close()

        anyio.run(old_version)
        # The old schema gets its rows straight from SQL (as the old collector wrote them).
        anyio.run(_insert_unpartitioned, dsn, spans)
        with database("postgres", tmp_path) as reference:
            key_old, read_old = new_key(dsn, "acme"), new_key(dsn, "acme", "read")  # opens the store: migrates
            key_ref, read_ref = new_key(reference, "acme"), new_key(reference, "acme", "read")
            with (
                run_collector(ServerSettings(db=dsn, rate_limit=0, purge_interval_s=0)) as converted,
                run_collector(ServerSettings(db=reference, rate_limit=0, purge_interval_s=0)) as fresh,
            ):
                ingest = httpx.post(f"{fresh.url}/v1/ingest", json=body(spans), headers=auth(key_ref))
                assert ingest.json()["stored"] == len(spans)
                # Converted: partitioned, every row kept, answers identical to a database built new.
                for view in ("/v1/traces", "/v1/stats/aggregates"):
                    params: dict[str, str] = {
                        **SPAN_WINDOW,
                        **({"limit": "100"} if view == "/v1/traces" else {"group_by": "model"}),
                    }
                    got = httpx.get(converted.url + view, params=params, headers=auth(read_old)).json()
                    want = httpx.get(fresh.url + view, params=params, headers=auth(read_ref)).json()
                    assert got == want
                assert len(got["rows"]) == 3
                assert _post(converted.url, key_old).status_code == 200
            leaves = anyio.run(_leaves, dsn)
            assert "spans_d20261127_default" in leaves and "spans_d20261019_long" in leaves


async def _insert_unpartitioned(dsn: str, spans: list[dict[str, Any]]) -> None:
    import json

    from peekr.server._pg_rollups import backfill

    conn = await asyncpg.connect(dsn)
    try:
        for s in spans:
            await conn.execute(
                "INSERT INTO spans (tenant_id, span_id, trace_id, parent_id, name, start_time, end_time, duration_ms, "
                "status, retention_class, attributes) VALUES ('acme', $1, $2, NULL, $3, $4::text::timestamptz, "
                "$5::text::timestamptz, $6, $7, $8, $9::jsonb)",
                s["span_id"], s["trace_id"], s["name"], s["start_time"], s["end_time"], s["duration_ms"], s["status"],
                s["retention_class"], json.dumps(s["attributes"]),
            )  # fmt: skip
        async with conn.transaction():
            await backfill(conn)
    finally:
        await conn.close()


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        return float(f"{value:.10g}")
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value


def _history() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Spans of every retention class over 40 days (several an hour either side of each cutoff)."""
    spans = []
    for days in (0.2, 0.9, 1.0, 1.1, 3, 6.9, 7.05, 7.5, 12, 29.9, 30.04, 30.5, 35, 364.9, 365.1, 400):
        for cls, model in (("pii", "a"), ("short", "b"), ("default", "c"), ("long", "a")):
            spans.append(
                span_record(
                    start=NOW - timedelta(days=days), retention_class=cls, model=model, feature=cls,
                    tokens_total=7, cost_usd=0.25, duration_ms=10 + days,
                )
            )  # fmt: skip
    evals = [eval_record(s, 0.1 * (i % 10)) for i, s in enumerate(spans) if i % 3 == 0]
    return spans, evals


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_purge_answers_exactly_as_a_database_that_never_held_the_expired_spans(tmp_path: Path, backend: str) -> None:
    spans, evals = _history()
    days = {"pii": 1, "short": 7, "default": 30, "long": 365}
    kept = {
        s["span_id"]
        for s in spans
        if NOW - datetime.fromisoformat(s["start_time"]) <= timedelta(days=days[s["retention_class"]])
    }
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with database(backend, tmp_path / "a") as db, database(backend, tmp_path / "b") as reference:
        keys = {d: (new_key(d, "acme"), new_key(d, "acme", "read")) for d in (db, reference)}
        with (
            run_collector(ServerSettings(db=db, rate_limit=0, purge_interval_s=0)) as a,
            run_collector(ServerSettings(db=reference, rate_limit=0, purge_interval_s=0)) as b,
        ):
            sent = httpx.post(a.url + "/v1/ingest", json=body(spans, evals), headers=auth(keys[db][0])).json()
            assert sent["stored"] == len(spans) + len(evals)
            survivors = [s for s in spans if s["span_id"] in kept]
            surviving_evals = [e for e in evals if e["span_id"] in kept]
            answer = httpx.post(
                b.url + "/v1/ingest", json=body(survivors, surviving_evals), headers=auth(keys[reference][0])
            )
            assert answer.json()["stored"] == len(survivors) + len(surviving_evals)

            async def purge() -> int:
                store = open_store(db)
                await store.open()
                try:
                    return await purge_once(store, days, NOW)
                finally:
                    await store.close()

            assert anyio.run(purge) == len(spans) - len(survivors)
            views: list[tuple[str, dict[str, Any]]] = [
                ("/v1/stats/aggregates", {**SPAN_WINDOW}),
                ("/v1/stats/aggregates", {**SPAN_WINDOW, "group_by": "feature", "interval": "day"}),
                ("/v1/stats/aggregates", {**SPAN_WINDOW, "group_by": "model", "interval": "hour"}),
                ("/v1/stats/scores", {**SPAN_WINDOW}),
                ("/v1/traces", {**SPAN_WINDOW, "limit": 500}),
            ]
            for path, params in views:
                got = httpx.get(a.url + path, params=params, headers=auth(keys[db][1])).json()
                want = httpx.get(b.url + path, params=params, headers=auth(keys[reference][1])).json()
                # Sums of floats subtracted in another order may differ in the last bits only.
                assert _rounded(got) == _rounded(want), (path, json.dumps(got), json.dumps(want))
            assert len(got["traces"]) == len(survivors)


def test_purge_drops_whole_day_partitions_per_retention_class(tmp_path: Path) -> None:
    spans, _ = _history()
    with database("postgres", tmp_path) as db:
        key = new_key(db, "acme")
        with run_collector(ServerSettings(db=db, rate_limit=0, purge_interval_s=0)) as a:
            assert httpx.post(a.url + "/v1/ingest", json=body(spans), headers=auth(key)).json()["stored"] == len(spans)
        before = anyio.run(_leaves, db)
        # 12 days ago: pii and short expired (leaf dropped), default and long kept; the day itself stays.
        assert {"spans_d20261115_pii", "spans_d20261115_default"} <= before

        async def purge() -> int:
            store = open_store(db)
            await store.open()
            try:
                return await purge_once(store, {}, NOW)
            finally:
                await store.close()

        anyio.run(purge)
        after = anyio.run(_leaves, db)
        assert "spans_d20261115_pii" not in after and "spans_d20261115_short" not in after
        assert {"spans_d20261115_default", "spans_d20261115_long"} <= after
        # 400 days ago every class expired: the whole day is gone.
        old = format_time(NOW - timedelta(days=400))[:10].replace("-", "")
        assert not {t for t in after if t.startswith(f"spans_d{old}")}
        assert {t for t in before if t.startswith(f"spans_d{old}")}


def test_a_span_for_a_day_another_process_dropped_is_stored(tmp_path: Path) -> None:
    old = span_record(start=NOW - timedelta(days=3), retention_class="pii")
    late = span_record(start=NOW - timedelta(days=3), retention_class="pii")
    with database("postgres", tmp_path) as db:

        async def main() -> tuple[int, int]:
            writer, purger = open_store(db), open_store(db)
            await writer.open()
            await purger.open()
            try:
                from peekr._span import Span

                await writer.ingest("acme", [Span.model_validate(old)], [], [])
                purged = await purge_once(purger, {}, NOW)  # drops the day the writer believes it has
                counts = await writer.ingest("acme", [Span.model_validate(late)], [], [])
                return purged, counts.stored
            finally:
                await writer.close()
                await purger.close()

        assert anyio.run(main) == (1, 1)


def test_collector_connections_neither_jit_compile_nor_replan_every_partition(tmp_path: Path) -> None:
    # With JIT on, one trace-list page over 124 daily partitions (2M spans) took 39 s to compile;
    # with custom plans, planning each query over every partition took 17-70 ms (generic: 1-6 ms).
    with database("postgres", tmp_path) as db:

        async def main() -> tuple[str, str]:
            from peekr.server._pg_store import PostgresStore

            store = PostgresStore(db)
            await store.open()
            try:
                return str(await store.pool.fetchval("SHOW jit")), str(
                    await store.pool.fetchval("SHOW plan_cache_mode")
                )
            finally:
                await store.close()

        assert anyio.run(main) == ("off", "force_generic_plan")


def test_a_span_without_a_filter_attribute_adds_nothing_to_that_filters_index(tmp_path: Path) -> None:
    # Each of the six attribute indexes cost every span a B-tree insert, null or not (6 of the
    # ~105 us of PostgreSQL CPU per ~1 KB span); most spans carry no session, user or experiment.
    spans = [span_record(start=NOW - timedelta(seconds=i), model="gpt-4o", user_id=f"u{i % 3}") for i in range(300)]
    spans += [span_record(start=NOW - timedelta(seconds=i)) for i in range(300)]  # no attributes at all
    with database("postgres", tmp_path) as db:

        async def main() -> tuple[dict[str, int], list[str]]:
            from peekr._span import Span
            from peekr.server._pg_store import PostgresStore

            store = PostgresStore(db)
            await store.open()
            try:
                await store.ingest("acme", [Span.model_validate(s) for s in spans], [], [])
                async with store.pool.acquire() as conn:
                    await conn.execute("VACUUM ANALYZE spans")
                    entries = {
                        attr: int(
                            await conn.fetchval(
                                "SELECT sum(c.reltuples) FROM pg_partition_tree($1::regclass) t "
                                "JOIN pg_class c ON c.oid = t.relid WHERE t.isleaf",
                                f"spans_tenant_{attr}",
                            )
                        )
                        for attr in ("model", "user_id", "session_id", "experiment_variant")
                    }
                    # The collector's own connections (generic plans) still filter through the index.
                    await conn.execute("SET enable_seqscan = off")
                    await conn.execute(
                        "PREPARE by_user(text, text) AS SELECT trace_id FROM spans WHERE tenant_id = $1 AND "
                        "attributes->>'user_id' = $2 ORDER BY start_time DESC, trace_id COLLATE \"C\" DESC LIMIT 5"
                    )
                    plan = [r[0] for r in await conn.fetch("EXPLAIN EXECUTE by_user('acme', 'u1')")]
                    await conn.execute("DEALLOCATE by_user; RESET enable_seqscan")
                return entries, plan
            finally:
                await store.close()

        entries, plan = anyio.run(main)
        assert entries == {"model": 300, "user_id": 300, "session_id": 0, "experiment_variant": 0}
        text = " ".join(plan)
        assert "Index Cond: ((tenant_id = $1) AND ((attributes ->> 'user_id'::text) = $2))" in text, plan
        assert "Seq Scan" not in text, plan
