"""The one boundary between peekr's own failures and the user's code.

``handle_internal_errors`` wraps peekr's bookkeeping (never the user's call). It catches
``Exception`` only — cancellation, ``KeyboardInterrupt`` and ``SystemExit`` pass through — logs
once per call site to the ``peekr`` logger with a reassuring message, and counts the error in
``peekr.stats()``. With ``PEEKR_RAISE_INTERNAL_ERRORS=1`` (the test suite sets it) it re-raises,
so a bug inside peekr fails the test that hit it instead of hiding.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = [
    "FaultInjected",
    "checkpoint",
    "handle_internal_errors",
    "inject_faults",
    "internal_error_count",
    "log_internal_error",
    "raise_internal_errors",
    "reset_internal_errors",
]

logger = logging.getLogger("peekr")
F = TypeVar("F", bound=Callable[..., Any])

_lock = threading.Lock()
_count = 0
_inject = False


class FaultInjected(Exception):
    """Raised at every ``checkpoint`` while ``inject_faults(True)`` is on (resilience tests)."""


def inject_faults(enabled: bool) -> None:
    """Make every ``checkpoint()`` inside peekr's own code raise ``FaultInjected``.

    For the "never breaks the host" tests: with it on, every internal step fails, and the
    user's results, streams and exceptions must still be exactly what the SDK returned.
    """
    global _inject
    _inject = enabled


def checkpoint(where: str) -> None:
    """A place where an internal failure is simulated when fault injection is on."""
    if _inject:
        raise FaultInjected(where)


_logged: set[str] = set()


def raise_internal_errors() -> bool:
    """True when internal errors must propagate (``PEEKR_RAISE_INTERNAL_ERRORS=1``, the test suite)."""
    return os.environ.get("PEEKR_RAISE_INTERNAL_ERRORS", "") == "1"


def log_internal_error(where: str, exc: BaseException) -> None:
    """Count an internal error and log it once per ``where``."""
    global _count
    with _lock:
        _count += 1
        first = where not in _logged
        _logged.add(where)
    if first:
        logger.warning(
            "peekr internal error in %s (your call succeeded; peekr lost this record): %r",
            where,
            exc,
            exc_info=exc,
        )


def internal_error_count() -> int:
    """How many internal errors were swallowed so far in this process."""
    return _count


def reset_internal_errors() -> None:
    """Reset the counter and the log-once memory (tests)."""
    global _count
    with _lock:
        _count = 0
        _logged.clear()


class _Handler:
    """Context manager and decorator: swallow (and count) ``Exception`` from peekr's own code."""

    def __init__(self, where: str) -> None:
        self.where = where

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: Any) -> bool:
        if exc is None or not isinstance(exc, Exception):
            return False
        log_internal_error(self.where, exc)
        return not raise_internal_errors()

    def __call__(self, fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self:
                return fn(*args, **kwargs)
            return None

        return wrapper  # type: ignore[return-value]


def handle_internal_errors(where: str) -> _Handler:
    """Use as ``with handle_internal_errors("openai.record"):`` or as a decorator."""
    return _Handler(where)
