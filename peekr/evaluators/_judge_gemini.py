"""``GeminiJudge``: a judge on Google's Gemini API (google-genai), JSON by ``response_json_schema``.

The SDK's async client is asyncio-only (aiohttp), so calls use its sync client in a worker
thread (``anyio.to_thread``, context copied: suppression holds), which works on any backend.
"""

from __future__ import annotations

import functools
from typing import Any

import anyio.to_thread

from .._context import suppress_instrumentation
from ._judge import JudgeError, JudgeReply, _check_common, _short

__all__ = ["GeminiJudge"]


class GeminiJudge:
    """A judge on the Gemini API.

    Example:
        >>> GeminiJudge("gemini-2.0-flash")   # GEMINI_API_KEY / GOOGLE_API_KEY from the env

    Args:
        model: The judge model.
        api_key: The key (default: the SDK's environment variables).
        base_url: Another endpoint (a proxy, a fake).
        client: A ``google.genai.Client`` to use instead (never closed by peekr).
        timeout: Seconds per HTTP request.
        max_retries: Attempts after the first on retryable errors.
    """

    provider = "gemini"

    def __init__(
        self,
        model: str = "gemini-2.0-flash",
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        client: Any = None,
        timeout: float = 60.0,
        max_retries: int = 2,
    ) -> None:
        _check_common("GeminiJudge", model, timeout, max_retries)
        if client is not None and not hasattr(client, "aio"):
            raise TypeError(f"GeminiJudge(client=...) expects a google.genai.Client, got {type(client).__name__}")
        self.model = model
        self.base_url = base_url
        self._api_key = api_key
        self._timeout = float(timeout)
        self._max_retries = max_retries
        self._own_client = client is None
        self._client = client

    def prepare(self) -> None:
        """Import the SDK ahead of the first call."""
        try:
            from google import genai  # noqa: F401
        except ImportError:
            pass

    def _get_client(self) -> Any:
        if self._client is None:
            try:
                from google import genai
                from google.genai import types
            except ImportError as exc:
                raise JudgeError("the Gemini judge needs google-genai: pip install 'peekr-sdk[gemini]'") from exc
            options = types.HttpOptions(
                base_url=self.base_url,
                timeout=int(self._timeout * 1000),
                retry_options=types.HttpRetryOptions(attempts=self._max_retries + 1),
            )
            try:
                self._client = genai.Client(api_key=self._api_key, http_options=options)
            except Exception as exc:  # e.g. no API key anywhere
                raise JudgeError(f"judge {self.model!r}: {exc}") from exc
        return self._client

    async def complete(self, system: str, user: str, schema_name: str, schema: dict[str, Any]) -> JudgeReply:
        """One ``generate_content`` at temperature 0 with a JSON response schema."""
        client = self._get_client()
        from google.genai import errors, types

        config = types.GenerateContentConfig(
            system_instruction=system,
            temperature=0,
            response_mime_type="application/json",
            response_json_schema=schema,
        )
        call = functools.partial(client.models.generate_content, model=self.model, contents=user, config=config)
        try:
            with suppress_instrumentation():
                response = await anyio.to_thread.run_sync(call, abandon_on_cancel=True)
        except errors.APIError as exc:
            raise JudgeError(f"judge {self.model!r}: HTTP {exc.code}: {_short(exc.message or '')}") from exc
        except (OSError, TimeoutError) as exc:
            raise JudgeError(f"judge {self.model!r}: {type(exc).__name__}: {_short(str(exc))}") from exc
        usage = getattr(response, "usage_metadata", None)
        return JudgeReply(
            text=getattr(response, "text", None) or "",
            tokens_input=getattr(usage, "prompt_token_count", None),
            tokens_output=getattr(usage, "candidates_token_count", None),
            model=getattr(response, "model_version", None) or self.model,
        )

    async def aclose(self) -> None:
        """Close the client peekr created."""
        client, self._client = self._client, (None if self._own_client else self._client)
        if self._own_client and client is not None:
            await anyio.to_thread.run_sync(client.close)

    def __repr__(self) -> str:
        return f"GeminiJudge(model={self.model!r})"
