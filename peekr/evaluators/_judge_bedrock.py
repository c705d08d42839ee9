"""``BedrockJudge``: a judge on AWS Bedrock's Converse API (boto3), JSON through a forced tool call.

boto3 is synchronous: each call runs in a worker thread (``anyio.to_thread``), with the context
(and so ``suppress_instrumentation``) copied into it; the client is made there too, on first use.
"""

from __future__ import annotations

import functools
import json
from typing import Any

import anyio.to_thread

from .._context import suppress_instrumentation
from ._judge_base import JudgeError, JudgeReply, SDKJudge, short

__all__ = ["BedrockJudge"]


class BedrockJudge(SDKJudge):
    """A judge on Bedrock ``converse`` (any model that supports tool use).

    Example:
        >>> BedrockJudge("anthropic.claude-3-5-haiku-20241022-v1:0", region_name="us-east-1")

    Args:
        model: The Bedrock model id (or inference profile).
        client: A boto3 ``bedrock-runtime`` client to use instead.
        timeout: Seconds per HTTP request (read timeout).
        max_retries: botocore retries.
        **client_kwargs: Passed to ``boto3.client("bedrock-runtime", ...)`` (region_name, endpoint_url...).
    """

    provider = "bedrock"
    sdk_module = "boto3"
    per_loop = False  # boto3 clients are thread-safe and bound to no event loop

    def __init__(
        self,
        model: str,
        *,
        client: Any = None,
        timeout: float = 60.0,
        max_retries: int = 2,
        max_tokens: int = 4096,
        **client_kwargs: Any,
    ) -> None:
        super().__init__(model, client=client, timeout=timeout, max_retries=max_retries)
        if client is not None and not callable(getattr(client, "converse", None)):
            raise TypeError(f"BedrockJudge(client=...) expects a boto3 bedrock-runtime client, got {client!r}")
        self._max_tokens = max_tokens
        self._client_kwargs = client_kwargs

    def prepare(self) -> None:
        """Import boto3 and build the client ahead of the first call."""
        try:
            self._get_client()
        except JudgeError:
            pass

    def _make_client(self) -> Any:
        try:
            import boto3
            from botocore.config import Config
        except ImportError as exc:
            raise JudgeError("the Bedrock judge needs boto3: pip install 'peekr-sdk[bedrock]'") from exc
        config = Config(
            read_timeout=self._timeout,
            retries={"total_max_attempts": self._max_retries + 1, "mode": "standard"},
        )
        return boto3.client("bedrock-runtime", config=config, **self._client_kwargs)

    def _converse(self, system: str, user: str, schema_name: str, schema: dict[str, Any]) -> Any:
        with suppress_instrumentation():
            return self._get_client().converse(
                modelId=self.model,
                system=[{"text": system}],
                messages=[{"role": "user", "content": [{"text": user}]}],
                inferenceConfig={"temperature": 0, "maxTokens": self._max_tokens},
                toolConfig={
                    "tools": [
                        {
                            "toolSpec": {
                                "name": schema_name,
                                "description": "Record the answer.",
                                "inputSchema": {"json": schema},
                            }
                        }
                    ],
                    "toolChoice": {"tool": {"name": schema_name}},
                },
            )

    async def _call(self, system: str, user: str, schema_name: str, schema: dict[str, Any]) -> Any:
        """One ``converse`` call whose forced tool use carries the JSON answer."""
        call = functools.partial(self._converse, system, user, schema_name, schema)
        return await anyio.to_thread.run_sync(call, abandon_on_cancel=True)

    def _reply(self, response: Any) -> JudgeReply:
        text = ""
        for block in (response.get("output") or {}).get("message", {}).get("content") or []:
            if "toolUse" in block:
                text = json.dumps(block["toolUse"].get("input"))
                break
        usage = response.get("usage") or {}
        return JudgeReply(
            text=text, tokens_input=usage.get("inputTokens"), tokens_output=usage.get("outputTokens"), model=self.model
        )

    def _map_error(self, exc: Exception) -> JudgeError | None:
        # botocore ClientError, connection and read-timeout errors
        status = getattr(exc, "response", {}).get("ResponseMetadata", {}).get("HTTPStatusCode")
        prefix = f"HTTP {status}: " if status else ""
        return JudgeError(f"judge {self.model!r}: {prefix}{short(str(exc))}")

    async def aclose(self) -> None:
        """Nothing to release (boto3 clients are thread-safe and reusable)."""
