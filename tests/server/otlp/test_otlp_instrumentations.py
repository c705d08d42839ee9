"""OpenLLMetry (``opentelemetry-instrumentation-openai``) and OpenInference (``openinference-instrumentation-openai``)
drive the real openai SDK against the bundled fake provider; the real OTLP/HTTP exporter sends their spans to a
real collector; model, tokens, content, parents, session and errors come out right (SQLite and PostgreSQL).

The app is ``examples/otlp_to_peekr.py``, run as its own process: OpenLLMetry 0.62's ``uninstrument()`` leaves
``Completions.create`` wrapped under openai 3.x, so the two instrumentations cannot take turns in one process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from collector_helpers import new_key
from otlp_ingest_helpers import trace

from peekr.server._testing import RunningCollector

pytest.importorskip("openai")
EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "otlp_to_peekr.py"
MODULES = {
    "openllmetry": "opentelemetry.instrumentation.openai",
    "openinference": "openinference.instrumentation.openai",
}
# opentelemetry-instrumentation-openai 0.62 declares a pydantic model with a class-based config (its import warns).
WARNINGS = ["-W", "error", "-W", "ignore:Support for class-based `config` is deprecated:DeprecationWarning"]


@pytest.mark.parametrize("flavour", ["openllmetry", "openinference"])
def test_instrumented_openai_calls_arrive_as_llm_spans(collector: RunningCollector, db: str, flavour: str) -> None:
    pytest.importorskip(MODULES[flavour])
    ingest, read = new_key(db, "acme"), new_key(db, "acme", "read")
    env = {**os.environ, "PEEKR_OTLP_ENDPOINT": collector.url + "/v1/traces", "PEEKR_INGEST_KEY": ingest}
    run = subprocess.run(
        [sys.executable, *WARNINGS, str(EXAMPLE), "--instrumentation", flavour],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    ids = json.loads(run.stdout.splitlines()[-1])
    root_id = ids["root_span_id"]
    spans = trace(collector, read, ids["trace_id"])["spans"]
    calls = {s["attributes"].get("model"): s for s in spans if s["parent_id"] == root_id}
    assert len(spans) == 4 and set(calls) == {"gpt-4o-mini", "gpt-4o-mini-tool", "gpt-4o-error-429"}
    chat, tool, failed = calls["gpt-4o-mini"], calls["gpt-4o-mini-tool"], calls["gpt-4o-error-429"]
    a = chat["attributes"]
    assert a["provider"] == "openai" and a["finish_reason"] == "stop"
    assert a["tokens_input"] > 0 and a["tokens_output"] == 2 and a["tokens_total"] == a["tokens_input"] + 2
    assert a["input"] == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello"}]
    assert a["output"] == "Echo: Hello"
    assert a["request"]["temperature"] == 0.2
    assert a["cost_usd"] > 0  # priced by the collector: neither instrumentation sends a cost
    assert a["service.name"] == "support-bot"
    assert tool["attributes"]["tool_calls"][0]["name"] == "get_weather"
    assert tool["attributes"]["finish_reason"] in ("tool_call", "tool_calls")
    assert failed["status"] == "error" and "429" in failed["attributes"]["error"]["message"]
    assert "RateLimitError" in failed["attributes"]["error"]["type"]
    root = next(s for s in spans if s["span_id"] == root_id)
    assert root["attributes"]["session_id"] == "conv-42" and root["parent_id"] is None
    if flavour == "openinference":  # OpenInference puts the session on every span in using_session()
        assert {s["attributes"].get("session_id") for s in calls.values()} == {"conv-42"}
