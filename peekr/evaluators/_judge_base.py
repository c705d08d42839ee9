"""What every judge client shares: the reply, the error, the protocol and ``SDKJudge``.

``SDKJudge`` is the base of the provider judges (OpenAI, Anthropic, Bedrock, Gemini). It holds
the argument checks, the lazily created client (re-created when it was made in another event
loop, for clients bound to one), the mapping of the SDK's transport errors to ``JudgeError``,
``prepare`` and ``aclose``. A subclass supplies ``_make_client``, ``_call`` (the SDK call, under
``suppress_instrumentation()``), ``_reply`` (reading the response) and ``_map_error``.
"""

from __future__ import annotations

import importlib
import inspect
import os
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, runtime_checkable

import sniffio

__all__ = ["Judge", "JudgeError", "JudgeReply", "SDKJudge", "accepts", "env_key", "short"]


class JudgeError(Exception):
    """The judge model could not be called (HTTP error, timeout, unreachable, empty answer)."""


@dataclass(frozen=True)
class JudgeReply:
    """The judge's raw JSON text and what it cost in tokens."""

    text: str
    tokens_input: int | None
    tokens_output: int | None
    model: str


@runtime_checkable
class Judge(Protocol):
    """A model that answers a system + user prompt with JSON following a schema.

    ``complete`` runs in peekr's evaluation loop; it must make its call under
    ``suppress_instrumentation()`` and raise ``JudgeError`` for transport/HTTP failures.
    """

    provider: str
    model: str

    async def complete(self, system: str, user: str, schema_name: str, schema: dict[str, Any]) -> JudgeReply:
        """Ask the model; return its JSON text and token usage."""
        ...

    async def aclose(self) -> None:
        """Release the client (it is re-created on next use)."""
        ...


class SDKJudge:
    """A judge calling a provider SDK; a client passed in is used as is and never closed by peekr."""

    provider: str
    #: The SDK module ``prepare`` imports ahead of the first call.
    sdk_module: ClassVar[str]
    #: True when the client belongs to the event loop it was made in (async HTTP clients).
    per_loop: ClassVar[bool] = True
    #: Show ``base_url`` in ``repr``.
    show_base_url: ClassVar[bool] = False

    def __init__(self, model: str, *, client: Any, timeout: float, max_retries: int) -> None:
        where = type(self).__name__
        if not isinstance(model, str) or not model.strip():
            raise ValueError(f"{where}: model must be a non-empty str, got {model!r}")
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
            raise ValueError(f"{where}: timeout must be a positive number of seconds, got {timeout!r}")
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise ValueError(f"{where}: max_retries must be an int >= 0, got {max_retries!r}")
        self.model = model
        self.base_url: str | None = None
        self._timeout = float(timeout)
        self._max_retries = max_retries
        self._own_client = client is None
        self._client = client
        self._loop: object = None

    def _make_client(self) -> Any:
        """Create the SDK client; raise ``JudgeError`` when the SDK is missing or refuses the settings."""
        raise NotImplementedError

    async def _call(self, system: str, user: str, schema_name: str, schema: dict[str, Any]) -> Any:
        """Make the SDK call under ``suppress_instrumentation()``; return the SDK's response."""
        raise NotImplementedError

    def _reply(self, response: Any) -> JudgeReply:
        """Read the answer's JSON text and token usage out of the SDK's response."""
        raise NotImplementedError

    def _map_error(self, exc: Exception) -> JudgeError | None:
        """The ``JudgeError`` for a transport/HTTP failure of the SDK; None lets ``exc`` through."""
        return None

    async def _close_client(self, client: Any) -> None:
        await client.close()

    def _get_client(self) -> Any:
        if self.per_loop and self._own_client and self._client is not None and self._loop != _loop_key():
            self._client = None  # made in another (finished) event loop: its connections are unusable there
        if self._client is None:
            self._loop = _loop_key() if self.per_loop else None
            self._client = self._make_client()
        return self._client

    def prepare(self) -> None:
        """Import the SDK ahead of the first call (slow imports must not eat an evaluation's timeout)."""
        try:
            importlib.import_module(self.sdk_module)
        except ImportError:
            pass

    async def complete(self, system: str, user: str, schema_name: str, schema: dict[str, Any]) -> JudgeReply:
        """Ask the model; SDK transport/HTTP failures of the call become ``JudgeError``."""
        try:
            response = await self._call(system, user, schema_name, schema)
        except JudgeError:
            raise
        except Exception as exc:
            error = self._map_error(exc)
            if error is None:
                raise
            raise error from exc
        return self._reply(response)

    async def aclose(self) -> None:
        """Close the client peekr created (a new one is made on next use)."""
        client, self._client = self._client, (None if self._own_client else self._client)
        if self._own_client and client is not None:
            await self._close_client(client)

    def __repr__(self) -> str:
        base_url = f", base_url={self.base_url!r}" if self.show_base_url else ""
        return f"{type(self).__name__}(model={self.model!r}{base_url})"


def _loop_key() -> object:
    """Identify the running event loop (asyncio loop or trio run)."""
    try:
        if sniffio.current_async_library() == "trio":
            import trio

            return trio.lowlevel.current_trio_token()
        import asyncio

        return asyncio.get_running_loop()
    except (RuntimeError, sniffio.AsyncLibraryNotFoundError):
        return None


def accepts(fn: Any, parameter: str) -> bool:
    """True when ``fn`` takes ``parameter`` (or its signature cannot be read)."""
    try:
        return parameter in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return True


def env_key() -> str | None:
    """``OPENAI_API_KEY`` when set and not empty."""
    return os.environ.get("OPENAI_API_KEY") or None


def short(text: str, limit: int = 300) -> str:
    """``text`` on one line, cut at ``limit`` characters."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
