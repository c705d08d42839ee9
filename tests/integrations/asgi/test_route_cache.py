"""The route-template cache: span names and endpoints follow the app's current routes, and the
cache stays bounded however many distinct paths come in."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from attrs_helper import attrs
from fastapi import FastAPI
from starlette.responses import PlainTextResponse
from starlette.routing import Host, Route, Router

import peekr
from peekr.integrations.asgi import _routes
from peekr.integrations.fastapi import PeekrMiddleware
from peekr.sinks.memory import InMemorySink


def items_app() -> FastAPI:
    app = FastAPI()
    app.add_middleware(PeekrMiddleware)

    @app.get("/items/{item_id}")
    async def item(item_id: str) -> dict[str, str]:
        with peekr.span("work"):  # carries the request's endpoint from its session
            pass
        return {"item_id": item_id}

    return app


def _named(spans: list[Any]) -> list[tuple[str, Any]]:
    return [(s.name, attrs(s).get("endpoint")) for s in spans]


@pytest.mark.anyio
async def test_a_route_added_after_requests_is_seen_by_the_next_request(memory_sink: InMemorySink) -> None:
    app = items_app()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://app") as client:
        for _ in range(2):  # the second answer comes from the cache
            assert (await client.get("/items/me")).json() == {"item_id": "me"}

        async def me() -> dict[str, str]:
            with peekr.span("work"):
                pass
            return {"me": "yes"}

        app.add_api_route("/items/me", me)
        app.router.routes.insert(0, app.router.routes.pop())  # ahead of /items/{item_id}
        assert (await client.get("/items/me")).json() == {"me": "yes"}
    assert await peekr.aflush()
    assert _named(memory_sink.spans) == [
        ("work", "/items/{item_id}"),
        ("GET /items/{item_id}", "/items/{item_id}"),
        ("work", "/items/{item_id}"),
        ("GET /items/{item_id}", "/items/{item_id}"),
        ("work", "/items/me"),
        ("GET /items/me", "/items/me"),
    ]


@pytest.mark.anyio
async def test_the_path_cache_is_bounded(memory_sink: InMemorySink) -> None:
    app = items_app()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://app") as client:
        assert (await client.get("/items/0")).status_code == 200
        cache = _routes._caches[id(app.router)].paths
        for i in range(_routes.PATH_CACHE_MAX + 10):  # each id a new path
            scope = {"type": "http", "method": "GET", "path": f"/items/{i}", "root_path": "", "app": app}
            assert _routes.resolve_route_template(scope) == "/items/{item_id}"
            assert len(cache) <= _routes.PATH_CACHE_MAX
        assert (await client.get("/items/last")).status_code == 200
    assert await peekr.aflush()
    assert memory_sink.spans[-1].name == "GET /items/{item_id}"


@pytest.mark.anyio
async def test_host_routes_are_resolved_per_request(memory_sink: InMemorySink) -> None:
    """A ``Host`` route answers by the Host header, which the cache key does not hold: not cached."""

    async def ok(request: Any) -> PlainTextResponse:
        return PlainTextResponse("ok")

    app = FastAPI()
    app.router.routes.append(Host("a.example", app=Router([Route("/x/{a}", ok)])))
    app.router.routes.append(Route("/x/{other}", ok))
    app.add_middleware(PeekrMiddleware)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://app") as client:
        for host in ("b.example", "a.example"):
            assert (await client.get("/x/1", headers={"host": host})).text == "ok"
    assert await peekr.aflush()
    assert [s.name for s in memory_sink.spans] == ["GET /x/{other}", "GET /x/{a}"]


def test_the_routes_regexes_give_the_answer_the_routes_own_matches_gives() -> None:
    """Paths seen once (ids in them) are answered from the routes' regexes: the same template the
    routes' own ``matches`` gives, for every method, root path, trailing slash and converter."""
    app = FastAPI()

    async def handler() -> dict[str, str]:
        return {}

    app.add_api_route("/items/{item_id:int}", handler, methods=["GET"])
    app.add_api_route("/items/{item_id}", handler, methods=["PUT"])
    app.add_api_route("/items/me", handler, methods=["GET"])
    app.add_api_route("/files/{path:path}", handler, methods=["GET", "POST"])
    app.add_api_websocket_route("/ws/{room}", handler)
    app.router.routes.append(Route("/plain/{x:float}", PlainTextResponse("plain"), methods=["DELETE"]))
    entry = _routes._cache_for(app.router, app.router.routes)
    assert entry is not None and entry.http is not None  # FastAPI's docs routes and these: all plain
    answers = set()
    for method in ("GET", "HEAD", "PUT", "POST", "DELETE"):
        for root_path in ("", "/api"):
            for path in ("/items/7", "/items/x", "/items/me", "/items/7/", "/files/a/b.txt", "/ws/r", "/plain/1.5",
                         "/plain/x", "/docs", "/openapi.json", "/nothing", "/", ""):  # fmt: skip
                for full in (path, root_path + path):
                    scope = {"type": "http", "method": method, "path": full, "root_path": root_path, "app": app}
                    expected = _routes._resolve(app.router.routes, scope, "", 0)
                    assert _routes._match_http(entry.http, scope) == expected, scope
                    assert _routes.resolve_route_template(scope) == expected, scope
                    answers.add(expected)
    assert {"/items/{item_id}", "/items/me", "/files/{path}", "/plain/{x}", "/docs", None} <= answers
