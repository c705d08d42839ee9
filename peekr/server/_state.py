"""What every route needs: the store, the settings and the rate limits."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fastapi import Request

from ._auth import Principal, authenticate
from ._config import ServerSettings
from ._ratelimit import RateLimiter
from ._store import Store

if TYPE_CHECKING:
    from ..alerts._engine import AlertEngine

__all__ = ["SESSION_COOKIE", "ServerState", "observe_alerts", "require", "state_of"]


@dataclass
class ServerState:
    """Per-process collector state, kept on ``app.state.peekr``."""

    settings: ServerSettings
    store: Store
    limiter: RateLimiter
    auth_failures: RateLimiter | None = None
    #: ``peekr ui``: a local, single-user server over the user's own file; no key is asked.
    open_access: bool = False
    #: Alert rules over what this process ingests (``--alerts``), per tenant.
    alerts: AlertEngine | None = None


def state_of(request: Request) -> ServerState:
    """The collector state of the app serving ``request``."""
    state: ServerState = request.app.state.peekr
    return state


#: The web UI's session cookie: it holds the read key it was issued for (HttpOnly, SameSite=Strict).
SESSION_COOKIE = "peekr_session"


async def require(request: Request, scope: str) -> Principal:
    """Authenticate the request for ``scope`` (see ``authenticate``).

    The key comes from the ``Authorization`` header, else (read scope only) from the web UI's
    session cookie.
    """
    state = state_of(request)
    if state.open_access:  # a local file: every tenant in it, or the one ``?tenant=`` names
        return Principal("local", request.query_params.get("tenant") or "", scope)
    what = f"{request.method} {request.url.path}"
    authorization = request.headers.get("authorization")
    if authorization is None and scope == "read" and SESSION_COOKIE in request.cookies:
        authorization = f"Bearer {request.cookies[SESSION_COOKIE]}"
    return await authenticate(
        state.store,
        state.limiter,
        authorization,
        scope,
        what,
        failures=state.auth_failures,
        client=request.client.host if request.client else None,
    )


def observe_alerts(state: ServerState, spans: list[Any], evals: list[Any]) -> None:
    """Show a stored batch to the alert rules, if any (a few dict operations per record; delivery is threaded)."""
    if state.alerts is None:
        return
    try:
        for record in [*spans, *evals]:
            state.alerts.observe(record)
    except Exception:  # an alert bug never fails an ingest
        logging.getLogger("peekr.server").exception("Alert rules failed on an ingested batch")
