"""Scheduled retention purge: the same retention classes and defaults as ``peekr prune``."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timezone

import anyio

from .._retention import resolve_retention_days
from ._store import Store

__all__ = ["purge_forever", "purge_once"]

_log = logging.getLogger("peekr.server")


async def purge_once(store: Store, retention_days: Mapping[str, float], now: datetime | None = None) -> int:
    """Delete what has expired now; return the number of spans deleted."""
    days = resolve_retention_days(retention_days)
    deleted = await store.purge(days, now or datetime.now(timezone.utc))
    if deleted:
        _log.info("Retention purge deleted %d spans", deleted)
    return deleted


async def purge_forever(store: Store, retention_days: Mapping[str, float], interval_s: float) -> None:
    """Purge at start and then every ``interval_s`` seconds; a failed run is logged and retried next time."""
    while True:
        try:
            await purge_once(store, retention_days)
        except Exception:
            _log.exception("Retention purge failed; will retry in %.0f s", interval_s)
        await anyio.sleep(interval_s)
