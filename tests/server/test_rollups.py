"""Rollups: the stats endpoints answer from them, and must equal a direct computation over the spans.

Seeded random data goes through a real collector over HTTP, with duplicate batches, eval results
before and after their span, several results per span and retention purges; the answers are
compared with a reference computed here from what was sent.
"""

from __future__ import annotations

import json
import random
import re
import sqlite3
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from collector_helpers import BASE, auth, body, database, new_key, span_record

from peekr._events import EvalResult
from peekr._span import Span
from peekr.server._backends import is_postgres, open_store
from peekr.server._purge import purge_once
from peekr.server._rollups import LATENCY_REL_ERROR
from peekr.server._store import format_time, percentile
from peekr.server._testing import RunningCollector

WINDOW = ("2026-11-25T00:00:00Z", "2026-11-30T00:00:00Z")
GROUPS = (None, "model", "name", "feature", "endpoint", "provider", "user_id")
TOP = 10  # the collector's default: more groups than this are summed into "(other)"
MAX_BUCKETS = 200
INTERVALS = (None, "minute", "hour", "day")


def _effective(interval: str | None, since: str, until: str) -> str | None:
    seconds = (datetime.fromisoformat(until) - datetime.fromisoformat(since)).total_seconds()
    while interval in ("minute", "hour") and seconds / {"minute": 60, "hour": 3600}[interval] > MAX_BUCKETS:
        interval = {"minute": "hour", "hour": "day"}[interval]
    return interval


class Reference:
    """What the collector should hold: first copy of each span, eval results in arrival order."""

    def __init__(self) -> None:
        self.spans: dict[str, dict[str, Any]] = {}
        self.evals: list[dict[str, Any]] = []
        self._eval_keys: set[str] = set()

    def add(self, spans: list[dict[str, Any]], evals: list[dict[str, Any]]) -> None:
        for s in spans:
            self.spans.setdefault(s["span_id"], s)
        for e in evals:
            key = repr(sorted(e.items()))
            if key not in self._eval_keys:
                self._eval_keys.add(key)
                self.evals.append(e)

    def purge(self, cutoffs: dict[str, str]) -> None:
        doomed = {i for i, s in self.spans.items() if s["start_time"] < cutoffs[s["retention_class"]]}
        self.spans = {i: s for i, s in self.spans.items() if i not in doomed}
        self.evals = [e for e in self.evals if e["span_id"] not in doomed]

    def aggregates(self, since: str, until: str, group_by: str | None, interval: str | None) -> list[dict[str, Any]]:
        interval = _effective(interval, since, until)
        cut = {None: 0, "minute": 16, "hour": 13, "day": 10}[interval]
        suffix = {None: "", "minute": ":00Z", "hour": ":00:00Z", "day": "T00:00:00Z"}[interval]
        groups: dict[tuple[str | None, str | None], list[dict[str, Any]]] = {}
        for s in self.spans.values():
            if since <= s["start_time"] < until:
                bucket = s["start_time"][:cut] + suffix if interval else None
                grp = s["name"] if group_by == "name" else s["attributes"].get(group_by) if group_by else None
                groups.setdefault((bucket, grp), []).append(s)
        calls: dict[str | None, int] = {}
        for (_, grp), items in groups.items():
            calls[grp] = calls.get(grp, 0) + len(items)
        if group_by and len(calls) > TOP:
            ranked = sorted(calls, key=lambda g: (-calls[g], g is not None, g or ""))
            keep = set(ranked[:TOP])
            merged: dict[tuple[str | None, str | None], list[dict[str, Any]]] = {}
            for (bucket, grp), items in groups.items():
                merged.setdefault((bucket, grp if grp in keep else "(other)"), []).extend(items)
            groups = merged
        rows = []
        for (bucket, grp), items in sorted(groups.items(), key=lambda kv: [(k is not None, k or "") for k in kv[0]]):
            durations = sorted(s["duration_ms"] for s in items)
            costs = [s["attributes"]["cost_usd"] for s in items if "cost_usd" in s["attributes"]]
            errors = sum(s["status"] == "error" for s in items)
            rows.append(
                {
                    "bucket": bucket, "group": grp, "calls": len(items), "errors": errors,
                    "error_rate": errors / len(items),
                    **{k: sum(s["attributes"].get(k, 0) for s in items)
                       for k in ("tokens_input", "tokens_output", "tokens_total")},
                    "cost_usd": sum(costs) if costs else None, "avg_ms": sum(durations) / len(durations),
                    # "(other)" carries sums only.
                    **({"p50_ms": None, "p95_ms": None, "p99_ms": None} if grp == "(other)" else {
                        "p50_ms": percentile(durations, 0.5), "p95_ms": percentile(durations, 0.95),
                        "p99_ms": percentile(durations, 0.99)}),
                }
            )  # fmt: skip
        return rows

    def scores(self, metric: str, bins: int, since: str, until: str) -> dict[str, Any]:
        latest: dict[str, Any] = {}
        for e in self.evals:  # arrival order: a later arrival wins a created_at tie
            if e["status"] == "ok" and metric in e["scores"]:
                old = latest.get(e["span_id"])
                if old is None or e["created_at"] >= old["created_at"]:
                    latest[e["span_id"]] = e
        values = [
            e["scores"][metric]
            for span_id, e in latest.items()
            if span_id in self.spans and since <= self.spans[span_id]["start_time"] < until
        ]
        numbers = [v for v in values if v is not None]
        counts = [0] * bins
        for v in numbers:
            counts[min(int(v * bins), bins - 1)] += 1
        return {"count": len(numbers), "null_count": len(values) - len(numbers),
                "mean": sum(numbers) / len(numbers) if numbers else None, "counts": counts}  # fmt: skip


