"""Peekr: see every LLM call — model, tokens, cost, latency, inputs, outputs, errors.

Example:
    >>> import peekr
    >>> peekr.instrument()          # OpenAI, Anthropic, Bedrock and Gemini calls -> traces.db
"""

from __future__ import annotations

import typing
from typing import Any

from ._version import __version__ as __version__

if typing.TYPE_CHECKING:  # loaded on first use at run time (see _LAZY): typed for type checkers all the same
    from . import alerts as alerts
    from . import eval as eval
    from ._api import Instrumentation as Instrumentation
    from ._api import aflush as aflush
    from ._api import flush as flush
    from ._api import instrument as instrument
    from ._api import shutdown as shutdown
    from ._api import stats as stats
    from ._api import uninstrument as uninstrument
    from ._budgets import Budget as Budget
    from ._budgets import BudgetExceededError as BudgetExceededError
    from ._context import session as session
    from ._cost import set_prices as set_prices
    from ._events import EvalResult as EvalResult
    from ._events import Feedback as Feedback
    from ._experiment import experiment as experiment
    from ._guards import Blocklist as Blocklist
    from ._guards import GuardrailError as GuardrailError
    from ._manual import span as span
    from ._manual import trace as trace
    from ._scrub import Scrubber as Scrubber
    from ._span import Span as Span
    from .bus import BusStats as BusStats
    from .sinks.http import HTTPExporter as HTTPExporter
    from .store._export import export_feedback as export_feedback
    from .store._feedback import feedback as feedback

__all__ = (
    "Blocklist",
    "Budget",
    "BudgetExceededError",
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
    "alerts",
    "eval",
    "experiment",
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

# Every public name is resolved on first use, so that `import peekr` (and the `peekr` command,
# which lives in this package) costs almost nothing: pydantic, anyio and the bus load with the
# first `peekr.instrument()` / `peekr.span()`, and no provider SDK, httpx or aiosqlite ever loads
# unless used.
_LAZY: dict[str, tuple[str, str | None]] = {
    "Instrumentation": ("peekr._api", "Instrumentation"),
    "aflush": ("peekr._api", "aflush"),
    "flush": ("peekr._api", "flush"),
    "instrument": ("peekr._api", "instrument"),
    "shutdown": ("peekr._api", "shutdown"),
    "stats": ("peekr._api", "stats"),
    "uninstrument": ("peekr._api", "uninstrument"),
    "Budget": ("peekr._budgets", "Budget"),
    "Blocklist": ("peekr._guards", "Blocklist"),
    "GuardrailError": ("peekr._guards", "GuardrailError"),
    "Scrubber": ("peekr._scrub", "Scrubber"),
    "BudgetExceededError": ("peekr._budgets", "BudgetExceededError"),
    "session": ("peekr._context", "session"),
    "EvalResult": ("peekr._events", "EvalResult"),
    "Feedback": ("peekr._events", "Feedback"),
    "experiment": ("peekr._experiment", "experiment"),
    "span": ("peekr._manual", "span"),
    "trace": ("peekr._manual", "trace"),
    "Span": ("peekr._span", "Span"),
    "BusStats": ("peekr.bus", "BusStats"),
    "HTTPExporter": ("peekr.sinks.http", "HTTPExporter"),
    "feedback": ("peekr.store._feedback", "feedback"),
    "export_feedback": ("peekr.store._export", "export_feedback"),
    "set_prices": ("peekr._cost", "set_prices"),
    "eval": ("peekr.eval", None),
    "alerts": ("peekr.alerts", None),
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
