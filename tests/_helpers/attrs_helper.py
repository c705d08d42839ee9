"""Span attributes as a plain dict for the type checker (they are one at run time)."""

from __future__ import annotations

from typing import Any, cast

from peekr import Span


def attrs(span: Span) -> dict[str, Any]:
    """``span.attributes`` typed as ``dict[str, Any]``: the HTTP keys are not in ``SpanAttributes``."""
    return cast(dict[str, Any], span.attributes)
