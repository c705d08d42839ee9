"""Opaque pagination cursors: base64url of a small JSON pair (sort key, tie-breaker)."""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Literal

from ._errors import ApiError
from ._store import format_time, parse_time

__all__ = ["decode_cursor", "encode_cursor"]

_MAX_CURSOR = 512  # characters; the cursors this server hands out are about 100
_TIEBREAKERS = {
    "trace": re.compile(r"[0-9a-f]{32}"),  # a trace id
    "feedback": re.compile(r"[0-9]{1,18}"),  # a row id: ASCII digits that fit in 64 bits
}


def encode_cursor(first: str, second: str) -> str:
    """Encode a (sort key, tie-breaker) pair."""
    return base64.urlsafe_b64encode(json.dumps([first, second]).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None, kind: Literal["trace", "feedback"]) -> tuple[str, str] | None:
    """Decode a cursor from a previous page: a canonical timestamp and a trace id or feedback row id.

    Raises:
        ApiError: 400 if it is not one this server hands out.
    """
    if not cursor:
        return None
    value = None
    if len(cursor) <= _MAX_CURSOR and cursor.isascii():
        try:
            value = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        except (binascii.Error, ValueError):
            value = None
    if (
        isinstance(value, list)
        and len(value) == 2
        and all(isinstance(v, str) for v in value)
        and _TIEBREAKERS[kind].fullmatch(value[1])
        and _is_canonical_time(value[0])
    ):
        return value[0], value[1]
    raise ApiError(400, "invalid_cursor", "cursor is not one this server returned; start from the first page")


def _is_canonical_time(text: str) -> bool:
    try:
        return format_time(parse_time(text)) == text
    except ValueError:
        return False
