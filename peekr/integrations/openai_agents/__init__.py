"""OpenAI Agents SDK integration: the SDK's traces and spans become peekr spans through a tracing processor.

How it is hooked: when ``agents`` is imported (at once if it already is), peekr adds one
``TracingProcessor`` to the SDK's trace provider (``add_trace_processor``), beside the SDK's own
processor that exports to OpenAI (left as the user set it). ``set_trace_processors([...])``, which
replaces the list, keeps peekr's processor while this integration is enabled. After
``uninstrument()`` the processor stays registered but does nothing (the SDK offers no way to
remove one processor), so the SDK runs as without peekr.

Span names and kinds (``_processor``): ``agents.workflow`` (``workflow``: the SDK trace, one per
``Runner.run`` unless the user groups runs in ``agents.trace()``), ``agents.agent`` (``agent``),
``agents.tool`` (``tool``), ``agents.handoff`` (``handoff``), ``agents.guardrail``
(``guardrail``), ``agents.custom`` (``custom``). The model calls are the OpenAI integration's
spans (``openai.responses`` / ``openai.chat.completions``), children of the agent span; the SDK's
own response / generation spans are recorded (as ``agents.llm``) only when no provider span
covered the call (a model peekr does not patch).

With the SDK's tracing disabled (``OPENAI_AGENTS_DISABLE_TRACING=1``, ``set_tracing_disabled(True)``,
``RunConfig(tracing_disabled=True)``) the SDK calls no processor: peekr records the model calls
only, parented as without this integration.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any

from ... import _runtime
from .._base import Integration, patch

__all__ = ["OpenAIAgentsIntegration"]

_lock = threading.Lock()
_peekr_processor: Any = None  # the one PeekrTracingProcessor of this process


class OpenAIAgentsIntegration(Integration):
    """Records OpenAI Agents SDK runs: workflows, agents, tools, handoffs, guardrails."""

    identifier = "openai_agents"
    distribution = "openai-agents"
    package = "agents"
    min_version = "0.1.0"
    extra = "agents"

    def hooks(self) -> Mapping[str, Callable[[ModuleType], None]]:
        """Module name -> setup function."""
        return {"agents": _register}


class _Switch:
    """On while this integration is enabled: ``_register`` patches ``on``, ``uninstrument()`` restores it."""

    def on(self) -> bool:
        return False


_switch = _Switch()


def enabled() -> bool:
    """True while peekr runs with this integration enabled."""
    return _runtime.get_runtime() is not None and _switch.on()


def _keep_peekr(original: Callable[..., Any]) -> Callable[..., Any]:
    """``set_processors`` replaces the list: put peekr's processor back while enabled."""

    def set_processors(self: Any, processors: list[Any]) -> Any:
        result = original(self, processors)
        processor = _peekr_processor
        if processor is not None and _switch.on() and processor not in list(processors):
            from ..._errors import handle_internal_errors

            with handle_internal_errors("openai_agents.set_processors"):
                self.add_tracing_processor(processor)
        return result

    return set_processors


def _attached(provider: Any, processor: Any) -> bool:
    """True when ``processor`` is among the provider's processors (False when that cannot be read)."""
    processors = getattr(getattr(provider, "_multi_processor", None), "_processors", None)
    return isinstance(processors, tuple) and processor in processors


def _register(module: ModuleType) -> None:
    """Turn the switch on; add the processor to the SDK's current trace provider unless it is there."""
    global _peekr_processor
    from agents.tracing import get_trace_provider
    from agents.tracing.provider import SynchronousMultiTracingProcessor

    patch(_Switch, "on", lambda original: lambda self: True)
    patch(SynchronousMultiTracingProcessor, "set_processors", _keep_peekr)
    with _lock:
        if _peekr_processor is None:
            from ._processor import PeekrTracingProcessor

            _peekr_processor = PeekrTracingProcessor(enabled)
        provider = get_trace_provider()
        if not _attached(provider, _peekr_processor):
            provider.register_processor(_peekr_processor)
