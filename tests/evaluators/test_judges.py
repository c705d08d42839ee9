"""The four SDK judges share one base (``SDKJudge``): argument checks, the lazily made client (one per
event loop where the SDK's client is bound to one), HTTP errors mapped to ``JudgeError`` and ``aclose``.
Each runs its real SDK against the fake provider."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import anyio
import pytest

from peekr.eval import AnthropicJudge, BedrockJudge, GeminiJudge, OpenAIJudge
from peekr.evaluators import JudgeError, JudgeReply
from peekr.evaluators._judge_base import SDKJudge
from peekr.testing.fake_provider import FakeProvider

pytest.importorskip("openai")
pytest.importorskip("anthropic")
pytest.importorskip("google.genai")
pytest.importorskip("boto3")

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")  # boto3 keeps its pool until collected

SCHEMA = {"type": "object", "properties": {"claims": {"type": "array"}}, "required": ["claims"]}
Make = Callable[[FakeProvider, str], SDKJudge]

JUDGES: dict[str, tuple[Make, str]] = {
    "openai": (lambda f, m: OpenAIJudge(m, base_url=f.openai_base_url, api_key="sk-fake", max_retries=0), "gpt-4o"),
    "anthropic": (
        lambda f, m: AnthropicJudge(m, base_url=f.anthropic_base_url, api_key="sk-ant-fake", max_retries=0),
        "claude-tool",
    ),
    "gemini": (lambda f, m: GeminiJudge(m, base_url=f.gemini_base_url, api_key="fake", max_retries=0), "gemini-2.0"),
    "bedrock": (
        lambda f, m: BedrockJudge(
            m,
            endpoint_url=f.bedrock_endpoint_url,
            region_name="us-east-1",
            aws_access_key_id="fake",
            aws_secret_access_key="fake",
            max_retries=0,
        ),
        "anthropic.claude-tool",
    ),
}


@pytest.fixture
def provider() -> Iterator[FakeProvider]:
    with FakeProvider() as fake:
        yield fake


async def _ask(judge: SDKJudge) -> JudgeReply:
    return await judge.complete("Answer in JSON.", "Is the sky blue?", "claims", SCHEMA)


@pytest.mark.parametrize("name", JUDGES)
def test_an_http_error_becomes_a_judge_error_naming_the_status(provider: FakeProvider, name: str) -> None:
    make, model = JUDGES[name]
    judge = make(provider, f"{model}-error-400")

    async def run() -> None:
        try:
            with pytest.raises(JudgeError, match=r"judge .*HTTP 400"):
                await _ask(judge)
        finally:
            await judge.aclose()

    anyio.run(run)


@pytest.mark.parametrize("name", JUDGES)
def test_the_own_client_is_reused_made_again_in_a_new_loop_and_closed(provider: FakeProvider, name: str) -> None:
    make, model = JUDGES[name]
    judge = make(provider, model)

    async def twice(close: bool) -> Any:
        reply = await _ask(judge)
        assert reply.text and reply.tokens_input
        client = judge._client
        await _ask(judge)
        assert judge._client is client  # one client per event loop
        if close:
            await judge.aclose()
            assert (judge._client is None) == (name != "bedrock")  # boto3 clients are kept: nothing to release
        elif judge.per_loop:
            await client.close()  # in its own loop (the judge would just drop it: it cannot close it elsewhere)
        return client

    first = anyio.run(twice, False)
    second = anyio.run(twice, True)
    assert (second is not first) == (name in ("openai", "anthropic"))  # async clients belong to their loop
    assert len(provider.requests) == 4


@pytest.mark.parametrize("name", ["openai", "anthropic"])
def test_a_client_passed_in_is_used_and_never_closed(provider: FakeProvider, name: str) -> None:
    if name == "openai":
        client: Any = provider.async_openai_client()
        judge: SDKJudge = OpenAIJudge("gpt-4o", client=client)
    else:
        client = provider.async_anthropic_client()
        judge = AnthropicJudge("claude-tool", client=client)

    async def run() -> None:
        await _ask(judge)
        await judge.aclose()
        assert judge._client is client and not client.is_closed()
        await _ask(judge)  # still usable
        await client.close()

    anyio.run(run)
    assert len(provider.requests) == 2


@pytest.mark.parametrize("cls", [OpenAIJudge, AnthropicJudge, GeminiJudge, BedrockJudge])
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"model": ""}, "model must be a non-empty str"),
        ({"model": "m", "timeout": 0}, "timeout must be a positive number"),
        ({"model": "m", "max_retries": -1}, "max_retries must be an int >= 0"),
    ],
)
def test_bad_settings_are_refused_naming_the_judge(cls: type[SDKJudge], kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=f"{cls.__name__}: {match}"):
        cls(**kwargs)


def test_repr_names_the_model() -> None:
    assert repr(OpenAIJudge("m", base_url="http://x")) == "OpenAIJudge(model='m', base_url='http://x')"
    assert repr(AnthropicJudge("m")) == "AnthropicJudge(model='m', base_url=None)"
    assert repr(GeminiJudge("m")) == "GeminiJudge(model='m')"
    assert repr(BedrockJudge("m")) == "BedrockJudge(model='m')"
