"""The MCP tools over streamable HTTP at ``/mcp`` of ``peekr server``, for a tenant's read key.

Each request is authenticated like the query API (``Authorization: Bearer <read key>``, the same
rate limits); the tools then read only that key's tenant through the collector's ``Store``. The
MCP transport runs stateless with JSON answers: no session outlives a request, so a revoked key
stops working at once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta, timezone
from typing import Any

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.transport_security import TransportSecuritySettings
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from .._events import merge_eval_result
from ..server._errors import ApiError
from ..server._state import ServerState, require
from ..server._store import AggregateQuery, TraceFilter, format_time
from ._server import build_server
from ._shape import ToolArgumentError
from ._source import Query, TraceNotFound

__all__ = ["McpMount", "ServerSource"]

_TENANT_KEY = "peekr.mcp.tenant"
#: Traces a search reads at most, newest first (each with all its spans).
_MAX_TRACES = 200
_PAGE = 50
_AGGREGATE_GROUPS = {"model": "model", "feature": "feature", "endpoint": "endpoint"}


class ServerSource:
    """One tenant's spans in the collector's store."""

    label = "collector"

    def __init__(self, state: ServerState, tenant_id: str) -> None:
        self._store = state.store
        self._tenant = tenant_id

    async def spans(self, query: Query, limit: int) -> tuple[list[dict[str, Any]], bool]:
        """Spans of the newest traces with a matching span (at most ``_MAX_TRACES`` traces read)."""
        filt = TraceFilter(query.name, query.model, query.status, query.feature, query.endpoint, query.user_id,
                           query.session_id, query.since, query.until)  # fmt: skip
        out: list[dict[str, Any]] = []
        cursor: tuple[str, str] | None = None
        read = 0
        while True:
            page = await self._store.list_traces(self._tenant, filt, _PAGE, cursor)
            rows = page.rows
            for row in rows:
                read += 1
                spans, results, _ = await self._store.get_trace(self._tenant, row["trace_id"])
                _merge(spans, results)
                for span in sorted(spans, key=lambda s: (s["start_time"], s["span_id"]), reverse=True):
                    if query.matches(span):
                        if len(out) >= limit:
                            return out, True
                        out.append(span)
                if read >= _MAX_TRACES:
                    return out, True  # said as "only the newest ... were read": there may be more
            if page.resume is not None:  # a bounded scan stopped early: continue where it did
                cursor = page.resume
                continue
            if len(rows) < _PAGE:
                return out, False
            cursor = (rows[-1]["sort_key"], rows[-1]["trace_id"])

    async def trace(self, trace_id: str) -> tuple[str, list[dict[str, Any]], list[dict[str, Any]]]:
        """A trace by its full id (the collector does not resolve prefixes)."""
        if len(trace_id) != 32:
            raise ToolArgumentError("over HTTP, give the full 32-character trace id (as recent_traces shows it)")
        spans, results, feedback = await self._store.get_trace(self._tenant, trace_id)
        if not spans:
            raise TraceNotFound(f"no trace {trace_id!r} for this API key's tenant")
        _merge(spans, results)
        spans.sort(key=lambda s: (s["start_time"], s["span_id"]))
        return trace_id, spans, feedback

    async def cost(self, query: Query, by: str) -> dict[str, Any]:
        """Exact sums from the collector's rollups (by model, feature, endpoint, day, tenant)."""
        if by == "user":
            raise ToolArgumentError("by='user' is not available over HTTP; use model, feature, endpoint, tenant or day")
        until = query.until or format_time(datetime.now(timezone.utc) + timedelta(days=1))
        since = query.since or "2000-01-01T00:00:00.000000Z"
        group = _AGGREGATE_GROUPS.get(by)
        rows = await self._store.aggregates(
            self._tenant, AggregateQuery(since, until, group, "day" if by == "day" else None)
        )
        groups: dict[str, dict[str, Any]] = {}
        for row in rows:
            name = str(row["bucket"])[:10] if by == "day" else str(row.get("group") or "(none)")
            if by == "tenant":
                name = self._tenant
            acc = groups.setdefault(name, {"calls": 0, "tokens_total": 0, "cost_usd": 0.0})
            acc["calls"] += row["calls"]
            acc["tokens_total"] += row["tokens_total"]
            acc["cost_usd"] += row["cost_usd"] or 0.0
        rows = sorted(
            ({"group": k, **v, "cost_usd": round(v["cost_usd"], 8)} for k, v in groups.items()),
            key=lambda r: (-r["cost_usd"], -r["calls"], r["group"]),
        )
        return {
            "by": by,
            "total_cost_usd": round(sum(r["cost_usd"] for r in rows), 8),
            "calls": sum(r["calls"] for r in rows),
            "unpriced_calls": None,
            "rows": rows,
            "note": "calls counts every span in the window; the collector's rollups do not count unpriced calls",
        }


