"""``peekr.eval`` is a tested public surface."""

from __future__ import annotations

import subprocess
import sys

import peekr
import peekr.eval
import peekr.evaluators


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
    # `import peekr` alone must be enough: peekr.eval is resolved lazily on first use.
    code = (
        "import sys, peekr; assert 'peekr.eval' not in sys.modules; "
        "from peekr.evaluators import Hallucination; "
        "assert peekr.eval.Hallucination is Hallucination; "
        "print(peekr.eval.Hallucination(model='gpt-4o-mini', api_key='sk-x').name)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "hallucination"
    assert peekr.eval.Hallucination is peekr.evaluators.Hallucination
    assert "eval" in peekr.__all__
    assert peekr.eval.PROMPT_VERSION == "hallucination-v2"
    assert isinstance(peekr.eval.stats(), dict)
