"""What every provider integration shares: the base class, class-level patching, restore.

Patch once, decide per call, stay reversible (STYLE rule 8): a wrapper replaces the method on the
class that *defines* it and carries ``__peekr_wrapped__`` (the original). Patching twice is a
no-op. ``restore_all()`` puts the original back only where our wrapper is still in place;
where someone wrapped on top of us, our wrapper stays but passes straight through (it records
only while peekr runs).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any, ClassVar

__all__ = ["DidNotEnable", "Integration", "is_patched", "on_restore", "patch", "restore_all"]

logger = logging.getLogger("peekr")

_lock = threading.Lock()
_patches: list[tuple[type, str, Any, Any]] = []  # (owner, name, original, wrapper)
_undo: list[Callable[[], None]] = []  # what restore_all() runs besides un-patching (handlers to remove)


class DidNotEnable(Exception):
    """An integration cannot run here (SDK missing or too old)."""


class Integration:
    """One provider. Subclasses set the class attributes and implement ``hooks()``.

    ``hooks()`` maps a module name to a function that patches the classes that module defines.
    Each hook runs as soon as its module is imported (at once if it already is), so
    ``instrument()`` works whatever the import order, without importing the SDK itself.
    """

    identifier: ClassVar[str]
    #: The distribution whose version is checked, e.g. ``"openai"``.
    distribution: ClassVar[str]
    #: The importable top-level package that tells whether the SDK is installed.
    package: ClassVar[str]
    min_version: ClassVar[str]
    #: The extra that installs the SDK, for the error message.
    extra: ClassVar[str]

    def hooks(self) -> Mapping[str, Callable[[ModuleType], None]]:
        """Module name -> patch function for that module."""
        raise NotImplementedError


def is_patched(owner: type, name: str) -> bool:
    """True if ``owner.name`` is currently a peekr wrapper."""
    return hasattr(owner.__dict__.get(name), "__peekr_wrapped__")


def patch(owner: type, name: str, make_wrapper: Callable[[Any], Any]) -> bool:
    """Replace ``owner.name`` (defined on ``owner`` itself) with ``make_wrapper(original)``.

    Returns False (and changes nothing) when already patched or when ``owner`` does not define
    ``name`` (an SDK version without that method).
    """
    with _lock:
        original = owner.__dict__.get(name)
        if original is None or hasattr(original, "__peekr_wrapped__"):
            return False
        wrapper = make_wrapper(original)
        try:
            wrapper.__peekr_wrapped__ = original
        except AttributeError:  # e.g. a staticmethod object
            pass
        setattr(owner, name, wrapper)
        _patches.append((owner, name, original, wrapper))
        return True


def on_restore(undo: Callable[[], None]) -> None:
    """Have ``restore_all()`` run ``undo`` once (e.g. remove a handler added to a framework)."""
    with _lock:
        _undo.append(undo)


def restore_all() -> int:
    """Undo every patch still in place, run the ``on_restore`` undos; return how many patches were restored."""
    restored = 0
    with _lock:
        undos = _undo[:]
        _undo.clear()
    for undo in reversed(undos):
        try:
            undo()
        except Exception as exc:
            logger.debug("peekr: undo %r failed: %s", undo, exc)
    with _lock:
        while _patches:
            owner, name, original, wrapper = _patches.pop()
            if owner.__dict__.get(name) is wrapper:
                setattr(owner, name, original)
                restored += 1
            else:
                logger.debug("peekr: %s.%s was wrapped again by someone else; leaving it", owner.__name__, name)
    return restored