def _merge(spans: list[dict[str, Any]], results: list[Any]) -> None:
    by_id = {s["span_id"]: s for s in spans}
    for result in results:
        span = by_id.get(result.span_id)
        if span is not None:
            merge_eval_result(span["attributes"], result)


def _source_for(ctx: Context[Any, Any]) -> ServerSource:
    request = getattr(ctx.request_context, "request", None)
    scope = getattr(request, "scope", None) or {}
    principal = scope.get(_TENANT_KEY)
    if principal is None:
        raise ToolError("not authenticated: send 'Authorization: Bearer <read key>'")
    state, tenant = principal
    return ServerSource(state, tenant)


class McpMount:
    """The ``/mcp`` route of the collector and the task group its transport needs (``run``)."""

    def __init__(self, state: ServerState) -> None:
        self._state = state
        self.server: Any = None  # built in ``run``, on the app's own event loop
        # An object, not a function: Starlette hands it the raw ASGI call.
        self.route = Route("/mcp", endpoint=self, methods=["GET", "POST", "DELETE"], include_in_schema=False)

    @asynccontextmanager
    async def run(self) -> AsyncIterator[None]:
        """Build the MCP server and run its session manager for the app's lifetime.

        Built here, not in ``__init__``: the transport's locks belong to the event loop that
        creates them, and ``create_app`` may be called under another one (a test on trio, an app
        factory) than the one serving the app.
        """
        server = build_server(_source_for)
        # No DNS-rebinding check: every request carries a bearer key, and the collector may listen
        # on any address; the key, not the Host header, decides what a caller sees.
        server.streamable_http_app(
            stateless_http=True,
            json_response=True,
            transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
        )
        async with server.session_manager.run():
            self.server = server
            try:
                yield
            finally:
                self.server = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Authenticate the read key, then hand the request to the MCP transport."""
        request = Request(scope, receive)
        if self._state.open_access:
            # `peekr ui` (no log-in, 127.0.0.1): local agents use `peekr mcp traces.db` on stdio instead,
            # so no keyless HTTP endpoint is left for a DNS-rebinding web page to reach.
            response = JSONResponse(
                {"error": {"code": "not_found", "message": "use `peekr mcp <file>` (stdio) for a local file"}},
                status_code=404,
            )
            await response(scope, receive, send)
            return
        try:
            principal = await require(request, "read")
        except ApiError as exc:
            response = JSONResponse(
                {"error": {"code": exc.code, "message": exc.message}}, status_code=exc.status, headers=exc.headers
            )
            await response(scope, receive, send)
            return
        scope[_TENANT_KEY] = (self._state, principal.tenant_id)
        server = self.server
        if server is None:  # the app's lifespan has not started (or has ended)
            response = JSONResponse(
                {"error": {"code": "unavailable", "message": "the MCP endpoint is not running"}}, status_code=503
            )
            await response(scope, receive, send)
            return
        await server.session_manager.handle_request(scope, receive, send)
