"""Judge-model clients: one JSON-returning call through a provider SDK, never traced.

Every call runs inside ``suppress_instrumentation()``, so the judge's own requests are never
recorded as spans (and so never evaluated: no loops). Clients are created lazily in the loop
that first uses them and closed by ``aclose()``; a client you pass in is never closed by peekr.

- ``OpenAIJudge``: any OpenAI-compatible endpoint (``base_url``/``api_key``); structured output
  with ``response_format={"type": "json_schema", ...}`` (or ``json_object`` for servers without
  JSON-schema support; also used from the first time a server refuses ``json_schema``); temperature 0.
- ``AnthropicJudge``: a forced tool call whose ``input_schema`` is the schema; temperature 0.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Literal

from .._context import suppress_instrumentation
from ._judge_base import Judge, JudgeError, JudgeReply, SDKJudge, accepts, env_key, short
from ._judge_bedrock import BedrockJudge
from ._judge_gemini import GeminiJudge

__all__ = ["AnthropicJudge", "Judge", "JudgeError", "JudgeReply", "OpenAIJudge", "make_judge"]

logger = logging.getLogger("peekr")


class OpenAIJudge(SDKJudge):
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

    sdk_module = "openai"
    show_base_url = True

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
        super().__init__(model, client=client, timeout=timeout, max_retries=max_retries)
        if response_format not in ("json_schema", "json_object", "none"):
            raise ValueError(
                f"OpenAIJudge: response_format must be 'json_schema', 'json_object' or 'none', got {response_format!r}"
            )
        if client is not None and not hasattr(getattr(client, "chat", None), "completions"):
            raise TypeError(f"OpenAIJudge(client=...) expects an openai.AsyncOpenAI, got {type(client).__name__}")
        if base_url is not None and not isinstance(base_url, str):
            raise TypeError(f"OpenAIJudge(base_url=...) expects a str, got {type(base_url).__name__}")
        self.provider = provider
        self.base_url = base_url
        self._api_key = api_key
        self._format = response_format
        if client is None and api_key is None and env_key() is None and base_url is None:
            logger.warning(
                "peekr: judge %r has no API key (pass api_key=... or set OPENAI_API_KEY); evaluations will fail",
                model,
            )

    def _make_client(self) -> Any:
        try:
            import openai
        except ImportError as exc:
            raise JudgeError("the OpenAI judge needs the openai package: pip install 'peekr-sdk[openai]'") from exc
        try:
            return openai.AsyncOpenAI(
                base_url=self.base_url,
                api_key=self._api_key or env_key(),
                timeout=self._timeout,
                max_retries=self._max_retries,
            )
        except openai.OpenAIError as exc:  # e.g. no API key anywhere
            raise JudgeError(f"judge {self.model!r}: {exc} (pass api_key=... or set OPENAI_API_KEY)") from exc

    async def _call(self, system: str, user: str, schema_name: str, schema: dict[str, Any]) -> Any:
        """One chat completion at temperature 0 returning JSON.

        A server that refuses ``json_schema`` (an HTTP error naming it, as llama-cpp-python's server
        and older OpenAI models answer) gets the call again with ``json_object``, and so does every
        later call of this judge; a warning says so once.
        """
        if self._format != "json_schema":
            return await self._create(system, user, schema_name, schema, self._format)
        try:
            return await self._create(system, user, schema_name, schema, "json_schema")
        except Exception as exc:
            if not _refuses_json_schema(exc):
                raise
            self._format = "json_object"
            logger.warning(
                "peekr: judge %r refused response_format json_schema (%s); asking for json_object from now on",
                self.model,
                short(str(exc), 160),
            )
        return await self._create(system, user, schema_name, schema, "json_object")

    async def _create(self, system: str, user: str, schema_name: str, schema: dict[str, Any], fmt: str) -> Any:
        client = self._get_client()
        body: dict[str, Any] = {}
        if fmt == "json_schema":
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": schema_name, "strict": True, "schema": schema},
            }
        elif fmt == "json_object":
            body["response_format"] = {"type": "json_object"}
        with suppress_instrumentation():
            return await client.chat.completions.create(
                model=self.model,
                messages=[{"role": "system", "content": system}, {"role": "user", "content": user}],
                temperature=0,
                # Sent as is: the SDK's typed-parameter transform walks the JSON schema on every
                # call (about a third of the judge's CPU per request in bench_eval.py).
                extra_body=body or None,
            )

    def _reply(self, response: Any) -> JudgeReply:
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

    def _map_error(self, exc: Exception) -> JudgeError | None:
        try:
            import openai
        except ImportError:  # a client passed in without the SDK installed: nothing to map
            return None

        if isinstance(exc, openai.APIStatusError):
            return JudgeError(f"judge {self.model!r}: HTTP {exc.status_code}: {short(exc.message)}")
        if isinstance(exc, openai.APITimeoutError):  # before APIConnectionError: it is one
            return JudgeError(f"judge {self.model!r}: request timed out after {self._timeout:g} s")
        if isinstance(exc, openai.APIConnectionError):
            where = self.base_url or "the default OpenAI endpoint"
            return JudgeError(f"judge {self.model!r}: cannot reach {where}: {short(str(exc))}")
        return None


def _refuses_json_schema(exc: Exception) -> bool:
    """True for an HTTP error whose message says the server does not take ``json_schema``."""
    status = getattr(exc, "status_code", None)
    if not isinstance(status, int) or status not in (400, 404, 415, 422, 500, 501):
        return False
    text = f"{getattr(exc, 'message', '')} {getattr(exc, 'body', '')}".lower()
    return "json_schema" in text or "response_format" in text


class AnthropicJudge(SDKJudge):
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
    sdk_module = "anthropic"
    show_base_url = True

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
        super().__init__(model, client=client, timeout=timeout, max_retries=max_retries)
        if client is not None and not hasattr(client, "messages"):
            raise TypeError(
                f"AnthropicJudge(client=...) expects an anthropic.AsyncAnthropic, got {type(client).__name__}"
            )
        self.base_url = base_url
        self._api_key = api_key
        self._max_tokens = max_tokens

    def _make_client(self) -> Any:
        try:
            import anthropic
        except ImportError as exc:
            raise JudgeError(
                "the Anthropic judge needs the anthropic package: pip install 'peekr-sdk[anthropic]'"
            ) from exc
        try:
            return anthropic.AsyncAnthropic(
                base_url=self.base_url, api_key=self._api_key, timeout=self._timeout, max_retries=self._max_retries
            )
        except anthropic.AnthropicError as exc:
            raise JudgeError(f"judge {self.model!r}: {exc} (pass api_key=... or set ANTHROPIC_API_KEY)") from exc

    async def _call(self, system: str, user: str, schema_name: str, schema: dict[str, Any]) -> Any:
        """One message at temperature 0 whose forced tool call carries the JSON answer."""
        client = self._get_client()
        kwargs: dict[str, Any] = {}
        if accepts(client.messages.create, "temperature"):
            # anthropic 2.x dropped the parameter (sampling is fixed server-side for these models).
            kwargs["temperature"] = 0
        with suppress_instrumentation():
            return await client.messages.create(
                model=self.model,
                max_tokens=self._max_tokens,
                system=system,
                messages=[{"role": "user", "content": user}],
                tools=[{"name": schema_name, "description": "Record the answer.", "input_schema": schema}],
                tool_choice={"type": "tool", "name": schema_name},
                **kwargs,
            )

    def _reply(self, response: Any) -> JudgeReply:
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

    def _map_error(self, exc: Exception) -> JudgeError | None:
        try:
            import anthropic
        except ImportError:  # a client passed in without the SDK installed: nothing to map
            return None

        if isinstance(exc, anthropic.APIStatusError):
            return JudgeError(f"judge {self.model!r}: HTTP {exc.status_code}: {short(exc.message)}")
        if isinstance(exc, anthropic.APITimeoutError):  # before APIConnectionError: it is one
            return JudgeError(f"judge {self.model!r}: request timed out after {self._timeout:g} s")
        if isinstance(exc, anthropic.APIConnectionError):
            return JudgeError(f"judge {self.model!r}: cannot reach {self.base_url or 'Anthropic'}: {exc}")
        return None


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
        return GeminiJudge(
            model.removeprefix("gemini/"), api_key=api_key, base_url=base_url, timeout=timeout, max_retries=max_retries
        )
    if model.startswith("bedrock/"):
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
