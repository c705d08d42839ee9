"""A deterministic judge for tests, demos and benchmarks: plug it into the fake provider.

Example:
    >>> from peekr.testing.fake_provider import FakeProvider
    >>> judge = FakeJudge()
    >>> with FakeProvider(chat_responder=judge) as fake:  # doctest: +SKIP
    ...     Hallucination(model="gpt-4o-mini", base_url=fake.openai_base_url, api_key="fake")

Rules (on the hallucination prompts of ``_prompts.py``):

- Extraction: every sentence of the response is one claim (trailing period dropped), except
  questions and greetings/thanks; its source is the sentence.
- Verification: a claim whose text appears in the context is ``supported`` (evidence: the
  claim); one whose first three words start a context sentence that says something else is
  ``contradicted`` (evidence: that sentence); anything else is ``unsupported`` (no evidence).

Rules on the other judge evaluators' prompts (``_graded_prompts.py``), by "content words" (4+
letters, not a question word): answer relevance: ``relevant`` when the answer shares 2+ content
words with the question, ``partly`` with one, else ``irrelevant``; context relevance: a chunk is
relevant when it shares a content word with the question; rubric: a criterion scores the scale's
maximum when a content word of its name appears in the answer, else 1; citations: supported when
the sentence appears in the chunk (the substring rule).

Knobs: ``malformed`` answers garbage to that many next calls; ``fake_evidence`` makes every
supported verdict quote text that is not in the context.
"""

from __future__ import annotations

import json
import re
import threading
from typing import Any

from ._graded_prompts import ANSWER_RELEVANCE_SYSTEM, CITATION_SYSTEM, CONTEXT_RELEVANCE_SYSTEM, RUBRIC_SYSTEM
from ._prompts import EXTRACT_SYSTEM, VERIFY_SYSTEM

__all__ = ["FakeJudge"]

_GREETING = re.compile(r"^(hi|hello|hey|thanks|thank you|sure|great question|i hope this helps)\b", re.IGNORECASE)


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+", text.strip()) if s.strip()]


def _norm(text: str) -> str:
    return " ".join(text.lower().replace(".", " ").split())


def _between(text: str, tag: str) -> str:
    match = re.search(rf"<{tag}>\n(.*)\n</{tag}>", text, re.DOTALL)
    return match.group(1) if match else ""


class FakeJudge:
    """A chat responder answering the extraction and verification prompts (see the module docstring)."""

    def __init__(self, *, malformed: int = 0, fake_evidence: bool = False) -> None:
        self.malformed = malformed
        self.fake_evidence = fake_evidence
        self.calls = 0
        self._lock = threading.Lock()

    def __call__(self, body: dict[str, Any]) -> str:
        """Answer one chat completion request body."""
        messages = body.get("messages") or []
        system = next((m.get("content") for m in messages if m.get("role") == "system"), "") or ""
        user = next((m.get("content") for m in reversed(messages) if m.get("role") == "user"), "") or ""
        with self._lock:
            self.calls += 1
            if self.malformed > 0:
                self.malformed -= 1
                return '{"claims": [ this is not json'
        if system == EXTRACT_SYSTEM:
            return json.dumps({"claims": self.extract(_between(user, "response"))})
        if system == VERIFY_SYSTEM:
            claims = json.loads(_between(user, "claims") or "[]")
            return json.dumps({"verdicts": [self.verify(_between(user, "context"), c) for c in claims]})
        if system in _GRADED:
            return json.dumps(_GRADED[system](user))
        return json.dumps({"error": "FakeJudge got an unknown prompt"})

    @staticmethod
    def extract(response: str) -> list[dict[str, str]]:
        """One claim per declarative sentence."""
        claims = []
        for sentence in _sentences(response):
            if sentence.endswith("?") or _GREETING.match(sentence):
                continue
            claims.append({"claim": sentence.rstrip(".!"), "source": sentence})
        return claims

    def verify(self, context: str, claim: dict[str, Any]) -> dict[str, Any]:
        """Judge one claim by the substring rule."""
        text = str(claim.get("claim", ""))
        if _norm(text) and _norm(text) in _norm(context):
            evidence = "a quote the context does not contain" if self.fake_evidence else text
            return {"id": claim["id"], "evidence": evidence, "reason": "The context states it.", "verdict": "supported"}
        head = _norm(text).split()[:3]
        for sentence in _sentences(context):
            if len(head) == 3 and _norm(sentence).split()[:3] == head:
                return {
                    "id": claim["id"],
                    "evidence": sentence,
                    "reason": "The context says otherwise.",
                    "verdict": "contradicted",
                }
        return {
            "id": claim["id"],
            "evidence": "",
            "reason": "The context does not mention it.",
            "verdict": "unsupported",
        }


_QUESTION_WORDS = {"what", "which", "where", "when", "does", "that", "this", "with", "from", "have", "about", "tell"}


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9]{4,}", text.lower()) if w not in _QUESTION_WORDS}


def _answer_relevance(user: str) -> dict[str, Any]:
    shared = _words(_between(user, "question")) & _words(_between(user, "answer"))
    relevance = "relevant" if len(shared) >= 2 else "partly" if shared else "irrelevant"
    return {"reason": f"shares {len(shared)} content words with the question", "relevance": relevance}


def _context_relevance(user: str) -> dict[str, Any]:
    question = _words(_between(user, "question"))
    chunks = json.loads(_between(user, "chunks") or "[]")
    return {
        "chunks": [
            {"id": c["id"], "reason": "shares a content word" if question & _words(c["text"]) else "off topic",
             "relevant": bool(question & _words(c["text"]))}
            for c in chunks
        ]
    }  # fmt: skip


def _rubric(user: str) -> dict[str, Any]:
    answer = _words(_between(user, "answer"))
    top = int(re.findall(r"\d+", _between(user, "scale"))[-1])
    criteria = json.loads(_between(user, "criteria") or "[]")
    return {
        "criteria": [
            {"name": c["name"], "reason": "mentioned" if _words(c["name"]) & answer else "not mentioned",
             "score": top if _words(c["name"]) & answer else 1}
            for c in criteria
        ]
    }  # fmt: skip


def _citations(user: str) -> dict[str, Any]:
    citations = json.loads(_between(user, "citations") or "[]")
    return {
        "citations": [
            {"id": c["id"], "reason": "the chunk states it", "supported": _norm(c["sentence"]) in _norm(c["chunk"])}
            for c in citations
        ]
    }


_GRADED = {
    ANSWER_RELEVANCE_SYSTEM: _answer_relevance,
    CONTEXT_RELEVANCE_SYSTEM: _context_relevance,
    RUBRIC_SYSTEM: _rubric,
    CITATION_SYSTEM: _citations,
}
