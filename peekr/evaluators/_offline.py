"""The offline eval runner: call your app on every row of a dataset, evaluate, and gate on scores.

``run_dataset`` instruments the process into a fresh SQLite file, calls ``app(row["input"])`` for
each row (a row is one trace: an ``eval.row`` span with the row's input, expected answer and the
app's output; a row's ``context`` is recorded as a retrieval at the start of the row, so
``Hallucination()`` without an extractor judges the answer against it), waits for every
evaluation, and summarises each score with a bootstrap 95 % confidence interval. The traces stay
in the file, viewable with ``peekr view`` / ``peekr ui``.
"""

from __future__ import annotations

import importlib
import inspect
import json
import math
import os
import random
import sqlite3
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "Comparison",
    "DatasetError",
    "RunReport",
    "ScoreSummary",
    "compare_runs",
    "load_app",
    "load_dataset",
    "read_scores",
    "run_dataset",
    "summarise",
]

_RESAMPLES = 2000


class DatasetError(ValueError):
    """The dataset, the app or a threshold cannot be used; the message says which and where."""


@dataclass(frozen=True)
class ScoreSummary:
    """One score over a run: mean with a bootstrap 95 % confidence interval."""

    name: str
    n: int
    mean: float | None
    low: float | None
    high: float | None
    #: Spans the evaluator gave no score (no claims, no context) or failed on.
    unscored: int = 0


@dataclass(frozen=True)
class Comparison:
    """A score against a baseline run: the difference of means and its 95 % interval."""

    name: str
    baseline: float
    current: float
    diff: float
    low: float
    high: float

    @property
    def significant(self) -> bool:
        """True when the interval of the difference excludes 0."""
        return self.low > 0 or self.high < 0


@dataclass
class RunReport:
    """What ``peekr eval run`` / ``run_dataset`` found."""

    dataset: str
    db: str
    rows: int
    app_errors: int
    scores: dict[str, ScoreSummary]
    thresholds: dict[str, float] = field(default_factory=dict)
    comparisons: dict[str, Comparison] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def failures(self) -> list[str]:
        """One line per threshold not met (empty: the gate passes)."""
        out = []
        for name, minimum in self.thresholds.items():
            summary = self.scores.get(name)
            if summary is None or summary.mean is None:
                out.append(f"{name}: no scores (needed ≥ {minimum:g}); is the evaluator configured?")
            elif summary.mean < minimum:
                out.append(f"{name}: mean {summary.mean:.3f} < {minimum:g}")
        return out

    @property
    def passed(self) -> bool:
        """Every threshold met."""
        return not self.failures

    def assert_min(self, **minimums: float) -> None:
        """Raise ``AssertionError`` naming each score whose mean is below its minimum.

        Example:
            >>> report.assert_min(hallucination=0.8, not_empty=1.0)
        """
        self.thresholds.update(minimums)
        if self.failures:
            raise AssertionError("eval scores below their minimum: " + "; ".join(self.failures))


