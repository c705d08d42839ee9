"""Provider integrations: a registry of dotted paths, imported lazily.

Auto-enabled integrations whose SDK is missing are skipped quietly (debug log). One the user
names in ``instrument(providers=[...])`` that cannot run raises a clear error.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import logging
import threading
from collections.abc import Iterable
from types import ModuleType

from packaging.version import InvalidVersion, Version

from ._base import DidNotEnable, Integration, restore_all

__all__ = [
    "INTEGRATIONS",
    "DidNotEnable",
    "Integration",
    "integrations_enabled",
    "setup_integrations",
    "teardown_integrations",
]

logger = logging.getLogger("peekr")

#: identifier -> "module:Class"
INTEGRATIONS: dict[str, str] = {
    "openai": "peekr.integrations.openai:OpenAIIntegration",
    "anthropic": "peekr.integrations.anthropic:AnthropicIntegration",
    "bedrock": "peekr.integrations.bedrock:BedrockIntegration",
    "gemini": "peekr.integrations.gemini:GeminiIntegration",
    "langchain": "peekr.integrations.langchain:LangChainIntegration",
    "llamaindex": "peekr.integrations.llamaindex:LlamaIndexIntegration",
    "openai_agents": "peekr.integrations.openai_agents:OpenAIAgentsIntegration",
    "chroma": "peekr.integrations.chroma:ChromaIntegration",
    "qdrant": "peekr.integrations.qdrant:QdrantIntegration",
}

_lock = threading.Lock()
_enabled = False
_hooked: set[tuple[str, str]] = set()  # (identifier, module) with a post-import hook registered


def _older_than(installed: str, minimum: str) -> bool:
    """True when version ``installed`` sorts before ``minimum`` (PEP 440: ``1.66.0rc1`` < ``1.66.0``).

    An installed version PEP 440 cannot parse is not held against the SDK.
    """
    try:
        return Version(installed) < Version(minimum)
    except InvalidVersion:
        return False


def _importable(module: str) -> bool:
    """True when ``module`` can be imported; False, not an error, when a parent package is missing."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # find_spec("google.genai") imports ``google`` first
        return False


def _load(identifier: str) -> Integration:
    module_name, _, class_name = INTEGRATIONS[identifier].partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:  # the integration module itself is missing (not shipped yet)
        raise DidNotEnable(f"peekr has no {identifier!r} integration module: {exc}") from exc
    integration: Integration = getattr(module, class_name)()
    if not _importable(integration.package):
        raise DidNotEnable(
            f"provider {identifier!r} needs the {integration.distribution!r} package: "
            f"pip install 'peekr-sdk[{integration.extra}]'"
        )
    try:
        installed = importlib.metadata.version(integration.distribution)
    except importlib.metadata.PackageNotFoundError as exc:
        raise DidNotEnable(f"provider {identifier!r}: {integration.distribution!r} is not installed") from exc
    if _older_than(installed, integration.min_version):
        raise DidNotEnable(
            f"provider {identifier!r} needs {integration.distribution}>={integration.min_version}, found {installed}"
        )
    return integration


def _run_hook(identifier: str, module_name: str, hook: object, module: ModuleType) -> None:
    if not _enabled:
        return
    try:
        hook(module)  # type: ignore[operator]
    except Exception as exc:
        from .._errors import log_internal_error

        log_internal_error(f"integrations.{identifier}.setup({module_name})", exc)


def setup_integrations(providers: Iterable[str] | None) -> list[str]:
    """Enable the named providers (all known ones when None); return those enabled.

    Raises:
        ValueError: an unknown provider name.
        ModuleNotFoundError: a named provider's SDK is missing or too old.
    """
    global _enabled
    import wrapt

    explicit = providers is not None
    names = list(providers) if providers is not None else list(INTEGRATIONS)
    for name in names:
        if name not in INTEGRATIONS:
            raise ValueError(f"unknown provider {name!r}; expected one of: {', '.join(INTEGRATIONS)}")
    enabled: list[str] = []
    with _lock:
        _enabled = True
        for name in names:
            try:
                integration = _load(name)
            except DidNotEnable as exc:
                if explicit:
                    raise ModuleNotFoundError(f"peekr: {exc}") from None
                logger.debug("peekr: skipping %s: %s", name, exc)
                continue
            for module_name, hook in integration.hooks().items():
                key = (name, module_name)
                if key in _hooked:
                    # wrapt hooks cannot be removed; re-run the patch directly if already imported.
                    import sys

                    if module_name in sys.modules:
                        _run_hook(name, module_name, hook, sys.modules[module_name])
                    continue
                _hooked.add(key)
                wrapt.register_post_import_hook(
                    lambda module, n=name, m=module_name, h=hook: _run_hook(n, m, h, module), module_name
                )
            enabled.append(name)
    return enabled


def integrations_enabled() -> bool:
    """True between ``setup_integrations`` and ``teardown_integrations``."""
    return _enabled


def teardown_integrations() -> int:
    """Restore every patched method; later imports are no longer patched."""
    global _enabled
    with _lock:
        _enabled = False
        return restore_all()
