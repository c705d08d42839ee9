"""Ready SDK clients pointed at a `FakeProvider`: dummy keys, retries off. Each SDK is imported on use."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import anthropic
    import httpx2
    import openai
    from google import genai

__all__ = ["ClientsMixin"]

IN_PROCESS_URL = "http://fake-provider"
"""Base URL of in-process clients (the transport ignores the host)."""

_AWS = {"region_name": "us-east-1", "aws_access_key_id": "fake", "aws_secret_access_key": "fake"}


class ClientsMixin:
    """Per-SDK addresses, environment and client factories of `FakeProvider`, all derived from `url`.

    Keyword arguments of the factories go to the SDK constructor and win over the defaults.
    """

    @property
    def url(self) -> str:
        """The server's base URL (defined by `FakeProvider`)."""
        raise NotImplementedError

    def transport(self) -> httpx2.BaseTransport:
        """An in-process httpx2 transport (defined by `FakeProvider`)."""
        raise NotImplementedError

    def async_transport(self) -> httpx2.AsyncBaseTransport:
        """An in-process async httpx2 transport (defined by `FakeProvider`)."""
        raise NotImplementedError

    @property
    def openai_base_url(self) -> str:
        """``base_url`` for ``openai.OpenAI`` (ends in ``/v1``)."""
        return f"{self.url}/v1"

    @property
    def anthropic_base_url(self) -> str:
        """``base_url`` for ``anthropic.Anthropic`` (the SDK adds ``/v1/messages``)."""
        return self.url

    @property
    def gemini_base_url(self) -> str:
        """``HttpOptions(base_url=...)`` for ``google.genai.Client`` (serves v1, v1beta and v1alpha)."""
        return self.url

    @property
    def bedrock_endpoint_url(self) -> str:
        """``endpoint_url`` for a boto3 / aioboto3 ``bedrock-runtime`` client."""
        return self.url

    def env(self) -> dict[str, str]:
        """Environment variables that point the SDKs at this fake (with dummy credentials)."""
        url = self.url
        return {
            "OPENAI_BASE_URL": f"{url}/v1",
            "OPENAI_API_KEY": "sk-fake",
            "ANTHROPIC_BASE_URL": url,
            "ANTHROPIC_API_KEY": "sk-ant-fake",
            "GOOGLE_GEMINI_BASE_URL": url,
            "GEMINI_API_KEY": "fake",
            "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": url,
            "AWS_ACCESS_KEY_ID": "fake",
            "AWS_SECRET_ACCESS_KEY": "fake",
            "AWS_DEFAULT_REGION": "us-east-1",
        }

    def openai_client(self, *, in_process: bool = False, **kwargs: Any) -> openai.OpenAI:
        """``openai.OpenAI`` with ``max_retries=0``; ``in_process=True`` uses `transport()` (no sockets)."""
        import openai

        base_url = self._base_url(kwargs, "/v1", in_process=in_process, is_async=False)
        return openai.OpenAI(**{"api_key": "sk-fake", "base_url": base_url, "max_retries": 0, **kwargs})

    def async_openai_client(self, *, in_process: bool = False, **kwargs: Any) -> openai.AsyncOpenAI:
        """``openai.AsyncOpenAI`` with ``max_retries=0``; ``in_process=True`` uses `async_transport()`."""
        import openai

        base_url = self._base_url(kwargs, "/v1", in_process=in_process, is_async=True)
        return openai.AsyncOpenAI(**{"api_key": "sk-fake", "base_url": base_url, "max_retries": 0, **kwargs})

    def anthropic_client(self, *, in_process: bool = False, **kwargs: Any) -> anthropic.Anthropic:
        """``anthropic.Anthropic`` with ``max_retries=0``; ``in_process=True`` uses `transport()`."""
        import anthropic

        base_url = self._base_url(kwargs, "", in_process=in_process, is_async=False)
        return anthropic.Anthropic(**{"api_key": "sk-ant-fake", "base_url": base_url, "max_retries": 0, **kwargs})

    def async_anthropic_client(self, *, in_process: bool = False, **kwargs: Any) -> anthropic.AsyncAnthropic:
        """``anthropic.AsyncAnthropic`` with ``max_retries=0``; ``in_process=True`` uses `async_transport()`."""
        import anthropic

        base_url = self._base_url(kwargs, "", in_process=in_process, is_async=True)
        return anthropic.AsyncAnthropic(**{"api_key": "sk-ant-fake", "base_url": base_url, "max_retries": 0, **kwargs})

    def _base_url(self, kwargs: dict[str, Any], suffix: str, *, in_process: bool, is_async: bool) -> str:
        """The server's URL + `suffix`; in process, a placeholder URL and an ``http_client`` on our transport."""
        if not in_process:
            return self.url + suffix
        import httpx2

        http_client = (
            httpx2.AsyncClient(transport=self.async_transport())
            if is_async
            else httpx2.Client(transport=self.transport())
        )
        kwargs.setdefault("http_client", http_client)
        return IN_PROCESS_URL + suffix

    def genai_client(self, *, api_version: str | None = None, **kwargs: Any) -> genai.Client:
        """``google.genai.Client`` with one attempt per call; use ``.aio`` for async. Keep it referenced
        while you use it (a collected client closes its HTTP connection)."""
        from google import genai
        from google.genai import types

        options = types.HttpOptions(
            base_url=self.gemini_base_url, api_version=api_version, retry_options=types.HttpRetryOptions(attempts=1)
        )
        return genai.Client(**{"api_key": "fake", "http_options": options, **kwargs})

    def bedrock_client(self, **kwargs: Any) -> Any:
        """A boto3 ``bedrock-runtime`` client with dummy credentials and a single attempt."""
        import boto3

        return boto3.client("bedrock-runtime", **self._aws_options(kwargs))

    def async_bedrock_client(self, **kwargs: Any) -> Any:
        """An aioboto3 ``bedrock-runtime`` client context manager: ``async with fake.async_bedrock_client() as c``."""
        import aioboto3

        return aioboto3.Session().client("bedrock-runtime", **self._aws_options(kwargs))

    def _aws_options(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        """Dummy credentials, our endpoint, one attempt (botocore's ``max_attempts`` counts retries only)."""
        from botocore.config import Config

        config = Config(retries={"total_max_attempts": 1, "mode": "standard"})
        return {**_AWS, "endpoint_url": self.bedrock_endpoint_url, "config": config, **kwargs}