def load_dataset(path: str | Path) -> list[dict[str, Any]]:
    """Rows of a JSONL dataset: one object per line with an ``input`` (and optional ``expected``,
    ``context`` — a string or a list of strings — and any other keys).

    Raises:
        DatasetError: Missing file, bad JSON, a row without ``input``, or no rows.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read the dataset: {exc.strerror or exc}") from None
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise DatasetError(f"{path}:{number}: not valid JSON: {exc}") from None
        if not isinstance(row, dict) or "input" not in row:
            raise DatasetError(f'{path}:{number}: each line must be an object with an "input" key')
        context = row.get("context")
        if context is not None and not isinstance(context, (str, list)):
            raise DatasetError(f'{path}:{number}: "context" must be a string or a list of strings')
        rows.append(row)
    if not rows:
        raise DatasetError(f"{path}: no rows")
    return rows


def load_app(spec: str) -> Callable[[Any], Any]:
    """``"package.module:function"`` -> the function (sync or async), importable from the working directory.

    Raises:
        DatasetError: Not ``module:function``, the module does not import, or the name is not callable.
    """
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise DatasetError(f"--app {spec!r}: expected module:function, e.g. myapp.rag:answer")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # like `python -m`: the project's own modules import
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise DatasetError(f"--app {spec!r}: cannot import {module_name!r}: {exc}") from None
    target: Any = module
    for part in attr.split("."):
        target = getattr(target, part, None)
    if not callable(target):
        raise DatasetError(f"--app {spec!r}: {attr!r} is not a function of {module_name}")
    return target  # type: ignore[no-any-return]


def run_dataset(
    rows: Sequence[dict[str, Any]],
    app: Callable[[Any], Any],
    evaluators: Sequence[Any],
    *,
    db: str | Path,
    dataset: str = "dataset",
    concurrency: int = 4,
    timeout: float = 600.0,
    on_row: Callable[[], None] | None = None,
) -> RunReport:
    """Call ``app`` on every row under instrumentation, evaluate, and summarise the scores.

    Raises:
        DatasetError: ``db`` exists already, or peekr is already running in this process.
    """
    import anyio

    import peekr

    from .._runtime import get_runtime

    db = Path(db)
    if db.exists():
        raise DatasetError(f"{db} exists: each run writes a new traces file (choose another --db)")
    if get_runtime() is not None:
        raise DatasetError("peekr is already running in this process: call peekr.shutdown() before an eval run")
    if not evaluators:
        raise DatasetError("no evaluators: give at least one (e.g. --evaluator not_empty)")
    db.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    run_id = f"{int(time.time())}-{os.getpid()}"
    handle = peekr.instrument(storage="sqlite", path=db, evaluators=list(evaluators))
    errors = 0
    try:

        async def one(index: int, row: dict[str, Any], limiter: anyio.CapacityLimiter) -> None:
            nonlocal errors
            async with limiter:
                try:
                    await _call_row(app, index, row, run_id)
                except Exception:  # the app failed on this row: recorded on its span, counted here
                    errors += 1
                if on_row is not None:
                    on_row()

        async def main() -> None:
            limiter = anyio.CapacityLimiter(concurrency)
            async with anyio.create_task_group() as tg:
                for index, row in enumerate(rows):
                    tg.start_soon(one, index, row, limiter)

        anyio.run(main)
        handle.flush(timeout)  # stores every evaluation in flight
    finally:
        handle.shutdown(timeout=30)
    scores = summarise(read_scores(db))
    return RunReport(
        dataset=dataset,
        db=str(db),
        rows=len(rows),
        app_errors=errors,
        scores=scores,
        seconds=time.perf_counter() - started,
    )


async def _call_row(app: Callable[[Any], Any], index: int, row: dict[str, Any], run_id: str) -> None:
    import anyio

    import peekr

    from .._capture import to_jsonable

    with peekr.session(session_id=f"eval-{run_id}-{index}", feature="peekr-eval-run"):
        with peekr.span("eval.row", row=index, input=row["input"], expected=row.get("expected")) as span:
            context = row.get("context")
            if context is not None:  # the row's context, as a retrieval the evaluators see first
                texts = [context] if isinstance(context, str) else [str(c) for c in context]
                documents = [{"id": str(i), "text": t} for i, t in enumerate(texts)]
                with peekr.span(
                    "eval.context", kind="retrieval", retrieval={"query": row["input"], "documents": documents}
                ):
                    pass
            if inspect.iscoroutinefunction(app):
                output = await app(row["input"])
            else:
                output = await anyio.to_thread.run_sync(app, row["input"])
            span.set_attribute("output", to_jsonable(output))


def read_scores(db: str | Path) -> dict[str, list[float | None]]:
    """Every evaluation of a run's traces file: score name -> values (None: no score / failed)."""
    path = Path(db)
    if not path.is_file():
        raise DatasetError(f"{path}: no such traces file")
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT evaluator, status, scores FROM eval_results ORDER BY id").fetchall()
    except sqlite3.Error as exc:
        raise DatasetError(f"{path}: not a peekr traces file ({exc})") from None
    finally:
        conn.close()
    out: dict[str, list[float | None]] = {}
    for evaluator, status, raw in rows:
        scores = json.loads(raw or "{}") if status == "ok" else {}
        if not scores:
            out.setdefault(evaluator, []).append(None)
        for name, value in scores.items():
            out.setdefault(name, []).append(None if value is None else float(value))
    return out


def summarise(scores: dict[str, list[float | None]]) -> dict[str, ScoreSummary]:
    """Mean and bootstrap 95 % interval per score."""
    out = {}
    for name, values in sorted(scores.items()):
        known = [v for v in values if v is not None and math.isfinite(v)]
        low, high = _interval(known)
        mean = sum(known) / len(known) if known else None
        out[name] = ScoreSummary(name, len(known), mean, low, high, unscored=len(values) - len(known))
    return out


def _interval(values: list[float]) -> tuple[float | None, float | None]:
    if not values:
        return None, None
    if len(values) == 1:
        return values[0], values[0]
    rng = random.Random(0)  # the same data gives the same interval, run after run
    n = len(values)
    means = sorted(sum(rng.choices(values, k=n)) / n for _ in range(_RESAMPLES))
    return means[int(0.025 * _RESAMPLES)], means[int(0.975 * _RESAMPLES) - 1]


def compare_runs(
    current: dict[str, list[float | None]], baseline: dict[str, list[float | None]]
) -> dict[str, Comparison]:
    """The difference of each score's mean to a baseline run, with a bootstrap 95 % interval."""
    out = {}
    rng = random.Random(0)
    for name in sorted(set(current) & set(baseline)):
        a = [v for v in baseline[name] if v is not None]
        b = [v for v in current[name] if v is not None]
        if not a or not b:
            continue
        diffs = sorted(
            sum(rng.choices(b, k=len(b))) / len(b) - sum(rng.choices(a, k=len(a))) / len(a) for _ in range(_RESAMPLES)
        )
        base, cur = sum(a) / len(a), sum(b) / len(b)
        out[name] = Comparison(
            name, base, cur, cur - base, diffs[int(0.025 * _RESAMPLES)], diffs[int(0.975 * _RESAMPLES) - 1]
        )
    return out
