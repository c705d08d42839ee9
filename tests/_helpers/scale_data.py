"""The scale benchmark's collector data, and a fast bulk build of it in PostgreSQL.

``generate`` yields deterministic chunks of spans and eval results (traces of a root and 3 LLM
spans spread over ``days`` days; 5 models, 6 features, 8 endpoints, 2,000 users; 30 % of the LLM
spans with a hallucination score). ``build_postgres_bulk`` writes them the way a store ingest
would leave the database, in a fraction of the time: the schema from the store's own migrations,
the spans table's primary key and secondary indexes dropped, spans and eval results by ``COPY``
into the partitioned tables, the rollup tables by ``INSERT … SELECT … GROUP BY`` over the stored
spans, then the indexes recreated from their definitions and ``VACUUM ANALYZE``.
``ingest_through_store`` writes the same chunks through ``PostgresStore.ingest`` (the reference
that tests/server/test_bulk_build.py compares the bulk build with).

Shared by benchmarks/bench_server_scale.py and the test (this directory is on pytest's path).
The SQL rollups match the store's arithmetic (``peekr.server._rollups``) for the values this
generator writes (string dimension values; durations > 0, whose latency bin PostgreSQL's
``ln(ms) / ln(2)`` and Python's ``log2`` agree on except within an ulp of a bin edge); float sums
(cost, duration) may differ from a store ingest in the last bits, as two ingests in different
batches do.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from typing import Any

import asyncpg

from peekr._events import EvalResult
from peekr._span import Span
from peekr.server._backends import open_store
from peekr.server._pg_partitions import day_of, ensure_days
from peekr.server._rollups import DIMENSIONS, ZERO_BIN
from peekr.server._store import format_time

__all__ = ["END", "TENANT", "build_postgres_bulk", "generate", "ingest_through_store", "open_and_close"]

TENANT = "bench"
END = datetime(2026, 12, 1, tzinfo=timezone.utc)
MODELS = [("gpt-4o", "openai"), ("gpt-4o-mini", "openai"), ("o3", "openai"), ("claude-sonnet-4", "anthropic"),
          ("gemini-2.5-pro", "google")]  # fmt: skip
FEATURES = ["search", "chat", "summarize", "extract", "classify", "agent"]
ENDPOINTS = [f"/api/v1/{e}" for e in ("ask", "chat", "docs", "tickets", "summaries", "search", "batch", "admin")]
CHILDREN = ["openai.chat.completions", "anthropic.messages", "openai.embeddings"]

#: span_id, trace_id, parent_id, name, start, end, duration_ms, status, retention_class, attributes
SpanRow = tuple[str, str, str | None, str, datetime, datetime, float, str, str, dict[str, Any]]
#: span_id, trace_id, evaluator, status, scores, created_at, record_key
EvalRow = tuple[str, str, str, str, dict[str, Any], datetime, str]


def generate(
    n_spans: int, days: int, seed: int = 1, chunk_size: int = 50_000
) -> Iterator[tuple[list[SpanRow], list[EvalRow]]]:
    """Chunks of (span rows, eval rows); deterministic for a seed."""
    rng = random.Random(seed)
    span_seq = 0
    chunk: list[SpanRow] = []
    evals: list[EvalRow] = []
    for t in range(n_spans // 4):
        trace_id = f"{rng.getrandbits(128):032x}"
        start = END - timedelta(seconds=rng.uniform(0, days * 86400))
        user = f"user-{rng.randrange(2000)}"
        session = f"session-{t // 5}"
        feature, endpoint = rng.choice(FEATURES), rng.choice(ENDPOINTS)
        variant = rng.choice(["a", "b"])
        root_id = f"{span_seq:016x}"
        span_seq += 1
        total = 0.0
        offset = 0.0
        for _ in range(3):
            model, provider = rng.choice(MODELS)
            duration = rng.lognormvariate(6.5, 0.8)
            span_id = f"{span_seq:016x}"
            span_seq += 1
            s = start + timedelta(milliseconds=offset)
            tokens_in, tokens_out = rng.randrange(50, 4000), rng.randrange(10, 800)
            attributes = {
                "model": model, "provider": provider, "feature": feature, "endpoint": endpoint, "user_id": user,
                "session_id": session, "experiment_variant": variant, "tokens_input": tokens_in,
                "tokens_output": tokens_out, "tokens_total": tokens_in + tokens_out,
                "cost_usd": round((tokens_in * 2.5 + tokens_out * 10) / 1e6, 8),
                "input": [{"role": "user", "content": "Summarize the ticket for the on-call engineer."}],
                "output": "The customer reports a failed payment; the card was declined twice."
                + (" A chargeback was opened." if span_seq % 1000 == 0 else ""),  # a rare word to search
            }  # fmt: skip
            status = "error" if rng.random() < 0.03 else "ok"
            chunk.append((span_id, trace_id, root_id, rng.choice(CHILDREN), s, s + timedelta(milliseconds=duration),
                          duration, status, "default", attributes))  # fmt: skip
            if rng.random() < 0.3:
                score = rng.choice([1.0, 1.0, 1.0, 0.75, 0.5, 0.0, rng.random()])
                evals.append((span_id, trace_id, "hallucination", "ok", {"hallucination": score},
                              s + timedelta(seconds=30), f"k{span_seq}"))  # fmt: skip
            offset += duration
            total = offset
        chunk.append((root_id, trace_id, None, "agent.run", start, start + timedelta(milliseconds=total), total,
                      "ok", "default", {"feature": feature, "endpoint": endpoint, "user_id": user,
                                        "session_id": session, "experiment_variant": variant}))  # fmt: skip
        if len(chunk) >= chunk_size:
            yield chunk, evals
            chunk, evals = [], []
    if chunk:
        yield chunk, evals


async def open_and_close(db: str) -> None:
    """Create the schema with the store's own migrations."""
    store = open_store(db)
    await store.open()
    await store.close()


