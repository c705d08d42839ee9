"""Key management for the CLI: synchronous wrappers that open the store, act, and close it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio

from ._backends import open_store
from ._keys import ApiKey, generate_key
from ._store import Store

__all__ = ["create_key", "list_keys", "revoke_key"]

T = TypeVar("T")


def _with_store(db: str, action: Callable[[Store], Awaitable[T]]) -> T:
    async def main() -> T:
        store = open_store(db, text_search=None)  # keys only: the collectors' text-search setting stays
        await store.open()
        try:
            return await action(store)
        finally:
            await store.close()

    return anyio.run(main)


def create_key(db: str, tenant_id: str, scope: str = "ingest", name: str | None = None) -> tuple[ApiKey, str]:
    """Create a key; return its record and the plaintext key (shown once, never stored).

    Raises:
        ValueError: empty tenant or unknown scope.
    """
    record, plaintext = generate_key(tenant_id, scope, name)

    async def action(store: Store) -> None:
        await store.create_key(record)

    _with_store(db, action)
    return record, plaintext


def revoke_key(db: str, key_id: str) -> bool:
    """Revoke by key id (or by the full key); True if an active key was revoked."""
    from ._keys import parse_key

    parsed = parse_key(key_id)
    ident = parsed[0] if parsed else key_id
    return _with_store(db, lambda store: store.revoke_key(ident))


def list_keys(db: str, tenant_id: str | None = None) -> list[ApiKey]:
    """All keys (or one tenant's), without secrets."""
    return _with_store(db, lambda store: store.list_keys(tenant_id))
