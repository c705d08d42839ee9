"""The evaluator protocol, what an evaluation returns, and per-evaluator run settings.

An evaluator is anything with a ``name`` and an ``evaluate(span)`` method (async or sync), or a
plain function ``span -> score``. It returns:

- ``EvalScore(scores={...}, attributes={...})`` — the general form;
- a ``float`` (or ``None``) — one score named after the evaluator;
- a ``dict`` of name -> float | None — several scores;
- ``SKIP`` — this span is not applicable: nothing is recorded.

Raising ``EvaluationFailed`` (or any other ``Exception``) records a failed evaluation
(``EvalResult(status="failed", error=...)``) instead of a score; the other evaluators and the
user's code are unaffected.
"""

from __future__ import annotations

import inspect
import math
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from .._span import Span

__all__ = [
    "SKIP",
    "EvalScore",
    "EvaluationFailed",
    "Evaluator",
    "FunctionEvaluator",
    "RunSettings",
    "evaluator",
    "is_llm_span",
    "to_evaluator",
]

SpanFilter = Callable[[Span], bool]


class _Skip:
    """Marker: the evaluator does not apply to this span (nothing is recorded)."""

    _instance: _Skip | None = None

    def __new__(cls) -> _Skip:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "peekr.eval.SKIP"


#: Return this from ``evaluate`` when the span is not applicable; nothing is recorded.
SKIP = _Skip()


class EvaluationFailed(Exception):
    """Raise from ``evaluate`` to record the evaluation as failed with this message."""


@dataclass
class EvalScore:
    """What one evaluator says about one span.

    Example:
        >>> EvalScore(scores={"politeness": 0.9}, attributes={"politeness_reason": "says please"})

    Attributes:
        scores: name -> value in [0, 1], or None when no score applies (say why in ``attributes``).
            Merged into the span's ``attributes.eval_scores``.
        attributes: Extra keys set on the span's attributes (for example ``hallucination_details``).
    """

    scores: dict[str, float | None] = field(default_factory=dict)
    attributes: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class Evaluator(Protocol):
    """Scores spans. Implement ``name`` and ``evaluate``; the rest is optional.

    Contract: ``evaluate`` runs off the caller's thread, in peekr's evaluation loop, at most
    ``max_concurrency`` at a time per evaluator and cancelled after ``timeout`` seconds. It may be
    ``async def`` (preferred: do I/O with async clients) or a plain ``def`` (run in a worker
    thread). It must not assume it sees every span: backlog overflow and ``sample_rate`` skip spans.
    Make model calls inside ``peekr._context.suppress_instrumentation()`` (the built-in judges do)
    so they are never recorded as spans.

    Optional attributes read once when peekr starts: ``sample_rate`` (0..1, default 1.0),
    ``filter`` (``span -> bool``, default: LLM provider spans), ``timeout`` (seconds, default 60),
    ``max_concurrency`` (default 4), ``max_backlog`` (spans waiting, default 1000).
    """

    name: str

    def evaluate(self, span: Span) -> Any:
        """Score ``span``: return ``EvalScore``, a float, a dict of floats, None or ``SKIP``."""
        ...


def is_llm_span(span: Span) -> bool:
    """The default filter: spans of LLM provider calls (those with a ``provider`` attribute)."""
    return isinstance(span.attributes.get("provider"), str)


@dataclass(frozen=True)
class RunSettings:
    """How peekr runs one evaluator (read from the evaluator's optional attributes)."""

    sample_rate: float = 1.0
    filter: SpanFilter = is_llm_span
    timeout: float = 60.0
    max_concurrency: int = 4
    max_backlog: int = 1000

    def sampled(self) -> bool:
        """Draw once for ``sample_rate``."""
        return self.sample_rate >= 1.0 or random.random() < self.sample_rate


