"""Settings for a running peekr, and the ``PEEKR_*`` environment variables.

Strict at the front door, lenient in the environment: arguments to ``instrument()`` are
validated and raise; an unparsable environment variable logs a warning and the default is used.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any, Literal

from ._retention import validate_retention_class
from ._sampling import SamplingConfig
from ._scrub import Scrubber

__all__ = [
    "ENV_CAPTURE_CONTENT",
    "ENV_MAX_FIELD_CHARS",
    "ENV_PATH",
    "ENV_RAISE_INTERNAL_ERRORS",
    "ENV_RETENTION_CLASS",
    "ENV_STORAGE",
    "ENV_TENANT_ID",
    "STORAGES",
    "Storage",
    "Settings",
    "env_bool",
    "env_int",
    "env_str",
]

logger = logging.getLogger("peekr")

ENV_TENANT_ID = "PEEKR_TENANT_ID"
ENV_RETENTION_CLASS = "PEEKR_RETENTION_CLASS"
ENV_STORAGE = "PEEKR_STORAGE"
ENV_PATH = "PEEKR_PATH"
ENV_CAPTURE_CONTENT = "PEEKR_CAPTURE_CONTENT"
ENV_MAX_FIELD_CHARS = "PEEKR_MAX_FIELD_CHARS"
ENV_RAISE_INTERNAL_ERRORS = "PEEKR_RAISE_INTERNAL_ERRORS"

#: What ``instrument(storage=...)`` takes.
Storage = Literal["sqlite", "jsonl", "memory", "none"]
STORAGES: tuple[Storage, ...] = ("sqlite", "jsonl", "memory", "none")
DEFAULT_PATHS = {"sqlite": "traces.db", "jsonl": "traces.jsonl"}


def env_str(name: str) -> str | None:
    """An environment variable, or None when unset or blank."""
    value = os.environ.get(name, "").strip()
    return value or None


def env_bool(name: str, default: bool) -> bool:
    """Parse a boolean environment variable leniently (warn and use the default)."""
    value = env_str(name)
    if value is None:
        return default
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    logger.warning("peekr: ignoring %s=%r (expected true/false); using %s", name, value, default)
    return default


def env_int(name: str, default: int) -> int:
    """Parse a positive integer environment variable leniently (warn and use the default)."""
    value = env_str(name)
    if value is None:
        return default
    try:
        parsed = int(value)
        if parsed <= 0:
            raise ValueError
    except ValueError:
        logger.warning("peekr: ignoring %s=%r (expected a positive integer); using %s", name, value, default)
        return default
    return parsed


def env_retention_class() -> str | None:
    """``PEEKR_RETENTION_CLASS`` if it names a valid class; warn and ignore it otherwise."""
    value = env_str(ENV_RETENTION_CLASS)
    if value is None:
        return None
    try:
        return validate_retention_class(value, argument=ENV_RETENTION_CLASS)
    except ValueError as exc:
        logger.warning("peekr: %s; ignoring it", exc)
        return None


@dataclass(frozen=True)
class Settings:
    """Everything ``instrument()`` was configured with (after validation and env defaults)."""

    storage: str = "sqlite"
    path: str | None = None
    tenant_id: str | None = None
    retention_class: str | None = None
    capture_content: bool = True
    redact_pii: bool = True
    max_field_chars: int = 20_000
    queue_size: int = 20_000
    batch_size: int = 512
    flush_interval: float = 0.2
    shutdown_timeout: float = 5.0
    providers: tuple[str, ...] | None = None
    sampling: SamplingConfig | None = None
    scrub: Scrubber | None = None
    #: ``peekr.Blocklist`` guards (``peekr._guards``), checked around every provider call.
    guards: tuple[Any, ...] = ()
