"""Durations as people write them in options: ``"90s"``, ``"5m"``, ``"1h"``, ``"1d"``, ``"1w"`` or seconds."""

from __future__ import annotations

import re

__all__ = ["parse_seconds"]

_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$", re.IGNORECASE)


def parse_seconds(value: float | str, what: str) -> float:
    """``"5m"`` / ``"1h"`` / seconds -> seconds; clear errors otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise TypeError(f"{what} must be seconds or a duration like '5m', '1h', got {value!r}")
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match is None:
            raise ValueError(f"{what}={value!r} is not a duration like '90s', '5m', '1h', '1d'")
        seconds = float(match.group(1)) * _UNITS[match.group(2).lower()]
    else:
        seconds = float(value)
    if not seconds > 0:
        raise ValueError(f"{what} must be positive, got {value!r}")
    return seconds
