"""Method wrappers shared by every provider: the user's call runs outside peekr's ``try``.

The flow of a wrapped call::

    not running / suppressed / nested in another peekr-wrapped call  -> call the original, return
    a ``raise`` budget is spent -> raise ``peekr.BudgetExceededError``; the request is never sent
    start the span (peekr code, errors swallowed)
    call the original (the user's call: its result or exception passes through untouched)
    on exception: end the span with the error, re-raise the same exception object
    on result: ``on_result(span, result)`` (peekr code, errors swallowed; may hand the span to a
               stream recorder, which then ends it); return what it returns — the result itself,
               or the same SDK object with a traced iterator swapped in

Nesting guard: while a wrapped call runs, ``_in_call`` names its provider, so an SDK helper that
calls another patched method of the same SDK (OpenAI ``.stream()`` -> ``create``) records one span,
not two — while a call to another provider made inside it (a tool run by Gemini's automatic
function calling that asks OpenAI) is still recorded.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from .. import _errors as _faults
from .. import _runtime
from .._context import _current_span, _suppress_instrumentation
from .._errors import checkpoint, log_internal_error, raise_internal_errors
from .._guards import Blocklist, GuardOutcome, GuardrailError, check_input, check_output
from .._runtime import Runtime
from .._tracer import ActiveSpan, SampledOutSpan, _parent_resolvers, begin_span, sample_ahead
from ._framework import note_provider_span, parent_for_new_span

__all__ = ["OnResult", "StartSpan", "in_peekr_call", "wrap_async", "wrap_sync"]

#: The provider whose wrapped call is running here (``"openai"`` for ``"openai.chat.completions"``).
_in_call: ContextVar[str | None] = ContextVar("peekr_in_provider_call", default=None)

#: ``(instance, args, kwargs) -> (span name, attributes)``; None means "do not record this call".
#: ``attributes`` must be a fresh dict: the span keeps it as its own (``begin_span(adopt=True)``).
StartSpan = Callable[[Any, tuple[Any, ...], dict[str, Any]], "tuple[str, dict[str, Any]] | None"]
#: ``(span, result, kwargs) -> result``; must end the span (now, or later for streams).
OnResult = Callable[[ActiveSpan, Any, dict[str, Any]], Any]


#: Wrappers whose calls are model calls (checked against spend budgets; vector stores are not).
_MODEL_PROVIDERS = frozenset({"openai", "anthropic", "bedrock", "gemini"})


def in_peekr_call() -> bool:
    """True inside a call peekr is already recording (used to avoid double spans)."""
    return _in_call.get() is not None


def _provider(where: str) -> str:
    return where.partition(".")[0]


def _active(provider: str) -> Runtime | None:
    """The runtime that records a call of ``provider`` here; None when peekr does not record it at all."""
    runtime = _runtime.get_runtime()
    if runtime is None or _suppress_instrumentation.get() or _in_call.get() == provider:
        return None
    return runtime


def _begin(
    label: str,
    runtime: Runtime | None,
    provider: str,
    describe: StartSpan,
    instance: Any,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> ActiveSpan | SampledOutSpan | None:
    if runtime is None:
        return None
    if runtime.budgets is not None and provider in _MODEL_PROVIDERS:
        runtime.budgets.check()  # BudgetExceededError (the one error meant for the caller) before any request
    # Inline rather than handle_internal_errors(): this runs for every call.
    try:
        if _faults._inject:
            checkpoint(label)
        # An open LangChain run (peekr/integrations/_framework.py), if a framework integration is in use.
        parent = parent_for_new_span() if _parent_resolvers else None
        if type(parent) is SampledOutSpan:  # inside a sampled-out framework run: dropped with it
            return parent.child(runtime)
        ahead = sample_ahead(runtime) if parent is None and runtime.sampler is not None else None
        if type(ahead) is SampledOutSpan:  # sampled out: the request is not even read
            return ahead
        described = describe(instance, args, kwargs)
        if described is not None:
            if parent is None:
                new_trace = ahead if type(ahead) is str else None
                span = begin_span(described[0], described[1], trace_id=new_trace, runtime=runtime, adopt=True)
            else:
                span = begin_span(
                    described[0],
                    described[1],
                    trace_id=parent.trace_id,
                    parent_id=parent.span_id,
                    runtime=runtime,
                    adopt=True,
                )
            if type(span) is not ActiveSpan:  # what start_span() gives: not recorded, not made current
                return None
            if "kind" not in described[1]:
                note_provider_span()  # a provider call: the framework LLM run around it is covered
            return span
    except Exception as exc:
        log_internal_error(label, exc)
        if raise_internal_errors():
            raise
    return None


def _guard_input(
    where: str, guards: tuple[Blocklist, ...], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[tuple[Any, ...], dict[str, Any], GuardOutcome | None]:
    """Input guards; an internal failure is logged and the call goes on unguarded."""
    try:
        return check_input(guards, args, kwargs)
    except Exception as exc:
        log_internal_error(f"{where}.guard", exc)
        return args, kwargs, None


def _guard_output(where: str, guards: tuple[Blocklist, ...], span: ActiveSpan, result: Any) -> GuardrailError | None:
    """Output guards on a response; records on ``span``; the error to raise, if one asked for it."""
    try:
        outcome = check_output(guards, result)
    except Exception as exc:
        log_internal_error(f"{where}.guard", exc)
        return None
    _note(span, outcome)
    return outcome.error


def _note(span: ActiveSpan | SampledOutSpan | None, outcome: GuardOutcome | None) -> None:
    if outcome is not None and outcome.records and type(span) is ActiveSpan:
        span.attributes.setdefault("guardrails", []).extend(outcome.records)


def _blocked(span: ActiveSpan | SampledOutSpan | None, error: GuardrailError) -> GuardrailError:
    if type(span) is ActiveSpan:
        span.end(error=error)
    return error


def _unrecorded(where: str, guards: tuple[Blocklist, ...], result: Any) -> Any:
    """Output guards on a call peekr does not record (sampled out): they still apply."""
    if guards:
        try:
            blocked = check_output(guards, result).error
        except Exception as exc:
            log_internal_error(f"{where}.guard", exc)
            return result
        if blocked is not None:
            raise blocked
    return result


async def _unrecorded_async(where: str, guards: tuple[Blocklist, ...], awaitable: Any) -> Any:
    return _unrecorded(where, guards, await awaitable)


def _finish(label: str, on_result: OnResult, span: ActiveSpan, result: Any, kwargs: dict[str, Any]) -> Any:
    try:  # inline rather than handle_internal_errors(): this runs for every call
        if _faults._inject:
            checkpoint(label)
        return on_result(span, result, kwargs)
    except Exception as exc:
        log_internal_error(label, exc)
        if raise_internal_errors():
            raise
    span.end()  # on_result failed before ending the span: keep what we have
    return result


def wrap_sync(
    where: str, describe: StartSpan, on_result: OnResult, *, activate: bool = False
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Build a ``patch()`` factory for a sync method.

    ``activate=True`` makes the span the current span during the call, so the calls the method
    makes (a vector store's embedding function calling OpenAI) become its children.
    """

    provider = _provider(where)
    start, finish = f"{where}.start", f"{where}.result"  # internal-error labels, built once

    def factory(original: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(original)
        def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            runtime = _active(provider)
            guards = runtime.settings.guards if runtime is not None else ()
            checked: GuardOutcome | None = None
            if guards:  # before anything is sent (docs/scrubbing.md#guardrails)
                args, kwargs, checked = _guard_input(where, guards, args, kwargs)
            span = _begin(start, runtime, provider, describe, self, args, kwargs)
            if checked is not None:
                _note(span, checked)
                if checked.error is not None:
                    raise _blocked(span, checked.error)
            if span is None:
                return _unrecorded(where, guards, original(self, *args, **kwargs))
            if type(span) is SampledOutSpan:  # its calls stay in its dropped trace
                dropped = _current_span.set(span) if activate else None
                try:
                    return _unrecorded(where, guards, original(self, *args, **kwargs))
                finally:
                    if dropped is not None:
                        _current_span.reset(dropped)
            assert type(span) is ActiveSpan
            token = _in_call.set(provider)
            current = _current_span.set(span) if activate else None
            try:
                result = original(self, *args, **kwargs)
            except BaseException as exc:
                span.end(error=exc)
                raise
            finally:
                if current is not None:
                    _current_span.reset(current)
                _in_call.reset(token)
            if guards:
                blocked = _guard_output(where, guards, span, result)
                if blocked is not None:
                    raise _blocked(span, blocked)
            return _finish(finish, on_result, span, result, kwargs)

        return wrapper

    return factory


def wrap_async(
    where: str, describe: StartSpan, on_result: OnResult, *, activate: bool = False
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Build a ``patch()`` factory for a method that returns an awaitable.

    An ``async def`` original gets an ``async def`` wrapper. A plain ``def`` that returns a
    coroutine (OpenAI and Anthropic ``create`` behind ``@required_args``, PROVIDERS.md P1) gets a
    plain ``def`` wrapper returning a coroutine, so argument errors still raise at call time,
    exactly as without peekr, and ``inspect.iscoroutinefunction`` answers as before.
    """

    provider = _provider(where)
    start, finish = f"{where}.start", f"{where}.result"  # internal-error labels, built once

    def factory(original: Callable[..., Any]) -> Callable[..., Any]:
        async def finish_when_awaited(
            span: ActiveSpan, awaitable: Any, kwargs: dict[str, Any], guards: tuple[Blocklist, ...]
        ) -> Any:
            token = _in_call.set(provider)
            current = _current_span.set(span) if activate else None
            try:
                result = await awaitable
            except BaseException as exc:
                span.end(error=exc)
                raise
            finally:
                if current is not None:
                    _current_span.reset(current)
                _in_call.reset(token)
            if guards:
                blocked = _guard_output(where, guards, span, result)
                if blocked is not None:
                    raise _blocked(span, blocked)
            return _finish(finish, on_result, span, result, kwargs)

        if inspect.iscoroutinefunction(original):

            @functools.wraps(original)
            async def async_wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
                runtime = _active(provider)
                guards = runtime.settings.guards if runtime is not None else ()
                checked: GuardOutcome | None = None
                if guards:
                    args, kwargs, checked = _guard_input(where, guards, args, kwargs)
                span = _begin(start, runtime, provider, describe, self, args, kwargs)
                if checked is not None:
                    _note(span, checked)
                    if checked.error is not None:
                        raise _blocked(span, checked.error)
                if span is None:
                    return _unrecorded(where, guards, await original(self, *args, **kwargs))
                if type(span) is SampledOutSpan:
                    dropped = _current_span.set(span) if activate else None
                    try:
                        return _unrecorded(where, guards, await original(self, *args, **kwargs))
                    finally:
                        if dropped is not None:
                            _current_span.reset(dropped)
                assert type(span) is ActiveSpan
                try:
                    awaitable = original(self, *args, **kwargs)  # e.g. TypeError for bad arguments
                except BaseException as exc:
                    span.end(error=exc)
                    raise
                return await finish_when_awaited(span, awaitable, kwargs, guards)

            return async_wrapper

        @functools.wraps(original)
        def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            runtime = _active(provider)
            guards = runtime.settings.guards if runtime is not None else ()
            checked: GuardOutcome | None = None
            if guards:
                args, kwargs, checked = _guard_input(where, guards, args, kwargs)
            span = _begin(start, runtime, provider, describe, self, args, kwargs)
            if checked is not None:
                _note(span, checked)
                if checked.error is not None:
                    raise _blocked(span, checked.error)
            if span is None or type(span) is SampledOutSpan:  # (a plain def never activates)
                if guards and any(g.applies_to("output") for g in guards):
                    return _unrecorded_async(where, guards, original(self, *args, **kwargs))
                return original(self, *args, **kwargs)
            assert type(span) is ActiveSpan
            token = _in_call.set(provider)
            try:
                awaitable = original(self, *args, **kwargs)
            except BaseException as exc:
                span.end(error=exc)
                raise
            finally:
                _in_call.reset(token)
            return finish_when_awaited(span, awaitable, kwargs, guards)

        return wrapper

    return factory
