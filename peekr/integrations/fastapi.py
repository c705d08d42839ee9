"""Peekr for FastAPI, Starlette and any ASGI app: one trace per request, started with the app.

Example:
    >>> from fastapi import FastAPI
    >>> from peekr.integrations.fastapi import PeekrMiddleware, lifespan
    >>> app = FastAPI(lifespan=lifespan(storage="sqlite", path="traces.db"))
    >>> app.add_middleware(PeekrMiddleware, extract=lambda request: {"user_id": request.headers.get("x-user")})

- ``lifespan(app_lifespan=None, **instrument_kwargs)``: instruments on startup, flushes and
  shuts down on shutdown; wraps the app's own lifespan.
- ``PeekrMiddleware``: a pure ASGI middleware; each request is a root span named after its
  route template (``"GET /users/{user_id}"``); the LLM calls made while handling it (in tasks,
  task groups, the thread pool and streaming bodies too) are its children; W3C ``traceparent``
  headers continue the caller's trace.

Importing this module does not import FastAPI or Starlette. See ``docs/fastapi.md``.
"""

from __future__ import annotations

from .asgi._lifespan import lifespan as lifespan
from .asgi._middleware import Extractor as Extractor
from .asgi._middleware import PeekrMiddleware as PeekrMiddleware
from .asgi._traceparent import parse_traceparent as parse_traceparent

__all__ = ("Extractor", "PeekrMiddleware", "lifespan", "parse_traceparent")

for _obj in (PeekrMiddleware, lifespan, parse_traceparent):
    _obj.__module__ = __name__
del _obj
