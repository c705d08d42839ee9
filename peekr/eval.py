"""Evaluate LLM calls as they happen: ``peekr.eval.Hallucination`` and your own evaluators.

Example:
    >>> import peekr
    >>> peekr.instrument(evaluators=[peekr.eval.Hallucination(
    ...     context_extractor=lambda span: span.attributes.get("input"),
    ...     model="gpt-4o-mini", detailed=True)])

Write your own with a function (``peekr.eval.evaluator``) or a class with ``name`` and
``async def evaluate(span)``; see ``peekr.eval.Evaluator`` and docs/evaluation.md.
"""

from __future__ import annotations

from ._runtime import last_runtime as _last_runtime
from .evaluators import SKIP as SKIP
from .evaluators import AnswerRelevance as AnswerRelevance
from .evaluators import AnthropicJudge as AnthropicJudge
from .evaluators import BedrockJudge as BedrockJudge
from .evaluators import CitationAccuracy as CitationAccuracy
from .evaluators import ContextRelevance as ContextRelevance
from .evaluators import EvalScore as EvalScore
from .evaluators import EvaluationFailed as EvaluationFailed
from .evaluators import Evaluator as Evaluator
from .evaluators import EvaluatorStats as EvaluatorStats
from .evaluators import GeminiJudge as GeminiJudge
from .evaluators import Hallucination as Hallucination
from .evaluators import HallucinationReport as HallucinationReport
from .evaluators import JsonSchema as JsonSchema
from .evaluators import Judge as Judge
from .evaluators import JudgeError as JudgeError
from .evaluators import JudgeReply as JudgeReply
from .evaluators import MaxLength as MaxLength
from .evaluators import NotEmpty as NotEmpty
from .evaluators import OpenAIJudge as OpenAIJudge
from .evaluators import Regex as Regex
from .evaluators import Rubric as Rubric
from .evaluators import evaluator as evaluator
from .evaluators import is_llm_span as is_llm_span
from .evaluators._prompts import PROMPT_VERSION as PROMPT_VERSION

__all__ = (
    "PROMPT_VERSION",
    "SKIP",
    "AnswerRelevance",
    "AnthropicJudge",
    "BedrockJudge",
    "CitationAccuracy",
    "ContextRelevance",
    "EvalScore",
    "EvaluationFailed",
    "Evaluator",
    "EvaluatorStats",
    "GeminiJudge",
    "Hallucination",
    "HallucinationReport",
    "JsonSchema",
    "Judge",
    "JudgeError",
    "JudgeReply",
    "MaxLength",
    "NotEmpty",
    "OpenAIJudge",
    "Regex",
    "Rubric",
    "evaluator",
    "is_llm_span",
    "stats",
)


def stats() -> dict[str, EvaluatorStats]:
    """Counters per evaluator of the running peekr (empty when none run).

    Example:
        >>> peekr.eval.stats()["hallucination"].failed
    """
    runtime = _last_runtime()
    return {} if runtime is None else runtime.evaluator_stats()


for _obj in (
    AnthropicJudge,
    BedrockJudge,
    GeminiJudge,
    EvalScore,
    EvaluationFailed,
    Evaluator,
    EvaluatorStats,
    Hallucination,
    HallucinationReport,
    Judge,
    JudgeError,
    JudgeReply,
    OpenAIJudge,
    AnswerRelevance,
    ContextRelevance,
    Rubric,
    CitationAccuracy,
    NotEmpty,
    MaxLength,
    Regex,
    JsonSchema,
    evaluator,
    is_llm_span,
    stats,
):
    _obj.__module__ = "peekr.eval"
del _obj
