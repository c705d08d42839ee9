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
router, cleared when full) and dropped when the router's routes change. Most paths carry an id and
are seen once, so for such a router a new path is answered from the routes' compiled regexes and
methods, read once per router (what ``Route.matches`` checks, without building each route's child
scope): ~17 instead of ~26 µs of CPU per request for the middleware with a trivial FastAPI endpoint.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, MutableMapping
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
#: One plain HTTP route, as the router asks it: ``(its path regex's match, its methods, its template)``.
_HttpMatcher = tuple[Callable[[str], Any], Any, "str | None"]


class _RouterCache:
    """What is remembered of one router: its routes when cached, the answers per path, its HTTP matchers."""

    __slots__ = ("http", "paths", "router", "snapshot")

    def __init__(self, router: Any, snapshot: tuple[Any, ...], http: tuple[_HttpMatcher, ...] | None) -> None:
        self.router = router
        self.snapshot = snapshot
        self.paths: dict[tuple[Any, Any, Any], str | None] = {}
        #: None when a route's ``matches`` is not the plain HTTP one or a WebSocket one (then ask the routes).
        self.http = http


#: ``id(router)`` -> its ``_RouterCache``.
_caches: dict[int, _RouterCache] = {}
_MAX_ROUTERS = 16


def _matches_of(*names: tuple[str, str]) -> set[Any]:
    found: set[Any] = set()
    for module, name in names:
        loaded = sys.modules.get(module)  # never imported here: loaded already if the app uses it
        matches = getattr(getattr(loaded, name, None), "matches", None)
        if matches is not None:
            found.add(matches)
    return found


def _pure_matchers() -> tuple[frozenset[Any], frozenset[Any]]:
    """The ``matches`` functions that read only the scope's type, method, path and root_path:
    ``(every such one, the HTTP routes' ones)``."""
    http = _matches_of(("starlette.routing", "Route"), ("fastapi.routing", "APIRoute"))
    websocket = _matches_of(("starlette.routing", "WebSocketRoute"), ("fastapi.routing", "APIWebSocketRoute"))
    return frozenset(http | websocket), frozenset(http)


def _http_matchers(snapshot: tuple[Any, ...], http: frozenset[Any]) -> tuple[_HttpMatcher, ...] | None:
    """What Starlette's ``Route.matches`` reads of each HTTP route (WebSocket routes never match an HTTP
    scope), or None if a route does not look like one."""
    found: list[_HttpMatcher] = []
    for route in snapshot:
        if getattr(type(route), "matches", None) not in http:
            continue
        regex = getattr(route, "path_regex", None)
        match = getattr(regex, "match", None)
        if match is None:
            return None
        found.append((match, getattr(route, "methods", None), _template_of(route)))
    return tuple(found)


def _cache_for(router: Any, routes: Any) -> _RouterCache | None:
    """The cache of ``router``, or None when its routes' answers cannot be cached."""
    entry = _caches.get(id(router))
    snapshot = tuple(routes)
    if entry is not None and entry.router is router and entry.snapshot == snapshot:
        return entry
    pure, http = _pure_matchers()
    if not all(getattr(type(route), "matches", None) in pure for route in snapshot):
        return None
    if len(_caches) >= _MAX_ROUTERS:
        _caches.clear()
    routing = sys.modules.get("starlette.routing")
    plain = _http_matchers(snapshot, http) if callable(getattr(routing, "get_route_path", None)) else None
    cache = _caches[id(router)] = _RouterCache(router, snapshot, plain)  # a new snapshot: answers dropped
    return cache


def _match_http(matchers: tuple[_HttpMatcher, ...], scope: Mapping[str, Any]) -> str | None:
    """``_resolve`` for a router of plain routes, asking each route's regex as its ``matches`` does: the
    first full match's template, else the first that matched the path but not the method (a 405)."""
    path = sys.modules["starlette.routing"].get_route_path(scope)  # what every ``Route.matches`` calls
    method = scope.get("method")
    partial: str | None = None
    for match, methods, template in matchers:
        if match(path) is not None:
            if not methods or method in methods:
                return template
            if partial is None:
                partial = template
    return partial


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
    entry = _cache_for(router, routes) if scope.get("type") == "http" and "fastapi" not in scope else None
    if entry is None:
        return _resolve(routes, scope, "", 0)
    paths = entry.paths
    key = (scope.get("method"), scope.get("root_path", ""), scope.get("path"))
    found = paths.get(key, _MISSING)  # one lookup: another thread may clear the cache meanwhile
    if found is not _MISSING:
        return cast("str | None", found)
    # A path with an id in it is seen once: the routes' regexes answer it without building their scopes.
    template = _resolve(routes, scope, "", 0) if entry.http is None else _match_http(entry.http, scope)
    if len(paths) >= PATH_CACHE_MAX:
        paths.clear()
    paths[key] = template
    return template


def route_template_from_scope(scope: Mapping[str, Any]) -> str | None:
    """The template of the route Starlette's router stored in ``scope["route"]``, if any."""
    route = scope.get("route")
    return None if route is None else _template_of(route)
