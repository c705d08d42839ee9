"""The MCP tools at ``/mcp`` of a real ``peekr server`` (its own process), per tenant read key."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import httpx2
import pytest
from _mcp_sample import SECRET, build, sid, tid
from collector_helpers import auth, body, database, new_key, postgres_dsn
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from peekr.server._testing import free_port

TOOLS = ["recent_traces", "get_trace", "search_spans", "error_spans", "worst_scores", "cost_summary"]


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def collector(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """``peekr server`` with tenants acme and globex, each holding the sample under its own ids."""
    if request.param == "postgres" and postgres_dsn() is None:
        pytest.skip('PostgreSQL not available: run `eval "$(scripts/deps/postgres.sh)"`')
    with database(request.param, tmp_path_factory.mktemp("mcp-http")) as db:
        yield from _collector(db)


def _collector(db: str) -> Iterator[dict[str, str]]:
    keys = {t: new_key(db, t, "read") for t in ("acme", "globex")}
    keys["ingest"] = new_key(db, "acme", "ingest")
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "peekr.cli", "server", "--db", db, "--port", str(port), "--log-level", "warning",
         "--rate-limit", "0"],
        env={**os.environ, "PYTHONWARNINGS": "ignore"}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read() if proc.stderr else ""
            time.sleep(0.1)
        for tenant, prefix in (("acme", "a-"), ("globex", "b-")):
            spans, extra = build(tenant=None, prefix=prefix)
            evals = [e.model_dump(mode="json") for e in extra if e.record == "eval"]
            feedback = [e.model_dump(mode="json") for e in extra if e.record == "feedback"]
            records = [s.model_dump(mode="json") for s in spans]
            answer = httpx.post(f"{url}/v1/ingest", json=body(records, evals, feedback),
                                headers=auth(new_key(db, tenant, "ingest")))  # fmt: skip
            assert answer.status_code == 200, answer.text
        yield {"url": url, **keys}
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(10)
        if proc.stderr:
            proc.stderr.close()


async def _session(url: str, key: str | None, calls: list[tuple[str, dict[str, Any]]]) -> list[tuple[bool, str]]:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    async with httpx2.AsyncClient(headers=headers, timeout=30) as http:
        async with Client(streamable_http_client(f"{url}/mcp", http_client=http)) as client:
            out = []
            for tool, args in calls:
                result = await client.call_tool(tool, args)
                out.append((bool(result.is_error), "".join(getattr(p, "text", "") for p in result.content)))
            return out


def test_each_tenant_sees_only_its_own_traces(collector: dict[str, str]) -> None:
    calls: list[tuple[str, dict[str, Any]]] = [
        ("recent_traces", {}),
        ("get_trace", {"trace_id": tid("a-agent")}),
        ("search_spans", {"limit": 100}),
        ("error_spans", {}),
        ("worst_scores", {}),
        ("cost_summary", {"by": "model"}),
        ("compare_experiment", {"name": "prompt-v2"}),
    ]
    acme = anyio.run(_session, collector["url"], collector["acme"], calls)
    globex = anyio.run(_session, collector["url"], collector["globex"], calls)

    recent = json.loads(acme[0][1])
    assert [t["trace_id"] for t in recent["traces"]] == [tid(f"a-{n}") for n in ("huge", "pii", "fail", "agent")]
    trace = json.loads(acme[1][1])
    assert [r["name"] for r in trace["spans"]] == ["handle_chat", "openai.chat.completions", "get_weather"]
    assert trace["spans"][1]["attributes"]["eval_scores"] == {"hallucination": 0.25}
    assert {s["span_id"] for s in json.loads(acme[2][1])["spans"]} == {
        sid(f"a-{n}") for n in ("root", "llm1", "tool", "err", "pii", "huge")
    }
    assert [s["span_id"] for s in json.loads(acme[3][1])["spans"]] == [sid("a-err")]
    assert [s["span_id"] for s in json.loads(acme[4][1])["spans"]] == [sid("a-llm1"), sid("a-huge")]
    cost = {row["group"]: row for row in json.loads(acme[5][1])["rows"]}
    assert cost["gpt-4o"]["cost_usd"] == pytest.approx(3e-4)
    assert json.loads(acme[6][1])["available"] is False  # comparison reads a local file

    # Tenant globex: its own traces, and not one id, name or byte of acme's.
    assert [t["trace_id"] for t in json.loads(globex[0][1])["traces"]][-1] == tid("b-agent")
    assert globex[1][0] and f"no trace '{tid('a-agent')}' for this API key's tenant" in globex[1][1]  # acme's id
    for error, text in globex[:1] + globex[2:]:
        assert not error
        assert not any(tid(f"a-{n}") in text or sid(f"a-{n}") in text for n in ("agent", "fail", "pii", "huge", "llm1"))
    # pii content stays redacted over HTTP too
    assert not any(SECRET[:9] in text for _, text in acme + globex)


@pytest.mark.parametrize(
    ("key", "status", "code"),
    [(None, 401, "missing_api_key"), ("bogus", 401, "invalid_api_key"), ("ingest", 403, "insufficient_scope")],
)
def test_mcp_needs_a_read_key(collector: dict[str, str], key: str | None, status: int, code: str) -> None:
    headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
    if key is not None:
        headers.update(auth(collector.get(key, "pk_live_nope_nope")))
    request = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    answer = httpx.post(f"{collector['url']}/mcp", headers=headers, json=request)
    assert answer.status_code == status and answer.json()["error"]["code"] == code


def test_bad_arguments_over_http(collector: dict[str, str]) -> None:
    results = anyio.run(
        _session,  # type: ignore[arg-type]
        collector["url"],
        collector["acme"],
        [
            ("get_trace", {"trace_id": tid("a-agent")[:8]}),
            ("cost_summary", {"by": "user"}),
            ("recent_traces", {"limit": 0}),
        ],
    )
    assert results[0][0] and "over HTTP, give the full 32-character trace id" in results[0][1]
    assert results[1][0] and "by='user' is not available over HTTP" in results[1][1]
    assert results[2][0] and "limit must be an integer from 1 to 100" in results[2][1]


def test_peekr_ui_serves_no_keyless_mcp_endpoint(tmp_path: Path) -> None:
    """`peekr ui` asks no key: its /mcp answers 404 (local agents use `peekr mcp` on stdio)."""
    from _mcp_sample import write

    from peekr.server._testing import run_collector
    from peekr.ui._local_app import create_local_app

    path = write("sqlite", tmp_path / "traces.db")
    with run_collector(app=create_local_app(path)) as running:
        request = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
        answer = httpx.post(f"{running.url}/mcp", json=request,
                            headers={"Accept": "application/json, text/event-stream"})  # fmt: skip
        assert answer.status_code == 404 and "peekr mcp" in answer.json()["error"]["message"]