async def ingest_through_store(
    db: str, chunks: Iterator[tuple[list[SpanRow], list[EvalRow]]], batch: int = 500
) -> None:
    """The reference build: every span and eval result through ``store.ingest``, as the collector writes."""
    store = open_store(db)
    await store.open()
    try:
        for spans, evals in chunks:
            for i in range(0, len(spans), batch):
                objects = [
                    Span.model_validate(
                        {"span_id": s[0], "trace_id": s[1], "parent_id": s[2], "name": s[3],
                         "start_time": format_time(s[4]), "end_time": format_time(s[5]), "duration_ms": s[6],
                         "status": s[7], "retention_class": s[8], "attributes": s[9]}
                    )
                    for s in spans[i : i + batch]
                ]  # fmt: skip
                await store.ingest(TENANT, objects, [], [])
            for i in range(0, len(evals), batch):
                results = [
                    (EvalResult.model_validate({"span_id": e[0], "trace_id": e[1], "evaluator": e[2], "status": e[3],
                                                "scores": e[4], "created_at": format_time(e[5])}), e[6])
                    for e in evals[i : i + batch]
                ]  # fmt: skip
                await store.ingest(TENANT, [], results, [])
    finally:
        await store.close()


_MINUTE = """to_char(start_time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI":00.000000Z"')"""
_TS = """to_char({} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')"""
_SUMS = "calls, errors, tokens_input, tokens_output, tokens_total, cost_sum, cost_n, duration_sum"


def _dim_value(attr: str) -> str:
    """``_rollups._dim`` of one attribute: a string as is, JSON null or absent as NULL, else its JSON text."""
    a = f"(attributes->'{attr}')"
    return f"CASE jsonb_typeof({a}) WHEN 'string' THEN attributes->>'{attr}' WHEN 'null' THEN NULL ELSE {a}::text END"


def _number(attr: str) -> str:
    """``_rollups._num``: a JSON number as float8, anything else 0."""
    return f"CASE WHEN jsonb_typeof(attributes->'{attr}') = 'number' THEN (attributes->>'{attr}')::float8 ELSE 0 END"


