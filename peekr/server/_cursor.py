"""Opaque pagination cursors: base64url of a small JSON pair."""

from __future__ import annotations

import base64
import binascii
import json

from ._errors import ApiError

__all__ = ["decode_cursor", "encode_cursor"]


def encode_cursor(first: str, second: str) -> str:
    """Encode a (sort key, tie-breaker) pair."""
    return base64.urlsafe_b64encode(json.dumps([first, second]).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> tuple[str, str] | None:
    """Decode a cursor from a previous page.

    Raises:
        ApiError: 400 if it is not one.
    """
    if not cursor:
        return None
    try:
        value = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError):
        value = None
    if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, str) for v in value)):
        raise ApiError(400, "invalid_cursor", "cursor is not one this server returned; start from the first page")
    return value[0], value[1]
