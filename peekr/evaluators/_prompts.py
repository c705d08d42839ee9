"""The hallucination judge's prompts, JSON schemas and the pydantic models that validate answers.

Bump ``PROMPT_VERSION`` whenever a prompt or schema changes: it is stored with every result so
scores from different prompt versions are never silently compared.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "EXTRACT_SCHEMA",
    "EXTRACT_SYSTEM",
    "PROMPT_VERSION",
    "VERIFY_SCHEMA",
    "VERIFY_SYSTEM",
    "Claim",
    "Extraction",
    "Verdict",
    "Verification",
    "extract_user",
    "verify_user",
]

PROMPT_VERSION = "hallucination-v2"

EXTRACT_SYSTEM = """You split an AI assistant's response into atomic factual claims so each can be checked on its own.

Rules:
- One claim = one fact: a single subject, predicate and object. Split sentences with "and", lists or several facts.
- Make every claim self-contained: replace pronouns and vague references ("it", "they", "the company", "this drug")
  with the names they refer to, using the response and the user's question.
- Keep every number, unit, date, name, condition ("if", "unless", "only when") and hedge ("may", "about",
  "usually") exactly as the response states them. Never round, generalize or strengthen a claim.
- Skip what asserts no fact: greetings, thanks, questions, offers to help, refusals, opinions about the
  conversation, and instructions to the user that state no fact.
- Do not add facts that are not in the response, and do not judge whether claims are true.
- For each claim, "source" is the sentence of the response it comes from, copied verbatim.
- If the response asserts no fact, return an empty list.

Answer with JSON only: {"claims": [{"claim": "...", "source": "..."}]}"""

VERIFY_SYSTEM = """You check claims strictly against a CONTEXT. The context is the only source of truth.

For each claim, in this order:
1. "evidence": copy, verbatim, the shortest passage of the context that decides the claim; "" if there is none.
2. "reason": one short sentence explaining how the evidence supports or contradicts the claim, or what is missing.
3. "verdict":
   - "supported": the context states the claim, or it follows directly and unambiguously from the context.
     Every number, date, name and condition in the claim must match the context.
   - "contradicted": the context states something incompatible with the claim.
   - "unsupported": the context neither states nor contradicts it. A claim that is true in the world but
     absent from the context is "unsupported". A claim that is more specific or more certain than the
     context is "unsupported".
4. "covered": true if the context discusses the claim's subject at all (even without deciding the claim),
   false if the context never mentions what the claim is about.
Do not use outside knowledge. Return exactly one verdict per claim id, for every id.

Answer with JSON only: {"verdicts": [{"id": 1, "evidence": "...", "reason": "...", "verdict": "supported", "covered": true}]}"""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)


class Claim(_Strict):
    """One atomic claim and the response sentence it came from."""

    claim: str = Field(min_length=1)
    source: str = ""


class Extraction(_Strict):
    """The extraction call's answer."""

    claims: list[Claim]


class Verdict(_Strict):
    """The verification of one claim."""

    id: int
    evidence: str = ""
    reason: str = ""
    verdict: Literal["supported", "contradicted", "unsupported"]
    #: Does the context discuss the claim's subject at all? (None: the judge did not say.)
    covered: bool | None = None


class Verification(_Strict):
    """The verification call's answer for one batch of claims."""

    verdicts: list[Verdict]


def _object(properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": list(properties), "additionalProperties": False}


EXTRACT_SCHEMA: dict[str, Any] = _object(
    {"claims": {"type": "array", "items": _object({"claim": {"type": "string"}, "source": {"type": "string"}})}}
)

VERIFY_SCHEMA: dict[str, Any] = _object(
    {
        "verdicts": {
            "type": "array",
            "items": _object(
                {
                    "id": {"type": "integer"},
                    "evidence": {"type": "string"},
                    "reason": {"type": "string"},
                    "verdict": {"type": "string", "enum": ["supported", "contradicted", "unsupported"]},
                    "covered": {"type": "boolean"},
                }
            ),
        }
    }
)


def extract_user(response: str, question: str | None) -> str:
    """The extraction call's user message."""
    parts = []
    if question:
        parts.append(f"<question>\n{question}\n</question>")
    parts.append(f"<response>\n{response}\n</response>")
    return "\n\n".join(parts)


def verify_user(context: str, claims: list[tuple[int, str]]) -> str:
    """The verification call's user message: the context, then the numbered claims as JSON."""
    numbered = json.dumps([{"id": i, "claim": c} for i, c in claims], ensure_ascii=False, indent=1)
    return f"<context>\n{context}\n</context>\n\n<claims>\n{numbered}\n</claims>"
