"""A fake LLM provider speaking the real OpenAI, Anthropic, Gemini and Bedrock wire formats.

Start it as a loopback HTTP server (``with FakeProvider() as fake: fake.url``) or use it in-process
as an httpx2 transport (``fake.transport()``). Importing this package imports no provider SDK.
See docs/fake-provider.md for the model-name vocabulary and the token rule.
"""

from __future__ import annotations

from ._behaviour import Reply as Reply
from ._behaviour import ToolCall as ToolCall
from ._cli import main as main
from ._provider import FakeProvider as FakeProvider
from ._settings import ChatResponder as ChatResponder
from ._wire import FakeRequest as FakeRequest

__all__ = ("ChatResponder", "FakeProvider", "FakeRequest", "Reply", "ToolCall", "main")
