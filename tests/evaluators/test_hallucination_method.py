"""The hallucination method against the fake judge over real HTTP, on asyncio and trio."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from _evalhelpers import CONTEXT, RESPONSE, make_span

from peekr.evaluators import Hallucination
from peekr.evaluators._base import RunSettings
from peekr.evaluators._evaluate import evaluate_span
from peekr.evaluators._fake_judge import FakeJudge
from peekr.evaluators._prompts import EXTRACT_SYSTEM, PROMPT_VERSION, VERIFY_SYSTEM
from peekr.testing.fake_provider import FakeProvider

pytestmark = pytest.mark.anyio


async def run(h: Hallucination, span: Any = None, timeout: float = 30.0) -> Any:
    span = span if span is not None else make_span()
    h.prepare()  # as the runner does: SDK imports are not part of an evaluation's time
    try:
        return await evaluate_span(h.name, h.evaluate, RunSettings(timeout=timeout), span)
    finally:
        await h.aclose()


async def test_scores_every_claim_and_stores_details(
    make_hallucination: Callable[..., Hallucination], fake: FakeProvider
) -> None:
    outcome = await run(make_hallucination())
    result = outcome.result
    assert result.status == "ok" and result.error is None
    assert result.scores == {"hallucination": pytest.approx(1 / 3)}
    details = result.attributes["hallucination_details"]
    assert [(d["claim"], d["verdict"]) for d in details] == [
        ("Paris is the capital of France", "supported"),
        ("The Eiffel Tower is 500 metres tall", "contradicted"),
        ("It opened in 1889", "unsupported"),
    ]
    assert details[1]["evidence"] == "The Eiffel Tower is 330 metres tall."
    assert details[1]["source"] == "The Eiffel Tower is 500 metres tall."
    assert [d["evidence_found"] for d in details] == [True, True, None]
    summary = result.attributes["hallucination_eval"]
    assert summary["counts"] == {"supported": 1, "contradicted": 1, "unsupported": 1, "evidence_not_found": 0}
    assert summary["prompt_version"] == PROMPT_VERSION
    assert summary["judge_model"] == "gpt-4o-mini" and summary["judge_calls"] == 2
    assert summary["judge_tokens"]["input"] > 0 and summary["judge_tokens"]["output"] > 0
    assert summary["judge_cost_usd"] > 0
    # One extraction call, one verification call: temperature 0 and a strict JSON schema.
    bodies = [r.json for r in fake.requests]
    assert [b["messages"][0]["content"] for b in bodies] == [EXTRACT_SYSTEM, VERIFY_SYSTEM]
    assert all(b["temperature"] == 0 for b in bodies)
    assert [b["response_format"]["json_schema"]["name"] for b in bodies] == ["claims", "verdicts"]
    assert all(b["response_format"]["json_schema"]["strict"] is True for b in bodies)


async def test_detailed_false_keeps_counts_not_claims(make_hallucination: Callable[..., Hallucination]) -> None:
    result = (await run(make_hallucination(detailed=False))).result
    assert "hallucination_details" not in result.attributes
    assert result.attributes["hallucination_eval"]["claims"] == 3


async def test_claims_are_verified_in_batches(
    make_hallucination: Callable[..., Hallucination], fake: FakeProvider
) -> None:
    response = " ".join(f"Fact number {i} is true." for i in range(45))
    result = (await run(make_hallucination(batch_size=20), make_span(response, "Fact number 3 is true."))).result
    assert len(result.attributes["hallucination_details"]) == 45
    assert result.scores["hallucination"] == pytest.approx(1 / 45)
    assert len(fake.requests) == 1 + 3  # extraction + ceil(45 / 20) verification batches


async def test_no_claims_scores_none_with_a_reason(make_hallucination: Callable[..., Hallucination]) -> None:
    result = (await run(make_hallucination(), make_span("Hello! How can I help you today?"))).result
    assert result.status == "ok"
    assert result.scores == {"hallucination": None}
    assert "no checkable claims" in result.attributes["hallucination_eval"]["reason"]
    assert result.attributes["hallucination_eval"]["judge_calls"] == 1


@pytest.mark.parametrize("context", [None, "", "   ", []])
async def test_no_context_scores_none_without_calling_the_judge(
    make_hallucination: Callable[..., Hallucination], fake: FakeProvider, context: Any
) -> None:
    result = (await run(make_hallucination(), make_span(RESPONSE, context))).result
    assert result.scores == {"hallucination": None}
    assert "no context" in result.attributes["hallucination_eval"]["reason"]
    assert fake.requests == []


async def test_empty_response_scores_none(make_hallucination: Callable[..., Hallucination], fake: FakeProvider) -> None:
    result = (await run(make_hallucination(), make_span({"role": "assistant", "content": None}))).result
    assert result.scores == {"hallucination": None}
    assert "no text" in result.attributes["hallucination_eval"]["reason"]
    assert fake.requests == []


async def test_malformed_output_is_retried_once(
    make_hallucination: Callable[..., Hallucination], judge: FakeJudge, fake: FakeProvider
) -> None:
    judge.malformed = 1
    result = (await run(make_hallucination())).result
    assert result.status == "ok" and result.scores["hallucination"] == pytest.approx(1 / 3)
    assert len(fake.requests) == 3
    assert any("retried" in note for note in result.attributes["hallucination_eval"]["notes"])


async def test_malformed_output_twice_is_a_failed_evaluation(
    make_hallucination: Callable[..., Hallucination], judge: FakeJudge, fake: FakeProvider
) -> None:
    judge.malformed = 2
    outcome = await run(make_hallucination())
    result = outcome.result
    assert result.status == "failed" and result.scores == {}
    assert "malformed claims output twice" in result.error
    assert len(fake.requests) == 2
    # What the failed attempt cost is still recorded.
    assert result.attributes["hallucination_eval"]["judge_calls"] == 2
    assert result.attributes["hallucination_eval"]["score"] is None


async def test_wrong_verdict_ids_count_as_malformed(
    make_hallucination: Callable[..., Hallucination], fake: FakeProvider
) -> None:
    def responder(body: dict[str, Any]) -> str:
        if body["messages"][0]["content"] == EXTRACT_SYSTEM:
            return '{"claims": [{"claim": "Paris is the capital of France", "source": "x"}]}'
        return '{"verdicts": [{"id": 7, "evidence": "", "reason": "r", "verdict": "supported"}]}'

    fake.chat_responder = responder
    result = (await run(make_hallucination())).result
    assert result.status == "failed" and "do not match claim ids" in result.error
    assert len(fake.requests) == 3  # extraction + verification retried once


@pytest.mark.parametrize("status", [429, 500])
async def test_judge_http_error_is_a_failed_evaluation(
    make_hallucination: Callable[..., Hallucination], status: int
) -> None:
    outcome = await run(make_hallucination(f"gpt-4o-mini-error-{status}"))
    assert outcome.result.status == "failed"
    assert f"HTTP {status}" in outcome.result.error
    assert outcome.failure == "failed"


async def test_judge_timeout_is_a_failed_evaluation(make_hallucination: Callable[..., Hallucination]) -> None:
    outcome = await run(make_hallucination("gpt-4o-mini-latency-3000"), timeout=0.3)
    assert outcome.result.status == "failed" and "timed out" in outcome.result.error
    assert outcome.failure == "timeout"


async def test_evidence_not_in_context_is_flagged(
    make_hallucination: Callable[..., Hallucination], judge: FakeJudge
) -> None:
    judge.fake_evidence = True
    result = (await run(make_hallucination())).result
    supported = [d for d in result.attributes["hallucination_details"] if d["verdict"] == "supported"]
    assert supported and all(d["evidence_found"] is False for d in supported)
    assert result.attributes["hallucination_eval"]["counts"]["evidence_not_found"] == 1


async def test_context_extractor_failure_is_a_failed_evaluation(
    make_hallucination: Callable[..., Hallucination],
) -> None:
    outcome = await run(make_hallucination(context_extractor=lambda span: 1 / 0))
    assert outcome.result.status == "failed" and "context_extractor raised ZeroDivisionError" in outcome.result.error


async def test_default_context_is_the_whole_input(
    make_hallucination: Callable[..., Hallucination], fake: FakeProvider
) -> None:
    h = make_hallucination(context_extractor=None)
    span = make_span(RESPONSE)
    span.attributes["input"] = [
        {"role": "system", "content": [{"type": "text", "text": CONTEXT}]},
        {"role": "user", "content": "Tell me about the Eiffel Tower."},
    ]
    result = (await run(h, span)).result
    assert result.scores["hallucination"] == pytest.approx(1 / 3)
    extraction = fake.requests[0].json["messages"][1]["content"]
    assert "<question>\nTell me about the Eiffel Tower.\n</question>" in extraction


async def test_anthropic_judge_through_a_forced_tool_call(fake: FakeProvider) -> None:
    # The fake answers a forced tool call with schema-shaped arguments ({"claims": []}).
    from peekr.eval import AnthropicJudge

    judge = AnthropicJudge("claude-tool", base_url=fake.anthropic_base_url, api_key="sk-ant-fake", max_retries=0)
    h = Hallucination(context_extractor=lambda span: CONTEXT, judge=judge)
    result = (await run(h)).result
    assert result.scores == {"hallucination": None}, result.error
    body = fake.requests[0].json
    assert body["tool_choice"] == {"type": "tool", "name": "claims"}
    assert body["tools"][0]["input_schema"]["required"] == ["claims"]


async def test_gemini_judge_asks_for_json_and_rejects_non_json(fake: FakeProvider) -> None:
    # The fake Gemini echoes text instead of JSON: malformed twice -> a failed evaluation.
    from peekr.eval import GeminiJudge

    judge = GeminiJudge("gemini-2.0-flash", base_url=fake.gemini_base_url, api_key="fake", max_retries=0)
    h = Hallucination(context_extractor=lambda span: CONTEXT, judge=judge)
    outcome = await run(h)
    assert outcome.result.status == "failed" and "malformed claims output twice" in outcome.result.error
    body = fake.requests[0].json
    config = body["generationConfig"]
    assert config["temperature"] == 0 and config["responseMimeType"] == "application/json"
    assert config["responseJsonSchema"]["required"] == ["claims"]
    assert len(fake.requests) == 2


async def test_bedrock_judge_through_a_forced_tool_call(fake: FakeProvider) -> None:
    from peekr.eval import BedrockJudge

    judge = BedrockJudge(
        "anthropic.claude-tool",
        endpoint_url=fake.bedrock_endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="fake",
        aws_secret_access_key="fake",
        max_retries=0,
    )
    h = Hallucination(context_extractor=lambda span: CONTEXT, judge=judge)
    result = (await run(h)).result
    assert result.scores == {"hallucination": None}, result.error
    body = fake.requests[0].json
    assert body["toolConfig"]["toolChoice"] == {"tool": {"name": "claims"}}
    assert body["inferenceConfig"]["temperature"] == 0


def test_model_names_pick_the_judge() -> None:
    from peekr.evaluators._judge import make_judge

    assert type(make_judge("gpt-4o-mini", api_key="k")).__name__ == "OpenAIJudge"
    assert type(make_judge("claude-3-5-haiku-latest", api_key="k")).__name__ == "AnthropicJudge"
    assert type(make_judge("anthropic/claude-x", api_key="k")).__name__ == "AnthropicJudge"
    assert type(make_judge("gemini-2.0-flash", api_key="k")).__name__ == "GeminiJudge"
    assert type(make_judge("bedrock/amazon.nova-micro-v1:0")).__name__ == "BedrockJudge"
    assert type(make_judge("llama3.1", base_url="http://localhost:11434/v1", api_key="k")).__name__ == "OpenAIJudge"
