"""Retention classes and how long each keeps a span (shared by `peekr prune` and the server)."""

from __future__ import annotations

from collections.abc import Mapping

from ._span import RETENTION_CLASSES

__all__ = ["DEFAULT_RETENTION_DAYS", "RETENTION_CLASSES", "resolve_retention_days", "validate_retention_class"]

#: Days a span of each retention class is kept before `peekr prune` / the server deletes it.
DEFAULT_RETENTION_DAYS: Mapping[str, float] = {"pii": 1, "short": 7, "default": 30, "long": 365}


def validate_retention_class(value: object, *, argument: str = "retention_class") -> str:
    """Return ``value`` if it is a known retention class, else raise ``ValueError`` naming it."""
    if value not in RETENTION_CLASSES:
        allowed = ", ".join(RETENTION_CLASSES)
        raise ValueError(f"{argument}={value!r} is not a retention class; expected one of: {allowed}")
    return str(value)


def resolve_retention_days(overrides: Mapping[str, float] | None = None) -> dict[str, float]:
    """Merge user overrides into the defaults, validating class names and day counts."""
    days = dict(DEFAULT_RETENTION_DAYS)
    for name, value in (overrides or {}).items():
        validate_retention_class(name, argument="retention class")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise ValueError(f"retention days for {name!r} must be a positive number, got {value!r}")
        days[name] = float(value)
    return days
