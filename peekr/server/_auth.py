"""Who is calling: API key -> (tenant, scope), checked on every request.

The key row is read from storage on every request, so a revocation takes effect at once in
every collector process, and so is the key's token bucket (``Store.take_token``), so a key's
rate limit holds across processes and hosts. The tenant comes from the key and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._errors import ApiError
from ._keys import ApiKey, parse_key, verify_secret
from ._ratelimit import RateLimiter, client_bucket
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
    store: Store,
    limiter: RateLimiter,
    authorization: str | None,
    scope: str,
    what: str,
    *,
    failures: RateLimiter | None = None,
    client: str | None = None,
) -> Principal:
    """Check the ``Authorization`` header for a live key with ``scope``, then the key's rate.

    ``failures`` limits failed authentications per client address (``client_bucket``): once an
    address has used up its bucket, its requests are refused with 429 before any key is checked,
    valid keys included, until the bucket refills.

    Raises:
        ApiError: 401 missing/invalid/revoked key, 403 wrong scope, 429 over a rate.
    """
    bucket = client_bucket(client)
    if failures is not None:
        wait = failures.peek(bucket)
        if wait > 0:
            raise ApiError(
                429,
                "rate_limited",
                f"too many failed authentications from this address (limit {failures.rate:g}/s); retry later",
                {"Retry-After": failures.retry_after_header(wait)},
            )
    try:
        record = await _check_key(store, authorization)
    except ApiError:
        if failures is not None:
            failures.acquire(bucket)
        raise
    if record.scope != scope:
        raise ApiError(
            403,
            "insufficient_scope",
            f"this API key has scope {record.scope!r}; {what} needs a key with scope {scope!r}",
        )
    wait = await store.take_token(record.key_id, limiter.rate, limiter.burst) if limiter.rate > 0 else 0.0
    if wait > 0:
        raise ApiError(
            429,
            "rate_limited",
            f"rate limit of {limiter.rate:g} requests/s for this key exceeded; retry later",
            {"Retry-After": limiter.retry_after_header(wait)},
        )
    return Principal(record.key_id, record.tenant_id, record.scope)


async def _check_key(store: Store, authorization: str | None) -> ApiKey:
    """The live key the header names.

    Raises:
        ApiError: 401 missing, malformed, unknown, wrong secret or revoked.
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
    return record
