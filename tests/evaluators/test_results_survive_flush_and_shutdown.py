"""Evaluations in flight are not lost: one flush stores their scores, and so does shutdown."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

from _evalhelpers import record_llm_span

import peekr
from peekr.evaluators import Hallucination


def _scores(path: Path) -> list[object]:
    rows = sqlite3.connect(path).execute("SELECT attributes FROM spans").fetchall()
    return [json.loads(row[0]).get("eval_scores", {}).get("hallucination") for row in rows]


def test_a_single_flush_stores_the_scores_of_in_flight_evaluations(
    make_hallucination: Callable[..., Hallucination], tmp_path: Path
) -> None:
    db = tmp_path / "traces.db"
    peekr.instrument(
        storage="sqlite", path=db, evaluators=[make_hallucination("gpt-4o-mini-latency-200")], providers=[]
    )
    for _ in range(3):
        record_llm_span()
    assert peekr.flush(timeout=10)
    assert len(_scores(db)) == 3
    assert all(score is not None for score in _scores(db))


def test_shutdown_waits_for_in_flight_evaluations_and_stores_their_scores(
    make_hallucination: Callable[..., Hallucination], tmp_path: Path
) -> None:
    db = tmp_path / "traces.db"
    peekr.instrument(
        storage="sqlite", path=db, evaluators=[make_hallucination("gpt-4o-mini-latency-200")], providers=[]
    )
    for _ in range(3):
        record_llm_span()
    assert peekr.shutdown(timeout=10)
    scores = _scores(db)
    assert len(scores) == 3 and all(score is not None for score in scores)
    assert peekr.stats().dropped == {}
