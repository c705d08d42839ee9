"""Every example runs as a script (offline, in a fresh working directory) and produces what it promises."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
WARNINGS = [
    "-W",
    "error",
    # google-genai's aiohttp transport subclasses aiohttp.ClientSession (docs/fake-provider.md lists it).
    "-W",
    "ignore:Inheritance class AiohttpClientSession:DeprecationWarning",
]


def spans(cwd: Path, db: str = "traces.db") -> list[dict[str, object]]:
    with sqlite3.connect(cwd / db) as conn:
        conn.row_factory = sqlite3.Row
        rows = conn.execute("SELECT * FROM spans ORDER BY start_time").fetchall()
    return [{**dict(row), "attributes": json.loads(row["attributes"])} for row in rows]


def names(cwd: Path) -> list[str]:
    return sorted(str(s["name"]) for s in spans(cwd))


def check_quickstart(cwd: Path, out: str) -> None:
    assert names(cwd).count("openai.chat.completions") == 3 and "answer-question" in names(cwd)


def check_anthropic(cwd: Path, out: str) -> None:
    rows = spans(cwd)
    assert [s["name"] for s in rows] == ["anthropic.messages"] * 2
    assert all(s["attributes"]["stream"] and s["attributes"]["tokens_output"] for s in rows)  # type: ignore[index]


def check_bedrock(cwd: Path, out: str) -> None:
    assert names(cwd) == ["bedrock.converse"] * 2


def check_gemini(cwd: Path, out: str) -> None:
    assert names(cwd) == ["gemini.generate_content"] * 3


def check_sessions(cwd: Path, out: str) -> None:
    tenants = sorted(str(s["tenant_id"]) for s in spans(cwd))
    assert tenants == ["acme"] * 4 + ["globex"] * 2 + ["internal"]
    pii = [s for s in spans(cwd) if s["retention_class"] == "pii"]
    assert len(pii) == 3 and all(s["attributes"]["input"].startswith("[redacted") for s in pii)  # type: ignore[index]


def check_manual(cwd: Path, out: str) -> None:
    rows = spans(cwd)
    root = next(s for s in rows if s["name"] == "answer")
    assert sorted(str(s["name"]) for s in rows if s["parent_id"] == root["span_id"]) == [
        "openai.chat.completions",
        "openai.chat.completions",
        "retrieve",
        "tool.get_weather",
    ]


def check_hallucination(cwd: Path, out: str) -> None:
    (llm,) = [s for s in spans(cwd) if s["name"] == "openai.chat.completions"]
    attributes = llm["attributes"]
    assert attributes["eval_scores"]["hallucination"] == 0.5  # type: ignore[index]
    verdicts = [d["verdict"] for d in attributes["hallucination_details"]]  # type: ignore[index]
    assert verdicts == ["supported", "supported", "contradicted", "unsupported"]


def check_feedback(cwd: Path, out: str) -> None:
    lines = (cwd / "training.jsonl").read_text().splitlines()
    assert len(lines) == 2
    assert json.loads(lines[0])["messages"][-1]["role"] == "assistant"
    with sqlite3.connect(cwd / "traces.db") as conn:
        assert conn.execute("SELECT COUNT(*) FROM feedback").fetchone()[0] == 3


def check_http_export(cwd: Path, out: str) -> None:
    assert out.count("spans=2") == 2
    assert len(spans(cwd, "collector.db")) == 4  # stored by the collector, not locally
    assert not (cwd / "traces.db").exists()


def check_collector_processes(cwd: Path, out: str) -> None:
    granted = int(out.split(" granted")[0].rsplit("-> ", 1)[1])
    assert 3 <= granted <= 4, out  # a burst of 3 shared by both processes (+1 if a second passed)
    assert "process A 401, process B 401" in out
    assert (cwd / "collector.db").exists()


def check_fastapi(cwd: Path, out: str) -> None:
    rows = spans(cwd)
    roots = [s for s in rows if str(s["name"]).startswith(("GET", "POST"))]
    assert sorted(str(s["name"]) for s in roots) == ["GET /stream"] + ["POST /chat/{conversation_id}"] * 2
    assert len(rows) == 6
    for root in roots:
        (child,) = [s for s in rows if s["parent_id"] == root["span_id"]]
        assert child["trace_id"] == root["trace_id"] and child["name"] == "openai.chat.completions"
    assert any(s["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736" for s in roots)


def check_production_controls(cwd: Path, out: str) -> None:
    assert "blocked: peekr guardrail 'blocklist' blocked this call" in out
    assert "the fake provider received 50 requests" in out
    assert "failed LLM calls kept: 5 of 5" in out
    assert "a stored prompt: Ticket 0: refund [PAYMENT_CARD] to [EMAIL]" in out
    raw = (cwd / "traces.db").read_bytes()
    assert b"jane@example.org" not in raw and b"4111 1111 1111 1111" not in raw


def check_langchain_rag(cwd: Path, out: str) -> None:
    rows = spans(cwd)
    assert len({s["trace_id"] for s in rows if s["name"] != "qdrant.upsert"}) == 1
    by_id = {s["span_id"]: s for s in rows}
    query = next(s for s in rows if s["name"] == "qdrant.query_points")
    assert by_id[query["parent_id"]]["attributes"]["run_name"] == "retrieve"  # type: ignore[index]
    assert len(query["attributes"]["retrieval"]["documents"]) == 3  # type: ignore[index]
    (llm,) = [s for s in rows if s["name"] == "openai.chat.completions"]
    assert by_id[llm["parent_id"]]["attributes"]["run_name"] == "RunnableSequence"  # type: ignore[index]
    attributes = llm["attributes"]
    assert attributes["eval_scores"]["hallucination"] == 2 / 3  # type: ignore[index]
    assert attributes["hallucination_eval"]["notes"][0] == "context: 3 documents retrieved in this trace"  # type: ignore[index]
    assert "hallucination score: 0.67" in out


def check_live_console(cwd: Path, out: str) -> None:
    assert "console lines: 4" in out  # two roots, a bare call, the failed call
    assert len(spans(cwd)) == 6


def check_mcp_agent(cwd: Path, out: str) -> None:
    assert "tools: recent_traces, get_trace, search_spans, error_spans, worst_scores" in out
    assert "error:  openai.chat.completions gpt-error-400 -> openai.BadRequestError" in out
    assert "  openai.chat.completions      error  gpt-error-400" in out


def check_budgets(cwd: Path, out: str) -> None:
    lines = out.splitlines()
    assert lines[:2] == ["acme: answered", "acme: answered"]
    assert lines[2].startswith("acme: refused: tenant budget $0.00004/1d exceeded for tenant 'acme'")
    assert lines[3:] == ["globex: answered", "requests the provider received: 3"]
    assert len(spans(cwd)) == 3  # the refused call was never sent, so it has no span


def check_alerts(cwd: Path, out: str) -> None:
    assert out.count("gpt-4o-error-500: HTTP 500") == 5
    payload = json.loads(out.split("webhook received:", 1)[1])
    assert payload["title"] == "error rate > 20% over 5m (model=gpt-4o-error-500)"
    assert payload["message"] == "5 of 5 calls failed (100.0%) in the last 5m"


def check_rag_eval(cwd: Path, out: str) -> None:
    assert "30 rows, 0 app errors" in out
    assert "hallucination: mean 0.978" in out and out.rstrip().endswith("gate passed")
    assert (cwd / "eval-run.db").is_file()


def check_experiment(cwd: Path, out: str) -> None:
    from peekr._experiment import assign_variant

    rows = spans(cwd)
    assert len(rows) == 200 and {s["attributes"]["experiment"] for s in rows} == {"support-prompt"}  # type: ignore[index]
    for s in rows:
        attrs = s["attributes"]
        assert attrs["experiment_variant"] == assign_variant("support-prompt", attrs["user_id"], ["concise", "verbose"])  # type: ignore[index]
    assert "without a user: peekr.experiment('support-prompt'): no key to assign a variant by" in out
    result = subprocess.run(
        [sys.executable, "-m", "peekr.cli", "compare", "traces.db", "-e", "support-prompt", "-m", "cost"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert (
        "Verdict: verbose is" in result.stdout and "% more expensive per call than concise (p<0.001)" in result.stdout
    )


def check_otlp_to_peekr(cwd: Path, out: str) -> None:
    rows = spans(cwd, "collector.db")  # stored by the collector from OTLP, no Peekr in the app
    assert len(rows) == 4 and not (cwd / "traces.db").exists()
    chat = next(s for s in rows if s["attributes"].get("model") == "gpt-4o-mini")  # type: ignore[attr-defined]
    assert chat["attributes"]["tokens_total"] and chat["attributes"]["session_id"] == "conv-42"  # type: ignore[index]
    assert "model=gpt-4o-mini " in out and "expected error: RateLimitError" in out


def check_llamaindex_rag(cwd: Path, out: str) -> None:
    rows = spans(cwd)
    root = next(s for s in rows if s["name"] == "answer-question")
    in_trace = [s for s in rows if s["trace_id"] == root["trace_id"]]
    by_id = {s["span_id"]: s for s in in_trace}
    (llm,) = [s for s in rows if s["name"] == "openai.chat.completions"]  # one span for the one model call
    assert "llamaindex.llm" not in names(cwd) and by_id[llm["parent_id"]]["name"] == "llamaindex.synthesize"
    retrieve = next(s for s in in_trace if s["name"] == "llamaindex.retrieve")
    assert len(retrieve["attributes"]["retrieval"]["documents"]) == 2  # type: ignore[index]
    attributes = llm["attributes"]
    assert attributes["eval_scores"]["hallucination"] == 2 / 3  # type: ignore[index]
    assert attributes["hallucination_eval"]["notes"][0] == "context: 2 documents retrieved in this trace"  # type: ignore[index]
    assert "hallucination score: 0.67" in out


def check_agents_tool(cwd: Path, out: str) -> None:
    rows = spans(cwd)
    assert len({s["trace_id"] for s in rows}) == 1
    by_id = {s["span_id"]: s for s in rows}
    (agent,) = [s for s in rows if s["name"] == "agents.agent"]
    calls = [s for s in rows if s["name"] == "openai.responses"]
    assert len(calls) == 2 and all(c["parent_id"] == agent["span_id"] for c in calls)  # once each, under the agent
    (tool,) = [s for s in rows if s["name"] == "agents.tool"]
    assert by_id[tool["parent_id"]] is agent and tool["attributes"]["input"] == {"city": "Lisbon"}  # type: ignore[index]
    assert "final output: Echo: sunny, 21 degrees in Lisbon" in out


CASES: dict[str, Callable[[Path, str], None]] = {
    "quickstart.py": check_quickstart,
    "anthropic_async_stream.py": check_anthropic,
    "bedrock_converse.py": check_bedrock,
    "gemini.py": check_gemini,
    "sessions_multi_tenant.py": check_sessions,
    "manual_spans.py": check_manual,
    "hallucination_rag.py": check_hallucination,
    "feedback_finetune.py": check_feedback,
    "http_export.py": check_http_export,
    "collector_processes.py": check_collector_processes,
    "fastapi_app.py": check_fastapi,
    "langchain_rag.py": check_langchain_rag,
    "live_console.py": check_live_console,
    "mcp_agent.py": check_mcp_agent,
    "budgets.py": check_budgets,
    "alerts.py": check_alerts,
    "rag_eval_app.py": check_rag_eval,
    "experiment_ab.py": check_experiment,
    "otlp_to_peekr.py": check_otlp_to_peekr,
    "llamaindex_rag.py": check_llamaindex_rag,
    "agents_tool.py": check_agents_tool,
    "production_controls.py": check_production_controls,
}


def test_every_example_is_covered_and_listed() -> None:
    scripts = {p.name for p in EXAMPLES.glob("*.py")}
    assert scripts == set(CASES)
    readme = (EXAMPLES / "README.md").read_text()
    assert all(f"`{name}`" in readme for name in scripts)


@pytest.mark.parametrize("script", sorted(CASES))
def test_example_runs_offline(script: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PEEKR_", "OPENAI_", "ANTHROPIC_", "AWS_"))}
    result = subprocess.run(
        [sys.executable, *WARNINGS, str(EXAMPLES / script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert result.returncode == 0, f"{script} failed:\n{result.stdout}\n{result.stderr}"
    CASES[script](tmp_path, result.stdout)
