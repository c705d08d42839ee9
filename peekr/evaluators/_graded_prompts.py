"""Prompts, JSON schemas and answer models of the judge evaluators beyond hallucination.

Each evaluator stores its ``PROMPT_VERSIONS`` entry with every result; bump it when its prompt or
schema changes, so scores from different prompts are never silently compared.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ANSWER_RELEVANCE_SYSTEM",
    "CITATION_SYSTEM",
    "CONTEXT_RELEVANCE_SYSTEM",
    "PROMPT_VERSIONS",
    "RUBRIC_SYSTEM",
    "AnswerRelevanceAnswer",
    "CitationAnswer",
    "ContextRelevanceAnswer",
    "RubricAnswer",
    "schema_of",
    "tagged",
]

PROMPT_VERSIONS = {
    "answer_relevance": "answer-relevance-v1",
    "context_relevance": "context-relevance-v1",
    "rubric": "rubric-v1",
    "citation_accuracy": "citation-accuracy-v1",
}

ANSWER_RELEVANCE_SYSTEM = """You judge whether an AI assistant's ANSWER addresses the user's QUESTION.
Judge relevance only, not correctness: a wrong but on-topic answer is relevant.
- "relevant": the answer responds to what was asked.
- "partly": it responds to part of the question, or mostly talks about something else.
- "irrelevant": it does not respond to the question (another topic, a refusal, a non-answer).
First write "reason" (one short sentence), then "relevance".

Answer with JSON only: {"reason": "...", "relevance": "relevant"}"""

CONTEXT_RELEVANCE_SYSTEM = """You judge whether each retrieved CHUNK is relevant to the user's QUESTION:
would it help answer the question? Judge each chunk on its own, by its id.
For each chunk: "reason" (one short sentence), then "relevant" (true or false).
Return exactly one entry per chunk id, for every id.

Answer with JSON only: {"chunks": [{"id": 1, "reason": "...", "relevant": true}]}"""

RUBRIC_SYSTEM = """You grade an AI assistant's ANSWER against each CRITERION of a rubric.
For each criterion, by its name: "reason" (one short sentence naming what meets or misses it), then
"score": an integer from 1 (fails the criterion) to the SCALE maximum (fully meets it).
Return exactly one entry per criterion.

Answer with JSON only: {"criteria": [{"name": "...", "reason": "...", "score": 1}]}"""

CITATION_SYSTEM = """You check citations. Each CITATION pairs a sentence of an AI assistant's answer with the
source CHUNK it cites. Decide, for each citation id, whether the chunk supports the sentence: every
number, name and claim in the sentence must be stated by the chunk (outside knowledge does not count).
For each: "reason" (one short sentence), then "supported" (true or false).

Answer with JSON only: {"citations": [{"id": 1, "reason": "...", "supported": true}]}"""


class _Loose(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)


class AnswerRelevanceAnswer(_Loose):
    """The relevance judgement."""

    reason: str = ""
    relevance: Literal["relevant", "partly", "irrelevant"]


class _ChunkVerdict(_Loose):
    id: int
    reason: str = ""
    relevant: bool


class ContextRelevanceAnswer(_Loose):
    """One verdict per chunk."""

    chunks: list[_ChunkVerdict]


class _CriterionScore(_Loose):
    name: str
    reason: str = ""
    score: int = Field(ge=1)


class RubricAnswer(_Loose):
    """One score per criterion."""

    criteria: list[_CriterionScore]


class _CitationVerdict(_Loose):
    id: int
    reason: str = ""
    supported: bool


class CitationAnswer(_Loose):
    """One verdict per citation."""

    citations: list[_CitationVerdict]


def schema_of(model: type[BaseModel]) -> dict[str, Any]:
    """The JSON schema sent for structured output."""
    return model.model_json_schema()


def tagged(**parts: Any) -> str:
    """``<question>\\n...\\n</question>`` blocks; lists and dicts as JSON."""
    blocks = []
    for tag, value in parts.items():
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        blocks.append(f"<{tag}>\n{text}\n</{tag}>")
    return "\n\n".join(blocks)
