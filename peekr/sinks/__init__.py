"""Where spans go: the ``Sink`` protocol and the built-in sinks."""

from __future__ import annotations

from ._base import Sink as Sink
from ._base import WrapperSink as WrapperSink
from .jsonl import JSONLSink as JSONLSink
from .memory import InMemorySink as InMemorySink
from .sqlite import SQLiteSink as SQLiteSink

__all__ = ("InMemorySink", "JSONLSink", "SQLiteSink", "Sink", "WrapperSink")
