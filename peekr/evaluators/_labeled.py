"""Measure a judge against a labeled file: balanced accuracy, per-class precision/recall, cost.

A labeled file is JSONL, one case per line: ``{"context": "...", "response": "...", "label":
"supported" | "not_supported"}`` (optional ``"id"``, ``"question"``). The judge predicts
``supported`` when every claim of the response is supported (score 1.0), ``not_supported``
when any claim is not; a case with no score (no claims) or a failed evaluation is counted
apart and as a wrong answer in the metrics, so a judge cannot look better by abstaining.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

__all__ = ["LABELS", "Case", "JudgeMetrics", "load_cases", "metrics", "sample_path"]

LABELS = ("supported", "not_supported")


def sample_path() -> Path:
    """The small hand-made labeled file shipped with peekr (30 cases)."""
    return Path(str(resources.files("peekr.evaluators") / "data" / "labeled_sample.jsonl"))


@dataclass(frozen=True)
class Case:
    """One labeled example."""

    id: str
    context: str
    response: str
    label: str
    question: str | None = None


def load_cases(path: Path) -> list[Case]:
    """Read and validate a labeled file.

    Raises:
        ValueError: a line is not JSON, lacks a field, or has an unknown label (line number given).
    """
    cases = []
    text = path.read_text(encoding="utf-8")
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}:{lineno}: not valid JSON ({exc.msg})") from None
        if not isinstance(obj, dict):
            raise ValueError(f"{path}:{lineno}: expected a JSON object, got {type(obj).__name__}")
        for key in ("context", "response", "label"):
            if not isinstance(obj.get(key), str):
                raise ValueError(f"{path}:{lineno}: missing string field {key!r}")
        if obj["label"] not in LABELS:
            raise ValueError(f"{path}:{lineno}: label must be 'supported' or 'not_supported', got {obj['label']!r}")
        question = obj.get("question")
        cases.append(
            Case(
                str(obj.get("id", lineno)),
                obj["context"],
                obj["response"],
                obj["label"],
                question if isinstance(question, str) else None,
            )
        )
    if not cases:
        raise ValueError(f"{path}: no cases")
    return cases


@dataclass
class JudgeMetrics:
    """The judge's scorecard on a labeled file."""

    cases: int
    correct: int
    abstained: int
    failed: int
    balanced_accuracy: float
    per_class: dict[str, dict[str, float | int | None]]
    cost_usd: float | None
    tokens_input: int
    tokens_output: int
    confusion: dict[str, dict[str, int]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "cases": self.cases,
            "correct": self.correct,
            "accuracy": self.correct / self.cases if self.cases else None,
            "balanced_accuracy": self.balanced_accuracy,
            "abstained": self.abstained,
            "failed": self.failed,
            "per_class": self.per_class,
            "confusion": self.confusion,
            "cost_usd": self.cost_usd,
            "cost_per_case_usd": None if self.cost_usd is None or not self.cases else self.cost_usd / self.cases,
            "tokens": {"input": self.tokens_input, "output": self.tokens_output},
        }


def metrics(
    labels: list[str],
    predictions: list[str | None],
    failed: list[bool],
    costs: list[float | None],
    tokens: list[tuple[int, int]],
) -> JudgeMetrics:
    """Score predictions (``None`` = no prediction) against labels."""
    confusion = {truth: dict.fromkeys((*LABELS, "none"), 0) for truth in LABELS}
    for truth, predicted in zip(labels, predictions, strict=True):
        confusion[truth][predicted or "none"] += 1
    per_class: dict[str, dict[str, float | int | None]] = {}
    recalls = []
    for cls in LABELS:
        support = sum(confusion[cls].values())
        true_pos = confusion[cls][cls]
        predicted_pos = sum(confusion[t][cls] for t in LABELS)
        recall = true_pos / support if support else None
        precision = true_pos / predicted_pos if predicted_pos else None
        per_class[cls] = {"precision": precision, "recall": recall, "support": support}
        if recall is not None:
            recalls.append(recall)
    cost: float | None = 0.0
    for c in costs:
        cost = None if c is None or cost is None else cost + c
    return JudgeMetrics(
        cases=len(labels),
        correct=sum(1 for t, p in zip(labels, predictions, strict=True) if t == p),
        abstained=sum(1 for p, f in zip(predictions, failed, strict=True) if p is None and not f),
        failed=sum(failed),
        balanced_accuracy=sum(recalls) / len(recalls) if recalls else 0.0,
        per_class=per_class,
        cost_usd=cost,
        tokens_input=sum(t[0] for t in tokens),
        tokens_output=sum(t[1] for t in tokens),
        confusion=confusion,
    )
