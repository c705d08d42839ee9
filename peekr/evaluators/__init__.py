"""Evaluators: score spans off the caller's path and store the scores with the spans.

``peekr.instrument(evaluators=[...])`` calls ``make_subscriber`` to get the bus subscriber that
runs them. The public names live in ``peekr.eval``.
"""

from __future__ import annotations

from collections.abc import Sequence

from ._base import SKIP as SKIP
from ._base import EvalScore as EvalScore
from ._base import EvaluationFailed as EvaluationFailed
from ._base import Evaluator as Evaluator
from ._base import FunctionEvaluator as FunctionEvaluator
from ._base import evaluator as evaluator
from ._base import is_llm_span as is_llm_span
from ._base import to_evaluator
from ._checks import JsonSchema, MaxLength, NotEmpty, Regex
from ._graded import AnswerRelevance, CitationAccuracy, ContextRelevance, Rubric
from ._judge import AnthropicJudge as AnthropicJudge
from ._judge import Judge as Judge
from ._judge import JudgeError as JudgeError
from ._judge import JudgeReply as JudgeReply
from ._judge import OpenAIJudge as OpenAIJudge
from ._judge_bedrock import BedrockJudge as BedrockJudge
from ._judge_gemini import GeminiJudge as GeminiJudge
from ._runner import EvaluatorStats as EvaluatorStats
from ._sink import EvaluatorSink as EvaluatorSink
from .hallucination import Hallucination as Hallucination
from .hallucination import HallucinationReport as HallucinationReport

__all__ = (
    "SKIP",
    "AnswerRelevance",
    "AnthropicJudge",
    "BedrockJudge",
    "CitationAccuracy",
    "ContextRelevance",
    "EvalScore",
    "EvaluationFailed",
    "Evaluator",
    "EvaluatorSink",
    "EvaluatorStats",
    "FunctionEvaluator",
    "GeminiJudge",
    "Hallucination",
    "HallucinationReport",
    "Judge",
    "JudgeError",
    "JsonSchema",
    "JudgeReply",
    "MaxLength",
    "NotEmpty",
    "OpenAIJudge",
    "Regex",
    "Rubric",
    "evaluator",
    "is_llm_span",
    "make_subscriber",
)


def make_subscriber(evaluators: Sequence[object]) -> tuple[str, EvaluatorSink]:
    """Validate ``instrument(evaluators=[...])`` and return the bus subscriber running them.

    Returns:
        ``("evaluators", EvaluatorSink)``.

    Raises:
        TypeError: ``evaluators`` is not a list, or an item is not an evaluator (named by position).
        ValueError: two evaluators share a name, or a run setting is out of range.
    """
    if isinstance(evaluators, (str, bytes)) or not isinstance(evaluators, Sequence):
        raise TypeError(
            f"instrument(evaluators=...) expects a list of evaluators, got {type(evaluators).__name__}: {evaluators!r}"
        )
    specs = []
    seen: set[str] = set()
    for index, obj in enumerate(evaluators):
        name, evaluate, settings = to_evaluator(obj, index)
        if name in seen:
            raise ValueError(
                f"instrument(evaluators=[...]): two evaluators are named {name!r}; give one another name "
                "(e.g. Hallucination(name='hallucination_strict'))"
            )
        seen.add(name)
        specs.append((name, evaluate, settings, obj))
    return "evaluators", EvaluatorSink(specs)
