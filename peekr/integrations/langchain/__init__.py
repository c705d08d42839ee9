"""LangChain / LangGraph integration: runs become spans through a callback handler added globally.

How the handler reaches every run without user code: ``langchain_core.tracers.context
.register_configure_hook`` lets a library name an object whose ``get()`` returns a handler; the
callback manager of every run asks it (``CallbackManager.configure``). Peekr registers one such
slot when ``langchain_core.tracers.context`` is imported (import-order-proof: at once when it
already is). The slot answers the handler only while peekr runs with this integration enabled,
so after ``uninstrument()`` LangChain runs exactly as without peekr.

Span names and kinds (``_handler``): ``langchain.chain`` (``chain``), ``langchain.tool``
(``tool``), ``langchain.retriever`` (``retrieval``, with the shared ``retrieval`` attribute),
``langchain.agent`` (``agent``: a chain run that took agent actions), ``langgraph.node``
(``graph_node``), ``langchain.llm`` (``llm``). An LLM run through a provider peekr patches is not
recorded here: the provider span becomes the child of the run around it. Runs LangChain hides
(tag ``langsmith:hidden``: LangGraph's channel writes and branches) are not recorded; their
children attach to the nearest recorded run.

Async: LangChain's async callbacks run on asyncio only (``asyncio.gather``); LangChain does not
run under trio, so neither does this integration.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any

from ... import _runtime
from .._base import Integration, patch

__all__ = ["LangChainIntegration"]

_lock = threading.Lock()
_registered = False


class LangChainIntegration(Integration):
    """Records LangChain and LangGraph runs (chains, tools, retrievers, agents, graph nodes, LLMs)."""

    identifier = "langchain"
    distribution = "langchain-core"
    package = "langchain_core"
    min_version = "0.3.0"
    extra = "langchain"

    def hooks(self) -> Mapping[str, Callable[[ModuleType], None]]:
        """Module name -> setup function."""
        return {"langchain_core.tracers.context": _register}


class _Switch:
    """On while this integration is enabled: ``_register`` patches ``on``, ``uninstrument()`` restores it."""

    def on(self) -> bool:
        return False


_switch = _Switch()


class _HandlerSlot:
    """Stands for a ``ContextVar`` in LangChain's configure hooks: ``get()`` is all it calls."""

    def __init__(self) -> None:
        self.handler: Any = None

    def get(self) -> Any:
        if _runtime.get_runtime() is None or not _switch.on():
            return None
        return self.handler


_slot = _HandlerSlot()


def _register(module: ModuleType) -> None:
    """Turn the switch on; register the slot once per process (LangChain keeps its hooks in a list)."""
    global _registered
    patch(_Switch, "on", lambda original: lambda self: True)
    with _lock:
        if _registered:
            return
        from ._handler import PeekrCallbackHandler

        _slot.handler = PeekrCallbackHandler()
        module.register_configure_hook(_slot, True)
        _registered = True
