"""What framework integrations (LangChain today; LlamaIndex, agents later) share with the provider wrappers.

Parenting. A framework integration does not make its run spans the *current* span: a callback
system gives no guarantee that the "end" callback runs in the context the "start" callback changed
(LangChain runs its async end callbacks in a shielded task), so a context it set could stay set
forever and parent every later span. Instead it registers a *parent resolver*: a function that
finds the innermost open run from the framework's own context (LangChain's child run config). A
provider or vector-store wrapper asks :func:`framework_parent` when it starts a span; the more
recently started of that run span and the current span is the parent. Ended spans never parent.

Not recording twice. While a framework LLM run is open, the integration puts a :class:`PendingLLM`
in :data:`_llm_run`; a provider wrapper that starts a span there calls :func:`note_provider_span`,
and the framework then drops its own LLM span (the provider span holds the call). An LLM run
through a provider peekr does not patch sees no provider span and is recorded by the framework.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar

from .._context import SpanContextLike, _current_span
from .._tracer import ActiveSpan, SampledOutSpan

__all__ = ["PendingLLM", "add_parent_resolver", "framework_parent", "note_provider_span", "parent_for_new_span"]

ParentResolver = Callable[[], "ActiveSpan | SampledOutSpan | None"]
_resolvers: list[ParentResolver] = []


class PendingLLM:
    """An open framework LLM run; ``covered`` once a provider span started inside it."""

    __slots__ = ("covered",)

    def __init__(self) -> None:
        self.covered = False


_llm_run: ContextVar[PendingLLM | None] = ContextVar("peekr_framework_llm_run", default=None)


def note_provider_span() -> None:
    """Called by the provider wrappers when they start a span: the enclosing LLM run is covered."""
    pending = _llm_run.get()
    if pending is not None:
        pending.covered = True


def add_parent_resolver(resolver: ParentResolver) -> None:
    """Register a framework's resolver once (it returns the innermost open run's span, or None)."""
    if resolver not in _resolvers:
        _resolvers.append(resolver)


Run = ActiveSpan | SampledOutSpan


def _open(run: Run | None) -> bool:
    # A sampled-out run (``SampledOutSpan``) records nothing but is open while its framework holds it.
    return run is not None and (type(run) is SampledOutSpan or run.is_recording)


def _later(a: Run | None, b: Run | None) -> Run | None:
    if not _open(a):
        return b if _open(b) else None
    if not _open(b):
        return a
    assert a is not None and b is not None
    return a if a._start_perf >= b._start_perf else b


def framework_parent() -> ActiveSpan | SampledOutSpan | None:
    """The innermost open framework run here, if any (a sampled-out run too: its calls are dropped)."""
    found: Run | None = None
    for resolver in _resolvers:
        found = _later(found, resolver())
    return found


def parent_for_new_span() -> SpanContextLike | None:
    """The parent a wrapper's new span takes when a framework run is open here, else None (default).

    None means "let ``start_span`` use the current span". When both exist, the more recently
    started one is the inner one (a ``peekr.span()`` opened inside a tool, or a chain run inside
    a request span).
    """
    if not _resolvers:
        return None
    run = framework_parent()
    if run is None:
        return None
    current = _current_span.get()
    if isinstance(current, ActiveSpan) and current.is_recording and current._start_perf > run._start_perf:
        return None
    return run