def _truncate(ts: str, grain: str) -> str:
    """SQL for ``_rollups.truncate``: the bucket of a canonical timestamp (text) at ``grain``."""
    return {"minute": f"left({ts}, 16) || ':00.000000Z'", "hour": f"left({ts}, 13) || ':00:00.000000Z'",
            "day": f"left({ts}, 10) || 'T00:00:00.000000Z'"}[grain]  # fmt: skip


# One pass over the stored spans into a narrow table: what each rollup dimension sums.
_SPAN_KEYS = f"""
CREATE TEMP TABLE bulk_span_keys AS
SELECT tenant_id AS t, span_id, start_time, {_MINUTE} AS minute,
       {_dim_value("model")} AS d_model, name AS d_name, {_dim_value("feature")} AS d_feature,
       {_dim_value("endpoint")} AS d_endpoint, {_dim_value("provider")} AS d_provider,
       {_dim_value("user_id")} AS d_user_id,
       (status = 'error')::int AS err, {_number("tokens_input")} AS ti, {_number("tokens_output")} AS tout,
       {_number("tokens_total")} AS tt,
       CASE WHEN jsonb_typeof(attributes->'cost_usd') = 'number' THEN (attributes->>'cost_usd')::float8 END AS cost,
       duration_ms AS dur,
       CASE WHEN duration_ms <= 0 THEN {ZERO_BIN}
            ELSE greatest(floor(8 * (ln(duration_ms) / ln(2::float8)))::bigint, {ZERO_BIN + 1}) END AS bin
FROM spans
"""


def _rollup_sql(dim: str) -> list[str]:
    """Statements that insert the rollup rows of one dimension at every grain (``_rollups.expand``)."""
    value = "NULL::text" if dim == "" else f"d_{dim}"
    out = [
        "DROP TABLE IF EXISTS bulk_bins",
        # Per minute, value and latency bin: the histogram's counts and the sums.
        f"""CREATE TEMP TABLE bulk_bins AS
        SELECT t, minute, {value} AS v, bin, count(*) AS calls, sum(err) AS errors, sum(ti) AS tokens_input,
               sum(tout) AS tokens_output, sum(tt) AS tokens_total, coalesce(sum(cost), 0) AS cost_sum,
               count(cost) AS cost_n, sum(dur) AS duration_sum
        FROM bulk_span_keys GROUP BY 1, 2, 3, 4""",
    ]
    for grain in ("minute", "hour", "day"):
        bucket = "minute" if grain == "minute" else _truncate("minute", grain)
        out.append(
            f"""INSERT INTO span_rollups (tenant_id, grain, dim, bucket, key, value, {_SUMS}, hist)
            SELECT t, '{grain}', '{dim}', bucket, coalesce(to_jsonb(v)::text, 'null'), v,
                   sum(calls), sum(errors), sum(tokens_input), sum(tokens_output), sum(tokens_total), sum(cost_sum),
                   sum(cost_n), sum(duration_sum), jsonb_object_agg(bin::text, calls)
            FROM (SELECT t, {bucket} AS bucket, v, bin, sum(calls) AS calls, sum(errors) AS errors,
                         sum(tokens_input) AS tokens_input, sum(tokens_output) AS tokens_output,
                         sum(tokens_total) AS tokens_total, sum(cost_sum) AS cost_sum, sum(cost_n) AS cost_n,
                         sum(duration_sum) AS duration_sum
                  FROM bulk_bins GROUP BY 1, 2, 3, 4) AS x
            GROUP BY t, bucket, v ORDER BY 1, 4, 5"""
        )
    return out


