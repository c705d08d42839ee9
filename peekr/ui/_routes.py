"""The web UI's routes: the page shell, its static files, log in / log out, and feedback.

The pages are one HTML shell plus ES modules (no build step, no Node); the data comes from the
collector's own ``/v1/...`` query API. On ``peekr server`` the UI logs in with a read key: the
key goes into an HttpOnly, SameSite=Strict cookie (never into a URL or local storage) that the
query API accepts like a Bearer key, so revoking the key ends the session at once in every
process. On ``peekr ui`` (``ServerState.open_access``) no log-in is asked.
"""

from __future__ import annotations

from importlib import resources
from typing import Any, Literal
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse
from pydantic import BaseModel, Field
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..server._auth import authenticate
from ..server._errors import ApiError
from ..server._state import SESSION_COOKIE, require, state_of
from ..server._store import record_key
from ..store._feedback import make_feedback

__all__ = ["CSP", "SecurityHeaders", "install"]

#: No inline script or style, nothing from another origin, no framing.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
_PAGES = (
    "/",
    "/login",
    "/trends",
    "/quality",
    "/worst",
    "/experiments",
    "/traces/{trace_id}",
    "/sessions/{session_id}",
)
_STATIC = {
    "app.js": ("peekr.ui", "static", "text/javascript"),
    "views.js": ("peekr.ui", "static", "text/javascript"),
    "waterfall.js": ("peekr.ui", "static", "text/javascript"),
    "util.js": ("peekr.ui", "static", "text/javascript"),
    "charts.js": ("peekr.ui", "static", "text/javascript"),
    "app.css": ("peekr.ui", "static", "text/css"),
    "favicon.svg": ("peekr.ui", "static", "image/svg+xml"),
    # One vendored copy of ECharts serves both the static dashboard and the web UI.
    "echarts.min.js": ("peekr.cli", "_static", "text/javascript"),
}
_MAX_FORM = 4096
_MATCHES = 20  # trace ids an ambiguous prefix lists
_DOCS = ("/docs", "/redoc", "/docs/oauth2-redirect")  # FastAPI's interactive API docs load their own scripts
_HEADERS = (
    ("Content-Security-Policy", CSP),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("X-Frame-Options", "DENY"),
)

router = APIRouter(include_in_schema=False)


def _asset(name: str) -> bytes:
    package, folder, _ = _STATIC[name]
    return resources.files(package).joinpath(folder).joinpath(name).read_bytes()


async def _page(request: Request) -> Response:
    return Response(_asset_html(), media_type="text/html; charset=utf-8", headers={"Cache-Control": "no-store"})


def _asset_html() -> bytes:
    return resources.files("peekr.ui").joinpath("static").joinpath("index.html").read_bytes()


for _path in _PAGES:
    router.add_api_route(_path, _page, methods=["GET"])


@router.get("/ui/static/{name}")
async def static_file(name: str) -> Response:
    """One of the UI's files (a fixed list: nothing else on disk is reachable)."""
    if name not in _STATIC:
        raise ApiError(404, "not_found", f"no such file: {name}")
    return Response(_asset(name), media_type=_STATIC[name][2], headers={"Cache-Control": "no-cache"})


@router.get("/ui/session")
async def session(request: Request) -> dict[str, Any]:
    """Who the UI is logged in as: ``mode`` (``local`` or ``server``), the tenant, or ``authenticated: false``.

    Not logged in is a normal answer here (200), so the page can go to its log-in form without
    a failed request in the browser console.
    """
    state = state_of(request)
    try:
        principal = await require(request, "read")
    except ApiError as exc:
        if exc.status not in (401, 403):
            raise
        return {"mode": "server", "authenticated": False}
    if state.open_access:
        return {"mode": "local", "authenticated": True, "tenant": None, "file": str(getattr(state.store, "path", ""))}
    return {"mode": "server", "authenticated": True, "tenant": principal.tenant_id, "key_id": principal.key_id}


