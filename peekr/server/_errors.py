"""The one error type route code raises; the app turns it into an ``ErrorBody`` response."""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["ApiError"]


class ApiError(Exception):
    """An HTTP error answer: status, a stable machine code and a human message."""

    def __init__(self, status: int, code: str, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})
