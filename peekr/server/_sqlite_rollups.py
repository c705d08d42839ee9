"""Rollup tables in SQLite: schema, maintenance inside the ingest/purge transaction, and reads.

Synchronous functions on a connection; the store runs them in its writer/reader thread.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

from ._rollups import (
    DIMENSIONS,
    RollupKey,
    ScoreDeltas,
    SpanKey,
    Totals,
    accumulate,
    aggregate_rows,
    cover,
    expand,
    label,
    merge_hist,
    plan_scores,
    rollup_params,
    score_histogram,
    score_key,
    score_rollup_rows,
    top_values,
)
from ._store import OTHER_GROUP

__all__ = [
    "apply_new_records",
    "backfill",
    "backfill_dimensions",
    "create_tables",
    "purge_spans",
    "read_aggregates",
    "read_scores",
    "register_functions",
]

_CHUNK = 400  # ids per IN (...) list, under SQLite's 999 variables on old builds
_SUMS = ("calls", "errors", "tokens_input", "tokens_output", "tokens_total", "cost_sum", "cost_n", "duration_sum")
_UPSERT_SPANS = (
    f"INSERT INTO span_rollups (tenant_id, grain, dim, bucket, key, value, {', '.join(_SUMS)}, hist) "
    f"VALUES ({', '.join('?' * (6 + len(_SUMS) + 1))}) "
    "ON CONFLICT (tenant_id, grain, dim, bucket, key) DO UPDATE SET "
    + ", ".join(f"{c} = {c} + excluded.{c}" for c in _SUMS)
    + ", hist = peekr_hist_merge(hist, excluded.hist)"
)
_UPSERT_SCORES = (
    "INSERT INTO score_rollups (tenant_id, metric, grain, bucket, score, n) VALUES (?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (tenant_id, metric, grain, bucket, score) DO UPDATE SET n = n + excluded.n"
)


def register_functions(db: sqlite3.Connection) -> None:
    """The histogram merge the rollup upsert calls (a connection-local SQL function)."""
    db.create_function("peekr_hist_merge", 2, merge_hist, deterministic=True)


def create_tables(db: sqlite3.Connection) -> None:
    """The three rollup tables (see docs/server.md, "Rollups")."""
    db.execute(
        """
        CREATE TABLE IF NOT EXISTS span_rollups (
            tenant_id TEXT NOT NULL, grain TEXT NOT NULL, dim TEXT NOT NULL, bucket TEXT NOT NULL,
            key TEXT NOT NULL, value TEXT,
            calls INTEGER NOT NULL, errors INTEGER NOT NULL, tokens_input REAL NOT NULL,
            tokens_output REAL NOT NULL, tokens_total REAL NOT NULL, cost_sum REAL NOT NULL,
            cost_n INTEGER NOT NULL, duration_sum REAL NOT NULL, hist TEXT NOT NULL,
            PRIMARY KEY (tenant_id, grain, dim, bucket, key)
        ) WITHOUT ROWID
        """
    )
    db.execute(
        """
        CREATE TABLE IF NOT EXISTS span_scores (
            tenant_id TEXT NOT NULL, span_id TEXT NOT NULL, metric TEXT NOT NULL, score REAL NOT NULL,
            created_at TEXT NOT NULL, span_start TEXT,
            PRIMARY KEY (tenant_id, span_id, metric)
        ) WITHOUT ROWID
        """
    )
    db.execute("CREATE INDEX IF NOT EXISTS idx_span_scores_window ON span_scores(tenant_id, metric, span_start)")
    db.execute(
        """
        CREATE TABLE IF NOT EXISTS score_rollups (
            tenant_id TEXT NOT NULL, metric TEXT NOT NULL, grain TEXT NOT NULL, bucket TEXT NOT NULL,
            score REAL NOT NULL, n INTEGER NOT NULL,
            PRIMARY KEY (tenant_id, metric, grain, bucket, score)
        ) WITHOUT ROWID
        """
    )


def _chunks(items: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), _CHUNK):
        yield items[i : i + _CHUNK]


def existing(db: sqlite3.Connection, table: str, column: str, tenant_id: str, ids: Sequence[str]) -> set[str]:
    """Which of ``ids`` are already stored (``column`` of ``table`` for this tenant)."""
    found: set[str] = set()
    for chunk in _chunks(sorted(set(ids))):
        marks = ",".join("?" * len(chunk))
        found.update(
            r[0] for r in db.execute(f"SELECT {column} FROM {table} WHERE tenant_id = ? AND {column} IN ({marks})",
                                     (tenant_id, *chunk))
        )  # fmt: skip
    return found


def write_span_deltas(db: sqlite3.Connection, deltas: dict[SpanKey, Totals], dims: Sequence[str] = DIMENSIONS) -> None:
    """Upsert span rollup deltas (of ``dims``); rows left with no calls are deleted."""
    rows = rollup_params(deltas, dims=dims)
    db.executemany(_UPSERT_SPANS, rows)
    if any(t.calls < 0 for t in deltas.values()):
        db.executemany(
            "DELETE FROM span_rollups WHERE tenant_id = ? AND grain = ? AND dim = ? AND bucket = ? AND key = ? "
            "AND calls <= 0",
            [r[:5] for r in rows],
        )


def write_score_deltas(db: sqlite3.Connection, deltas: ScoreDeltas) -> None:
    """Upsert per-span score deltas keyed (tenant, metric, score, span start) at every grain."""
    rows = score_rollup_rows(deltas)
    db.executemany(_UPSERT_SCORES, rows)
    if any(r[-1] < 0 for r in rows):
        db.executemany(
            "DELETE FROM score_rollups WHERE tenant_id = ? AND metric = ? AND grain = ? AND bucket = ? "
            "AND score = ? AND n <= 0",
            [r[:5] for r in rows],
        )


def apply_new_records(
    db: sqlite3.Connection,
    tenant_id: str,
    new_spans: Sequence[tuple[str, str, str, str, float, dict[str, Any]]],
    new_evals: Sequence[tuple[str, str, str, dict[str, Any]]],
) -> None:
    """Update the rollups for spans and eval results just inserted (duplicates already removed).

    ``new_spans``: (span_id, start_time, name, status, duration_ms, attributes);
    ``new_evals``: (span_id, status, created_at, scores), in insertion order. Spans go first: a
    span adds the latest scores stored before this batch; an eval result then finds its span
    (new or old) in the spans table. Either order of arrival counts each score once.
    """
    deltas: dict[SpanKey, Totals] = {}
    for _, start, name, status, duration, attributes in new_spans:
        accumulate(deltas, tenant_id, start, name, status, duration, attributes)
    write_span_deltas(db, deltas)

    starts = {s[0]: s[1] for s in new_spans}
    arrived: list[tuple[str, str, float, str]] = []
    for chunk in _chunks(list(starts)):
        marks = ",".join("?" * len(chunk))
        arrived += [
            (span_id, metric, score, starts[span_id])
            for span_id, metric, score in db.execute(
                f"SELECT span_id, metric, score FROM span_scores WHERE tenant_id = ? AND span_id IN ({marks})",
                (tenant_id, *chunk),
            )
        ]
    db.executemany(
        "UPDATE span_scores SET span_start = ? WHERE tenant_id = ? AND span_id = ?",
        [(starts[s], tenant_id, s) for s in sorted({a[0] for a in arrived})],
    )
    known: dict[str, str] = {}
    current: dict[tuple[str, str], tuple[float, str]] = {}
    for chunk in _chunks(sorted({e[0] for e in new_evals if e[1] == "ok" and e[3]})):
        marks = ",".join("?" * len(chunk))
        known.update(
            db.execute(f"SELECT span_id, start_time FROM spans WHERE tenant_id = ? AND span_id IN ({marks})",
                       (tenant_id, *chunk)).fetchall()
        )  # fmt: skip
        for span_id, metric, score, created in db.execute(
            f"SELECT span_id, metric, score, created_at FROM span_scores WHERE tenant_id = ? AND span_id IN ({marks})",
            (tenant_id, *chunk),
        ):
            current[(span_id, metric)] = (score, created)
    score_deltas, changed = plan_scores(tenant_id, arrived, new_evals, known, current)
    db.executemany(
        "INSERT INTO span_scores (tenant_id, span_id, metric, score, created_at, span_start) "
        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (tenant_id, span_id, metric) DO UPDATE SET "
        "score = excluded.score, created_at = excluded.created_at",
        [(tenant_id, s, m, v, c, known.get(s)) for (s, m), (v, c) in sorted(changed.items())],
    )
    write_score_deltas(db, score_deltas)


def purge_spans(db: sqlite3.Connection, where: str, params: Sequence[Any]) -> None:
    """Subtract the spans matching ``where`` (about to be deleted) and their scores from the rollups."""
    deltas: dict[SpanKey, Totals] = {}
    cur = db.execute(
        f"SELECT tenant_id, span_id, start_time, name, status, duration_ms, attributes FROM spans WHERE {where}",
        params,
    )
    doomed: list[tuple[str, str]] = []
    while rows := cur.fetchmany(2000):
        for tenant, span_id, start, name, status, duration, attributes in rows:
            accumulate(deltas, tenant, start, name, status, duration, json.loads(attributes), sign=-1)
            doomed.append((tenant, span_id))
    write_span_deltas(db, deltas)
    score_deltas: ScoreDeltas = {}
    for tenant, span_id in doomed:
        for metric, score, start in db.execute(
            "SELECT metric, score, span_start FROM span_scores WHERE tenant_id = ? AND span_id = ?", (tenant, span_id)
        ).fetchall():
            key = (tenant, metric, score, start)
            score_deltas[key] = score_deltas.get(key, 0) - 1
    db.executemany("DELETE FROM span_scores WHERE tenant_id = ? AND span_id = ?", doomed)
    write_score_deltas(db, score_deltas)


def backfill(db: sqlite3.Connection, batch: int = 100_000, dims: Sequence[str] = DIMENSIONS) -> None:
    """Build every rollup (span rollups of ``dims``) from the stored spans and eval results."""
    register_functions(db)
    cache = db.execute("PRAGMA cache_size").fetchone()[0]
    db.execute("PRAGMA cache_size = -65536")  # 64 MiB while building
    try:
        _backfill_spans(db, batch, dims)
        _backfill_scores(db)
    finally:
        db.execute(f"PRAGMA cache_size = {int(cache)}")


def backfill_dimensions(db: sqlite3.Connection, dims: Sequence[str], batch: int = 100_000) -> None:
    """Add the span rollup rows of dimensions new to this database (a migration adding one)."""
    register_functions(db)
    _backfill_spans(db, batch, dims)


def _backfill_spans(db: sqlite3.Connection, batch: int, dims: Sequence[str]) -> None:
    deltas: dict[SpanKey, Totals] = {}
    # In time order, so the rollup rows are written in key order, not all over the table.
    cur = db.execute(
        "SELECT tenant_id, start_time, name, status, duration_ms, attributes FROM spans ORDER BY tenant_id, start_time"
    )
    while rows := cur.fetchmany(5000):
        for tenant, start, name, status, duration, attributes in rows:
            accumulate(deltas, tenant, start, name, status, duration, json.loads(attributes))
        if len(deltas) > batch:
            write_span_deltas(db, deltas, dims)
            deltas = {}
    write_span_deltas(db, deltas, dims)


def _backfill_scores(db: sqlite3.Connection) -> None:
    # The latest ok result per (span, metric): created_at, then id, as the query API ordered them.
    latest: dict[tuple[str, str, str], tuple[float, str]] = {}
    for tenant, span_id, metric, value, created in db.execute(
        "SELECT e.tenant_id, e.span_id, j.key, j.value, e.created_at FROM eval_results e, json_each(e.scores) j "
        "WHERE e.status = 'ok' AND e.tenant_id IS NOT NULL AND json_type(e.scores) = 'object' "
        "ORDER BY e.created_at, e.id"
    ):
        latest[(tenant, span_id, metric)] = (score_key(value), created)
    db.executemany(
        "INSERT OR REPLACE INTO span_scores (tenant_id, span_id, metric, score, created_at, span_start) "
        "VALUES (?, ?, ?, ?, ?, (SELECT start_time FROM spans s WHERE s.tenant_id = ?1 AND s.span_id = ?2))",
        [(t, s, m, v, c) for (t, s, m), (v, c) in latest.items()],
    )
    score_deltas: ScoreDeltas = {}
    for tenant, metric, score, start in db.execute(
        "SELECT tenant_id, metric, score, span_start FROM span_scores WHERE span_start IS NOT NULL"
    ):
        key = (tenant, metric, score, start)
        score_deltas[key] = score_deltas.get(key, 0) + 1
    write_score_deltas(db, score_deltas)


def _raw_totals(db: sqlite3.Connection, tenant_id: str, since: str, until: str, dim: str) -> dict[RollupKey, Totals]:
    out: dict[SpanKey, Totals] = {}
    for start, name, status, duration, attributes in db.execute(
        "SELECT start_time, name, status, duration_ms, attributes FROM spans "
        "WHERE tenant_id = ? AND start_time >= ? AND start_time < ?",
        (tenant_id, since, until),
    ):
        accumulate(out, tenant_id, start, name, status, duration, json.loads(attributes))
    return {k: v for k, v in expand(out).items() if k[1] == "minute" and k[2] == dim}


def read_aggregates(
    db: sqlite3.Connection,
    tenant_id: str,
    since: str,
    until: str,
    group_by: str | None,
    interval: str | None,
    top: int | None = None,
) -> list[dict[str, Any]]:
    """``/v1/stats/aggregates`` from the rollups (and the spans of the partial minutes at the edges).

    With ``group_by`` and ``top``: the groups are ranked by calls first (summed in SQL, no
    histogram read), then only the kept groups' rows are read whole; the others are summed per
    bucket in SQL into ``OTHER_GROUP`` (no percentiles).
    """
    merged: dict[tuple[str | None, str | None], Totals] = {}
    dim = group_by or ""
    where = "tenant_id = ? AND grain = ? AND dim = ? AND bucket >= ? AND bucket < ?"
    pieces = cover(since, until, interval)
    raw = {(start, end): _raw_totals(db, tenant_id, start, end, dim) for grain, start, end in pieces if grain is None}
    keep: set[str | None] | None = None
    if group_by and top is not None:
        calls: dict[str | None, int] = {}
        for rows in raw.values():
            for (_, _, _, _, value), t in rows.items():
                calls[value] = calls.get(value, 0) + t.calls
        for grain, start, end in pieces:
            if grain is not None:
                for value, n in db.execute(
                    f"SELECT value, SUM(calls) FROM span_rollups WHERE {where} GROUP BY key",
                    (tenant_id, grain, dim, start, end),
                ):
                    calls[value] = calls.get(value, 0) + n
        keep = top_values(calls, top)
    kept = "" if keep is None else f" AND key IN ({','.join('?' * len(keep))})"
    keys = [] if keep is None else [json.dumps(v) for v in sorted(keep, key=lambda v: (v is not None, v or ""))]
    for grain, start, end in pieces:
        if grain is None:
            for (_, _, _, bucket, value), t in raw[(start, end)].items():
                grp = value if keep is None or value in keep else OTHER_GROUP
                merged.setdefault((label(bucket, interval), grp), Totals()).add(t)
            continue
        # One row per (bucket, value) at a grain and dimension: no GROUP BY, histograms merged here.
        for row in db.execute(
            f"SELECT bucket, value, {', '.join(_SUMS)}, hist FROM span_rollups WHERE {where}{kept}",
            (tenant_id, grain, dim, start, end, *keys),
        ):
            hist = {int(k): n for k, n in json.loads(row[10]).items()}
            t = Totals(row[2], row[3], row[4], row[5], row[6], row[7], row[8], row[9], hist)
            merged.setdefault((label(row[0], interval), row[1]), Totals()).add(t)
            if keep is not None:
                merged.setdefault((label(row[0], interval), OTHER_GROUP), Totals()).add(t.negated_sums())
        if keep is not None:
            # "(other)" = all spans (dimension "", one row per bucket) minus the kept groups.
            for row in db.execute(
                f"SELECT bucket, {', '.join(_SUMS)} FROM span_rollups WHERE {where}",
                (tenant_id, grain, "", start, end),
            ):
                merged.setdefault((label(row[0], interval), OTHER_GROUP), Totals()).add(Totals(*row[1:9]))
    return aggregate_rows(merged, other=keep is not None)


def read_scores(
    db: sqlite3.Connection, tenant_id: str, metric: str, bins: int, since: str, until: str
) -> tuple[list[int], int, float | None]:
    """``/v1/stats/scores`` from the score rollups (and ``span_scores`` at the edges)."""
    values: list[tuple[float, int]] = []
    for grain, start, end in cover(since, until, None):
        if grain is None:
            values.extend(
                db.execute(
                    "SELECT score, COUNT(*) FROM span_scores WHERE tenant_id = ? AND metric = ? "
                    "AND span_start >= ? AND span_start < ? GROUP BY score",
                    (tenant_id, metric, start, end),
                ).fetchall()
            )
        else:
            values.extend(
                db.execute(
                    "SELECT score, SUM(n) FROM score_rollups WHERE tenant_id = ? AND metric = ? AND grain = ? "
                    "AND bucket >= ? AND bucket < ? GROUP BY score",
                    (tenant_id, metric, grain, start, end),
                ).fetchall()
            )
    return score_histogram(values, bins)
