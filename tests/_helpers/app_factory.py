"""The FastAPI app the tests serve with uvicorn: LLM calls through the real openai SDK against
the in-process fake provider, in every place a handler can make them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

import peekr
from peekr.integrations.asgi._lifespan import _host_loop_lifespan
from peekr.integrations.fastapi import PeekrMiddleware, lifespan
from peekr.testing.fake_provider import FakeProvider

MESSAGES = [{"role": "user", "content": "hello there"}]


def make_app(
    *,
    instrument_kwargs: dict[str, Any] | None = None,
    extract: Callable[[Request], Any] | None = None,
    bus: str = "thread",
    use_lifespan: bool = True,
) -> FastAPI:
    """The test app; ``instrument_kwargs`` go to ``lifespan()``."""
    fake = FakeProvider()
    started: list[str] = []

    @asynccontextmanager
    async def app_lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        started.append("app")
        client = fake.async_openai_client(in_process=True)
        sync_client = fake.openai_client(in_process=True)
        yield {"client": client, "sync_client": sync_client}
        started.append("app-stopped")
        await client.close()
        sync_client.close()

    make_lifespan = _host_loop_lifespan if bus == "loop" else lifespan  # "loop": the benchmarked prototype
    app = FastAPI(lifespan=make_lifespan(app_lifespan, **(instrument_kwargs or {})) if use_lifespan else app_lifespan)
    app.add_middleware(PeekrMiddleware, extract=extract, exclude_paths=["/healthz"])
    app.state.started = started

    async def ask(request: Request, content: str = "hello there", model: str = "gpt-4o-mini") -> str:
        reply = await request.state.client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": content}]
        )
        return str(reply.choices[0].message.content)

    @app.get("/healthz")
    async def healthz(request: Request) -> dict[str, str]:
        return {"reply": await ask(request)}

    @app.post("/chat/{conv_id}")
    async def chat(conv_id: str, request: Request) -> dict[str, str]:
        return {"conv_id": conv_id, "reply": await ask(request, f"message for {conv_id}")}

    @app.get("/users/{user_id}/summary")
    async def summary(user_id: int, request: Request) -> dict[str, Any]:
        async with peekr.session(feature="summary"):
            return {"user_id": user_id, "reply": await ask(request)}

    @app.get("/sync")
    def sync_endpoint(request: Request) -> dict[str, str]:  # FastAPI runs it in the thread pool
        reply = request.state.sync_client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        return {"reply": str(reply.choices[0].message.content)}

    @app.get("/fanout")
    async def fanout(request: Request) -> dict[str, int]:
        # asyncio.create_task, an anyio task group and run_in_threadpool: all children.
        task = asyncio.create_task(ask(request, "from a task"))
        async with anyio.create_task_group() as tg:
            tg.start_soon(ask, request, "from a task group")
        await task

        def in_thread() -> None:
            request.state.sync_client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)

        await run_in_threadpool(in_thread)
        await anyio.to_thread.run_sync(in_thread)
        return {"calls": 4}

    @app.get("/stream")
    async def stream(request: Request) -> StreamingResponse:
        async def body() -> AsyncIterator[str]:
            stream = await request.state.client.chat.completions.create(
                model="gpt-4o-mini-slow", messages=[{"role": "user", "content": "one two three four"}], stream=True
            )
            async for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    yield chunk.choices[0].delta.content
            yield "|" + await ask(request, "after the stream")

        return StreamingResponse(body(), media_type="text/plain")

    @app.get("/sse")
    async def sse(request: Request) -> StreamingResponse:
        async def events() -> AsyncIterator[str]:
            for i in range(3):
                yield f"data: {await ask(request, f'event {i}')}\n\n"
                await anyio.sleep(0.01)

        return StreamingResponse(events(), media_type="text/event-stream")

    @app.get("/endless")
    async def endless(request: Request) -> StreamingResponse:
        async def forever() -> AsyncIterator[str]:
            yield await ask(request) + "\n"
            while True:
                await anyio.sleep(0.02)
                yield "tick\n"

        return StreamingResponse(forever(), media_type="text/plain")

    @app.get("/boom")
    async def boom(request: Request) -> None:
        await ask(request)
        raise ValueError("handler bug")

    @app.get("/llm-error")
    async def llm_error(request: Request) -> dict[str, str]:
        try:
            await ask(request, model="gpt-error-429")
        except Exception as exc:  # the SDK's own exception reaches the handler
            return {"error": type(exc).__name__}
        return {"error": "none"}

    @app.get("/items/{item_id}")
    async def item(item_id: str) -> None:
        raise HTTPException(status_code=404, detail=f"no item {item_id}")

    @app.get("/unavailable")
    async def unavailable() -> None:
        raise HTTPException(status_code=503, detail="try later")

    return app
