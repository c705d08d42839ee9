"""What every route needs: the store, the settings and the rate limiter of this process."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from ._auth import Principal, authenticate
from ._config import ServerSettings
from ._ratelimit import RateLimiter
from ._store import Store

__all__ = ["ServerState", "require", "state_of"]


@dataclass
class ServerState:
    """Per-process collector state, kept on ``app.state.peekr``."""

    settings: ServerSettings
    store: Store
    limiter: RateLimiter
    auth_failures: RateLimiter | None = None


def state_of(request: Request) -> ServerState:
    """The collector state of the app serving ``request``."""
    state: ServerState = request.app.state.peekr
    return state


async def require(request: Request, scope: str) -> Principal:
    """Authenticate the request for ``scope`` (see ``authenticate``)."""
    state = state_of(request)
    what = f"{request.method} {request.url.path}"
    return await authenticate(
        state.store,
        state.limiter,
        request.headers.get("authorization"),
        scope,
        what,
        failures=state.auth_failures,
        client=request.client.host if request.client else None,
    )
