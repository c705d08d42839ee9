"""What framework integrations (LangChain, LlamaIndex; agents later) share with the provider wrappers.

Parenting. A framework integration does not make its run spans the *current* span: a callback
system gives no guarantee that the "end" callback runs in the context the "start" callback changed
(LangChain runs its async end callbacks in a shielded task), so a context it set could stay set
forever and parent every later span. Instead it registers a *parent resolver*
(:func:`add_parent_resolver`, kept in ``peekr._tracer``): a function that finds the innermost open
run from the framework's own context (LangChain's child run config, LlamaIndex's active dispatcher
span). ``start_span`` asks the resolvers whenever it picks a parent, so provider spans, vector-store
spans and ``peekr.span()`` blocks opened inside a run all nest under it; the more recently started
of that run span and the current span is the parent. Ended spans never parent.

Not recording twice. While a framework LLM run is open, the integration puts a :class:`PendingLLM`
in :data:`_llm_run`; a provider wrapper that starts a span there calls :func:`note_provider_span`,
and the framework then drops its own LLM span (the provider span holds the call). An LLM run
through a provider peekr does not patch sees no provider span and is recorded by the framework.
"""

from __future__ import annotations

from contextvars import ContextVar

from .._context import SpanContextLike, _current_span
from .._tracer import ParentResolver, add_parent_resolver, framework_or, framework_parent

__all__ = [
    "PendingLLM",
    "ParentResolver",
    "add_parent_resolver",
    "framework_parent",
    "note_provider_span",
    "parent_for_new_span",
]


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


def parent_for_new_span() -> SpanContextLike | None:
    """The parent a wrapper's new span takes when a framework run is open here, else None (default).

    None means "let ``start_span`` use the current span". When both exist, the more recently
    started one is the inner one (a ``peekr.span()`` opened inside a tool, or a chain run inside
    a request span).
    """
    current = _current_span.get()
    chosen = framework_or(current)
    return None if chosen is current else chosen