# Latest ok score per (span, metric) (``_pg_rollups._backfill_scores``), then its rollup at every grain.
_SPAN_SCORES = f"""
INSERT INTO span_scores (tenant_id, span_id, metric, score, created_at, span_start)
SELECT DISTINCT ON (e.tenant_id, e.span_id, j.key) e.tenant_id, e.span_id, j.key,
       CASE WHEN jsonb_typeof(j.value) = 'number' THEN least(greatest(j.value::text::float8, 0), 1) ELSE -1 END,
       {_TS.format("e.created_at")}, {_TS.format("k.start_time")}
FROM eval_results e CROSS JOIN LATERAL jsonb_each(e.scores) AS j
LEFT JOIN bulk_span_keys k ON k.t = e.tenant_id AND k.span_id = e.span_id
WHERE e.status = 'ok' AND jsonb_typeof(e.scores) = 'object'
ORDER BY e.tenant_id, e.span_id, j.key, e.created_at DESC, e.id DESC
"""
_SCORE_ROLLUPS = " UNION ALL ".join(
    f"SELECT tenant_id, metric, '{grain}', {_truncate('span_start', grain)}, score, count(*) FROM span_scores "
    "WHERE span_start IS NOT NULL GROUP BY 1, 2, 3, 4, 5"
    for grain in ("day", "hour", "minute")
)


async def build_postgres_bulk(
    dsn: str,
    chunks: Iterator[tuple[list[SpanRow], list[EvalRow]]],
    *,
    progress: Any = None,
) -> None:
    """Write ``chunks`` as a store ingest would leave the database (see the module docstring).

    ``progress``: called with a short text at each step (the benchmark prints it with the time).
    """

    def say(text: str) -> None:
        if progress is not None:
            progress(text)

    await open_and_close(dsn)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("SET work_mem = '256MB'")
        pk = await conn.fetchrow(
            "SELECT conname, pg_get_constraintdef(oid) AS def FROM pg_constraint "
            "WHERE conrelid = 'spans'::regclass AND contype = 'p'"
        )
        indexes = await conn.fetch(
            "SELECT i.indexrelid::regclass::text AS name, pg_get_indexdef(i.indexrelid) AS def FROM pg_index i "
            "WHERE i.indrelid = 'spans'::regclass AND NOT i.indisprimary ORDER BY i.indexrelid"
        )
        await conn.execute(f"ALTER TABLE spans DROP CONSTRAINT {pk['conname']}")
        for idx in indexes:
            await conn.execute(f"DROP INDEX {idx['name']}")
        days: set[date] = set()
        n = 0
        for spans, evals in chunks:
            needed = {day_of(format_time(s[4])) for s in spans}
            if not needed <= days:
                days = await ensure_days(conn, needed | days)
            await conn.copy_records_to_table(
                "spans",
                records=[
                    (TENANT, s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7], s[8],
                     json.dumps(s[9], separators=(",", ":"), ensure_ascii=False))
                    for s in spans
                ],
                columns=["tenant_id", "span_id", "trace_id", "parent_id", "name", "start_time", "end_time",
                         "duration_ms", "status", "retention_class", "attributes"],
            )  # fmt: skip
            await conn.copy_records_to_table(
                "eval_results",
                records=[(TENANT, e[6], e[0], e[1], e[2], e[3], json.dumps(e[4]), e[5]) for e in evals],
                columns=["tenant_id", "record_key", "span_id", "trace_id", "evaluator", "status", "scores",
                         "created_at"],
            )  # fmt: skip
            n += len(spans)
            say(f"copied {n:,} spans")
        async with conn.transaction():
            await conn.execute(_SPAN_KEYS)
            say("span keys")
            for dim in DIMENSIONS:
                for sql in _rollup_sql(dim):
                    await conn.execute(sql)
                say(f"rollups of dimension {dim or '(all)'}")
            await conn.execute(_SPAN_SCORES)
            await conn.execute(
                f"INSERT INTO score_rollups (tenant_id, metric, grain, bucket, score, n) {_SCORE_ROLLUPS} "
                "ORDER BY 1, 2, 3, 4, 5"
            )
            say("score rollups")
            await conn.execute("DROP TABLE bulk_span_keys")
            await conn.execute("DROP TABLE bulk_bins")
        await conn.execute(f"ALTER TABLE spans ADD CONSTRAINT {pk['conname']} {pk['def']}")
        say("primary key")
        for idx in indexes:
            # A partitioned table's index definition says ON ONLY (the parent alone): build every partition's.
            await conn.execute(idx["def"].replace(" ON ONLY ", " ON ", 1))
            say(f"index {idx['name']}")
        await conn.execute("VACUUM ANALYZE")
        say("vacuum analyze")
    finally:
        await conn.close()
