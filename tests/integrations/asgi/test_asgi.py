"""The middleware on asyncio and trio (in-process ASGI transport), on a bare ASGI app, and its
argument checks."""

from __future__ import annotations

from collections.abc import AsyncIterator, MutableMapping
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx
import pytest
from attrs_helper import attrs
from fastapi import FastAPI
from fastapi.responses import StreamingResponse

import peekr
from peekr.integrations.fastapi import PeekrMiddleware, lifespan, parse_traceparent
from peekr.sinks.memory import InMemorySink
from peekr.testing.fake_provider import FakeProvider


def fanout_app() -> FastAPI:
    fake = FakeProvider()
    app = FastAPI()
    app.add_middleware(PeekrMiddleware)

    async def ask(text: str) -> str:
        async with fake.async_openai_client(in_process=True) as client:
            reply = await client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": text}]
            )
        return str(reply.choices[0].message.content)

    def ask_sync(text: str) -> str:
        with fake.openai_client(in_process=True) as client:
            reply = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": text}])
        return str(reply.choices[0].message.content)

    @app.get("/fanout/{n}")
    async def fanout(n: int) -> dict[str, int]:
        async with anyio.create_task_group() as tg, peekr.session(session_id="s1"):
            for i in range(n):
                tg.start_soon(ask, f"task {i}")
            tg.start_soon(anyio.to_thread.run_sync, ask_sync, "thread")
        return {"n": n}

    @app.get("/stream")
    async def stream() -> StreamingResponse:
        async def body() -> AsyncIterator[str]:
            for i in range(2):
                yield await ask(f"chunk {i}")

        return StreamingResponse(body())

    return app


@pytest.mark.anyio
async def test_children_on_both_backends(memory_sink: InMemorySink) -> None:
    transport = httpx.ASGITransport(app=fanout_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
        assert (await client.get("/fanout/3")).json() == {"n": 3}
        assert (await client.get("/stream")).text == "Echo: chunk 0Echo: chunk 1"
    assert await peekr.aflush()
    roots = {s.name: s for s in memory_sink.spans if s.parent_id is None}
    assert set(roots) == {"GET /fanout/{n}", "GET /stream"}
    fan = [s for s in memory_sink.spans if s.parent_id == roots["GET /fanout/{n}"].span_id]
    assert len(fan) == 4 and {attrs(s)["session_id"] for s in fan} == {"s1"}
    assert len([s for s in memory_sink.spans if s.parent_id == roots["GET /stream"].span_id]) == 2


async def bare_app(scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    with peekr.span("work"):
        pass
    await send({"type": "http.response.start", "status": 201, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


@pytest.mark.anyio
async def test_a_bare_asgi_app(memory_sink: InMemorySink) -> None:
    plain = PeekrMiddleware(bare_app)
    routed = PeekrMiddleware(bare_app, route_resolver=lambda scope: "/things/{id}")
    for app in (plain, routed):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://app") as client:
            assert (await client.put("/things/7")).status_code == 201
    assert await peekr.aflush()
    roots = [s for s in memory_sink.spans if s.parent_id is None]
    assert [s.name for s in roots] == ["PUT", "PUT /things/{id}"]
    assert "endpoint" not in attrs(roots[0]) and attrs(roots[0])["url.path"] == "/things/7"
    assert attrs(roots[1])["endpoint"] == "/things/{id}"
    assert all(attrs(r)["http.response.status_code"] == 201 for r in roots)
    assert len([s for s in memory_sink.spans if s.name == "work" and s.parent_id is not None]) == 2


@pytest.mark.anyio
async def test_mounted_sub_app_gets_the_full_template(memory_sink: InMemorySink) -> None:
    inner = FastAPI()

    @inner.get("/items/{item_id}")
    async def item(item_id: str) -> dict[str, str]:
        return {"item_id": item_id}

    app = FastAPI()
    app.mount("/v2", inner)
    app.add_middleware(PeekrMiddleware)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://app") as client:
        assert (await client.get("/v2/items/9")).json() == {"item_id": "9"}
    assert await peekr.aflush()
    assert [s.name for s in memory_sink.spans] == ["GET /v2/items/{item_id}"]


@pytest.mark.anyio
async def test_lifespan_composes_with_an_async_generator_lifespan() -> None:
    sink = InMemorySink()
    seen: list[str] = []

    async def app_lifespan(app: Any) -> AsyncIterator[None]:
        seen.append(peekr.stats().state)  # peekr already runs when the app's lifespan starts
        yield
        seen.append(peekr.stats().state)  # and still runs when it ends

    manager = lifespan(app_lifespan, storage="none", sinks=[sink])(None)
    async with manager as state:
        assert state is None
        with peekr.span("inside"):
            pass
    assert seen == ["running", "running"]
    assert peekr.stats().state == "closed"
    assert [s.name for s in sink.spans] == ["inside"]


@pytest.mark.anyio
async def test_a_failing_app_lifespan_still_stops_peekr() -> None:
    @asynccontextmanager
    async def broken(app: Any) -> AsyncIterator[None]:
        raise RuntimeError("cannot connect")
        yield

    with pytest.raises(RuntimeError, match="cannot connect"):
        async with lifespan(broken, storage="none")(None):
            pass
    assert peekr.stats().state == "closed"


@pytest.mark.anyio
async def test_requests_pass_through_when_peekr_is_not_running() -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=fanout_app()), base_url="http://app") as client:
        assert (await client.get("/fanout/1")).json() == {"n": 1}


def test_bad_arguments_fail_at_once() -> None:
    with pytest.raises(TypeError, match="extract"):
        PeekrMiddleware(bare_app, extract="user_id")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="exclude_paths"):
        PeekrMiddleware(bare_app, exclude_paths="/healthz")
    with pytest.raises(TypeError, match="route_resolver"):
        PeekrMiddleware(bare_app, route_resolver=3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="ASGI app"):
        PeekrMiddleware(None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="shutdown_timeout"):
        lifespan(shutdown_timeout=0)
    with pytest.raises(TypeError, match="stroage"):
        lifespan(stroage="sqlite")
    with pytest.raises(TypeError, match="app_lifespan"):
        lifespan("my lifespan")  # type: ignore[arg-type]


def test_parse_traceparent() -> None:
    trace_id, span_id = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    assert parse_traceparent(f"00-{trace_id}-{span_id}-01".encode()) == (trace_id, span_id)
    assert parse_traceparent(f" 00-{trace_id}-{span_id}-01 ") == (trace_id, span_id)
    assert parse_traceparent(f"01-{trace_id}-{span_id}-01-future") == (trace_id, span_id)  # a later version
    assert parse_traceparent(f"00-{trace_id}-{span_id}-01-extra") is None
    assert parse_traceparent(f"00-{trace_id}-{'0' * 16}-01") is None
    assert parse_traceparent(f"0x-{trace_id}-{span_id}-01") is None
    assert parse_traceparent(f"00-{trace_id}-{span_id}-0g") is None
    assert parse_traceparent(b"\xff\xfe") is None
    assert parse_traceparent(None) is None


@pytest.mark.anyio
async def test_a_bad_instrument_value_fails_the_app_startup() -> None:
    manager = lifespan(storage="bogus")(None)  # the value is checked by instrument() at startup
    with pytest.raises(ValueError, match="storage='bogus'"):
        async with manager:
            pass
