"""A FastAPI app traced with Peekr: one trace per request, the LLM calls inside it as children.

`lifespan(...)` starts Peekr with the app and flushes it when the app stops; `PeekrMiddleware`
records each request as a span named after its route ("POST /chat/{conversation_id}"), tags it
with the user from a header, and continues a caller's W3C `traceparent`. To keep it
self-contained, the script serves the app with uvicorn on 127.0.0.1 in a thread, sends it a few
requests (one of them streamed), stops it, and prints the traces from traces.db.

Run the app for real with: uvicorn examples.fastapi_app:app
"""

from __future__ import annotations

import socket
import sqlite3
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse
from openai import AsyncOpenAI

from peekr.integrations.fastapi import PeekrMiddleware, lifespan
from peekr.testing.fake_provider import FakeProvider

fake = FakeProvider()  # offline stand-in for the OpenAI API (in process, no sockets)


@asynccontextmanager
async def app_lifespan(app: FastAPI) -> AsyncIterator[dict[str, AsyncOpenAI]]:
    # Your own startup and shutdown; Peekr's lifespan wraps it (starts before, stops after).
    client = fake.async_openai_client(in_process=True)  # in your app: AsyncOpenAI()
    yield {"llm": client}
    await client.close()


app = FastAPI(lifespan=lifespan(app_lifespan, storage="sqlite", path="traces.db"))
app.add_middleware(
    PeekrMiddleware,
    # Who the request is for: any peekr.session() argument (user_id, tenant_id, session_id, ...).
    extract=lambda request: {"user_id": request.headers.get("x-user-id"), "tenant_id": "acme"},
    exclude_paths=["/healthz"],
)


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/chat/{conversation_id}")
async def chat(conversation_id: str, request: Request) -> dict[str, str]:
    body = await request.json()
    reply = await request.state.llm.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": body["message"]}]
    )
    return {"conversation_id": conversation_id, "reply": reply.choices[0].message.content or ""}


@app.get("/stream")
async def stream(request: Request, q: str = "stream this") -> StreamingResponse:
    async def tokens() -> AsyncIterator[str]:
        # The LLM span started here still belongs to the request's trace, and the request span
        # ends only once the last chunk is sent.
        chunks = await request.state.llm.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": q}], stream=True
        )
        async for chunk in chunks:
            if chunk.choices and chunk.choices[0].delta.content:
                yield chunk.choices[0].delta.content

    return StreamingResponse(tokens(), media_type="text/plain")


def serve_and_call() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    try:
        with httpx.Client(base_url=url) as client:
            print(client.post("/chat/c-1", json={"message": "Hello"}, headers={"x-user-id": "alice"}).json())
            # A caller that is itself traced passes its context on: this request joins its trace.
            traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
            client.post("/chat/c-2", json={"message": "Hi"}, headers={"x-user-id": "bob", "traceparent": traceparent})
            print("stream:", client.get("/stream", params={"q": "one two three"}).text)
            client.get("/healthz")  # excluded: not recorded
    finally:
        server.should_exit = True  # runs the lifespan shutdown: Peekr flushes everything
        thread.join(10)
        sock.close()


def main() -> None:
    serve_and_call()
    with sqlite3.connect("traces.db") as db:
        rows = db.execute(
            "SELECT trace_id, name, parent_id IS NULL, json_extract(attributes, '$.user_id'), status "
            "FROM spans ORDER BY trace_id, start_time"
        ).fetchall()
    for trace_id, name, is_root, user, status in rows:
        print(f"{trace_id[:8]}  {'' if is_root else '  └ '}{name:28} user={user} {status}")


if __name__ == "__main__":
    main()
