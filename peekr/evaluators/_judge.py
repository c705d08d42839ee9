"""Judge-model clients: one JSON-returning call through a provider SDK, never traced.

Every call runs inside ``suppress_instrumentation()``, so the judge's own requests are never
recorded as spans (and so never evaluated: no loops). Clients are created lazily in the loop
that first uses them and closed by ``aclose()``; a client you pass in is never closed by peekr.

- ``OpenAIJudge``: any OpenAI-compatible endpoint (``base_url``/``api_key``); structured output
  with ``response_format={"type": "json_schema", ...}`` (or ``json_object`` for servers without
  JSON-schema support); temperature 0.
- ``AnthropicJudge``: a forced tool call whose ``input_schema`` is the schema; temperature 0.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

from .._context import suppress_instrumentation

__all__ = ["AnthropicJudge", "Judge", "JudgeError", "JudgeReply", "OpenAIJudge", "make_judge"]

logger = logging.getLogger("peekr")


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


def _check_common(where: str, model: object, timeout: object, max_retries: object) -> None:
    if not isinstance(model, str) or not model.strip():
        raise ValueError(f"{where}: model must be a non-empty str, got {model!r}")
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
        raise ValueError(f"{where}: timeout must be a positive number of seconds, got {timeout!r}")
    if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
        raise ValueError(f"{where}: max_retries must be an int >= 0, got {max_retries!r}")


class OpenAIJudge:
    """A judge on any OpenAI-compatible chat completions endpoint.

    Example:
        >>> OpenAIJudge("gpt-4o-mini")                                  # OPENAI_API_KEY from the env
        >>> OpenAIJudge("llama3.1", base_url="http://localhost:11434/v1", api_key="ollama",
        ...             response_format="json_object")

    Args:
        model: The judge model.
        base_url: The endpoint (default: the SDK's, i.e. ``OPENAI_BASE_URL`` or api.openai.com).
        api_key: The key (default: ``OPENAI_API_KEY``).
        client: An ``openai.AsyncOpenAI`` to use instead (never closed by peekr).
        timeout: Seconds per HTTP request.
        max_retries: The SDK's retries on 429/5xx/connection errors (with backoff).
        response_format: ``json_schema`` (strict structured output), ``json_object`` or ``none``.
        provider: Provider name used to price tokens (``openai``; set e.g. ``azure`` or a custom name).

    Raises:
        ValueError: a bad model, timeout, retry count or response format.
        TypeError: ``client`` is not an ``openai.AsyncOpenAI``-like object.
    """

    def __init__(
        self,
        model: str = "gpt-4o-mini",
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        client: Any = None,
        timeout: float = 60.0,
        max_retries: int = 2,
        response_format: Literal["json_schema", "json_object", "none"] = "json_schema",
        provider: str = "openai",
    ) -> None:
        _check_common("OpenAIJudge", model, timeout, max_retries)
        if response_format not in ("json_schema", "json_object", "none"):
            raise ValueError(
                f"OpenAIJudge: response_format must be 'json_schema', 'json_object' or 'none', got {response_format!r}"
            )
        if client is not None and not hasattr(getattr(client, "chat", None), "completions"):
            raise TypeError(f"OpenAIJudge(client=...) expects an openai.AsyncOpenAI, got {type(client).__name__}")
        if base_url is not None and not isinstance(base_url, str):
            raise TypeError(f"OpenAIJudge(base_url=...) expects a str, got {type(base_url).__name__}")
        self.model = model
        self.provider = provider
        self.base_url = base_url
        self._api_key = api_key
        self._timeout = float(timeout)
        self._max_retries = max_retries
        self._format = response_format
        self._own_client = client is None
        self._client = client
        self._loop: object = None
        if client is None and api_key is None and _env_key() is None and base_url is None:
            logger.warning(
                "peekr: judge %r has no API key (pass api_key=... or set OPENAI_API_KEY); evaluations will fail",
                model,
            )

    def _get_client(self) -> Any:
        if self._own_client and self._client is not None and self._loop != _loop_key():
            self._client = None  # made in another (finished) event loop: its connections are unusable there
        if self._client is None:
            self._loop = _loop_key()
            try:
                import openai
            except ImportError as exc:
                raise JudgeError("the OpenAI judge needs the openai package: pip install 'peekr-sdk[openai]'") from exc
            try:
                self._client = openai.AsyncOpenAI(
                    base_url=self.base_url,
                    api_key=self._api_key or _env_key(),
                    timeout=self._timeout,
                    max_retries=self._max_retries,
                )
            except openai.OpenAIError as exc:  # e.g. no API key anywhere
                raise JudgeError(f"judge {self.model!r}: {exc} (pass api_key=... or set OPENAI_API_KEY)") from exc
        return self._client

    def prepare(self) -> None:
        """Import the SDK ahead of the first call (slow imports must not eat an evaluation's timeout)."""
        try:
            import openai  # noqa: F401
        except ImportError:
            pass

    async def complete(self, system: str, user: str, schema_name: str, schema: dict[str, Any]) -> JudgeReply:
        """One chat completion at temperature 0 returning JSON."""
        client = self._get_client()
        body: dict[str, Any] = {}
        if self._format == "json_schema":
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": schema_name, "strict": True, "schema": schema},
            }
        elif self._format == "json_object":
            body["response_format"] = {"type": "json_object"}
        import openai

        try:
            with suppress_instrumentation():
                response = await client.chat.completions.create(
                    model=self.model,
                    messages=[{"role": "system", "content": system}, {"role": "user", "content": user}],
                    temperature=0,
                    # Sent as is: the SDK's typed-parameter transform walks the JSON schema on every
                    # call (about a third of the judge's CPU per request in bench_eval.py).
                    extra_body=body or None,
                )
        except openai.APIStatusError as exc:
            raise JudgeError(f"judge {self.model!r}: HTTP {exc.status_code}: {_short(exc.message)}") from exc
        except openai.APITimeoutError as exc:
            raise JudgeError(f"judge {self.model!r}: request timed out after {self._timeout:g} s") from exc
        except openai.APIConnectionError as exc:
            where = self.base_url or "the default OpenAI endpoint"
            raise JudgeError(f"judge {self.model!r}: cannot reach {where}: {_short(str(exc))}") from exc
        choices = getattr(response, "choices", None) or []
        message = choices[0].message if choices else None
        text = getattr(message, "content", None) or ""  # a refusal leaves it empty: malformed, retried once
        usage = getattr(response, "usage", None)
        return JudgeReply(
            text=text,
            tokens_input=getattr(usage, "prompt_tokens", None),
            tokens_output=getattr(usage, "completion_tokens", None),
            model=getattr(response, "model", None) or self.model,
        )

    async def aclose(self) -> None:
        """Close the client peekr created (a new one is made on next use)."""
        client, self._client = self._client, (None if self._own_client else self._client)
        if self._own_client and client is not None:
            await client.close()

    def __repr__(self) -> str:
        return f"OpenAIJudge(model={self.model!r}, base_url={self.base_url!r})"


class AnthropicJudge:
    """A judge on Anthropic's Messages API, answering through a forced tool call.

    Example:
        >>> AnthropicJudge("claude-3-5-haiku-latest")   # ANTHROPIC_API_KEY from the env

    Args:
        model: The judge model.
        base_url: The endpoint (default: the SDK's).
        api_key: The key (default: ``ANTHROPIC_API_KEY``).
        client: An ``anthropic.AsyncAnthropic`` to use instead (never closed by peekr).
        timeout: Seconds per HTTP request.
        max_retries: The SDK's retries.
        max_tokens: Cap on the judge's answer.
    """

    provider = "anthropic"

    def __init__(
        self,
        model: str = "claude-3-5-haiku-latest",
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        client: Any = None,
        timeout: float = 60.0,
        max_retries: int = 2,
        max_tokens: int = 4096,
    ) -> None:
        _check_common("AnthropicJudge", model, timeout, max_retries)
        if client is not None and not hasattr(client, "messages"):
            raise TypeError(
                f"AnthropicJudge(client=...) expects an anthropic.AsyncAnthropic, got {type(client).__name__}"
            )
        self.model = model
        self.base_url = base_url
        self._api_key = api_key
        self._timeout = float(timeout)
        self._max_retries = max_retries
        self._max_tokens = max_tokens
        self._own_client = client is None
        self._client = client
        self._loop: object = None

    def _get_client(self) -> Any:
        if self._own_client and self._client is not None and self._loop != _loop_key():
            self._client = None  # made in another (finished) event loop: its connections are unusable there
        if self._client is None:
            self._loop = _loop_key()
            try:
                import anthropic
            except ImportError as exc:
                raise JudgeError(
                    "the Anthropic judge needs the anthropic package: pip install 'peekr-sdk[anthropic]'"
                ) from exc
            try:
                self._client = anthropic.AsyncAnthropic(
                    base_url=self.base_url, api_key=self._api_key, timeout=self._timeout, max_retries=self._max_retries
                )
            except anthropic.AnthropicError as exc:
                raise JudgeError(f"judge {self.model!r}: {exc} (pass api_key=... or set ANTHROPIC_API_KEY)") from exc
        return self._client

    def prepare(self) -> None:
        """Import the SDK ahead of the first call (slow imports must not eat an evaluation's timeout)."""
        try:
            import anthropic  # noqa: F401
        except ImportError:
            pass

    async def complete(self, system: str, user: str, schema_name: str, schema: dict[str, Any]) -> JudgeReply:
        """One message at temperature 0 whose forced tool call carries the JSON answer."""
        client = self._get_client()
        import anthropic

        kwargs: dict[str, Any] = {}
        if _accepts(client.messages.create, "temperature"):
            # anthropic 2.x dropped the parameter (sampling is fixed server-side for these models).
            kwargs["temperature"] = 0
        try:
            with suppress_instrumentation():
                response = await client.messages.create(
                    model=self.model,
                    max_tokens=self._max_tokens,
                    system=system,
                    messages=[{"role": "user", "content": user}],
                    tools=[{"name": schema_name, "description": "Record the answer.", "input_schema": schema}],
                    tool_choice={"type": "tool", "name": schema_name},
                    **kwargs,
                )
        except anthropic.APIStatusError as exc:
            raise JudgeError(f"judge {self.model!r}: HTTP {exc.status_code}: {_short(exc.message)}") from exc
        except anthropic.APITimeoutError as exc:
            raise JudgeError(f"judge {self.model!r}: request timed out after {self._timeout:g} s") from exc
        except anthropic.APIConnectionError as exc:
            raise JudgeError(f"judge {self.model!r}: cannot reach {self.base_url or 'Anthropic'}: {exc}") from exc
        text = ""
        for block in getattr(response, "content", None) or []:
            if getattr(block, "type", None) == "tool_use":
                text = json.dumps(block.input)
                break
        usage = getattr(response, "usage", None)
        return JudgeReply(
            text=text,
            tokens_input=getattr(usage, "input_tokens", None),
            tokens_output=getattr(usage, "output_tokens", None),
            model=getattr(response, "model", None) or self.model,
        )

    async def aclose(self) -> None:
        """Close the client peekr created (a new one is made on next use)."""
        client, self._client = self._client, (None if self._own_client else self._client)
        if self._own_client and client is not None:
            await client.close()

    def __repr__(self) -> str:
        return f"AnthropicJudge(model={self.model!r}, base_url={self.base_url!r})"


def make_judge(
    model: str, *, base_url: str | None = None, api_key: str | None = None, timeout: float = 60.0, max_retries: int = 2
) -> Judge:
    """Pick the judge client for a model name.

    ``anthropic/<model>`` or ``claude-...`` -> Anthropic; ``gemini/<model>`` or ``gemini-...`` -> Gemini;
    ``bedrock/<model id>`` -> Bedrock (``base_url`` is its endpoint); anything else -> OpenAI-compatible.

    Raises:
        ValueError: ``model`` is empty.
    """
    if not isinstance(model, str) or not model.strip():
        raise ValueError(f"judge model must be a non-empty str, got {model!r}")
    if model.startswith("gemini/") or (model.startswith("gemini-") and base_url is None):
        from ._judge_gemini import GeminiJudge

        return GeminiJudge(
            model.removeprefix("gemini/"), api_key=api_key, base_url=base_url, timeout=timeout, max_retries=max_retries
        )
    if model.startswith("bedrock/"):
        from ._judge_bedrock import BedrockJudge

        kwargs: dict[str, Any] = {"endpoint_url": base_url} if base_url else {}
        return BedrockJudge(model.removeprefix("bedrock/"), timeout=timeout, max_retries=max_retries, **kwargs)
    if model.startswith("anthropic/"):
        return AnthropicJudge(
            model.removeprefix("anthropic/"),
            base_url=base_url,
            api_key=api_key,
            timeout=timeout,
            max_retries=max_retries,
        )
    if model.startswith("claude") and base_url is None:
        return AnthropicJudge(model, api_key=api_key, timeout=timeout, max_retries=max_retries)
    return OpenAIJudge(
        model.removeprefix("openai/"), base_url=base_url, api_key=api_key, timeout=timeout, max_retries=max_retries
    )


def _loop_key() -> object:
    """Identify the running event loop (asyncio loop or trio run)."""
    import sniffio

    try:
        if sniffio.current_async_library() == "trio":
            import trio

            return trio.lowlevel.current_trio_token()
        import asyncio

        return asyncio.get_running_loop()
    except (RuntimeError, sniffio.AsyncLibraryNotFoundError):
        return None


def _accepts(fn: Any, parameter: str) -> bool:
    import inspect

    try:
        return parameter in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return True


def _env_key() -> str | None:
    import os

    return os.environ.get("OPENAI_API_KEY") or None


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
