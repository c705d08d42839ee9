"""The ``invoke_model`` body for boto3: botocore's ``StreamingBody``, with the user's reads copied.

Imported only once botocore is (from the ``botocore.client`` hook). See ``bedrock._streams`` for
the finish paths.
"""

from __future__ import annotations

from typing import Any

from botocore.response import StreamingBody

from ._streams import BodyTee

__all__ = ["TracedStreamingBody"]


class TracedStreamingBody(StreamingBody):  # type: ignore[misc]
    """The same HTTP response as the original body; every method behaves as botocore's."""

    def __init__(self, original: StreamingBody, tee: BodyTee) -> None:
        super().__init__(original._raw_stream, original._content_length)
        self._amount_read = original._amount_read
        self._peekr_tee = tee
        length = original._content_length
        self._peekr_length = int(length) if isinstance(length, (int, str)) and str(length).isdigit() else None

    def _peekr_at_length(self) -> bool:
        return self._peekr_length is not None and self._amount_read >= self._peekr_length

    def read(self, amt: int | None = None) -> bytes:
        """Read at most ``amt`` bytes (all when omitted), exactly as botocore does."""
        try:
            chunk: bytes = super().read(amt)
        except BaseException as exc:
            self._peekr_tee.finish(exc)
            raise
        self._peekr_tee.feed(chunk, amt is None or (not chunk and amt > 0) or self._peekr_at_length())
        return chunk

    def readinto(self, b: Any) -> int:
        """Read into a writable buffer, exactly as botocore does."""
        try:
            amount: int = super().readinto(b)
        except BaseException as exc:
            self._peekr_tee.finish(exc)
            raise
        self._peekr_tee.feed(bytes(memoryview(b)[:amount]), (amount == 0 and len(b) > 0) or self._peekr_at_length())
        return amount

    def readlines(self) -> list[bytes]:
        """All remaining lines, exactly as botocore does."""
        try:
            lines: list[bytes] = super().readlines()
        except BaseException as exc:
            self._peekr_tee.finish(exc)
            raise
        self._peekr_tee.feed(b"".join(lines), True)
        return lines

    def close(self) -> None:
        """Close the HTTP response (ends the span with what was read so far)."""
        self._peekr_tee.finish()
        super().close()

    def __exit__(self, *exc_info: Any) -> None:
        self._peekr_tee.finish()
        super().__exit__(*exc_info)
