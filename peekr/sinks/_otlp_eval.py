"""Evaluation results -> ``gen_ai.evaluation.result`` attribute sets (one per score).

The conventions' event carries ``gen_ai.evaluation.name`` (the score's name),
``gen_ai.evaluation.score.value``, ``gen_ai.evaluation.score.label``,
``gen_ai.evaluation.explanation`` and, for a failed evaluation, ``error.type``. Peekr's extra
detail (``hallucination_eval`` counts, per-claim ``hallucination_details``) stays as
``peekr.<key>`` JSON; per-claim details are content and follow the same rule as span content.

Labels: an evaluator that reports claim ``counts`` (the hallucination evaluator) gets ``pass``
when no claim is contradicted or unsupported and ``fail`` otherwise; an evaluator may also give
``<name>_eval.label`` itself. The explanation is ``<name>_eval.reason`` when given, else a count
summary ("3 of 4 claims supported; 1 unsupported").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._events import EvalResult
from ._otlp_attributes import CONTENT_KEYS, json_text

__all__ = ["EVENT_NAME", "evaluation_attributes"]

EVENT_NAME = "gen_ai.evaluation.result"


def _label(summary: Mapping[str, Any]) -> str | None:
    label = summary.get("label")
    if isinstance(label, str):
        return label
    counts = summary.get("counts")
    if isinstance(counts, Mapping) and summary.get("score") is not None:
        bad = int(counts.get("contradicted") or 0) + int(counts.get("unsupported") or 0)
        return "fail" if bad else "pass"
    return None


def _explanation(summary: Mapping[str, Any]) -> str | None:
    reason = summary.get("reason")
    if isinstance(reason, str) and reason:
        return reason
    counts = summary.get("counts")
    claims = summary.get("claims")
    if isinstance(counts, Mapping) and isinstance(claims, int) and claims:
        others = [f"{n} {verdict}" for verdict in ("contradicted", "unsupported") if (n := counts.get(verdict))]
        text = f"{counts.get('supported', 0)} of {claims} claims supported"
        return f"{text}; {', '.join(others)}" if others else text
    return None


def evaluation_attributes(result: EvalResult, *, content: bool) -> list[dict[str, Any]]:
    """One attribute set per score of ``result`` (one with ``error.type`` when it failed)."""
    details: dict[str, Any] = {"peekr.evaluator": result.evaluator, "peekr.evaluation.status": result.status}
    for key, value in result.attributes.items():
        if value is not None and (content or key not in CONTENT_KEYS):
            details[f"peekr.{key}"] = json_text(value)
    if result.status != "ok":
        failed = {"gen_ai.evaluation.name": result.evaluator, "error.type": "peekr.EvaluationFailed", **details}
        if result.error:
            failed["peekr.eval_error"] = result.error
        return [failed]
    out: list[dict[str, Any]] = []
    for name, score in result.scores.items():
        summary = result.attributes.get(f"{name}_eval")
        summary = summary if isinstance(summary, Mapping) else {}
        attributes: dict[str, Any] = {"gen_ai.evaluation.name": name}
        if score is not None:
            attributes["gen_ai.evaluation.score.value"] = float(score)
        label = _label(summary)
        if label is not None:
            attributes["gen_ai.evaluation.score.label"] = label
        explanation = _explanation(summary)
        if explanation is not None:
            attributes["gen_ai.evaluation.explanation"] = explanation
        out.append({**attributes, **details})
    return out
