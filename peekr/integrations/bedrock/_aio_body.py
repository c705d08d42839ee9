"""The ``invoke_model`` body for aioboto3: aiobotocore's ``StreamingBody``, with the user's reads copied.

aiobotocore's body is a ``wrapt.ObjectProxy`` over the ``aiohttp.ClientResponse``; this subclass
proxies the same response, so ``read``, ``readinto``, ``readlines``, ``iter_chunks``,
``iter_lines``, ``async for``, ``tell``, ``async with`` and every ``ClientResponse`` attribute
work as before. Imported only once aiobotocore is (from the ``aiobotocore.client`` hook).
"""

from __future__ import annotations

from typing import Any

from aiobotocore.response import StreamingBody

from ._streams import BodyTee

__all__ = ["TracedAioStreamingBody"]


class TracedAioStreamingBody(StreamingBody):  # type: ignore[misc]
    """The same HTTP response as the original body; every method behaves as aiobotocore's."""

    def __init__(self, original: StreamingBody, tee: BodyTee) -> None:
        super().__init__(original.__wrapped__, original._self_content_length)
        self._self_amount_read = original._self_amount_read
        self._self_peekr_tee = tee
        length = original._self_content_length
        self._self_peekr_length = int(length) if isinstance(length, (int, str)) and str(length).isdigit() else None

    def _peekr_at_length(self) -> bool:
        length = self._self_peekr_length
        return length is not None and self._self_amount_read >= length

    async def read(self, amt: int | None = None) -> bytes:
        """Read at most ``amt`` bytes (all when omitted), exactly as aiobotocore does."""
        try:
            chunk: bytes = await super().read(amt)
        except BaseException as exc:
            self._self_peekr_tee.finish(exc)
            raise
        self._self_peekr_tee.feed(chunk, amt is None or (not chunk and amt > 0) or self._peekr_at_length())
        return chunk

    async def readinto(self, b: Any) -> int:
        """Read into a writable buffer, exactly as aiobotocore does."""
        try:
            amount: int = await super().readinto(b)
        except BaseException as exc:
            self._self_peekr_tee.finish(exc)
            raise
        at_end = (amount == 0 and len(b) > 0) or self._peekr_at_length()
        self._self_peekr_tee.feed(bytes(memoryview(b)[:amount]), at_end)
        return amount

    def close(self) -> None:
        """Close the HTTP response (ends the span with what was read so far)."""
        self._self_peekr_tee.finish()
        self.__wrapped__.close()

    async def __aexit__(self, exc_type: Any, exc_val: Any, exc_tb: Any) -> Any:
        self._self_peekr_tee.finish()
        return await super().__aexit__(exc_type, exc_val, exc_tb)
