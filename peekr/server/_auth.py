"""Who is calling: API key -> (tenant, scope), checked on every request.

The key row is read from storage on every request, so a revocation takes effect at once in
every collector process. The tenant comes from the key and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._errors import ApiError
from ._keys import parse_key, verify_secret
from ._ratelimit import RateLimiter
from ._store import Store

__all__ = ["Principal", "authenticate"]

_INVALID = "API key is invalid or revoked; create one with `peekr server keys create --tenant <name>`"


@dataclass(frozen=True)
class Principal:
    """An authenticated caller."""

    key_id: str
    tenant_id: str
    scope: str


async def authenticate(
    store: Store, limiter: RateLimiter, authorization: str | None, scope: str, what: str
) -> Principal:
    """Check the ``Authorization`` header for a live key with ``scope``, then the key's rate.

    Raises:
        ApiError: 401 missing/invalid/revoked key, 403 wrong scope, 429 over the rate.
    """
    challenge = {"WWW-Authenticate": 'Bearer realm="peekr"'}
    if not authorization:
        raise ApiError(401, "missing_api_key", "missing 'Authorization: Bearer <api key>' header", challenge)
    scheme, _, token = authorization.partition(" ")
    parsed = parse_key(token.strip()) if scheme.lower() == "bearer" else None
    if parsed is None:
        verify_secret(None, token)  # same work as a real check
        raise ApiError(401, "invalid_api_key", _INVALID, challenge)
    key_id, secret = parsed
    record = await store.get_key(key_id)
    if not verify_secret(record, secret) or record is None:
        raise ApiError(401, "invalid_api_key", _INVALID, challenge)
    if record.scope != scope:
        raise ApiError(
            403,
            "insufficient_scope",
            f"this API key has scope {record.scope!r}; {what} needs a key with scope {scope!r}",
        )
    wait = limiter.acquire(key_id)
    if wait > 0:
        raise ApiError(
            429,
            "rate_limited",
            f"rate limit of {limiter.rate:g} requests/s for this key exceeded; retry later",
            {"Retry-After": limiter.retry_after_header(wait)},
        )
    return Principal(key_id, record.tenant_id, record.scope)
