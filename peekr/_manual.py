"""Manual spans: ``with peekr.span("retrieval"):`` and the ``@peekr.trace`` decorator."""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncGenerator, Callable, Generator
from contextvars import Token
from types import TracebackType
from typing import Any, TypeVar, overload

from ._context import SpanContextLike, _current_span
from ._tracer import ActiveSpan, NonRecordingSpan, SampledOutSpan, begin_span

__all__ = ["span", "trace"]

F = TypeVar("F", bound=Callable[..., Any])


def _validate_name(name: object, where: str) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"{where} needs a non-empty span name (str), got {name!r}")
    return name


class span:  # used like a function
    """Record a block of your own code as a span; provider calls inside become its children.

    Example:
        >>> with peekr.span("retrieval", k=5) as s:
        ...     docs = search(query)
        ...     s.set_attribute("hits", len(docs))

    Works with ``async with`` too. An exception sets ``status="error"`` and ``error`` on the span
    and is re-raised unchanged. When peekr is not running the block runs as usual and records
    nothing.

    Args:
        name: The span name (for example ``"retrieval"``).
        **attributes: Attributes to set on the span.

    Raises:
        ValueError: ``name`` is empty or not a string.
    """

    def __init__(self, name: str, **attributes: Any) -> None:
        self.name = _validate_name(name, "peekr.span()")
        self.attributes = attributes
        self._stack: list[
            tuple[ActiveSpan | NonRecordingSpan | SampledOutSpan, Token[SpanContextLike | None] | None]
        ] = []

    def __enter__(self) -> ActiveSpan | NonRecordingSpan:
        active = begin_span(self.name, dict(self.attributes), adopt=True)
        if active is None:
            self._stack.append((NonRecordingSpan(self.name), None))
            return self._stack[-1][0]
        self._stack.append((active, _current_span.set(active)))  # a SampledOutSpan too: its children follow it
        return active

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        active, token = self._stack.pop()
        if token is not None:
            _current_span.reset(token)
        active.end(error=exc)

    async def __aenter__(self) -> ActiveSpan | NonRecordingSpan:
        return self.__enter__()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.__exit__(exc_type, exc, tb)


def _wrap_generator(fn: Callable[..., Generator[Any, Any, Any]], name: str, attrs: dict[str, Any]) -> Any:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Generator[Any, Any, Any]:
        active = begin_span(name, dict(attrs), adopt=True)
        gen = fn(*args, **kwargs)
        if active is None:
            return (yield from gen)
        error: BaseException | None = None
        try:
            sent: Any = None
            to_throw: BaseException | None = None
            while True:
                token = _current_span.set(active)
                try:
                    item = gen.throw(to_throw) if to_throw is not None else gen.send(sent)
                except StopIteration as stop:
                    return stop.value
                finally:
                    _current_span.reset(token)
                to_throw = None
                try:
                    sent = yield item
                except GeneratorExit:
                    gen.close()
                    raise
                except BaseException as exc:  # forwarded into the user's generator, not handled
                    to_throw = exc
        except BaseException as exc:
            if not isinstance(exc, GeneratorExit):
                error = exc
            raise
        finally:
            active.end(error=error)

    return wrapper


def _wrap_async_generator(fn: Callable[..., AsyncGenerator[Any, Any]], name: str, attrs: dict[str, Any]) -> Any:
    @functools.wraps(fn)
    async def wrapper(*args: Any, **kwargs: Any) -> AsyncGenerator[Any, Any]:
        active = begin_span(name, dict(attrs), adopt=True)
        agen = fn(*args, **kwargs)
        if active is None:
            async for item in agen:
                yield item
            return
        error: BaseException | None = None
        try:
            sent: Any = None
            to_throw: BaseException | None = None
            while True:
                token = _current_span.set(active)
                try:
                    item = await (agen.athrow(to_throw) if to_throw is not None else agen.asend(sent))
                except StopAsyncIteration:
                    return
                finally:
                    _current_span.reset(token)
                to_throw = None
                try:
                    sent = yield item
                except GeneratorExit:
                    await agen.aclose()
                    raise
                except BaseException as exc:  # forwarded into the user's generator, not handled
                    to_throw = exc
        except BaseException as exc:
            if not isinstance(exc, GeneratorExit):
                error = exc
            raise
        finally:
            active.end(error=error)

    return wrapper


def _decorate(fn: F, name: str | None, attrs: dict[str, Any]) -> F:
    if not callable(fn):
        raise TypeError(f"@peekr.trace decorates a function, got {fn!r}")
    span_name = _validate_name(name, "@peekr.trace(name=...)") if name is not None else fn.__qualname__
    if inspect.isasyncgenfunction(fn):
        return _wrap_async_generator(fn, span_name, attrs)  # type: ignore[no-any-return]
    if inspect.isgeneratorfunction(fn):
        return _wrap_generator(fn, span_name, attrs)  # type: ignore[no-any-return]
    if inspect.iscoroutinefunction(inspect.unwrap(fn)):

        @functools.wraps(fn)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            with span(span_name, **attrs):
                return await fn(*args, **kwargs)

        return async_wrapper  # type: ignore[return-value]

    @functools.wraps(fn)
    def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
        with span(span_name, **attrs):
            return fn(*args, **kwargs)

    return sync_wrapper  # type: ignore[return-value]


@overload
def trace(fn: F, /) -> F: ...
@overload
def trace(*, name: str | None = None, **attributes: Any) -> Callable[[F], F]: ...
def trace(fn: F | None = None, /, *, name: str | None = None, **attributes: Any) -> F | Callable[[F], F]:
    """Record every call of a function as a span (sync, async, generator or async generator).

    Example:
        >>> @peekr.trace
        ... def retrieve(query): ...
        >>> @peekr.trace(name="rerank", model="bge")
        ... async def rerank(docs): ...

    Generators are one span from the first item to exhaustion (or ``close()``); provider calls
    made inside become children of it.

    Args:
        fn: The function (when used as ``@peekr.trace`` without parentheses).
        name: The span name; defaults to the function's qualified name.
        **attributes: Attributes to set on every span.

    Raises:
        TypeError: the decorated object is not callable.
        ValueError: ``name`` is empty.
    """
    if fn is not None:
        return _decorate(fn, name, attributes)
    return lambda f: _decorate(f, name, attributes)
