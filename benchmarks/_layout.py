"""Draw another process layout, for instruction counts that do not hang on one layout's luck.

CPython's type-attribute cache slot is a hash of a type's version tag and the attribute name's address, so
which look-ups collide (and miss every time) changes with both; the same code then runs a different number of
instructions. ``shift_layout(n)`` makes ``n`` × 37 classes with version tags and ``n`` × 64 interned strings; called
before peekr and the SDKs are imported, it moves those tags and addresses while the code run stays the same.
``bench_stream_instructions.py`` and ``bench_fastapi_instructions.py`` report medians over such layouts.
"""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["shift_layout"]


def shift_layout(layout: int) -> list[Any]:
    """Shift the layout by ``layout`` steps (0: unchanged); returns the objects to keep alive for the run."""
    kept: list[Any] = []
    for i in range(layout * 37):
        cls = type(f"_Layout{i}", (), {})
        getattr(cls, "_layout", None)  # the look-up assigns the class a version tag
        kept.append(cls)
    kept.extend(sys.intern(f"_layout_{i}") for i in range(layout * 64))
    return kept