@router.post("/ui/login")
async def login(request: Request) -> Response:
    """Check a read key posted by the log-in form; on success set the session cookie."""
    body = await request.body()
    form = parse_qs(body[:_MAX_FORM].decode("utf-8", "replace")) if len(body) <= _MAX_FORM else {}
    key = (form.get("key") or [""])[0].strip()
    target = _safe_next((form.get("next") or ["/"])[0])
    state = state_of(request)
    try:
        await authenticate(
            state.store,
            state.limiter,
            f"Bearer {key}",
            "read",
            "the web UI",
            failures=state.auth_failures,
            client=request.client.host if request.client else None,
        )
    except ApiError as exc:
        return RedirectResponse(f"/login?error={quote(exc.code)}&next={quote(target)}", status_code=303)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        key,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    return response


@router.post("/ui/logout")
async def logout(request: Request) -> Response:
    """Forget the session cookie."""
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response


class FeedbackIn(BaseModel):
    """A rating from the trace view."""

    trace_id: str = Field(pattern=r"^[0-9a-f]{32}$")
    rating: Literal["good", "bad"]
    note: str | None = Field(default=None, max_length=4000)


@router.post("/ui/feedback")
async def post_feedback(request: Request, item: FeedbackIn) -> JSONResponse:
    """Rate a trace: into the collector's feedback table (server) or the local file (``peekr ui``).

    The custom header cannot be sent cross-site without a CORS preflight, which this app never
    grants: with the SameSite=Strict cookie that rules out cross-site request forgery.
    """
    if request.headers.get("x-peekr-ui") != "1":
        raise ApiError(403, "forbidden", "feedback from the web UI needs the X-Peekr-UI header")
    principal = await require(request, "read")
    state = state_of(request)
    record = make_feedback(item.trace_id, item.rating, item.note or None, None)
    add_local = getattr(state.store, "add_feedback", None)
    if state.open_access and add_local is not None:
        try:
            await add_local(record)
        except ValueError as exc:
            raise ApiError(404, "not_found", str(exc)) from None
    else:
        spans, _, _ = await state.store.get_trace(principal.tenant_id, item.trace_id)
        if not spans:
            raise ApiError(404, "not_found", f"trace {item.trace_id} not found")
        record = record.model_copy(update={"tenant_id": principal.tenant_id})
        await state.store.ingest(principal.tenant_id, [], [], [(record, record_key(record))])
    return JSONResponse({"feedback": record.model_dump(mode="json", exclude={"record", "tenant_id"})}, status_code=201)


@router.get("/ui/resolve/{prefix}")
async def resolve(request: Request, prefix: str) -> dict[str, Any]:
    """The full trace id for a unique prefix of this tenant's trace ids (a full id is returned as it is).

    Several matches: ``{"trace_id": null, "matches": [...]}`` (at most ``_MATCHES``, sorted), so
    the page can list them; none: 404.
    """
    principal = await require(request, "read")
    prefix = prefix.lower()
    if len(prefix) == 32:
        return {"trace_id": prefix}
    if not 4 <= len(prefix) < 32 or any(c not in "0123456789abcdef" for c in prefix):
        raise ApiError(404, "not_found", f"no trace with id {prefix!r}: give 4 to 32 hex characters of a trace id")
    ids = await state_of(request).store.resolve_trace_id(principal.tenant_id, prefix, _MATCHES + 1)
    if not ids:
        raise ApiError(404, "not_found", f"no trace id starts with {prefix!r}")
    if len(ids) == 1:
        return {"trace_id": ids[0]}
    return {"trace_id": None, "matches": ids[:_MATCHES], "more": len(ids) > _MATCHES}


def _safe_next(target: str) -> str:
    """Only a path of this site (no scheme, no //host) may follow log-in."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target or target.startswith("/ui/"):
        return "/"
    return target


class SecurityHeaders:
    """ASGI middleware: the CSP and friends on every answer (FastAPI's ``/docs`` pages excepted)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in _DOCS:
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in _HEADERS:
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)


def install(app: FastAPI) -> None:
    """Add the UI's routes and its security headers to the collector app."""
    app.include_router(router)
    app.add_middleware(SecurityHeaders)
