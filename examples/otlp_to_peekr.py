"""An OpenTelemetry-instrumented app (no Peekr in it) sending its traces to `peekr server` over OTLP/HTTP.

The app uses the plain OpenTelemetry SDK, the standard OTLP/HTTP exporter and an OpenAI
instrumentation: OpenInference (`openinference-instrumentation-openai`, the default) or OpenLLMetry
(`opentelemetry-instrumentation-openai`, with `--instrumentation openllmetry`). The collector's
`POST /v1/traces` maps their spans to Peekr spans: model, tokens, prompts and replies, session,
errors, cost (from Peekr's price table).

Runs offline: the real `openai` SDK talks to Peekr's fake provider on 127.0.0.1. Without
arguments the script creates keys, starts `peekr server` on a free port (collector.db in the
current directory) and reads the trace back through the query API. With PEEKR_OTLP_ENDPOINT and
PEEKR_INGEST_KEY set it only sends, to that collector, and prints the trace id.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
from typing import Any

import httpx
from http_export import PEEKR, create_key, free_port, wait_until_up  # the same helpers as http_export.py

from peekr.testing.fake_provider import FakeProvider


def instrumentor(name: str) -> Any:
    if name == "openllmetry":
        from opentelemetry.instrumentation.openai import OpenAIInstrumentor
    else:
        from openinference.instrumentation.openai import OpenAIInstrumentor  # type: ignore[no-redef]
    return OpenAIInstrumentor()


def run_app(endpoint: str, ingest_key: str, instrumentation: str) -> dict[str, str]:
    """The instrumented app: a few OpenAI calls inside one traced request. Returns its trace and root span ids."""
    from openai import OpenAI
    from opentelemetry.exporter.otlp.proto.http import Compression
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    exporter = OTLPSpanExporter(
        endpoint=endpoint, headers={"Authorization": f"Bearer {ingest_key}"}, compression=Compression.Gzip
    )
    provider = TracerProvider(resource=Resource.create({"service.name": "support-bot"}))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    instrumentor(instrumentation).instrument(tracer_provider=provider)
    tracer = provider.get_tracer("support-bot")

    tools: Any = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
    session: Any = contextlib.nullcontext()
    if instrumentation == "openinference":  # OpenInference puts the session on every span opened inside
        from openinference.instrumentation import using_session

        session = using_session("conv-42")
    with FakeProvider() as fake, tracer.start_as_current_span("handle request") as root, session:
        root.set_attribute("session.id", "conv-42")  # OpenInference's session attribute
        root.set_attribute("gen_ai.conversation.id", "conv-42")  # the GenAI conventions' one
        client = OpenAI(base_url=fake.openai_base_url, api_key="sk-fake", max_retries=0)
        client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello"}],
            temperature=0.2,
        )
        list(
            client.chat.completions.create(
                model="gpt-4o-mini-tool", messages=[{"role": "user", "content": "Weather?"}], tools=tools, stream=True
            )
        )
        try:
            client.chat.completions.create(model="gpt-4o-error-429", messages=[{"role": "user", "content": "x"}])
        except Exception as exc:  # the fake provider answers 429 for this model name
            print("expected error:", type(exc).__name__)
        client.close()
    provider.shutdown()  # flushes the batch processor
    context = root.get_span_context()
    return {"trace_id": f"{context.trace_id:032x}", "root_span_id": f"{context.span_id:016x}"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instrumentation", choices=["openinference", "openllmetry"], default="openinference")
    args = parser.parse_args()
    endpoint, key = os.environ.get("PEEKR_OTLP_ENDPOINT"), os.environ.get("PEEKR_INGEST_KEY")
    if endpoint and key:  # send to a collector that is already running
        print(json.dumps(run_app(endpoint, key, args.instrumentation)))
        return
    ingest_key, read_key = create_key("ingest"), create_key("read")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with open("collector.log", "wb") as log:
        server = subprocess.Popen(
            [*PEEKR, "server", "--db", "collector.db", "--port", str(port)], stdout=log, stderr=log
        )
        try:
            wait_until_up(url, server)
            ids = run_app(url + "/v1/traces", ingest_key, args.instrumentation)
            detail = httpx.get(f"{url}/v1/traces/{ids['trace_id']}", headers={"Authorization": f"Bearer {read_key}"})
            for span in detail.json()["spans"]:
                a = span["attributes"]
                print(
                    f"{span['name']:16} {span['status']:5} model={a.get('model')} tokens={a.get('tokens_total')} "
                    f"cost={a.get('cost_usd')} session={a.get('session_id')}"
                )
        finally:
            server.terminate()
            server.wait(10)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
