"""Helpers shared by the collector and exporter tests: record factories, databases, keys."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import anyio
import pytest

from peekr._events import EvalResult, Feedback
from peekr._span import Span, new_span_id, new_trace_id
from peekr.server._admin import create_key
from peekr.server._store import format_time

PG_ENV = "PEEKR_TEST_POSTGRES_DSN"
BASE = datetime(2026, 11, 27, 9, 0, 0, tzinfo=timezone.utc)
WINDOW = {"since": "2026-11-26T00:00:00Z", "until": "2026-11-29T00:00:00Z"}


def span_record(
    *,
    trace_id: str | None = None,
    span_id: str | None = None,
    parent_id: str | None = None,
    name: str = "openai.chat.completions",
    start: datetime = BASE,
    duration_ms: float = 100.0,
    status: str = "ok",
    retention_class: str = "default",
    tenant_id: str | None = None,
    **attributes: Any,
) -> dict[str, Any]:
    """A span as it travels on the wire."""
    end = start + timedelta(milliseconds=duration_ms)
    return {
        "trace_id": trace_id or new_trace_id(),
        "span_id": span_id or new_span_id(),
        "parent_id": parent_id,
        "name": name,
        "start_time": format_time(start),
        "end_time": format_time(end),
        "duration_ms": duration_ms,
        "status": status,
        "tenant_id": tenant_id,
        "retention_class": retention_class,
        "attributes": attributes,
    }


def make_span(**kwargs: Any) -> Span:
    """The same, as the Span object the bus hands to sinks."""
    return Span.model_validate(span_record(**kwargs))


def eval_record(
    span: dict[str, Any], score: float | None, evaluator: str = "hallucination", **extra: Any
) -> dict[str, Any]:
    """An eval result for ``span`` with one ``hallucination`` score."""
    return EvalResult(
        span_id=span["span_id"],
        trace_id=span["trace_id"],
        evaluator=evaluator,
        scores={"hallucination": score},
        created_at=extra.pop("created_at", format_time(BASE + timedelta(seconds=5))),
        **extra,
    ).model_dump(mode="json")


def feedback_record(
    trace_id: str, rating: str = "good", note: str | None = None, at: datetime = BASE
) -> dict[str, Any]:
    """A feedback record for ``trace_id``."""
    record = Feedback.model_validate(
        {"trace_id": trace_id, "rating": rating, "note": note, "created_at": format_time(at)}
    )
    return record.model_dump(mode="json")


def body(spans: Sequence[Any] = (), evals: Sequence[Any] = (), feedback: Sequence[Any] = ()) -> dict[str, Any]:
    """A wire format v1 ingest body."""
    return {"version": 1, "spans": list(spans), "eval_results": list(evals), "feedback": list(feedback)}


def postgres_dsn() -> str | None:
    """The test server's DSN; a skip (or, under CI, a failure) when there is none."""
    dsn = os.environ.get(PG_ENV)
    if not dsn:
        message = f'PostgreSQL not available: run `eval "$(scripts/deps/postgres.sh)"` to set {PG_ENV}'
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return dsn


@contextmanager
def fresh_postgres_database(base_dsn: str) -> Iterator[str]:
    """A new, empty database on the test server, dropped afterwards."""
    import asyncpg

    name = f"peekr_test_{uuid.uuid4().hex[:16]}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(base_dsn)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    anyio.run(admin, f"CREATE DATABASE {name}")
    parts = urlsplit(base_dsn)
    try:
        yield urlunsplit(parts._replace(path="/" + name))
    finally:
        anyio.run(admin, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@contextmanager
def database(backend: str, tmp_path: Any) -> Iterator[str]:
    """A fresh collector database of ``backend`` (``sqlite`` or ``postgres``)."""
    if backend == "sqlite":
        yield str(tmp_path / "collector.db")
        return
    dsn = postgres_dsn()
    assert dsn is not None
    with fresh_postgres_database(dsn) as db:
        yield db


def new_key(db: str, tenant: str, scope: str = "ingest") -> str:
    """A plaintext API key for ``tenant``."""
    return create_key(db, tenant, scope)[1]


def auth(key: str) -> dict[str, str]:
    """The Authorization header for ``key``."""
    return {"Authorization": f"Bearer {key}"}
