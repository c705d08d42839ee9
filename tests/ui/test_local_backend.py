"""The local backend answers like the collector: same sample, same JSON from every query endpoint."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from _ui_sample import build, tid
from ui_helpers import publish, start_local_ui, stop

import peekr
from peekr.server import ServerSettings
from peekr.server._rollups import LATENCY_REL_ERROR
from peekr.server._testing import run_collector


def _key(db: Path, scope: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "peekr.cli", "server", "keys", "create", "--tenant", "acme", "--scope", scope,
         "--db", str(db), "--quiet"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return done.stdout.strip()


def test_local_and_collector_answer_the_same(tmp_path: Path) -> None:
    now = time.time_ns()
    local_db = tmp_path / "traces.db"
    publish(build("acme", now_ns=now), storage="sqlite", path=local_db)
    server_db = tmp_path / "server.db"
    ingest, read = _key(server_db, "ingest"), _key(server_db, "read")
    since, until = "2000-01-01T00:00:00Z", "2100-01-01T00:00:00Z"
    window = {"since": since, "until": until}
    queries = [
        ("/v1/traces", {"limit": 7}),
        ("/v1/traces", {"model": "gpt-4o", "limit": 50}),
        ("/v1/traces", {"status": "error"}),
        ("/v1/traces", {"user_id": "alice", "feature": "weather", "endpoint": "/chat", "name": "handle"}),
        (f"/v1/traces/{tid('agent')}", {}),
        ("/v1/stats/aggregates", {"group_by": "model", "interval": "hour", **window}),
        ("/v1/stats/aggregates", {"group_by": "feature", **window}),
        ("/v1/stats/scores", {"bins": 5, **window}),
        ("/v1/stats/worst", {"metric": "hallucination", **window}),
        ("/v1/stats/worst", {"metric": "cost", **window}),
        ("/v1/feedback", {}),
    ]
    with run_collector(ServerSettings(db=str(server_db), purge_interval_s=0, rate_limit=0)) as running:
        publish(build(None, now_ns=now), storage="none", tenant_id="acme",
                exporter=peekr.HTTPExporter(running.url, ingest))  # fmt: skip
        server = [
            httpx.get(running.url + p, params=q, headers={"Authorization": f"Bearer {read}"}).json()  # type: ignore[arg-type]
            for p, q in queries
        ]
    ui = start_local_ui(local_db)
    try:
        local = [httpx.get(ui.url + p, params=q).json() for p, q in queries]  # type: ignore[arg-type]
    finally:
        stop(ui)
    for (path, params), mine, theirs in zip(queries, local, server, strict=True):
        if path.startswith("/v1/traces/"):
            for span in theirs["spans"]:
                span["attributes"].pop("tenant_id", None)
            theirs["eval_results"] = [{**r, "tenant_id": "acme"} for r in theirs["eval_results"]]
            mine["eval_results"] = [{**r, "tenant_id": "acme"} for r in mine["eval_results"]]
        if path == "/v1/stats/aggregates":  # the collector's percentiles come from its rollups' histograms
            for row in mine["rows"]:
                for key in [k for k in row if k.startswith("p") and k.endswith("_ms") and row[k] is not None]:
                    row[key] = pytest.approx(row[key], rel=LATENCY_REL_ERROR)
                if row["cost_usd"] is not None:  # summed in another order
                    row["cost_usd"] = pytest.approx(row["cost_usd"], rel=1e-12)
        if path == "/v1/stats/scores" and mine.get("mean") is not None:  # summed in another order
            mine["mean"] = pytest.approx(mine["mean"], rel=1e-12)
        assert mine == theirs, (path, params)
    assert len(local[0]["traces"]) == 7 and local[0]["next_cursor"]
    assert len(local[1]["traces"]) == 5 and len(local[4]["spans"]) == 4 and local[4]["eval_results"]
    assert sum(r["calls"] for r in local[5]["rows"]) == 18 and local[7]["count"] == 14 and local[9]["items"]


@pytest.mark.parametrize("name", ["empty.db", "notes.txt"])
def test_peekr_ui_refuses_what_is_not_a_trace_file(tmp_path: Path, name: str) -> None:
    bad = tmp_path / name
    bad.write_text("" if name == "empty.db" else "hello\n")
    done = subprocess.run([sys.executable, "-m", "peekr.cli", "ui", str(bad), "--no-browser"], capture_output=True,
                          text=True)  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.startswith("Error: ") and len(done.stderr.strip().splitlines()) == 1


def test_local_tenant_filter(tmp_path: Path) -> None:
    from _ui_sample import UISample, build_other

    db = tmp_path / "traces.db"
    acme, globex = build("acme"), build_other("globex")
    publish(UISample(spans=acme.spans + globex.spans, evals=acme.evals), storage="sqlite", path=db)
    ui = start_local_ui(db)
    try:
        everything = httpx.get(ui.url + "/v1/traces").json()["traces"]
        only = httpx.get(ui.url + "/v1/traces", params={"tenant": "globex"}).json()["traces"]
        costs = httpx.get(ui.url + "/v1/stats/worst", params={"metric": "cost", "tenant": "acme"}).json()["items"]
        calls = httpx.get(ui.url + "/v1/stats/aggregates", params={"tenant": "globex"}).json()["rows"]
    finally:
        stop(ui)
    assert len(everything) == 16
    assert [t["name"] for t in only] == ["globex.secret_pipeline"]
    assert costs and all(i["name"] != "globex.secret_pipeline" for i in costs)
    assert [r["calls"] for r in calls] == [1]
