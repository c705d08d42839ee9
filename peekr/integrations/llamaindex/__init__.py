"""LlamaIndex integration: LlamaIndex's instrumentation dispatcher -> peekr spans.

When ``llama_index.core.instrumentation`` is imported (at once if it already is: import-order-proof),
peekr adds one span handler and one event handler to LlamaIndex's *root* dispatcher, which every
LlamaIndex module's dispatcher propagates to; ``uninstrument()`` removes both. Query, retrieval,
synthesis, embedding and LLM operations become ``llamaindex.*`` spans (``_handler``); an LLM or
embedding call through a provider peekr patches is recorded once, as the provider span, the child
of the LlamaIndex operation around it. Sync and async (asyncio) alike: the dispatcher calls the
handlers inline, in the caller's context.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any

from .._base import Integration, on_restore

__all__ = ["LlamaIndexIntegration"]

_lock = threading.Lock()
_tracker: Any = None  # one Tracker per process (its parent resolver is registered once)
_installed = False  # peekr's handlers are on the root dispatcher


class LlamaIndexIntegration(Integration):
    """Records LlamaIndex queries, retrievals, syntheses, embeddings and LLM calls."""

    identifier = "llamaindex"
    distribution = "llama-index-core"
    package = "llama_index.core"
    min_version = "0.12.0"
    extra = "llamaindex"

    def hooks(self) -> Mapping[str, Callable[[ModuleType], None]]:
        """Module name -> setup function."""
        return {"llama_index.core.instrumentation": _register}


def _register(module: ModuleType) -> None:
    """Add peekr's handlers to the root dispatcher once; ``uninstrument()`` takes them off again."""
    global _tracker, _installed
    from ._handler import Tracker, make_handlers

    with _lock:
        if _installed:
            return
        if _tracker is None:
            _tracker = Tracker()
        span_handler, event_handler = make_handlers(_tracker)
        root = module.get_dispatcher()  # no name: the root dispatcher
        root.add_span_handler(span_handler)
        root.add_event_handler(event_handler)
        _installed = True

    def remove() -> None:
        global _installed
        with _lock:
            root.span_handlers = [h for h in root.span_handlers if h is not span_handler]
            root.event_handlers = [h for h in root.event_handlers if h is not event_handler]
            _installed = False

    on_restore(remove)
