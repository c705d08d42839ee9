"""Peekr: see every LLM call — model, tokens, cost, latency, inputs, outputs, errors.

Example:
    >>> import peekr
    >>> peekr.instrument()          # OpenAI, Anthropic, Bedrock and Gemini calls -> traces.db
"""

from __future__ import annotations

import typing
from typing import Any

from ._api import Instrumentation as Instrumentation
from ._api import aflush as aflush
from ._api import flush as flush
from ._api import instrument as instrument
from ._api import shutdown as shutdown
from ._api import stats as stats
from ._api import uninstrument as uninstrument
from ._context import session as session
from ._events import EvalResult as EvalResult
from ._events import Feedback as Feedback
from ._guards import Blocklist as Blocklist
from ._guards import GuardrailError as GuardrailError
from ._manual import span as span
from ._manual import trace as trace
from ._scrub import Scrubber as Scrubber
from ._span import Span as Span
from ._version import __version__ as __version__
from .bus import BusStats as BusStats

if typing.TYPE_CHECKING:  # loaded on first use at run time (see _LAZY): typed for type checkers all the same
    from . import eval as eval
    from ._cost import set_prices as set_prices
    from .sinks.http import HTTPExporter as HTTPExporter
    from .store._export import export_feedback as export_feedback
    from .store._feedback import feedback as feedback

__all__ = (
    "Blocklist",
    "BusStats",
    "EvalResult",
    "Feedback",
    "GuardrailError",
    "HTTPExporter",
    "Instrumentation",
    "Scrubber",
    "Span",
    "__version__",
    "aflush",
    "eval",
    "export_feedback",
    "feedback",
    "flush",
    "instrument",
    "session",
    "set_prices",
    "shutdown",
    "span",
    "stats",
    "trace",
    "uninstrument",
)

# Names whose modules pull in optional dependencies are resolved on first use, so that
# `import peekr` stays cheap and imports no provider SDK, httpx or aiosqlite.
_LAZY = {
    "HTTPExporter": ("peekr.sinks.http", "HTTPExporter"),
    "feedback": ("peekr.store._feedback", "feedback"),
    "export_feedback": ("peekr.store._export", "export_feedback"),
    "set_prices": ("peekr._cost", "set_prices"),
    "eval": ("peekr.eval", None),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module_name, attr = _LAZY[name]
        module = importlib.import_module(module_name)
        value = module if attr is None else getattr(module, attr)
        if attr is not None:
            value.__module__ = "peekr"  # the public name users see (STYLE rule 10)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'peekr' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


for _obj in (
    Instrumentation,
    aflush,
    flush,
    instrument,
    shutdown,
    stats,
    uninstrument,
    session,
    span,
    trace,
    EvalResult,
    Feedback,
    Span,
    BusStats,
    Blocklist,
    GuardrailError,
    Scrubber,
):
    _obj.__module__ = "peekr"
del _obj
