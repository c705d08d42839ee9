"""``peekr.eval`` is a tested public surface."""

from __future__ import annotations

import peekr
import peekr.eval


def test_all_is_sorted_complete_and_importable() -> None:
    names = peekr.eval.__all__
    assert list(names) == sorted(names, key=lambda n: (not n.isupper(), n))
    public = {n for n in dir(peekr.eval) if not n.startswith("_") and n not in ("annotations",)}
    assert set(names) == public
    for name in names:
        obj = getattr(peekr.eval, name)
        if isinstance(obj, type) or callable(obj):
            assert obj.__module__ == "peekr.eval", name


def test_reachable_as_peekr_eval() -> None:
    assert peekr.eval.Hallucination is peekr.eval.Hallucination
    assert "eval" in peekr.__all__
    assert peekr.eval.PROMPT_VERSION == "hallucination-v1"
    assert isinstance(peekr.eval.stats(), dict)
