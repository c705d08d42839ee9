"""What framework integrations (LangChain today; LlamaIndex, agents later) share with the provider wrappers.

A framework's LLM run through a provider peekr patches must not be recorded twice. While such a
run is open, the framework integration puts a :class:`PendingLLM` in :data:`_llm_run`; a provider
wrapper that starts a span there calls :func:`note_provider_span`, and the framework then drops its
own LLM span (the provider span, child of the framework run around it, holds the call). An LLM run
through a provider peekr does not patch sees no provider span and is recorded by the framework.
"""

from __future__ import annotations

from contextvars import ContextVar

__all__ = ["PendingLLM", "note_provider_span"]


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
