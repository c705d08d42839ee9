"""Tenants never collide: span ids are per tenant, on both backends and in migrated SQLite files."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path

import httpx
from collector_helpers import auth, body, eval_record, feedback_record, new_key, span_record

from peekr.server import ServerSettings
from peekr.server._keys import generate_key
from peekr.server._sqlite_migrations import SERVER_MIGRATIONS
from peekr.server._testing import RunningCollector, run_collector
from peekr.sinks._sqlite_schema import apply_migrations, configure_connection


def _post(url: str, key: str, payload: object) -> dict:  # type: ignore[type-arg]
    answer = httpx.post(url + "/v1/ingest", json=payload, headers=auth(key))
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


def test_a_span_id_another_tenant_used_is_stored_for_both(collector: RunningCollector, db: str) -> None:
    acme, globex = new_key(db, "acme"), new_key(db, "globex")
    acme_read, globex_read = new_key(db, "acme", "read"), new_key(db, "globex", "read")
    mine = span_record(name="acme.op", model="a")
    theirs = span_record(span_id=mine["span_id"], name="globex.op", model="g")  # same span id, another trace
    records = [eval_record(mine, 0.5)], [feedback_record(mine["trace_id"])]
    assert _post(collector.url, acme, body([mine], *records))["stored"] == 3

    # Globex sends the same span id (and byte-identical eval/feedback records): all of it is new to globex.
    answer = _post(collector.url, globex, body([theirs], [eval_record(mine, 0.5)], records[1]))
    assert (answer["stored"], answer["duplicates"]) == (3, 0)  # no hint that acme holds that span id
    trace = httpx.get(f"{collector.url}/v1/traces/{theirs['trace_id']}", headers=auth(globex_read))
    assert trace.status_code == 200 and [s["name"] for s in trace.json()["spans"]] == ["globex.op"]
    assert (
        len(httpx.get(f"{collector.url}/v1/traces/{mine['trace_id']}", headers=auth(globex_read)).json()["spans"]) == 0
    )

    # Acme's copy is untouched, and a resend is still a duplicate for each tenant.
    mine_read = httpx.get(f"{collector.url}/v1/traces/{mine['trace_id']}", headers=auth(acme_read)).json()
    assert [s["name"] for s in mine_read["spans"]] == ["acme.op"]
    assert mine_read["spans"][0]["attributes"]["eval_scores"] == {"hallucination": 0.5}
    assert _post(collector.url, acme, body([mine]))["duplicates"] == 1
    assert _post(collector.url, globex, body([theirs]))["duplicates"] == 1


def _old_collector_database(path: Path) -> tuple[str, str, dict[str, str]]:
    """A collector file as the previous release left it (span_id alone the key), with data in it."""
    conn = sqlite3.connect(path, isolation_level=None)
    configure_connection(conn)
    apply_migrations(conn)
    for name, migration in SERVER_MIGRATIONS[:3]:  # the collector migrations of that release
        migration(conn)
        conn.execute("INSERT INTO _peekr_migrations VALUES (?, '2026-11-01T00:00:00.000000Z')", (name,))
    span = span_record(name="old.op", model="m", tokens_total=7)
    conn.execute(
        "INSERT INTO spans (span_id, trace_id, parent_id, name, start_time, end_time, duration_ms, status, "
        "tenant_id, retention_class, attributes) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        (span["span_id"], span["trace_id"], None, span["name"], span["start_time"], span["end_time"], 100.0, "ok",
         "acme", "default", '{"model":"m","tokens_total":7}'),
    )  # fmt: skip
    conn.execute(
        "INSERT INTO eval_results (span_id, trace_id, evaluator, status, scores, attributes, error, created_at, "
        "tenant_id, record_key) VALUES (?,?,'hallucination','ok','{\"hallucination\":0.25}','{}',NULL,?,'acme','k1')",
        (span["span_id"], span["trace_id"], span["end_time"]),
    )
    conn.execute(
        "INSERT INTO feedback (trace_id, span_id, rating, score, note, created_at, tenant_id, record_key) "
        "VALUES (?, NULL, 'good', NULL, 'kept', ?, 'acme', 'k2')",
        (span["trace_id"], span["end_time"]),
    )
    keys = {}
    for tenant, scope in (("acme", "read"), ("globex", "ingest"), ("globex", "read")):
        record, plaintext = generate_key(tenant, scope)
        conn.execute(
            "INSERT INTO api_keys (key_id, tenant_id, scope, salt, secret_hash, name, created_at) "
            "VALUES (?,?,?,?,?,?,?)",
            (record.key_id, tenant, scope, record.salt, record.secret_hash, None, record.created_at),
        )
        keys[f"{tenant}-{scope}"] = plaintext
    conn.close()
    return span["span_id"], span["trace_id"], keys


def test_short_years_stored_by_the_previous_release_are_padded_listed_and_purged(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    span_id, trace_id, keys = _old_collector_database(path)
    conn = sqlite3.connect(path)
    with conn:  # what the previous release stored for 0999-06-01T00:00:00Z
        conn.execute(
            "UPDATE spans SET start_time = '999-06-01T00:00:00.000000Z', end_time = '999-06-01T00:00:01.000000Z'"
        )
    conn.close()
    settings = ServerSettings(db=str(path), rate_limit=0, purge_interval_s=0)
    with run_collector(settings) as collector:
        listed = httpx.get(
            collector.url + "/v1/traces", params={"since": "0001-01-01T00:00:00Z"}, headers=auth(keys["acme-read"])
        )
        assert listed.status_code == 200, listed.text
        assert [t["start_time"] for t in listed.json()["traces"]] == ["0999-06-01T00:00:00.000000Z"]
    with run_collector(replace(settings, purge_interval_s=3600)) as collector:  # purges at start
        url = f"{collector.url}/v1/traces/{trace_id}"
        for _ in range(200):
            if not httpx.get(url, headers=auth(keys["acme-read"])).json()["spans"]:
                break
        assert httpx.get(url, headers=auth(keys["acme-read"])).json()["spans"] == []  # the feedback is newer


def test_a_database_of_the_previous_schema_is_migrated_with_its_rows_intact(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    span_id, trace_id, keys = _old_collector_database(path)
    with run_collector(ServerSettings(db=str(path), rate_limit=0, purge_interval_s=0)) as collector:
        old = httpx.get(f"{collector.url}/v1/traces/{trace_id}", headers=auth(keys["acme-read"])).json()
        assert [s["span_id"] for s in old["spans"]] == [span_id]
        assert old["spans"][0]["attributes"]["eval_scores"] == {"hallucination": 0.25}
        assert old["spans"][0]["attributes"]["tokens_total"] == 7
        assert [f["note"] for f in old["feedback"]] == ["kept"]
        # The migrated table keys spans per tenant: globex may now use acme's span id.
        theirs = span_record(span_id=span_id, name="globex.op")
        assert _post(collector.url, keys["globex-ingest"], body([theirs]))["stored"] == 1
        got = httpx.get(f"{collector.url}/v1/traces/{theirs['trace_id']}", headers=auth(keys["globex-read"]))
        assert got.status_code == 200 and got.json()["spans"][0]["name"] == "globex.op"
    conn = sqlite3.connect(path)
    indexes = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='index' AND tbl_name='spans'")}
    # idx_spans_tenant_trace was superseded by idx_spans_tenant_trace_start (server_m007).
    assert {
        "idx_spans_trace_id",
        "idx_spans_start_time",
        "idx_spans_tenant_start",
        "idx_spans_tenant_trace_start",
    } <= indexes
    assert conn.execute("SELECT count(*) FROM spans").fetchone()[0] == 2
    conn.close()
