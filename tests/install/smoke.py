"""First contact, as a user who installed peekr-sdk with one extra (or none) would make it.

Run by ``test_extras_smoke.py`` with the python of a throwaway venv, in an empty directory:

    python smoke.py trace EXTRA     # import peekr, instrument(), one call of the extra's SDK (or a
                                    # manual span) against the fake provider; no shutdown(): the exit
                                    # flush must store the spans
    python smoke.py missing NAME    # instrument(providers=[NAME]) for an SDK that is not installed

Prints one JSON line describing what it did; the test checks it and then runs ``peekr view``.
Only the standard library, peekr and the extra's own packages are available here.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PROMPT = [{"role": "user", "content": "Hello from the install smoke test"}]


def call_openai() -> str:
    from openai import OpenAI

    OpenAI().chat.completions.create(model="gpt-4o-mini", messages=PROMPT)  # type: ignore[arg-type]
    return "openai.chat.completions"


def call_anthropic() -> str:
    from anthropic import Anthropic

    Anthropic().messages.create(model="claude-3-5-haiku-latest", max_tokens=64, messages=PROMPT)  # type: ignore[arg-type]
    return "anthropic.messages"


def call_bedrock() -> str:
    import boto3

    messages = [{"role": "user", "content": [{"text": PROMPT[0]["content"]}]}]
    boto3.client("bedrock-runtime").converse(modelId="anthropic.claude-3-haiku-20240307-v1:0", messages=messages)
    return "bedrock.converse"


def call_bedrock_async() -> str:
    import aioboto3

    async def converse() -> None:
        messages = [{"role": "user", "content": [{"text": PROMPT[0]["content"]}]}]
        async with aioboto3.Session().client("bedrock-runtime") as client:
            await client.converse(modelId="anthropic.claude-3-haiku-20240307-v1:0", messages=messages)

    asyncio.run(converse())
    return "bedrock.converse"


def call_gemini() -> str:
    from google import genai

    client = genai.Client()  # keep it referenced: a collected client closes its connection
    client.models.generate_content(model="gemini-2.0-flash", contents=PROMPT[0]["content"])
    return "gemini.generate_content"


def call_fastapi() -> str:
    import httpx
    from fastapi import FastAPI

    from peekr.integrations.fastapi import PeekrMiddleware

    app = FastAPI()
    app.add_middleware(PeekrMiddleware)

    @app.get("/hello/{name}")
    async def hello(name: str) -> dict[str, str]:
        return {"hello": name}

    async def get() -> None:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://app") as client:
            (await client.get("/hello/smoke")).raise_for_status()

    asyncio.run(get())
    return "GET /hello/{name}"


def call_langchain() -> str:
    from langchain_core.runnables import RunnableLambda

    assert RunnableLambda(lambda x: x + 1).invoke(1) == 2  # type: ignore[arg-type]
    return "langchain.chain"


def call_llamaindex() -> str:
    from llama_index.core.llms import MockLLM

    assert MockLLM().complete("smoke").text == "smoke"
    return "llamaindex.llm"


def call_chroma() -> str:
    import chromadb

    client = chromadb.EphemeralClient()
    collection = client.create_collection("smoke", embedding_function=None)  # no model download
    collection.query(query_embeddings=[[0.1, 0.2]], n_results=1)  # type: ignore[arg-type]
    return "chroma.query"


def call_qdrant() -> str:
    from qdrant_client import QdrantClient, models

    client = QdrantClient(":memory:")
    client.create_collection("smoke", vectors_config=models.VectorParams(size=2, distance=models.Distance.COSINE))
    client.query_points("smoke", query=[0.1, 0.2], limit=1)
    client.close()
    return "qdrant.query_points"


def call_agents() -> list[str]:
    from agents import Agent, Runner, set_trace_processors

    set_trace_processors([])  # no upload to OpenAI from a test (peekr's processor stays attached)
    agent = Agent(name="Smoke", instructions="Be brief.", model="gpt-4o-mini")
    assert Runner.run_sync(agent, PROMPT[0]["content"]).final_output.startswith("Echo: ")
    return ["agents.workflow", "agents.agent", "openai.responses"]


CALLS: dict[str, Any] = {
    "openai": call_openai,
    "anthropic": call_anthropic,
    "bedrock": call_bedrock,
    "bedrock-async": call_bedrock_async,
    "gemini": call_gemini,
    "fastapi": call_fastapi,
    "langchain": call_langchain,
    "llamaindex": call_llamaindex,
    "chroma": call_chroma,
    "qdrant": call_qdrant,
    "agents": call_agents,
}


class _OTLPReceiver(BaseHTTPRequestHandler):
    """Counts OTLP/HTTP export requests (answers 200 with an empty protobuf body)."""

    posts: list[str] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.posts.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def trace(extra: str) -> dict[str, Any]:
    import peekr
    from peekr.testing.fake_provider import FakeProvider

    report: dict[str, Any] = {"peekr_file": peekr.__file__}
    sinks = []
    receiver = None
    if extra == "otlp":
        from peekr.sinks.otlp import OTLPSink

        receiver = ThreadingHTTPServer(("127.0.0.1", 0), _OTLPReceiver)
        threading.Thread(target=receiver.serve_forever, daemon=True).start()
        sinks.append(OTLPSink(f"http://127.0.0.1:{receiver.server_address[1]}/v1/traces"))
    with FakeProvider() as fake:
        os.environ.update(fake.env())  # what `peekr fake-provider` tells a user to export
        report["providers"] = sorted(peekr.instrument(sinks=sinks).providers)
        with peekr.span("smoke-step"):
            report["expected"] = ["smoke-step"]
            if extra in CALLS:
                called = CALLS[extra]()
                report["expected"] += called if isinstance(called, list) else [called]
    if extra == "otlp":
        peekr.flush(timeout=10)
        report["otlp_posts"] = _OTLPReceiver.posts
        assert receiver is not None
        receiver.shutdown()
    return report


def missing(provider: str) -> dict[str, Any]:
    import peekr

    try:
        peekr.instrument(storage="none", providers=[provider])
    except ModuleNotFoundError as exc:
        return {"error": str(exc)}
    return {"error": None}


def main() -> None:
    mode, arg = sys.argv[1], sys.argv[2]
    report = trace(arg) if mode == "trace" else missing(arg)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