def check_run_settings(
    owner: str,
    *,
    sample_rate: object = 1.0,
    filter: object = None,
    timeout: object = 60.0,
    max_concurrency: object = 4,
    max_backlog: object = 1000,
) -> RunSettings:
    """Validate the run settings of evaluator ``owner``; raise naming the bad value."""
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, float)) or not 0 <= sample_rate <= 1:
        raise ValueError(f"{owner}: sample_rate must be a number in [0, 1], got {sample_rate!r}")
    if filter is not None and not callable(filter):
        raise TypeError(f"{owner}: filter must be a callable span -> bool, got {type(filter).__name__}: {filter!r}")
    if (
        isinstance(timeout, bool)
        or not isinstance(timeout, (int, float))
        or not timeout > 0
        or not math.isfinite(timeout)
    ):
        raise ValueError(f"{owner}: timeout must be a positive number of seconds, got {timeout!r}")
    for name, value in (("max_concurrency", max_concurrency), ("max_backlog", max_backlog)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{owner}: {name} must be a positive int, got {value!r}")
    return RunSettings(
        sample_rate=float(sample_rate),
        filter=filter if filter is not None else is_llm_span,
        timeout=float(timeout),
        max_concurrency=max_concurrency,  # type: ignore[arg-type]
        max_backlog=max_backlog,  # type: ignore[arg-type]
    )


class FunctionEvaluator:
    """Turn a function ``span -> score`` (sync or async) into an evaluator with run settings.

    Example:
        >>> def short_answer(span):
        ...     return 1.0 if len(str(span.attributes.get("output"))) < 500 else 0.0
        >>> peekr.instrument(evaluators=[peekr.eval.evaluator(short_answer, sample_rate=0.1)])

    Args:
        fn: ``span -> EvalScore | float | dict | None | SKIP``; ``def`` or ``async def``.
        name: Evaluator (and single-score) name; default ``fn.__name__``.
        sample_rate: Share of matching spans evaluated, in [0, 1].
        filter: ``span -> bool`` choosing spans; default LLM provider spans.
        timeout: Seconds one evaluation may take before it is recorded as failed.
        max_concurrency: Evaluations of this evaluator running at once.
        max_backlog: Spans waiting for evaluation; more are dropped and counted.

    Raises:
        TypeError: ``fn`` or ``filter`` is not callable, ``name`` not a non-empty str.
        ValueError: a run setting is out of range.
    """

    def __init__(
        self,
        fn: Callable[[Span], Any],
        *,
        name: str | None = None,
        sample_rate: float = 1.0,
        filter: SpanFilter | None = None,
        timeout: float = 60.0,
        max_concurrency: int = 4,
        max_backlog: int = 1000,
    ) -> None:
        if not callable(fn):
            raise TypeError(f"peekr.eval.evaluator() expects a callable span -> score, got {type(fn).__name__}")
        resolved = name if name is not None else getattr(fn, "__name__", None)
        if not isinstance(resolved, str) or not resolved or resolved == "<lambda>":
            raise TypeError(f"peekr.eval.evaluator({fn!r}) needs name='...' (a non-empty str)")
        self.name = resolved
        self.fn = fn
        settings = check_run_settings(
            f"evaluator {resolved!r}",
            sample_rate=sample_rate,
            filter=filter,
            timeout=timeout,
            max_concurrency=max_concurrency,
            max_backlog=max_backlog,
        )
        self.sample_rate = settings.sample_rate
        self.filter = settings.filter
        self.timeout = settings.timeout
        self.max_concurrency = settings.max_concurrency
        self.max_backlog = settings.max_backlog

        if is_async_callable(fn):
            self.evaluate = self._evaluate_async  # type: ignore[method-assign]

    def evaluate(self, span: Span) -> Any:
        """Call the wrapped function."""
        return self.fn(span)

    async def _evaluate_async(self, span: Span) -> Any:
        return await self.fn(span)

    def __repr__(self) -> str:
        return f"<peekr.eval evaluator {self.name!r}>"


def evaluator(
    fn: Callable[[Span], Any] | None = None,
    *,
    name: str | None = None,
    sample_rate: float = 1.0,
    filter: SpanFilter | None = None,
    timeout: float = 60.0,
    max_concurrency: int = 4,
    max_backlog: int = 1000,
) -> Any:
    """Make an evaluator from a function; usable as ``evaluator(fn, ...)`` or ``@evaluator(...)``.

    Example:
        >>> @peekr.eval.evaluator(name="has_citation", sample_rate=0.5)
        ... def has_citation(span):
        ...     return 1.0 if "[1]" in str(span.attributes.get("output")) else 0.0

    See ``FunctionEvaluator`` for the arguments.

    Returns:
        A ``FunctionEvaluator`` (or a decorator making one).
    """
    options: dict[str, Any] = {
        "name": name,
        "sample_rate": sample_rate,
        "filter": filter,
        "timeout": timeout,
        "max_concurrency": max_concurrency,
        "max_backlog": max_backlog,
    }
    if fn is None:
        return lambda f: FunctionEvaluator(f, **options)
    return FunctionEvaluator(fn, **options)


def to_evaluator(obj: object, index: int) -> tuple[str, Callable[[Span], Awaitable[Any] | Any], RunSettings]:
    """Validate one item of ``instrument(evaluators=[...])``: (name, evaluate, run settings).

    Raises:
        TypeError: the item is neither an evaluator nor a callable, naming its position.
        ValueError: one of its run settings is out of range.
    """
    if isinstance(obj, type):
        raise TypeError(
            f"instrument(evaluators=[...]): item {index} is the class {obj.__name__}; pass an instance, "
            f"e.g. {obj.__name__}(...)"
        )
    evaluate = getattr(obj, "evaluate", None)
    if evaluate is not None and callable(evaluate):
        name = getattr(obj, "name", None) or type(obj).__name__
        if not isinstance(name, str):
            raise TypeError(f"instrument(evaluators=[...]): item {index} ({obj!r}) has a non-str name {name!r}")
    elif callable(obj) and not isinstance(obj, type):
        name = getattr(obj, "__name__", None) or type(obj).__name__
        if name == "<lambda>":
            name = "lambda"
        evaluate = obj
    else:
        raise TypeError(
            f"instrument(evaluators=[...]): item {index} is {type(obj).__name__} {obj!r}; expected an evaluator "
            "(an object with .evaluate(span), e.g. peekr.eval.Hallucination(...)) or a function span -> score"
        )
    settings = check_run_settings(
        f"evaluator {name!r}",
        sample_rate=getattr(obj, "sample_rate", 1.0),
        filter=getattr(obj, "filter", None),
        timeout=getattr(obj, "timeout", 60.0),
        max_concurrency=getattr(obj, "max_concurrency", 4),
        max_backlog=getattr(obj, "max_backlog", 1000),
    )
    return name, evaluate, settings


def is_async_callable(fn: object) -> bool:
    """True for ``async def`` functions and objects whose ``__call__`` is one."""
    call = type(fn).__dict__.get("__call__") if not inspect.isroutine(fn) else None
    return inspect.iscoroutinefunction(fn) or (call is not None and inspect.iscoroutinefunction(call))


def normalize(name: str, value: object) -> EvalScore | None:
    """Turn what ``evaluate`` returned into an ``EvalScore`` (None for ``SKIP``).

    Raises:
        EvaluationFailed: the value is not a valid score (out of [0, 1], NaN, wrong type).
    """
    if value is SKIP:
        return None
    if isinstance(value, EvalScore):
        scores, attributes = value.scores, value.attributes
        if not isinstance(attributes, Mapping):
            raise EvaluationFailed(f"EvalScore.attributes must be a dict, got {type(attributes).__name__}")
    elif value is None or (isinstance(value, (int, float)) and not isinstance(value, bool)):
        scores, attributes = {name: value}, {}
    elif isinstance(value, Mapping):
        scores, attributes = dict(value), {}
    else:
        raise EvaluationFailed(
            f"evaluator {name!r} returned {type(value).__name__}; expected EvalScore, a float in [0, 1], "
            "a dict of floats, None or SKIP"
        )
    checked: dict[str, float | None] = {}
    for key, score in scores.items():
        if not isinstance(key, str):
            raise EvaluationFailed(f"evaluator {name!r} returned a score with a non-str name {key!r}")
        if score is None:
            checked[key] = None
            continue
        if isinstance(score, bool) or not isinstance(score, (int, float)) or not 0.0 <= float(score) <= 1.0:
            raise EvaluationFailed(f"evaluator {name!r} returned score {key}={score!r}; expected a float in [0, 1]")
        checked[key] = float(score)
    return EvalScore(scores=checked, attributes=dict(attributes))
