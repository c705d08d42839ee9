"""The collector ASGI app: ingest, query API, health, OpenAPI; retention on a schedule."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, nullcontext
from typing import TYPE_CHECKING

import anyio
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from .._version import __version__
from . import _experiments, _ingest, _otlp_ingest, _query
from ._backends import is_postgres, open_store
from ._config import ServerSettings
from ._errors import ApiError
from ._purge import purge_forever
from ._ratelimit import RateLimiter
from ._state import ServerState
from ._store import Store

if TYPE_CHECKING:
    from ..mcp._http import McpMount

__all__ = ["create_app"]

_log = logging.getLogger("peekr.server")


def create_app(settings: ServerSettings | None = None, *, store: Store | None = None) -> FastAPI:
    """Build the collector app.

    Example:
        >>> app = create_app(ServerSettings(db="traces.db"))  # then: uvicorn.run(app)

    Args:
        settings: limits, storage and retention; defaults to ``ServerSettings()``.
        store: an unopened store to use instead of the one ``settings.db`` names.

    Returns:
        A FastAPI app; storage opens and the purge schedule starts in its lifespan.
    """
    settings = settings or ServerSettings()
    store = store or open_store(settings.db, settings.text_search)
    state = ServerState(
        settings,
        store,
        RateLimiter(settings.rate_limit, settings.rate_burst),
        RateLimiter(settings.auth_fail_rate, settings.auth_fail_burst),
    )
    if settings.alerts_file:
        from ..alerts._config import load_rules
        from ..alerts._engine import AlertEngine

        state.alerts = AlertEngine(load_rules(settings.alerts_file), per_tenant=True)

    mcp = _mcp_mount(state)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await store.open()
        if state.alerts is not None:
            state.alerts.start()
        try:
            async with mcp.run() if mcp is not None else nullcontext(), anyio.create_task_group() as tg:
                if settings.purge_interval_s > 0:
                    tg.start_soon(purge_forever, store, settings.retention_days, settings.purge_interval_s)
                yield
                tg.cancel_scope.cancel()
        finally:
            await store.close()
            if state.alerts is not None:
                await anyio.to_thread.run_sync(state.alerts.close, 2.0)

    app = FastAPI(
        title="Peekr collector",
        version=__version__,
        summary="Ingest and query API of the self-hosted Peekr collector (wire format v1).",
        lifespan=lifespan,
    )
    app.state.peekr = state
    app.include_router(_ingest.router)
    app.include_router(_otlp_ingest.router)
    app.include_router(_query.router)
    app.include_router(_experiments.router)
    if mcp is not None:
        app.router.routes.append(mcp.route)
    from ..ui._routes import install as install_ui

    install_ui(app)

    @app.get("/healthz", tags=["health"], summary="Liveness")
    async def healthz() -> dict[str, str]:
        return {
            "status": "ok",
            "version": __version__,
            "storage": "postgresql" if is_postgres(settings.db) else "sqlite",
        }

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(
            {"error": {"code": exc.code, "message": exc.message}}, status_code=exc.status, headers=exc.headers
        )

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        parts = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5]]
        return JSONResponse({"error": {"code": "invalid_parameter", "message": "; ".join(parts)}}, status_code=400)

    return app


def _mcp_mount(state: ServerState) -> McpMount | None:
    """The ``/mcp`` endpoint (the MCP tools for a tenant's read key), or None without the ``mcp`` extra."""
    try:
        from ..mcp._http import McpMount
    except ImportError:
        return None
    return McpMount(state)
