"""``GeminiJudge``: a judge on Google's Gemini API (google-genai), JSON by ``response_json_schema``.

The SDK's async client is asyncio-only (aiohttp), so calls use its sync client in a worker
thread (``anyio.to_thread``, context copied: suppression holds), which works on any backend.
"""

from __future__ import annotations

import functools
from typing import Any

import anyio.to_thread

from .._context import suppress_instrumentation
from ._judge_base import JudgeError, JudgeReply, SDKJudge, short

__all__ = ["GeminiJudge"]


class GeminiJudge(SDKJudge):
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
    sdk_module = "google.genai"
    per_loop = False  # the sync client, called from worker threads

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
        super().__init__(model, client=client, timeout=timeout, max_retries=max_retries)
        if client is not None and not hasattr(client, "aio"):
            raise TypeError(f"GeminiJudge(client=...) expects a google.genai.Client, got {type(client).__name__}")
        self.base_url = base_url
        self._api_key = api_key

    def _make_client(self) -> Any:
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
            return genai.Client(api_key=self._api_key, http_options=options)
        except Exception as exc:  # e.g. no API key anywhere
            raise JudgeError(f"judge {self.model!r}: {exc}") from exc

    async def _call(self, system: str, user: str, schema_name: str, schema: dict[str, Any]) -> Any:
        """One ``generate_content`` at temperature 0 with a JSON response schema."""
        client = self._get_client()
        from google.genai import types

        config = types.GenerateContentConfig(
            system_instruction=system,
            temperature=0,
            response_mime_type="application/json",
            response_json_schema=schema,
        )
        call = functools.partial(client.models.generate_content, model=self.model, contents=user, config=config)
        with suppress_instrumentation():
            return await anyio.to_thread.run_sync(call, abandon_on_cancel=True)

    def _reply(self, response: Any) -> JudgeReply:
        usage = getattr(response, "usage_metadata", None)
        return JudgeReply(
            text=getattr(response, "text", None) or "",
            tokens_input=getattr(usage, "prompt_token_count", None),
            tokens_output=getattr(usage, "candidates_token_count", None),
            model=getattr(response, "model_version", None) or self.model,
        )

    def _map_error(self, exc: Exception) -> JudgeError | None:
        try:
            from google.genai import errors
        except ImportError:  # a client passed in without the SDK installed: nothing to map
            return None
        if isinstance(exc, errors.APIError):
            return JudgeError(f"judge {self.model!r}: HTTP {exc.code}: {short(exc.message or '')}")
        if isinstance(exc, (OSError, TimeoutError)):
            return JudgeError(f"judge {self.model!r}: {type(exc).__name__}: {short(str(exc))}")
        return None

    async def _close_client(self, client: Any) -> None:
        await anyio.to_thread.run_sync(client.close)
