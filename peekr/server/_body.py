"""Read an ingest body within the size limits, compressed and decompressed (gzip-bomb safe)."""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator

from ._errors import ApiError

__all__ = ["read_limited_body"]


async def read_limited_body(
    stream: AsyncIterator[bytes],
    *,
    content_length: str | None,
    content_encoding: str | None,
    max_body_bytes: int,
    max_decompressed_bytes: int,
) -> bytes:
    """Collect the body, refusing as soon as a limit is crossed; return the decompressed bytes.

    Raises:
        ApiError: 413 over a limit, 415 unknown encoding, 400 corrupt gzip.
    """
    encoding = (content_encoding or "identity").strip().lower()
    if encoding not in ("identity", "gzip"):
        raise ApiError(415, "unsupported_encoding", f"Content-Encoding {encoding!r} is not supported; use gzip")
    if content_length is not None and content_length.isdigit() and int(content_length) > max_body_bytes:
        raise _too_large(f"body of {content_length} bytes exceeds the limit of {max_body_bytes} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in stream:
        size += len(chunk)
        if size > max_body_bytes:
            raise _too_large(f"body exceeds the limit of {max_body_bytes} bytes")
        chunks.append(chunk)
    raw = b"".join(chunks)
    if encoding == "identity":
        if len(raw) > max_decompressed_bytes:
            raise _too_large(f"body exceeds the limit of {max_decompressed_bytes} bytes")
        return raw
    # max_length caps the output buffer, so a gzip bomb never allocates more than the limit.
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        data = inflater.decompress(raw, max_decompressed_bytes + 1)
    except zlib.error as exc:
        raise ApiError(400, "invalid_gzip", f"body is not valid gzip: {exc}") from None
    if len(data) > max_decompressed_bytes or inflater.unconsumed_tail:
        raise _too_large(f"decompressed body exceeds the limit of {max_decompressed_bytes} bytes")
    if not inflater.eof:
        raise ApiError(400, "invalid_gzip", "gzip body is truncated")
    return data


def _too_large(message: str) -> ApiError:
    return ApiError(413, "payload_too_large", message + "; split the batch")
