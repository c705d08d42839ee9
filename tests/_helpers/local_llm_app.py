"""The app and the judge of the opt-in end-to-end test against a real llama.cpp server
(tests/evaluators/test_local_llm_server.py): both talk to ``PEEKR_LOCAL_LLM_URL``."""

from __future__ import annotations

import os
from typing import Any

from openai import OpenAI

import peekr


def _url() -> str:
    return os.environ["PEEKR_LOCAL_LLM_URL"]


def answer(question: str) -> str:
    """The app: one chat completion on the local model (recorded by peekr's OpenAI instrumentation)."""
    with OpenAI(base_url=_url(), api_key="local", max_retries=0, timeout=120) as client:
        reply = client.chat.completions.create(
            model="smollm2-135m", messages=[{"role": "user", "content": question}], max_tokens=40, temperature=0
        )
    return reply.choices[0].message.content or ""


class LocalHallucination(peekr.eval.Hallucination):
    """The hallucination evaluator judged by the same local model, JSON asked for in the prompt only
    (a grammar-constrained json_object answer from a 135M model runs to the context's end)."""

    def __init__(self, **kwargs: Any) -> None:
        # Generous timeouts: the judge's answer is not length-limited, and on 2 cores shared with the
        # rest of the suite one answer took over 120 s. Two judge calls fit in one evaluation, and one
        # evaluation within `eval run`'s 600 s wait for the evaluations in flight.
        judge = peekr.eval.OpenAIJudge("smollm2-135m", base_url=_url(), api_key="local", response_format="none",
                                       max_retries=0, timeout=270)  # fmt: skip
        super().__init__(judge=judge, timeout=560, **kwargs)
