"""PostgreSQL: ``--text-search trigram|scan`` (the trigram index of ``q``, or a bounded scan).

Real collectors over HTTP on a fresh PostgreSQL database: the same answers in both modes, the
index on every partition or on none, the bounded scan's partial answers, switching back and forth,
two collectors with different values on one database, a role that may not create extensions, and
bad values of the option.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import anyio
import asyncpg
import httpx
import pytest
from collector_helpers import BASE, auth, body, database, new_key, span_record

from peekr.server import ServerSettings
from peekr.server._pg_store import PostgresStore
from peekr.server._pg_text_search import TextSearchConflict
from peekr.server._store import TEXT_SCAN_LIMIT, TraceFilter
from peekr.server._testing import free_port, run_collector

WIDE = {"since": "2026-11-20T00:00:00Z", "until": "2026-11-30T00:00:00Z"}
QUERIES = ["eiffel", "PARIS", "quarterly", "100%", "5_d", "5xd", "refund", "hay", "needle in", "no such words"]
_PEEKR = (
    "import typer; from peekr.cli.server import register; app = typer.Typer(); "
    "app.callback()(lambda: None); register(app); app()"
)


@pytest.fixture
def pg(tmp_path: Any) -> Iterator[str]:
    with database("postgres", tmp_path) as dsn:
        yield dsn


def _spans(day: int, words: list[tuple[str, str]], *, retention_class: str = "default") -> list[dict[str, Any]]:
    """One trace (a root and an LLM span) per (prompt, answer), a minute apart, on day ``day`` of BASE."""
    out = []
    for i, (prompt, answer) in enumerate(words):
        root = span_record(name="agent.run", start=BASE + timedelta(days=day, minutes=i),
                           retention_class=retention_class)  # fmt: skip
        llm = span_record(
            trace_id=root["trace_id"], parent_id=root["span_id"], start=BASE + timedelta(days=day, minutes=i, seconds=1),
            model="gpt-4o" if i % 2 else "o3", input=[{"role": "user", "content": prompt}],
            output={"role": "assistant", "content": answer}, retention_class=retention_class,
        )  # fmt: skip
        out += [root, llm]
    return out


FIRST = _spans(-1, [("Weather in Paris?", "SUNNY; the Eiffel Tower is open"), ("Summarise the quarterly report", "ok"),
                    ("Can I get a refund?", "Refunds take 5_days"), ("Discount?", "100% off"), ("hay", "hay")]) + _spans(
    0, [("paris again", "hay"), ("a needle in the hay", "found"), ("refund please", "no")], retention_class="long"
)  # fmt: skip
LATER = _spans(2, [("Paris, later", "hay"), ("another needle in hay", "ok")])


def _all_pages(url: str, key: str, **params: Any) -> list[str]:
    """Every trace id the list answers for ``params``, following next_cursor (2 per page)."""
    found: list[str] = []
    cursor = None
    for _ in range(100):
        got = httpx.get(url + "/v1/traces", params={**WIDE, **params, "limit": 2, **({"cursor": cursor} if cursor else {})},
                        headers=auth(key))  # fmt: skip
        assert got.status_code == 200, got.text
        found += [t["trace_id"] for t in got.json()["traces"]]
        cursor = got.json()["next_cursor"]
        if cursor is None:
            return found
    raise AssertionError("no end of pages")


def _answers(url: str, key: str) -> dict[str, list[str]]:
    out = {q: _all_pages(url, key, q=q) for q in QUERIES}
    out["hay+gpt-4o"] = _all_pages(url, key, q="hay", model="gpt-4o")
    return out


def _trigram_tables(dsn: str) -> tuple[set[str], set[str]]:
    """(tables with a trigram index, every partition of spans) from pg_indexes / pg_class."""

    async def read() -> tuple[set[str], set[str]]:
        conn = await asyncpg.connect(dsn)
        try:
            indexed = await conn.fetch("SELECT tablename FROM pg_indexes WHERE indexdef LIKE '%gin_trgm_ops%'")
            parts = await conn.fetch(
                "SELECT relname FROM pg_class WHERE relname LIKE 'spans\\_d%' AND relkind IN ('r', 'p')"
            )
            return {r["tablename"] for r in indexed}, {r["relname"] for r in parts}
        finally:
            await conn.close()

    return anyio.run(read)


def _fetchval(dsn: str, sql: str) -> Any:
    async def read() -> Any:
        conn = await asyncpg.connect(dsn)
        try:
            return await conn.fetchval(sql)
        finally:
            await conn.close()

    return anyio.run(read)


def _setting(dsn: str) -> str | None:
    async def read() -> str | None:
        conn = await asyncpg.connect(dsn)
        try:
            value: str | None = await conn.fetchval("SELECT value FROM _peekr_settings WHERE name = 'text_search'")
            return value
        finally:
            await conn.close()

    return anyio.run(read)


def _collector(dsn: str, mode: str) -> Any:
    return run_collector(ServerSettings(db=dsn, rate_limit=0, purge_interval_s=0, text_search=mode))


def test_switching_trigram_scan_trigram_keeps_the_answers_and_moves_the_index(
    pg: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="peekr.server")
    ingest, read = new_key(pg, "acme"), new_key(pg, "acme", "read")
    with _collector(pg, "trigram") as running:
        assert httpx.post(running.url + "/v1/ingest", json=body(FIRST), headers=auth(ingest)).json()["rejected"] == []
        trigram = _answers(running.url, read)
    indexed, parts = _trigram_tables(pg)
    assert len(parts) >= 4 and indexed == {"spans"} | parts  # the parent, each day, each day x class leaf
    assert _setting(pg) == "trigram"
    # The spans the queries should find, from the data: the answers are not empty by accident.
    assert "trigram index" not in caplog.text  # a new database's empty index: nothing to announce
    assert len(trigram["PARIS"]) == 2 and len(trigram["hay"]) == 3 and trigram["no such words"] == []
    assert trigram["100%"] != [] and trigram["5_d"] != [] and trigram["5xd"] == []
    assert len(trigram["hay+gpt-4o"]) == 1

    caplog.clear()
    with _collector(pg, "scan") as running:
        assert _answers(running.url, read) == trigram
        # A new day's partition gets no trigram index.
        assert httpx.post(running.url + "/v1/ingest", json=body(LATER), headers=auth(ingest)).json()["rejected"] == []
        scanned = _answers(running.url, read)
    assert "dropping the text search's trigram index" in caplog.text
    indexed, parts_after = _trigram_tables(pg)
    assert indexed == set() and parts_after > parts
    assert _setting(pg) == "scan"
    assert len(scanned["PARIS"]) == 3 and len(scanned["needle in"]) == 2

    caplog.clear()
    with _collector(pg, "trigram") as running:
        assert _answers(running.url, read) == scanned
    assert "building the text search's trigram index over every stored span" in caplog.text
    assert "can take a while" in caplog.text
    indexed, parts_last = _trigram_tables(pg)
    assert indexed == {"spans"} | parts_last and parts_last == parts_after
    assert _setting(pg) == "trigram"


def test_scan_answers_partial_pages_beyond_the_scan_limit(pg: str) -> None:
    """The only match is older than TEXT_SCAN_LIMIT other spans: the first answer is an empty page with
    a next_cursor ("keep looking"), as SQLite answers; following it finds the match."""
    ingest, read = new_key(pg, "acme"), new_key(pg, "acme", "read")
    needle = span_record(start=BASE - timedelta(hours=1), input="the one NEEDLE", output="x")
    hay = [
        span_record(start=BASE + timedelta(milliseconds=i), input=f"hay {i}", output="hay")
        for i in range(TEXT_SCAN_LIMIT + 50)
    ]
    with _collector(pg, "scan") as running:
        for chunk in [[needle], *(hay[i : i + 3500] for i in range(0, len(hay), 3500))]:
            answer = httpx.post(running.url + "/v1/ingest", json=body(chunk), headers=auth(ingest), timeout=120)
            assert answer.json()["rejected"] == [], answer.text
        first = httpx.get(running.url + "/v1/traces", params={**WIDE, "q": "needle", "limit": 5}, headers=auth(read))
        assert first.status_code == 200
        assert first.json()["traces"] == [] and first.json()["next_cursor"] is not None
        found = _all_pages(running.url, read, q="needle")
        assert found == [needle["trace_id"]]
        # A common word fills its page at once: no partial answer.
        common = httpx.get(running.url + "/v1/traces", params={**WIDE, "q": "hay", "limit": 5}, headers=auth(read))
        assert len(common.json()["traces"]) == 5
    # Each request's walk read each span once: three 10,000-span walks read ~30,000 index entries of the
    # (tenant, start time) index, not the ~600,000 of chunks that each re-read the spans before them.
    # (The collector's backends have exited, so their statistics are flushed.)
    read_entries = _fetchval(
        pg, "SELECT sum(idx_tup_read) FROM pg_stat_user_indexes WHERE indexrelname LIKE '%start_time_trace_id%'"
    )
    assert TEXT_SCAN_LIMIT <= read_entries < 4 * TEXT_SCAN_LIMIT


def test_a_scan_stopping_anywhere_finds_every_match_once(pg: str) -> None:
    """Store level, scan limits 1..8 over 12 spans (two traces whose spans share a start time): continuing
    from where each request stopped finds every matching trace exactly once, newest first."""
    spans = []
    for i in range(6):
        trace = f"{i:032x}"
        start = BASE + timedelta(minutes=i)
        # Both spans of a trace start at the same instant; the match is in one of them.
        spans.append(span_record(trace_id=trace, start=start, input="needle" if i in (1, 4) else "hay"))
        spans.append(span_record(trace_id=trace, start=start, input="NEEDLE" if i == 2 else "hay"))

    async def run() -> None:
        writer = PostgresStore(pg, text_search="scan")
        await writer.open()
        try:
            from peekr._span import Span

            await writer.ingest("acme", [Span.model_validate(s) for s in spans], [], [])
        finally:
            await writer.close()
        for scan_limit in range(1, 9):
            store = PostgresStore(pg, text_search="scan", text_scan_limit=scan_limit)
            await store.open()
            try:
                found: list[str] = []
                cursor = None
                for _ in range(50):
                    page = await store.list_traces("acme", TraceFilter(text="needle"), 2, cursor)
                    found += [r["trace_id"] for r in page.rows]
                    if len(page.rows) == 2:
                        cursor = (page.rows[-1]["sort_key"], page.rows[-1]["trace_id"])
                    elif page.resume is not None:
                        cursor = page.resume
                    else:
                        break
                assert found == [f"{i:032x}" for i in (4, 2, 1)], scan_limit
            finally:
                await store.close()

    anyio.run(run)


def test_collectors_with_the_other_setting_refuse_to_start(pg: str) -> None:
    with _collector(pg, "trigram"):
        # Another trigram collector starts; key management works whatever the setting.
        with _collector(pg, "trigram"):
            pass
        assert new_key(pg, "acme").startswith("pk_live_")

        async def open_scan() -> None:
            store = PostgresStore(pg, text_search="scan")
            await store.open()
            await store.close()

        with pytest.raises(TextSearchConflict, match=r"1 collector process\(es\) on this database run with "
                           r"--text-search trigram.*To switch to --text-search scan, stop them all"):  # fmt: skip
            anyio.run(open_scan)
        # `peekr server` says so in one line before it starts any worker.
        cli = subprocess.run(
            [sys.executable, "-c", _PEEKR, "server", "--db", pg, "--port", str(free_port()), "--text-search", "scan"],
            capture_output=True, text=True, timeout=60, env={**os.environ, "PYTHONWARNINGS": "ignore"},
        )  # fmt: skip
        assert cli.returncode == 1, cli.stderr
        assert cli.stderr.startswith("Error: 1 collector process(es) on this database run with --text-search trigram")
        indexed, parts = _trigram_tables(pg)
        assert "spans" in indexed and _setting(pg) == "trigram"  # nothing was dropped
    # Once the trigram collector is gone, a scan collector switches the database.
    anyio.run(open_scan)
    assert _trigram_tables(pg)[0] == set() and _setting(pg) == "scan"


def test_scan_needs_no_pg_trgm_extension(pg: str) -> None:
    """A role that may not create extensions (and a database without pg_trgm): trigram cannot start, scan can."""
    role = f"peekr_noext_{uuid.uuid4().hex[:8]}"

    async def admin(sql: str) -> Any:
        conn = await asyncpg.connect(pg)
        try:
            return await conn.fetchval(sql)
        finally:
            await conn.close()

    assert anyio.run(admin, "SELECT count(*) FROM pg_extension WHERE extname = 'pg_trgm'") == 0
    anyio.run(admin, f"CREATE ROLE {role} LOGIN")
    try:
        anyio.run(admin, f"GRANT CREATE ON SCHEMA public TO {role}")
        dsn = pg.replace("postgres@", f"{role}@", 1)

        async def open_trigram() -> None:
            store = PostgresStore(dsn, text_search="trigram")
            await store.open()
            await store.close()

        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied to create extension"):
            anyio.run(open_trigram)
        with _collector(dsn, "scan") as running:
            ingest, read = new_key(dsn, "acme"), new_key(dsn, "acme", "read")
            assert (
                httpx.post(running.url + "/v1/ingest", json=body(FIRST), headers=auth(ingest)).json()["rejected"] == []
            )
            assert len(_all_pages(running.url, read, q="paris")) == 2
        assert anyio.run(admin, "SELECT count(*) FROM pg_extension WHERE extname = 'pg_trgm'") == 0
    finally:
        anyio.run(admin, f"REASSIGN OWNED BY {role} TO postgres")
        anyio.run(admin, f"DROP OWNED BY {role}")
        anyio.run(admin, f"DROP ROLE {role}")


@pytest.mark.parametrize("how", ["option", "env"])
def test_a_bad_text_search_value_is_a_clear_error(how: str) -> None:
    args = ["server", "--db", "x.db", "--port", str(free_port())]
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "COLUMNS": "200", "NO_COLOR": "1"}
    if how == "option":
        args += ["--text-search", "fast"]
    else:
        env["PEEKR_SERVER_TEXT_SEARCH"] = "fast"
    cli = subprocess.run([sys.executable, "-c", _PEEKR, *args], capture_output=True, text=True, timeout=60, env=env)
    assert cli.returncode == 2
    assert "Invalid value for '--text-search'" in cli.stderr and "'fast' is not one of 'trigram', 'scan'" in cli.stderr
    with pytest.raises(ValueError, match="text_search='fast' must be one of: trigram, scan"):
        ServerSettings(text_search="fast")
    with pytest.raises(ValueError, match="PEEKR_SERVER_TEXT_SEARCH='fast' must be one of: trigram, scan"):
        ServerSettings.from_env({"PEEKR_SERVER_TEXT_SEARCH": "fast"})
