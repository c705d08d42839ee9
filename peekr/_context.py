"""Context that follows the user's code: the current span, the session, and suppression.

All three live in ``contextvars``, so they follow ``asyncio`` tasks, trio tasks, ``anyio`` task
groups and ``to_thread`` workers (which copy the context). A plain ``threading.Thread`` starts
with an empty context: wrap its target with ``contextvars.copy_context().run`` to carry it over.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar, Token
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Protocol

from ._retention import validate_retention_class
from ._span import RetentionClass

__all__ = [
    "SESSION_ATTRIBUTE_FIELDS",
    "SessionData",
    "SpanContextLike",
    "current_session",
    "current_span_context",
    "is_suppressed",
    "session",
    "suppress_instrumentation",
]

#: Session fields that become span attributes (tenant_id and retention_class are top-level fields).
SESSION_ATTRIBUTE_FIELDS = ("session_id", "user_id", "experiment_variant", "feature", "endpoint")


class SpanContextLike(Protocol):
    """Anything that can parent a span: an active span or a remote (traceparent) context."""

    trace_id: str
    span_id: str


@dataclass(frozen=True)
class SessionData:
    """The merged values of all enclosing ``peekr.session(...)`` blocks."""

    tenant_id: str | None = None
    retention_class: str | None = None
    attributes: Mapping[str, Any] = field(default_factory=dict)


_current_span: ContextVar[SpanContextLike | None] = ContextVar("peekr_current_span", default=None)
_session: ContextVar[SessionData | None] = ContextVar("peekr_session", default=None)
_suppress_instrumentation: ContextVar[bool] = ContextVar("peekr_suppress_instrumentation", default=False)


def current_span_context() -> SpanContextLike | None:
    """The span new spans become children of, if any."""
    return _current_span.get()


def current_session() -> SessionData | None:
    """The merged session values in effect here, if any."""
    return _session.get()


def is_suppressed() -> bool:
    """True inside ``suppress_instrumentation()``: provider wrappers pass straight through."""
    return _suppress_instrumentation.get()


@contextmanager
def suppress_instrumentation() -> Iterator[None]:
    """Record nothing inside this block (peekr's own exporter and judge calls use it)."""
    token = _suppress_instrumentation.set(True)
    try:
        yield
    finally:
        _suppress_instrumentation.reset(token)


def _check_str(name: str, value: object) -> None:
    if value is not None and not isinstance(value, str):
        raise TypeError(f"session({name}=...) expects a str or None, got {type(value).__name__}: {value!r}")


class session:  # used like a function: `with peekr.session(...)`
    """Group calls and tag them with user, tenant and retention class.

    Usable as ``with`` and ``async with``; nestable (inner values win, unset ones are inherited);
    follows asyncio/trio tasks and ``to_thread`` workers. Values given here win over those given to
    ``instrument()``, which win over ``PEEKR_TENANT_ID`` / ``PEEKR_RETENTION_CLASS``.

    Example:
        >>> with peekr.session(user_id="u1", tenant_id="acme", session_id="chat-42"):
        ...     client.chat.completions.create(model="gpt-4o-mini", messages=msgs)

    Args:
        user_id: The end user the calls are made for.
        tenant_id: The tenant (customer) the calls belong to.
        session_id: Groups the calls of one conversation or job.
        retention_class: One of ``default``, ``short``, ``long``, ``pii``.
        experiment_variant: A/B variant label.
        feature: The product feature making the calls.
        endpoint: The API endpoint serving the request.
        attributes: Any other attributes to put on every span in the block.

    Raises:
        ValueError: ``retention_class`` is not a known class.
        TypeError: a field is not a string, or ``attributes`` is not a mapping.
    """

    def __init__(
        self,
        *,
        user_id: str | None = None,
        tenant_id: str | None = None,
        session_id: str | None = None,
        retention_class: RetentionClass | None = None,
        experiment_variant: str | None = None,
        feature: str | None = None,
        endpoint: str | None = None,
        attributes: Mapping[str, Any] | None = None,
    ) -> None:
        for name, value in (
            ("user_id", user_id),
            ("tenant_id", tenant_id),
            ("session_id", session_id),
            ("experiment_variant", experiment_variant),
            ("feature", feature),
            ("endpoint", endpoint),
        ):
            _check_str(name, value)
        if retention_class is not None:
            validate_retention_class(retention_class)
        if attributes is not None and not isinstance(attributes, Mapping):
            raise TypeError(f"session(attributes=...) expects a mapping, got {type(attributes).__name__}")
        own: dict[str, Any] = dict(attributes or {})
        for name, value in (
            ("session_id", session_id),
            ("user_id", user_id),
            ("experiment_variant", experiment_variant),
            ("feature", feature),
            ("endpoint", endpoint),
        ):
            if value is not None:
                own[name] = value
        self._tenant_id = tenant_id
        self._retention_class = retention_class
        self._attributes = own
        self._tokens: list[Token[SessionData | None]] = []

    def _merged(self) -> SessionData:
        outer = _session.get()
        if outer is None:
            return SessionData(self._tenant_id, self._retention_class, self._attributes)
        return SessionData(
            self._tenant_id if self._tenant_id is not None else outer.tenant_id,
            self._retention_class if self._retention_class is not None else outer.retention_class,
            {**outer.attributes, **self._attributes},
        )

    def __enter__(self) -> SessionData:
        data = self._merged()
        self._tokens.append(_session.set(data))
        return data

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        _session.reset(self._tokens.pop())

    async def __aenter__(self) -> SessionData:
        return self.__enter__()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.__exit__(exc_type, exc, tb)
