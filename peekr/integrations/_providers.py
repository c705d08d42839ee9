"""The providers' ``messages`` modules, in the order the text renderers consult them.

``peekr view``/``replay --io`` (``peekr.cli._common``) and the judges' text
(``peekr.evaluators._text``) know only the common message shape; whatever a provider's captures
do differently (key names, tool-call and tool-result blocks) comes from its ``messages`` module
through this list. Adding a provider: write ``peekr/integrations/<provider>/messages.py`` and list
it here.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from typing import Any, Literal

from ._messages import MessageConverter, Part
from .anthropic import messages as anthropic_messages
from .bedrock import messages as bedrock_messages
from .gemini import messages as gemini_messages
from .openai import messages as openai_messages

__all__ = ["PROVIDERS", "keys", "part"]

PROVIDERS: tuple[MessageConverter, ...] = (openai_messages, anthropic_messages, bedrock_messages, gemini_messages)

ShapeField = Literal["system", "turns", "body", "results", "data", "replies", "reply_text", "not_reply"]


@cache
def keys(field: ShapeField) -> tuple[str, ...]:
    """The ``Shape`` field of every provider, in provider order, each key once."""
    return _unique(key for provider in PROVIDERS for key in getattr(provider.SHAPE, field))


def part(block: Any) -> Part | None:
    """The tool call or tool result in a content block of any provider, or None (a call wins over a result)."""
    found = [view for view in (provider.part(block) for provider in PROVIDERS) if view is not None]
    return next((view for view in found if view.kind == "call"), found[0] if found else None)


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))
