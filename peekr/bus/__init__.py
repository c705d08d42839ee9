"""The in-process event bus between instrumentation and sinks."""

from __future__ import annotations

from ._bus import EventBus as EventBus
from ._handle import BusHandle as BusHandle
from ._stats import DROP_REASONS as DROP_REASONS
from ._stats import BusStats as BusStats

__all__ = ("DROP_REASONS", "BusHandle", "BusStats", "EventBus")
