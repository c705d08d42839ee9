"""``PeekrMiddleware``: one root span per HTTP request, the LLM calls inside it its children.

A pure ASGI middleware (no ``BaseHTTPMiddleware``), so it works for any ASGI app, does not
buffer streaming bodies and keeps the request's context in the task that runs the handler.

How a request is recorded:

1. The route template is resolved from the app's routes (``asgi._routes``), the user's
   ``extract(request)`` function (if any) is called, and a ``peekr.session`` with
   ``endpoint=<template>`` plus what ``extract`` returned is entered.
2. The request span starts, continuing the caller's trace when a valid W3C ``traceparent``
   header came in, and becomes the current span. The app runs inside that context, so every
   span started by the handler, by tasks it spawns (asyncio, anyio/trio task groups), by
   ``run_in_threadpool`` and by a ``StreamingResponse`` body iterator is its child.
3. The span ends when the app returns: after the last body chunk was sent (a streaming response
   is fully sent, or the client went away) and after the response's background tasks.

Finish paths (each ends the span exactly once; ``ActiveSpan.end`` is idempotent):

- the app returns: status from ``http.response.start`` (>= 500 is an error);
- the app raises: the exception is recorded (``status="error"``, ``http.response.status_code``
  500 if no response had started) and re-raised untouched, so Starlette's/FastAPI's own error
  handling still sends the user's normal 500 response;
- the task is cancelled (server shutdown): the span ends with ``cancelled=True`` and the
  cancellation propagates;
- the client disconnects mid-stream: ``client_disconnected=True``; not an error by itself.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from contextvars import Token
from typing import Any

from ... import _errors as _faults
from ... import _runtime
from ..._context import SessionData, _current_span, _session, session
from ..._errors import checkpoint, log_internal_error, raise_internal_errors
from ..._runtime import Runtime
from ..._tracer import ActiveSpan, SampledOutSpan, begin_span
from ._routes import resolve_route_template, route_template_from_scope
from ._traceparent import parse_traceparent

__all__ = ["Extractor", "PeekrMiddleware"]

logger = logging.getLogger("peekr")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
#: ``extract(request) -> {"user_id": ..., "tenant_id": ..., "session_id": ...}`` (or None);
#: may be ``async``. The keys are ``peekr.session()``'s arguments.
Extractor = Callable[[Any], "Mapping[str, Any] | None | Awaitable[Mapping[str, Any] | None]"]

_SESSION_KEYS = frozenset(
    {
        "user_id",
        "tenant_id",
        "session_id",
        "retention_class",
        "experiment_variant",
        "feature",
        "endpoint",
        "attributes",
    }
)


class _Exchange:
    """Watches the ASGI messages of one request: the status, completion, a disconnect."""

    __slots__ = ("_receive", "_send", "completed", "disconnected", "status")

    def __init__(self, receive: Receive, send: Send) -> None:
        self._receive = receive
        self._send = send
        self.status = 0
        self.completed = False
        self.disconnected = False

    async def receive(self) -> Message:
        message = await self._receive()
        if message["type"] == "http.disconnect" and not self.completed:
            self.disconnected = True
        return message

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            self.status = message["status"]
        elif kind == "http.response.body" and not message.get("more_body", False):
            self.completed = True
        await self._send(message)


class PeekrMiddleware:
    """Record every HTTP request as a root span; LLM calls made for it become its children.

    Works for any ASGI app; with Starlette/FastAPI the span is named after the route template.

    Example:
        >>> from fastapi import FastAPI
        >>> from peekr.integrations.fastapi import PeekrMiddleware, lifespan
        >>> app = FastAPI(lifespan=lifespan(storage="sqlite"))
        >>> app.add_middleware(
        ...     PeekrMiddleware,
        ...     extract=lambda request: {"user_id": request.headers.get("x-user-id")},
        ... )

    The span: name ``"GET /users/{user_id}"`` (the method alone when no route matched),
    attributes ``endpoint`` and ``http.route`` (the template), ``http.request.method``,
    ``url.path``, ``http.response.status_code``; ``status="error"`` for a 5xx status or an
    exception. LLM spans inside the request carry ``endpoint`` too.

    Args:
        app: The ASGI app to wrap (``add_middleware`` passes it).
        extract: Called once per request with a ``starlette.requests.Request`` (headers, query,
            cookies, client; do not read the body) — or the raw ASGI scope when Starlette is not
            installed. Returns a dict of ``peekr.session()`` arguments (``user_id``,
            ``tenant_id``, ``session_id``, ``retention_class``, ``feature``, ``attributes``...),
            or None. May be ``async``. If it raises or returns something unusable, a warning is
            logged and the request is recorded without those values.
        exclude_paths: Paths (exact ``scope["path"]``) not recorded, e.g. ``["/healthz"]``.
        route_resolver: ``resolver(scope) -> template | None`` for apps whose routes Peekr
            cannot read (the default reads Starlette/FastAPI routes).

    Raises:
        TypeError: ``extract`` or ``route_resolver`` is not callable, or ``exclude_paths``
            is a string.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        extract: Extractor | None = None,
        exclude_paths: Iterable[str] = (),
        route_resolver: Callable[[Scope], str | None] | None = None,
    ) -> None:
        if not callable(app):
            raise TypeError(f"PeekrMiddleware(app=...) expects an ASGI app, got {app!r}")
        if extract is not None and not callable(extract):
            raise TypeError(f"PeekrMiddleware(extract=...) expects a function of the request, got {extract!r}")
        if route_resolver is not None and not callable(route_resolver):
            raise TypeError(
                f"PeekrMiddleware(route_resolver=...) expects a function of the scope, got {route_resolver!r}"
            )
        if isinstance(exclude_paths, (str, bytes)):
            raise TypeError(
                f"PeekrMiddleware(exclude_paths=...) expects a list of paths, got the string {exclude_paths!r}"
            )
        self.app = app
        self._extract = extract
        self._exclude = frozenset(exclude_paths)
        self._resolve = route_resolver or resolve_route_template
        self._warned_extract = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection (only ``http`` scopes are recorded)."""
        runtime = _runtime.get_runtime()
        if scope["type"] != "http" or runtime is None or not runtime.running or scope.get("path") in self._exclude:
            await self.app(scope, receive, send)
            return
        extracted = await self._extracted(scope) if self._extract is not None else None
        span: ActiveSpan | SampledOutSpan | None = None
        entered: Token[SessionData | None] | None = None
        template: str | None = None
        try:  # inline rather than handle_internal_errors(): this runs for every request
            if _faults._inject:
                checkpoint("asgi.start")
            template = self._resolve(scope)
            entered = self._session(template, extracted)
            span = self._start_span(scope, template, runtime)
        except Exception as exc:
            log_internal_error("asgi.start", exc)
            if raise_internal_errors():
                raise
        if span is None or type(span) is SampledOutSpan:
            # Sampled out: current for the request, so the calls it makes stay in its dropped trace.
            dropped = _current_span.set(span) if span is not None else None
            try:
                await self.app(scope, receive, send)
            finally:
                if dropped is not None:
                    _current_span.reset(dropped)
                if entered is not None:
                    _session.reset(entered)
            return
        assert type(span) is ActiveSpan
        exchange = _Exchange(receive, send)
        token = _current_span.set(span)
        error: BaseException | None = None
        cancelled = False
        try:
            await self.app(scope, exchange.receive, exchange.send)
        except Exception as exc:  # recorded, then re-raised untouched
            error = exc
            raise
        except BaseException:  # cancellation, KeyboardInterrupt: recorded, then re-raised
            cancelled = True
            raise
        finally:
            _current_span.reset(token)
            if entered is not None:
                _session.reset(entered)
            try:
                if _faults._inject:
                    checkpoint("asgi.end")
                _finish(span, scope, template, exchange, error, cancelled)
            except Exception as exc:
                log_internal_error("asgi.end", exc)
                if raise_internal_errors():
                    raise

    async def _extracted(self, scope: Scope) -> Mapping[str, Any] | None:
        """Run the user's ``extract``; a failure is logged (once) and ignored."""
        assert self._extract is not None
        try:
            value = self._extract(_request_for(scope))
            if inspect.isawaitable(value):
                value = await value
            if value is None:
                return None
            if not isinstance(value, Mapping):
                raise TypeError(f"expected a dict of peekr.session() arguments or None, got {type(value).__name__}")
            unknown = set(value) - _SESSION_KEYS
            if unknown:
                raise TypeError(f"unknown keys {sorted(unknown)}; expected some of {sorted(_SESSION_KEYS)}")
            return value
        except Exception as exc:  # the user's function: never let it break the request
            if not self._warned_extract:
                self._warned_extract = True
                logger.warning(
                    "peekr: PeekrMiddleware(extract=...) failed; requests are recorded without its values: %r",
                    exc,
                    exc_info=exc,
                )
            return None

    def _session(self, template: str | None, extracted: Mapping[str, Any] | None) -> Token[SessionData | None] | None:
        """Enter the request's ``peekr.session`` values; the token to reset when the request ends."""
        if not extracted and type(template) is str:  # the common case: the endpoint alone, no checks to run
            outer = _session.get()
            if outer is None:
                return _session.set(SessionData(None, None, {"endpoint": template}))
            attributes = {**outer.attributes, "endpoint": template}
            return _session.set(SessionData(outer.tenant_id, outer.retention_class, attributes))
        values: dict[str, Any] = {} if template is None else {"endpoint": template}
        if extracted:
            values.update((k, v) for k, v in extracted.items() if v is not None)
        if not values:
            return None
        try:
            entered = session(**values)
        except (TypeError, ValueError) as exc:  # a bad value from the user's extract()
            if not self._warned_extract:
                self._warned_extract = True
                logger.warning("peekr: PeekrMiddleware(extract=...) returned a bad value; ignored: %s", exc)
            if template is None:
                return None
            entered = session(endpoint=template)
        return _session.set(entered._merged())

    @staticmethod
    def _start_span(scope: Scope, template: str | None, runtime: Runtime) -> ActiveSpan | SampledOutSpan | None:
        method = scope.get("method", "GET")
        attributes: dict[str, Any] = {"http.request.method": method, "url.path": scope.get("path", "")}
        if template is not None:
            attributes["endpoint"] = attributes["http.route"] = template
        name = f"{method} {template}" if template is not None else method
        for key, value in scope.get("headers") or ():  # inline: most requests carry no traceparent
            if key == b"traceparent":
                remote = parse_traceparent(value)
                if remote is not None:
                    return begin_span(
                        name, attributes, trace_id=remote[0], parent_id=remote[1], runtime=runtime, adopt=True
                    )
                break
        return begin_span(name, attributes, runtime=runtime, adopt=True)


