"""Collector settings, and the ``PEEKR_SERVER_*`` environment variables that set them.

``peekr server`` passes its options through the environment so every uvicorn worker process
builds the same app (``peekr.server._asgi:app_from_env``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace

from .._retention import DEFAULT_RETENTION_DAYS

__all__ = ["ENV_PREFIX", "TEXT_SEARCH_MODES", "ServerSettings"]

ENV_PREFIX = "PEEKR_SERVER_"
#: ``--text-search`` values (PostgreSQL's trigram index for ``q``, or a bounded scan); the first is the default.
TEXT_SEARCH_MODES: tuple[str, ...] = ("trigram", "scan")
_log = logging.getLogger("peekr.server")


@dataclass(frozen=True)
class ServerSettings:
    """Everything a collector process needs to know.

    Attributes:
        db: SQLite file path, or a ``postgresql://`` DSN.
        max_body_bytes: largest request body accepted as sent (compressed), else 413.
        max_decompressed_bytes: largest body after gzip decompression (gzip-bomb guard), else 413.
        max_records: most records (spans + eval results + feedback) in one request, else 413.
        rate_limit: requests per second allowed per API key (token bucket); 0 disables.
        rate_burst: bucket size: requests a key may send at once after being idle.
        auth_fail_rate: failed authentications per second allowed per client address (IPv6: per
            /64); over it the address gets 429 for every request until its bucket refills. 0 disables.
        auth_fail_burst: failed authentications an address may make at once.
        purge_interval_s: seconds between retention purges; 0 disables the schedule.
        retention_days: days each retention class is kept (defaults shared with ``peekr prune``).
        alerts_file: a TOML file of alert rules judged over what this collector ingests, per
            tenant (``peekr.alerts``, docs/alerts.md); empty: no alerts.
        text_search: PostgreSQL: ``trigram`` keeps a trigram index for ``q`` (exact over any
            window); ``scan`` drops it (cheaper ingest; ``q`` reads a bounded number of spans per
            request, as on SQLite). Every collector of one database must use the same value.
    """

    db: str = "peekr-server.db"
    max_body_bytes: int = 5 * 1024 * 1024
    max_decompressed_bytes: int = 50 * 1024 * 1024
    max_records: int = 10_000
    rate_limit: float = 50.0
    rate_burst: int = 100
    auth_fail_rate: float = 2.0
    auth_fail_burst: int = 30
    purge_interval_s: float = 3600.0
    retention_days: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_RETENTION_DAYS))
    alerts_file: str = ""
    text_search: str = "trigram"

    def __post_init__(self) -> None:
        for name in ("max_body_bytes", "max_decompressed_bytes", "max_records", "rate_burst", "auth_fail_burst"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)!r} must be at least 1")
        if self.rate_limit < 0 or self.purge_interval_s < 0 or self.auth_fail_rate < 0:
            raise ValueError("rate_limit, auth_fail_rate and purge_interval_s must not be negative")
        if self.text_search not in TEXT_SEARCH_MODES:
            raise ValueError(f"text_search={self.text_search!r} must be one of: {', '.join(TEXT_SEARCH_MODES)}")

    def to_env(self) -> dict[str, str]:
        """The environment variables that rebuild these settings in a worker process."""
        env = {
            ENV_PREFIX + f.name.upper(): str(getattr(self, f.name)) for f in fields(self) if f.name != "retention_days"
        }
        return env

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ServerSettings:
        """Settings from ``PEEKR_SERVER_*`` variables; an unparsable value warns and keeps the default.

        Raises:
            ValueError: ``PEEKR_SERVER_TEXT_SEARCH`` is neither ``trigram`` nor ``scan`` (a wrong
                value would build or drop an index, so it is not ignored).
        """
        environ = os.environ if environ is None else environ
        settings = cls()
        for f in fields(cls):
            raw = environ.get(ENV_PREFIX + f.name.upper())
            if raw is None or f.name == "retention_days":
                continue
            kind = type(getattr(settings, f.name))
            try:
                settings = replace(settings, **{f.name: kind(raw)})
            except ValueError:
                if f.name == "text_search":  # a wrong value would build or drop an index: stop here
                    raise ValueError(
                        f"{ENV_PREFIX}TEXT_SEARCH={raw!r} must be one of: {', '.join(TEXT_SEARCH_MODES)}"
                    ) from None
                _log.warning("Ignoring %s%s=%r: not a valid %s", ENV_PREFIX, f.name.upper(), raw, kind.__name__)
        return settings
