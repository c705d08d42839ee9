"""A/B experiments: ``with peekr.experiment("prompt-v2", variants=["A", "B"]) as variant:``.

Assignment is deterministic: SHA-256 of ``"<experiment name>\\x00<key value>"``, its first 8 bytes
read as a fraction in [0, 1), mapped onto the cumulative weights. ``hash()`` is not used (it is
salted per process), so the same user gets the same variant in every process, on every machine
and every Python version.

Every span started inside the block carries ``experiment_variant`` (DESIGN.md) and ``experiment``
(the experiment's name; a contract extension documented in docs/experiments.md). Both travel as
session attributes, so the session rule applies: an inner ``peekr.experiment`` or
``peekr.session(experiment_variant=...)`` wins over an outer one for the spans inside it.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import math
from collections.abc import Callable, Mapping, Sequence
from contextvars import ContextVar, Token
from types import TracebackType
from typing import Any, TypeVar

from ._context import current_session, session

__all__ = ["assign_variant", "experiment"]

F = TypeVar("F", bound=Callable[..., Any])
_KEYS = ("user_id", "session_id")
#: experiment name -> variant, for every experiment block enclosing the current code.
_assigned: ContextVar[Mapping[str, str] | None] = ContextVar("peekr_experiments", default=None)
#: The open experiment blocks of this context: (owner, its session, the _assigned token). Kept in
#: a ContextVar, not on the object, so one module-level experiment can be entered by many tasks.
_Frame = tuple["experiment", session, "Token[Mapping[str, str] | None]"]
_frames: ContextVar[tuple[_Frame, ...]] = ContextVar("peekr_experiment_frames", default=())


def _weights(name: str, variants: object) -> tuple[tuple[str, ...], tuple[float, ...]]:
    where = f"peekr.experiment({name!r}, variants=...)"
    if isinstance(variants, Mapping):
        items = list(variants.items())
    elif isinstance(variants, Sequence) and not isinstance(variants, (str, bytes)):
        items = [(v, 1.0) for v in variants]
    else:
        raise TypeError(f"{where} expects a list of names or a {{name: weight}} mapping, got {variants!r}")
    if not items:
        raise ValueError(f"{where} needs at least one variant, got none")
    names: list[str] = []
    weights: list[float] = []
    for label, weight in items:
        if not isinstance(label, str) or not label:
            raise TypeError(f"{where}: variant names must be non-empty strings, got {label!r}")
        if label in names:
            raise ValueError(f"{where}: variant {label!r} is given twice")
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(weight) or weight < 0:
            raise ValueError(f"{where}: weight of {label!r} must be a finite number >= 0, got {weight!r}")
        names.append(label)
        weights.append(float(weight))
    if sum(weights) <= 0:
        raise ValueError(f"{where}: the weights add up to 0; give at least one variant a positive weight")
    return tuple(names), tuple(weights)


def assign_variant(name: str, key: str, variants: Sequence[str] | Mapping[str, float]) -> str:
    """Return the variant ``key`` gets in experiment ``name`` (pure; the same answer everywhere).

    Example:
        >>> assign_variant("prompt-v2", "user-42", {"A": 0.9, "B": 0.1})
        'A'

    Raises:
        ValueError: no variants, a duplicate, or bad weights.
        TypeError: ``variants`` is neither a list nor a mapping.
    """
    labels, weights = _weights(name, variants)
    digest = hashlib.sha256(f"{name}\x00{key}".encode()).digest()
    point = int.from_bytes(digest[:8], "big") / 2**64 * sum(weights)
    edge = 0.0
    for label, weight in zip(labels, weights, strict=True):
        edge += weight
        if point < edge and weight > 0:
            return label
    return next(label for label, weight in zip(reversed(labels), reversed(weights), strict=True) if weight > 0)


class experiment:  # used like a function
    """Assign a variant of an A/B experiment and tag every span inside with it.

    Example:
        >>> with peekr.session(user_id="u-42"):
        ...     with peekr.experiment("prompt-v2", variants={"A": 0.5, "B": 0.5}) as variant:
        ...         prompt = PROMPTS[variant]
        ...         client.chat.completions.create(model="gpt-4o-mini", messages=prompt)

    Works as ``with``, ``async with`` and as a decorator of sync and async functions (the variant
    is assigned per call; read it inside with :meth:`experiment.current`). The key is read when
    the block is entered. Nested experiments and sessions follow the session rule: the innermost
    ``experiment_variant`` wins. ``peekr compare traces.db --experiment NAME`` compares the variants.

    Args:
        name: The experiment's name; stored on spans as the ``experiment`` attribute.
        variants: Variant names (equal weights) or ``{name: weight}`` (weights need not add up to 1).
        key: Whose variant: ``"user_id"`` or ``"session_id"`` of the enclosing ``peekr.session``,
            or a callable with no arguments returning the key (for example a request's user id).

    Raises:
        ValueError: empty name, no variants, duplicate variants, weights < 0 or all 0, an unknown key
            name; on entering: no key available (no ``peekr.session`` with it, or the callable returned
            nothing).
        TypeError: a variant, weight or key of the wrong type.
    """

    def __init__(
        self,
        name: str,
        variants: Sequence[str] | Mapping[str, float],
        *,
        key: str | Callable[[], object] = "user_id",
    ) -> None:
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"peekr.experiment() needs a non-empty experiment name (str), got {name!r}")
        self.name = name
        self._variants = variants
        self.variants, self.weights = _weights(name, variants)
        if isinstance(key, str):
            if key not in _KEYS:
                raise ValueError(
                    f"peekr.experiment({name!r}, key={key!r}): expected 'user_id', 'session_id' or a callable"
                )
        elif not callable(key):
            raise TypeError(
                f"peekr.experiment({name!r}, key=...) expects 'user_id', 'session_id' or a callable, got {key!r}"
            )
        self.key = key

    @staticmethod
    def current(name: str) -> str | None:
        """Return the variant of experiment ``name`` assigned to the enclosing block, if any."""
        return (_assigned.get() or {}).get(name)

    def _key_value(self) -> str:
        if callable(self.key):
            value = self.key()
            source = "the key callable"
        else:
            data = current_session()
            value = data.attributes.get(self.key) if data is not None else None
            source = f"the current peekr.session() (no {self.key})"
        if value is None or value == "":
            raise ValueError(
                f"peekr.experiment({self.name!r}): no key to assign a variant by: {source} gave {value!r}; "
                f"wrap the call in peekr.session(user_id=...) or pass key=lambda: <user id>"
            )
        return str(value)

    def assign(self) -> str:
        """Return the variant for the current key without entering the block."""
        return assign_variant(self.name, self._key_value(), self._variants)

    def __enter__(self) -> str:
        variant = self.assign()
        tags = session(experiment_variant=variant, attributes={"experiment": self.name})
        tags.__enter__()
        token = _assigned.set({**(_assigned.get() or {}), self.name: variant})
        _frames.set((*_frames.get(), (self, tags, token)))
        return variant

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        frames = _frames.get()
        index = max(i for i, frame in enumerate(frames) if frame[0] is self)
        _, tags, token = frames[index]
        _frames.set(frames[:index] + frames[index + 1 :])
        _assigned.reset(token)
        tags.__exit__(exc_type, exc, tb)

    async def __aenter__(self) -> str:
        return self.__enter__()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.__exit__(exc_type, exc, tb)

    def __call__(self, fn: F) -> F:
        """Decorate a sync or async function: each call runs inside its own experiment block."""
        if not callable(fn):
            raise TypeError(f"@peekr.experiment({self.name!r}, ...) decorates a function, got {fn!r}")
        if inspect.isgeneratorfunction(fn) or inspect.isasyncgenfunction(fn):
            raise TypeError(
                f"@peekr.experiment({self.name!r}, ...) does not decorate generators; use `with` inside {fn.__name__}"
            )
        if inspect.iscoroutinefunction(inspect.unwrap(fn)):

            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                async with self:
                    return await fn(*args, **kwargs)

            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(fn)
        def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
            with self:
                return fn(*args, **kwargs)

        return sync_wrapper  # type: ignore[return-value]