def _request_for(scope: Scope) -> Any:
    """What ``extract`` receives: a Starlette ``Request`` (no body access) or the scope."""
    try:
        from starlette.requests import Request
    except ImportError:  # a bare ASGI app without Starlette installed
        return scope
    return Request(scope)


def _finish(
    span: ActiveSpan,
    scope: Scope,
    template: str | None,
    exchange: _Exchange,
    error: BaseException | None,
    cancelled: bool,
) -> None:
    attributes = span.attributes
    if template is None:
        late = route_template_from_scope(scope)
        if late is not None:
            attributes["endpoint"] = attributes["http.route"] = late
            span.name = f"{attributes['http.request.method']} {late}"
    status = exchange.status
    disconnected = exchange.disconnected or (error is not None and type(error).__name__ == "ClientDisconnect")
    if disconnected:
        attributes["client_disconnected"] = True
    if cancelled:
        attributes["cancelled"] = True
    if error is not None and not disconnected:
        if status == 0:
            status = 500  # what Starlette's ServerErrorMiddleware (or the server) answers
        span.record_error(error)
    elif status >= 500:
        span.status = "error"
        attributes["error"] = {"type": "HTTPStatus", "message": f"HTTP {status}"}
    if status:
        attributes["http.response.status_code"] = status
    span.end()
