"""Encoder for AWS event-stream frames (``application/vnd.amazon.eventstream``), as botocore decodes them.

A frame is ``total_len u32 | headers_len u32 | prelude_crc u32 | headers | payload | message_crc u32``
(big-endian; CRC32 of the first 8 bytes, then of everything before the final CRC). Each header is
``name_len u8 | name | type u8 (7 = string) | value_len u16 | value``.
"""

from __future__ import annotations

import json
import struct
import zlib
from typing import Any

__all__ = ["CONTENT_TYPE", "event_frame", "exception_frame", "frame"]

CONTENT_TYPE = "application/vnd.amazon.eventstream"


def frame(headers: dict[str, str], payload: bytes) -> bytes:
    """One CRC-correct frame with string headers."""
    encoded = b"".join(
        struct.pack(">B", len(name)) + name.encode() + struct.pack(">BH", 7, len(value)) + value.encode()
        for name, value in headers.items()
    )
    prelude = struct.pack(">II", 16 + len(encoded) + len(payload), len(encoded))
    message = prelude + struct.pack(">I", zlib.crc32(prelude)) + encoded + payload
    return message + struct.pack(">I", zlib.crc32(message))


def event_frame(name: str, payload: Any) -> bytes:
    """An ``event`` frame with a JSON payload (e.g. ``messageStart``, ``chunk``)."""
    headers = {":event-type": name, ":content-type": "application/json", ":message-type": "event"}
    return frame(headers, json.dumps(payload).encode())


def exception_frame(name: str, message: str) -> bytes:
    """An in-stream ``exception`` frame; botocore raises ``EventStreamError`` with code `name`."""
    headers = {":exception-type": name, ":content-type": "application/json", ":message-type": "exception"}
    return frame(headers, json.dumps({"message": message}).encode())
