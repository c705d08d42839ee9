"""Measure a judge against a labeled file: balanced accuracy, per-class precision/recall with 95 %
confidence intervals, cost.

A labeled file is JSONL, one case per line, with the fields of its evaluator (see ``FORMATS`` and
docs/evaluation.md) and a ``label``: the evaluator's positive or negative class (``supported`` /
``not_supported`` for hallucination, ``pass`` / ``fail`` for the others), or a number in [0, 1]
binned at the evaluator's threshold (at or above: the positive class). The judge's score is
binned at the same threshold. A case with no score (nothing to judge) or a failed evaluation is
counted apart and as a wrong answer in the metrics, so a judge cannot look better by abstaining.

Intervals: Wilson score intervals for precision and recall (proportions); a stratified percentile
bootstrap for balanced accuracy (each class's cases resampled with replacement, its size kept;
2,000 resamples, a fixed seed so the same file gives the same interval). Pure Python: numpy and
scipy are not dependencies of peekr.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from ..store._stats import wilson

__all__ = [
    "FORMATS",
    "LABELS",
    "Case",
    "JudgeMetrics",
    "LabeledFormat",
    "bootstrap_balanced_accuracy",
    "load_cases",
    "metrics",
    "sample_path",
]

#: The hallucination evaluator's classes (kept for callers of the first version).
LABELS = ("supported", "not_supported")
_RESAMPLES = 2000


@dataclass(frozen=True)
class LabeledFormat:
    """What a labeled file for one evaluator holds, and how scores become classes."""

    evaluator: str
    #: (positive, negative): a score at or above ``threshold`` is the positive class.
    classes: tuple[str, str]
    #: String fields every line must have.
    required: tuple[str, ...]
    #: String fields a line may have.
    optional: tuple[str, ...] = ()
    #: Every line has ``chunks``: a non-empty list of strings (the retrieved chunks, [1] = the first).
    chunks: bool = False
    #: Lines may give ``criteria`` ({name: description} or a list of names); else ``--criterion``.
    criteria: bool = False
    threshold: float = 1.0
    #: The sample shipped under peekr/evaluators/data/.
    sample: str = ""


FORMATS: dict[str, LabeledFormat] = {
    f.evaluator: f
    for f in (
        LabeledFormat(
            "hallucination", LABELS, ("context", "response"), ("question",), threshold=1.0,
            sample="labeled_sample.jsonl",
        ),
        LabeledFormat(
            "answer_relevance", ("pass", "fail"), ("question", "answer"), threshold=1.0,
            sample="answer_relevance_sample.jsonl",
        ),
        LabeledFormat(
            "context_relevance", ("pass", "fail"), ("question",), chunks=True, threshold=0.5,
            sample="context_relevance_sample.jsonl",
        ),
        LabeledFormat(
            "rubric", ("pass", "fail"), ("answer",), ("question",), criteria=True, threshold=0.5,
            sample="rubric_sample.jsonl",
        ),
        LabeledFormat(
            "citation_accuracy", ("pass", "fail"), ("answer",), chunks=True, threshold=1.0,
            sample="citation_accuracy_sample.jsonl",
        ),
    )
}  # fmt: skip


def sample_path(evaluator: str = "hallucination") -> Path:
    """The small hand-made labeled file shipped with peekr for ``evaluator``."""
    return Path(str(resources.files("peekr.evaluators") / "data" / FORMATS[evaluator].sample))


@dataclass(frozen=True)
class Case:
    """One labeled example: its id, its class, and the fields its evaluator reads."""

    id: str
    label: str
    fields: dict[str, Any] = field(default_factory=dict)

    @property
    def context(self) -> str:
        return str(self.fields.get("context", ""))

    @property
    def response(self) -> str:
        return str(self.fields.get("response", ""))

    @property
    def question(self) -> str | None:
        value = self.fields.get("question")
        return value if isinstance(value, str) else None


def _label(value: Any, fmt: LabeledFormat, threshold: float) -> str:
    if isinstance(value, str) and value in fmt.classes:
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= 1:
        return fmt.classes[0] if value >= threshold else fmt.classes[1]
    allowed = " or ".join(repr(c) for c in fmt.classes)
    raise ValueError(f"label must be {allowed} or a number in [0, 1], got {value!r}")


def _criteria(value: Any) -> dict[str, str]:
    if (
        isinstance(value, dict)
        and value
        and all(isinstance(k, str) and k and isinstance(v, str) for k, v in value.items())
    ):
        return dict(value)
    if isinstance(value, list) and value and all(isinstance(v, str) and v for v in value):
        return {v: v for v in value}
    raise ValueError("'criteria' must be a non-empty object {name: description} or a list of names")


def _case(obj: Any, lineno: int, fmt: LabeledFormat, threshold: float, criteria: dict[str, str] | None) -> Case:
    if not isinstance(obj, dict):
        raise ValueError(f"expected a JSON object, got {type(obj).__name__}")
    fields: dict[str, Any] = {}
    for key in fmt.required:
        if not isinstance(obj.get(key), str):
            raise ValueError(f"missing string field {key!r}")
        fields[key] = obj[key]
    for key in fmt.optional:
        if obj.get(key) is not None:
            if not isinstance(obj[key], str):
                raise ValueError(f"field {key!r} must be a string")
            fields[key] = obj[key]
    if fmt.chunks:
        chunks = obj.get("chunks")
        if not isinstance(chunks, list) or not chunks or not all(isinstance(c, str) for c in chunks):
            raise ValueError("'chunks' must be a non-empty list of strings")
        fields["chunks"] = chunks
    if fmt.criteria:
        if obj.get("criteria") is not None:
            fields["criteria"] = _criteria(obj["criteria"])
        elif criteria:
            fields["criteria"] = criteria
        else:
            raise ValueError("no 'criteria' on this line and none given with --criterion")
    if "label" not in obj:
        raise ValueError("missing field 'label'")
    return Case(str(obj.get("id", lineno)), _label(obj["label"], fmt, threshold), fields)


def load_cases(
    path: Path,
    evaluator: str = "hallucination",
    *,
    threshold: float | None = None,
    criteria: dict[str, str] | None = None,
) -> list[Case]:
    """Read and validate a labeled file for ``evaluator``.

    Raises:
        ValueError: a line is not JSON, lacks a field, or has an unknown label (``path:line: why``),
            or the file has no case.
    """
    fmt = FORMATS[evaluator]
    cut = fmt.threshold if threshold is None else threshold
    cases = []
    text = path.read_text(encoding="utf-8")
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}:{lineno}: not valid JSON ({exc.msg})") from None
        try:
            cases.append(_case(obj, lineno, fmt, cut, criteria))
        except ValueError as exc:
            raise ValueError(f"{path}:{lineno}: {exc}") from None
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
    per_class: dict[str, dict[str, Any]]
    cost_usd: float | None
    tokens_input: int
    tokens_output: int
    confusion: dict[str, dict[str, int]] = field(default_factory=dict)
    #: 95 % bootstrap interval of the balanced accuracy.
    balanced_accuracy_ci: tuple[float, float] | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "cases": self.cases,
            "correct": self.correct,
            "accuracy": self.correct / self.cases if self.cases else None,
            "balanced_accuracy": self.balanced_accuracy,
            "balanced_accuracy_ci": list(self.balanced_accuracy_ci) if self.balanced_accuracy_ci else None,
            "abstained": self.abstained,
            "failed": self.failed,
            "per_class": self.per_class,
            "confusion": self.confusion,
            "cost_usd": self.cost_usd,
            "cost_per_case_usd": None if self.cost_usd is None or not self.cases else self.cost_usd / self.cases,
            "tokens": {"input": self.tokens_input, "output": self.tokens_output},
        }


def _ci(k: int, n: int) -> list[float] | None:
    return list(wilson(k, n)) if n else None


def bootstrap_balanced_accuracy(
    hits: dict[str, list[bool]], *, resamples: int = _RESAMPLES, seed: int = 0
) -> tuple[float, float] | None:
    """95 % stratified percentile bootstrap interval of the balanced accuracy.

    ``hits[cls]`` says, for each case of true class ``cls``, whether the judge got it right. Each
    class's cases are resampled with replacement (its size kept); the balanced accuracy of each
    resample is the mean of the classes' recalls. ``None`` when no class has a case.
    """
    groups = [g for g in hits.values() if g]
    if not groups:
        return None
    rng = random.Random(seed)
    values = sorted(
        math.fsum(sum(rng.choices(g, k=len(g))) / len(g) for g in groups) / len(groups) for _ in range(resamples)
    )
    return values[int(0.025 * resamples)], values[int(0.975 * resamples) - 1]


def metrics(
    labels: list[str],
    predictions: list[str | None],
    failed: list[bool],
    costs: list[float | None],
    tokens: list[tuple[int, int]],
    *,
    classes: tuple[str, ...] = LABELS,
) -> JudgeMetrics:
    """Score predictions (``None`` = no prediction) against labels."""
    confusion = {truth: dict.fromkeys((*classes, "none"), 0) for truth in classes}
    for truth, predicted in zip(labels, predictions, strict=True):
        confusion[truth][predicted or "none"] += 1
    per_class: dict[str, dict[str, Any]] = {}
    recalls = []
    for cls in classes:
        support = sum(confusion[cls].values())
        true_pos = confusion[cls][cls]
        predicted_pos = sum(confusion[t][cls] for t in classes)
        recall = true_pos / support if support else None
        precision = true_pos / predicted_pos if predicted_pos else None
        per_class[cls] = {
            "precision": precision,
            "recall": recall,
            "support": support,
            "precision_ci": _ci(true_pos, predicted_pos),
            "recall_ci": _ci(true_pos, support),
        }
        if recall is not None:
            recalls.append(recall)
    hits: dict[str, list[bool]] = {cls: [] for cls in classes}
    for truth, predicted in zip(labels, predictions, strict=True):
        hits[truth].append(truth == predicted)
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
        balanced_accuracy_ci=bootstrap_balanced_accuracy(hits),
    )
