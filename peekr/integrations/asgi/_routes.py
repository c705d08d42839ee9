"""Route templates for request spans: ``GET /users/{user_id}``, never the raw path.

The template is resolved *before* the app runs, so the LLM calls the handler makes can carry it
as their ``endpoint`` attribute too (their spans start before Starlette's router would have
told us). We ask the app's own routes, the way Starlette's router does: ``scope["app"]`` is the
Starlette/FastAPI application (set by ``Starlette.__call__`` before any middleware runs), and
each route's ``matches(scope)`` is a pure function of the scope. Mounts are followed into their
sub-routes. Any app without routes (a bare ASGI callable) gets no template; ``PeekrMiddleware``
then falls back to ``scope["route"]`` after the app ran, or to the method alone.

Nothing here imports Starlette: routes are duck-typed (``matches``, ``path_format``), so the
module costs nothing for apps that do not use it.

Asking every route costs a few µs per request (FastAPI's docs routes come first), so the answer
is cached per router and ``(method, root_path, path)`` — only when every route is a plain
Starlette/FastAPI HTTP or WebSocket route, whose ``matches`` depends on nothing else (not a
``Host``, a ``Mount`` or a custom ``matches``). The cache is bounded (``PATH_CACHE_MAX`` paths per
router, cleared when full) and dropped when the router's routes change.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, MutableMapping
from typing import Any, cast

__all__ = ["resolve_route_template", "route_template_from_scope"]

#: Starlette's ``Match`` enum values (``NONE``, ``PARTIAL``, ``FULL``), compared by value so
#: that this module needs no Starlette import.
_FULL, _PARTIAL = 2, 1
_MAX_DEPTH = 8
_MISSING: Any = object()


def _template_of(route: Any) -> str | None:
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    return template if isinstance(template, str) else None


#: ``id(match)`` -> (the match object, its value), for the few enum members ``matches()`` returns
#: (reading an enum's ``.value`` goes through a descriptor: this runs for every route, every request).
_values: dict[int, tuple[Any, int]] = {}


def _match_value(match: Any) -> int:
    known = _values.get(id(match))
    if known is not None and known[0] is match:
        return known[1]
    value = getattr(match, "value", match)
    value = value if isinstance(value, int) else 0
    if len(_values) < 16 and hasattr(match, "value"):  # enum members live as long as their class
        _values[id(match)] = (match, value)
    return value


def _resolve(routes: Any, scope: Mapping[str, Any], prefix: str, depth: int) -> str | None:
    partial: str | None = None
    for route in routes:
        matches = getattr(route, "matches", None)
        if matches is None:
            continue
        match, child_scope = matches(scope)
        value = _match_value(match)
        if value == _FULL:
            sub_routes = getattr(route, "routes", None)
            if sub_routes and depth < _MAX_DEPTH and hasattr(route, "path_regex") and "root_path" in child_scope:
                # A Mount: continue inside it with the scope its router will see.
                inner = _resolve(sub_routes, {**scope, **child_scope}, prefix + getattr(route, "path", ""), depth + 1)
                if inner is not None:
                    return inner
            template = _template_of(route)
            return None if template is None else prefix + template
        if value == _PARTIAL and partial is None:  # e.g. the right path with another method (405)
            template = _template_of(route)
            partial = None if template is None else prefix + template
    return partial


#: Paths remembered per router (a path with an id in it is a new key per id: bounded).
PATH_CACHE_MAX = 1024
#: ``id(router)`` -> ``(router, its routes when cached, {(method, root_path, path): template})``.
_caches: dict[int, tuple[Any, tuple[Any, ...], dict[tuple[Any, Any, Any], str | None]]] = {}
_MAX_ROUTERS = 16


def _pure_matchers() -> frozenset[Any]:
    """The ``matches`` functions that read only the scope's type, method, path and root_path."""
    found: set[Any] = set()
    for module, names in (
        ("starlette.routing", ("Route", "WebSocketRoute")),
        ("fastapi.routing", ("APIRoute", "APIWebSocketRoute")),
    ):
        loaded = sys.modules.get(module)  # never imported here: loaded already if the app uses it
        for name in names:
            cls = getattr(loaded, name, None)
            matches = getattr(cls, "matches", None)
            if matches is not None:
                found.add(matches)
    return frozenset(found)


def _cache_for(router: Any, routes: Any) -> dict[tuple[Any, Any, Any], str | None] | None:
    """The path cache of ``router``, or None when its routes' answers cannot be cached."""
    entry = _caches.get(id(router))
    snapshot = tuple(routes)
    if entry is not None and entry[0] is router and entry[1] == snapshot:
        return entry[2]
    pure = _pure_matchers()
    if not all(getattr(type(route), "matches", None) in pure for route in snapshot):
        return None
    if len(_caches) >= _MAX_ROUTERS:
        _caches.clear()
    cache: dict[tuple[Any, Any, Any], str | None] = {}
    _caches[id(router)] = (router, snapshot, cache)  # a new snapshot: what was cached is dropped
    return cache


def resolve_route_template(scope: MutableMapping[str, Any]) -> str | None:
    """The route template the app will dispatch ``scope`` to, or None if it cannot tell.

    Args:
        scope: An ASGI ``http`` scope (not modified).

    Returns:
        ``"/users/{user_id}"`` for a Starlette/FastAPI app; None for an app without routes,
        or a path no route matches.
    """
    router = getattr(scope.get("app"), "router", None)
    routes = getattr(router, "routes", None)
    if not routes:
        return None
    cache = _cache_for(router, routes) if scope.get("type") == "http" and "fastapi" not in scope else None
    if cache is None:
        return _resolve(routes, scope, "", 0)
    key = (scope.get("method"), scope.get("root_path", ""), scope.get("path"))
    found = cache.get(key, _MISSING)  # one lookup: another thread may clear the cache meanwhile
    if found is not _MISSING:
        return cast("str | None", found)
    template = _resolve(routes, scope, "", 0)
    if len(cache) >= PATH_CACHE_MAX:
        cache.clear()
    cache[key] = template
    return template


def route_template_from_scope(scope: Mapping[str, Any]) -> str | None:
    """The template of the route Starlette's router stored in ``scope["route"]``, if any."""
    route = scope.get("route")
    return None if route is None else _template_of(route)