def _random_time(rng: random.Random) -> datetime:
    return BASE + timedelta(seconds=rng.uniform(-2 * 86400, 2 * 86400))


def _generate(rng: random.Random, n: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    spans = []
    for _ in range(n):
        attributes: dict[str, Any] = {}
        for key, choices in (("model", ["gpt-4o", "claude", "gemini"]), ("feature", ["chat", "search"]),
                             ("endpoint", ["/a", "/b", "/c"]), ("provider", ["openai", "anthropic"]),
                             ("user_id", [f"user-{i}" for i in range(30)])):  # fmt: skip
            if rng.random() < 0.85:
                attributes[key] = rng.choice(choices)
        for key in ("tokens_input", "tokens_output", "tokens_total"):
            if rng.random() < 0.8:
                attributes[key] = rng.randrange(0, 5000)
        if rng.random() < 0.7:
            attributes["cost_usd"] = round(rng.uniform(0, 0.05), 6)
        duration = 0.0 if rng.random() < 0.03 else round(rng.lognormvariate(5, 1.5), 3)
        spans.append(
            span_record(
                name=rng.choice(["openai.chat.completions", "anthropic.messages", "agent.run"]),
                start=_random_time(rng),
                duration_ms=duration,
                status="error" if rng.random() < 0.1 else "ok",
                retention_class=rng.choice(["default", "short", "long"]),
                **attributes,
            )
        )
    evals = []
    ties = [format_time(BASE + timedelta(hours=h)) for h in range(3)]
    for span in rng.sample(spans, k=n * 2 // 3):
        for _ in range(rng.randrange(1, 4)):
            scores: dict[str, float | None] = {"hallucination": rng.choice([None, 0.0, 0.25, 0.5, 1.0, rng.random()])}
            if rng.random() < 0.5:
                scores["relevance"] = rng.random()
            evals.append(
                EvalResult(
                    span_id=span["span_id"],
                    trace_id=span["trace_id"],
                    evaluator=rng.choice(["hallucination", "judge"]),
                    status="failed" if rng.random() < 0.1 else "ok",
                    scores=scores,
                    created_at=rng.choice(ties),
                ).model_dump(mode="json")
            )
    orphan = EvalResult(span_id="f" * 16, trace_id="e" * 32, evaluator="x", scores={"hallucination": 0.5},
                        created_at=ties[0])  # fmt: skip
    evals.append(orphan.model_dump(mode="json"))  # its span never arrives
    return spans, evals


def _ingest(rng: random.Random, url: str, key: str, ref: Reference, spans: list[Any], evals: list[Any]) -> None:
    """Random batches mixing spans and results in any order, some sent twice, some with in-batch copies."""
    records = [("s", s) for s in spans] + [("e", e) for e in evals]
    rng.shuffle(records)
    sent: list[dict[str, Any]] = []
    while records:
        size = rng.randrange(1, 60)
        batch, records = records[:size], records[size:]
        if batch and rng.random() < 0.2:
            batch.append(rng.choice(batch))
        payload = body([r for t, r in batch if t == "s"], [r for t, r in batch if t == "e"])
        answer = httpx.post(url + "/v1/ingest", json=payload, headers=auth(key), timeout=30)
        assert answer.status_code == 200, answer.text
        ref.add(payload["spans"], payload["eval_results"])
        sent.append(payload)
    for payload in rng.sample(sent, k=len(sent) // 4):  # retried batches change nothing
        assert httpx.post(url + "/v1/ingest", json=payload, headers=auth(key), timeout=30).status_code == 200


def _check(url: str, read: str, ref: Reference, rng: random.Random) -> None:
    windows = [WINDOW]
    for _ in range(3):  # windows that cut through minutes, hours and days
        a, b = sorted(format_time(_random_time(rng)) for _ in range(2))
        windows.append((a, b))
    for since, until in windows:
        for group_by in GROUPS:
            for interval in INTERVALS:
                params = {"since": since, "until": until, **({"group_by": group_by} if group_by else {}),
                          **({"interval": interval} if interval else {})}  # fmt: skip
                got = httpx.get(url + "/v1/stats/aggregates", params=params, headers=auth(read), timeout=30)
                assert got.status_code == 200, got.text
                _same_aggregates(got.json()["rows"], ref.aggregates(since, until, group_by, interval), params)
                # A window of more than MAX_BUCKETS buckets is answered with a coarser interval, and says so.
                assert got.json()["interval"] == _effective(interval, since, until), params
        for metric, bins in (("hallucination", 10), ("hallucination", 7), ("relevance", 100), ("nothing", 5)):
            got = httpx.get(url + "/v1/stats/scores", headers=auth(read), timeout=30,
                            params={"metric": metric, "bins": bins, "since": since, "until": until}).json()  # fmt: skip
            want = ref.scores(metric, bins, since, until)
            assert [b["count"] for b in got["bins"]] == want["counts"], (metric, bins, since, until)
            assert (got["count"], got["null_count"]) == (want["count"], want["null_count"])
            assert got["mean"] == (None if want["mean"] is None else pytest.approx(want["mean"], rel=1e-9))


def _same_aggregates(got: list[dict[str, Any]], want: list[dict[str, Any]], params: dict[str, Any]) -> None:
    assert [(r["bucket"], r["group"]) for r in got] == [(r["bucket"], r["group"]) for r in want], params
    for g, w in zip(got, want, strict=True):
        exact = ("calls", "errors", "tokens_input", "tokens_output", "tokens_total")
        assert {k: g[k] for k in exact} == {k: w[k] for k in exact}, params
        assert g["error_rate"] == pytest.approx(w["error_rate"])
        assert g["avg_ms"] == pytest.approx(w["avg_ms"], rel=1e-9, abs=1e-9)
        if w["cost_usd"] is None:
            assert g["cost_usd"] is None, params
        else:
            assert g["cost_usd"] == pytest.approx(w["cost_usd"], rel=1e-9, abs=1e-12)
        for p in ("p50_ms", "p95_ms", "p99_ms"):
            if w[p] is None:
                assert g[p] is None
                continue
            # The documented bound (half a log-spaced bin), plus rounding to 3 decimals.
            assert g[p] == pytest.approx(w[p], rel=LATENCY_REL_ERROR + 1e-9, abs=1e-3), (p, params, g, w)


@pytest.mark.timeout(600)  # a few hundred requests, each checked against a direct computation
@pytest.mark.parametrize("seed", [1, 2])
def test_stats_from_rollups_equal_a_direct_computation(
    start_collector: Callable[..., AbstractContextManager[RunningCollector]], db: str, seed: int
) -> None:
    rng = random.Random(seed)
    key, read = new_key(db, "acme"), new_key(db, "acme", "read")
    other = new_key(db, "other")
    ref = Reference()
    spans, evals = _generate(rng, 250)
    with start_collector() as collector:
        _ingest(rng, collector.url, key, ref, spans, evals)
        # Another tenant's data (same span ids) counts nowhere in acme's answers.
        copies = body(spans[:50], evals[:50])
        assert httpx.post(collector.url + "/v1/ingest", json=copies, headers=auth(other)).status_code == 200
        _check(collector.url, read, ref, rng)

        # Late results for spans already stored, replacing earlier latest scores.
        late = [
            {**e, "created_at": format_time(BASE + timedelta(days=1)), "scores": {"hallucination": rng.random()}}
            for e in evals[:40]
        ]
        _ingest(rng, collector.url, key, ref, [], late)
        _check(collector.url, read, ref, rng)

        # Retention purge through the middle of the data: the rollups lose exactly what was deleted.
        now = BASE + timedelta(days=1)
        days = {"default": 2.3, "short": 1.7, "long": 3.1, "pii": 1}
        deleted = _purge(db, days, now)
        assert deleted > 0
        ref.purge({cls: format_time(now - timedelta(days=d)) for cls, d in days.items()})
        _check(collector.url, read, ref, rng)


def _purge(db: str, days: dict[str, float], now: datetime) -> int:
    async def main() -> int:
        store = open_store(db)
        await store.open()
        try:
            return await purge_once(store, days, now)
        finally:
            await store.close()

    return anyio.run(main)


# -- a database from the previous schema ---------------------------------------------------------


def _old_sqlite_database(path: Path, spans: list[dict[str, Any]], evals: list[dict[str, Any]]) -> None:
    """A collector database as the previous release left it: migrations up to server_m005, data inside."""
    from peekr.server._sqlite_migrations import SERVER_MIGRATIONS
    from peekr.sinks._sqlite_schema import apply_migrations, configure_connection

    db = sqlite3.connect(path, isolation_level=None)
    configure_connection(db)
    apply_migrations(db)
    previous = [m for m in SERVER_MIGRATIONS if m[0] < "server_m006"]
    assert [m[0] for m in previous][-1] == "server_m005_pad_years"
    for name, fn in previous:
        fn(db)
        db.execute("INSERT INTO _peekr_migrations (name, applied_at) VALUES (?, '2026-01-01T00:00:00Z')", (name,))
    db.executemany(
        "INSERT INTO spans (span_id, trace_id, parent_id, name, start_time, end_time, duration_ms, status, "
        "tenant_id, retention_class, attributes) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        [(s["span_id"], s["trace_id"], None, s["name"], s["start_time"], s["end_time"], s["duration_ms"],
          s["status"], "acme", s["retention_class"], json.dumps(s["attributes"])) for s in spans],
    )  # fmt: skip
    db.executemany(
        "INSERT OR IGNORE INTO eval_results (span_id, trace_id, evaluator, status, scores, attributes, error, "
        "created_at, tenant_id, record_key) VALUES (?,?,?,?,?,?,?,?,?,?)",
        [(e["span_id"], e["trace_id"], e["evaluator"], e["status"], json.dumps(e["scores"]), "{}",
          None, e["created_at"], "acme", str(i)) for i, e in enumerate(evals)],
    )  # fmt: skip
    db.close()


async def _old_postgres_database(dsn: str, spans: list[dict[str, Any]], evals: list[dict[str, Any]]) -> None:
    import asyncpg

    from peekr.server._pg_schema import PG_MIGRATIONS

    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("CREATE TABLE _peekr_migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL)")
        previous = [m for m in PG_MIGRATIONS if m[0] < "pg_m005"]
        assert [m[0] for m in previous][-1] == "pg_m004_api_keys"
        for name, sql in previous:
            assert isinstance(sql, str)
            await conn.execute(sql)
            await conn.execute("INSERT INTO _peekr_migrations VALUES ($1, now())", name)
        store_spans = [Span.model_validate(s) for s in spans]
        await conn.executemany(
            "INSERT INTO spans (tenant_id, span_id, trace_id, name, start_time, end_time, duration_ms, status, "
            "retention_class, attributes) VALUES ('acme', $1, $2, $3, $4::text::timestamptz, $5::text::timestamptz, "
            "$6, $7, $8, $9::jsonb)",
            [(s.span_id, s.trace_id, s.name, s.start_time, s.end_time, s.duration_ms, s.status, s.retention_class,
              json.dumps(s.attributes)) for s in store_spans],
        )  # fmt: skip
        await conn.executemany(
            "INSERT INTO eval_results (tenant_id, record_key, span_id, trace_id, evaluator, status, scores, "
            "created_at) VALUES ('acme', $1, $2, $3, $4, $5, $6::jsonb, $7::text::timestamptz)",
            [(str(i), e["span_id"], e["trace_id"], e["evaluator"], e["status"], json.dumps(e["scores"]),
              e["created_at"]) for i, e in enumerate(evals)],
        )  # fmt: skip
    finally:
        await conn.close()


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_database_from_previous_schema_is_migrated_and_answers_the_same(backend: str, tmp_path: Path) -> None:
    rng = random.Random(7)
    spans, evals = _generate(rng, 200)
    ref = Reference()
    ref.add(spans, evals)
    with database(backend, tmp_path) as db:
        if is_postgres(db):
            anyio.run(_old_postgres_database, db, spans, evals)
        else:
            _old_sqlite_database(Path(db), spans, evals)
        read = new_key(db, "acme", "read")  # opens the store: migrates and backfills the rollups
        from peekr.server import ServerSettings
        from peekr.server._testing import run_collector

        with run_collector(ServerSettings(db=db, rate_limit=0, purge_interval_s=0)) as collector:
            _check(collector.url, read, ref, rng)


def test_time_helpers_cover_a_window_exactly() -> None:
    from peekr.server._rollups import cover

    pieces = cover("2026-11-27T09:21:10.123456Z", "2026-11-29T03:00:00.000001Z", None)
    assert [p[0] for p in pieces] == [None, "minute", "hour", "day", "hour", None]
    assert all(a[2] == b[1] for a, b in zip(pieces, pieces[1:], strict=False))
    assert (pieces[0][1], pieces[-1][2]) == ("2026-11-27T09:21:10.123456Z", "2026-11-29T03:00:00.000001Z")


# -- indexes -----------------------------------------------------------------------------------------

_LIST_FILTERS = ("model", "feature", "endpoint", "user_id", "session_id", "experiment_variant")


def test_trace_list_filters_and_waterfall_use_their_indexes_sqlite(tmp_path: Path) -> None:
    db_path = str(tmp_path / "c.db")
    store = open_store(db_path)
    anyio.run(store.open)
    anyio.run(store.close)
    db = sqlite3.connect(db_path)

    def plan(sql: str, params: dict[str, Any]) -> str:
        return " | ".join(r[3] for r in db.execute("EXPLAIN QUERY PLAN " + sql, params))

    # The page walk of SQLiteStore.list_traces, one filter at a time.
    walk = "SELECT trace_id, start_time FROM spans WHERE tenant_id = :t AND {} ORDER BY start_time DESC, trace_id DESC"
    for attr in _LIST_FILTERS:
        got = plan(walk.format(f"json_extract(attributes, '$.{attr}') = :v"), {"t": "a", "v": "x"})
        assert f"USING INDEX idx_spans_tenant_{attr} " in got, got
    assert "idx_spans_tenant_status" in plan(walk.format("status = :v"), {"t": "a", "v": "error"})
    # The three reads of SQLiteStore.get_trace (the waterfall).
    by_trace = "SELECT * FROM {} WHERE tenant_id = :t AND trace_id = :v ORDER BY {}"
    for table, order, index in (
        ("spans", "start_time, span_id", "idx_spans_tenant_trace_start"),
        ("eval_results", "created_at, id", "idx_eval_results_tenant_trace"),
        ("feedback", "created_at, id", "idx_feedback_tenant_trace"),
    ):
        got = plan(by_trace.format(table, order), {"t": "a", "v": "0" * 32})
        assert f"USING INDEX {index} " in got, (table, got)


def test_trace_list_filters_use_their_indexes_postgres(tmp_path: Path) -> None:
    import asyncpg

    with database("postgres", tmp_path) as dsn:

        async def main() -> None:
            store = open_store(dsn)
            await store.open()
            await store.close()
            conn = await asyncpg.connect(dsn)
            try:
                await conn.execute("SET enable_seqscan = off")  # an empty table: ask whether the index serves
                for attr in _LIST_FILTERS:
                    rows = await conn.fetch(
                        "EXPLAIN SELECT trace_id, start_time FROM spans WHERE tenant_id = $1 AND "
                        f"attributes->>'{attr}' = $2 ORDER BY start_time DESC",
                        "a", "x",
                    )  # fmt: skip
                    got = " ".join(r[0] for r in rows)
                    # Every daily partition walks its copy of the filter's index in order: no sort node.
                    assert f"Index Cond: ((tenant_id = 'a'::text) AND ((attributes ->> '{attr}'::text)" in got, got
                    assert "Seq Scan" not in got and not re.search(r"(^|->)\s*Sort\s+\(", got), got
            finally:
                await conn.close()

        anyio.run(main)


def test_trace_list_walk_crosses_many_spans_of_one_trace(collector: RunningCollector, db: str) -> None:
    """The page walk reads spans in steps; a busy trace spanning several steps is listed once, in order."""
    key, read = new_key(db, "acme"), new_key(db, "acme", "read")
    busy = span_record(start=BASE)["trace_id"]
    spans = [span_record(trace_id=busy, start=BASE + timedelta(milliseconds=i)) for i in range(700)]
    spans += [span_record(trace_id=busy, start=BASE + timedelta(seconds=1))] * 3  # same (start_time, trace_id)
    older = [span_record(start=BASE - timedelta(minutes=m), model="m") for m in range(1, 4)]
    for i in range(0, len(spans), 300):
        assert httpx.post(collector.url + "/v1/ingest", json=body(spans[i : i + 300]), headers=auth(key)).is_success
    assert httpx.post(collector.url + "/v1/ingest", json=body(older), headers=auth(key)).is_success
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        answer = httpx.get(collector.url + "/v1/traces", params=params, headers=auth(read)).json()
        seen += [t["trace_id"] for t in answer["traces"]]
        cursor = answer["next_cursor"]
        if cursor is None:
            break
    assert seen == [busy] + [s["trace_id"] for s in older]


def test_postgres_latency_histograms_add_up_bin_by_bin_and_drop_emptied_bins(tmp_path: Path) -> None:
    # The rollup upsert merges the stored histogram with the batch's inline (it read both whole
    # through peekr_hist_merge() before): bins add up, and a bin a purge empties is removed.
    from peekr.server._pg_rollups import purge_spans
    from peekr.server._rollups import latency_bin

    durations = [100.0, 100.0, 250.0, 900.0]
    spans = [span_record(start=BASE + timedelta(seconds=i), duration_ms=d) for i, d in enumerate(durations)]
    with database("postgres", tmp_path) as db:

        async def main() -> tuple[dict[str, int], dict[str, int]]:
            store = open_store(db)
            await store.open()
            try:
                for s in spans:  # one batch each: every later one merges into the stored row
                    await store.ingest("acme", [Span.model_validate(s)], [], [])
                read = "SELECT hist::text FROM span_rollups WHERE tenant_id = 'acme' AND grain = 'day' AND dim = ''"
                pool = store.pool  # type: ignore[attr-defined]
                merged = json.loads(await pool.fetchval(read))
                async with pool.acquire() as conn, conn.transaction():
                    await purge_spans(conn, "span_id = $1", spans[3]["span_id"])
                return merged, json.loads(await pool.fetchval(read))
            finally:
                await store.close()

        merged, after = anyio.run(main)
        bins = [str(latency_bin(d)) for d in durations]
        assert merged == {bins[0]: 2, bins[2]: 1, bins[3]: 1}
        assert after == {bins[0]: 2, bins[2]: 1}  # the emptied bin is gone, not 0
