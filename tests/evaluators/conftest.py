"""Fixtures for the evaluator tests: a deterministic fake judge behind the fake provider (real HTTP)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

import peekr
from peekr.evaluators import Hallucination
from peekr.evaluators._fake_judge import FakeJudge
from peekr.testing.fake_provider import FakeProvider


@pytest.fixture
def judge() -> FakeJudge:
    """The deterministic judge (see peekr/evaluators/_fake_judge.py for its rules)."""
    return FakeJudge()


@pytest.fixture
def fake(judge: FakeJudge) -> Iterator[FakeProvider]:
    """A fake OpenAI-compatible server answering with the fake judge."""
    with FakeProvider(chat_responder=judge) as provider:
        yield provider


@pytest.fixture
def make_hallucination(fake: FakeProvider) -> Callable[..., Hallucination]:
    """Build a Hallucination evaluator pointed at the fake judge (no SDK retries: fast failures)."""

    def build(model: str = "gpt-4o-mini", **kwargs: Any) -> Hallucination:
        kwargs.setdefault("context_extractor", lambda span: span.attributes["input"]["context"])
        if "judge" not in kwargs:
            kwargs["judge"] = peekr.eval.OpenAIJudge(
                model, base_url=fake.openai_base_url, api_key="sk-fake", max_retries=0, timeout=10
            )
        return Hallucination(**kwargs)

    return build
