"""Every public name is typed for type checkers, the lazily loaded ones included."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import peekr

mypy_api = pytest.importorskip("mypy.api")

_GOOD = """
from collections.abc import Sequence

import peekr
from peekr.eval import Evaluator


def short(span: peekr.Span) -> float:
    return 1.0


exporter = peekr.HTTPExporter(endpoint="http://127.0.0.1:1", api_key="key")
judged: Sequence[Evaluator] = [peekr.eval.evaluator(short, name="short")]
handle = peekr.instrument(storage="jsonl", retention_class="pii", exporter=exporter, evaluators=[*judged, short])
with peekr.session(retention_class="short"):
    pass
peekr.set_prices({"my-model": {"input": 1.0, "output": 2.0}})
record: peekr.Feedback = peekr.feedback("4bf92f3577b34da6a3ce929d0e0e4736", rating="good")
written: int = peekr.export_feedback(db_path="traces.db").written
stats: dict[str, peekr.eval.EvaluatorStats] = peekr.eval.stats()


def framework_fields(span: peekr.Span) -> tuple[object, ...]:
    a = span.attributes
    return a.get("kind"), a.get("framework"), a["retrieval"], a.get("guardrails"), a.get("hallucination_eval")
"""

_BAD = """
import peekr

peekr.HTTPExporter(endpoint=3, bogus=True)
peekr.instrument(storage="sqlit")
peekr.instrument(retention_class="forever")
peekr.instrument(evaluators=[42])
peekr.set_prices(3)
peekr.feedback(trace_id=7)
peekr.eval.Hallucination(nonsense=1)
"""


@pytest.fixture(scope="module")
def mypy_report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    """Run ``mypy --strict`` once over both programs: their error lines, per file name."""
    folder = tmp_path_factory.mktemp("typed")
    for name, source in (("good.py", _GOOD), ("bad.py", _BAD)):
        (folder / name).write_text(source)
    cache = Path(__file__).resolve().parents[2] / ".mypy_cache" / "test_public_types"  # reused: seconds, not minutes
    out, err, _ = mypy_api.run(["--strict", "--cache-dir", str(cache), str(folder / "good.py"), str(folder / "bad.py")])
    assert not err, err
    report: dict[str, list[str]] = {"good.py": [], "bad.py": []}
    for line in out.splitlines():
        match = re.match(r"^(?:.*[/\\])?(good|bad)\.py:(\d+): error: (.*)$", line)
        if match:
            report[f"{match[1]}.py"].append(f"{match[2]}: {match[3]}")
    return report


def test_a_correct_program_passes_mypy_strict(mypy_report: dict[str, list[str]]) -> None:
    assert mypy_report["good.py"] == []


def test_mypy_strict_reports_wrong_calls_of_every_lazily_loaded_name(mypy_report: dict[str, list[str]]) -> None:
    errors = mypy_report["bad.py"]
    assert {int(e.split(":")[0]) for e in errors} == {4, 5, 6, 7, 8, 9, 10}, errors  # each wrong call, nothing else
    assert any('Unexpected keyword argument "bogus" for "HTTPExporter"' in e for e in errors), errors
    assert any('Argument "endpoint" to "HTTPExporter" has incompatible type "int"' in e for e in errors), errors
    assert any('Argument "storage" to "instrument" has incompatible type' in e for e in errors), errors


def test_dir_lists_the_lazily_loaded_names() -> None:
    names = dir(peekr)
    assert {"HTTPExporter", "eval", "feedback", "export_feedback", "set_prices"} <= set(names)
    assert set(peekr.__all__) <= set(names)


def test_structured_and_redacted_framework_values_read_back() -> None:
    """Spans peekr writes with framework keys, as recorded and as a pii span redacts them, validate
    when read back from disk or the wire (the declared keys must not be narrower than what is stored)."""
    from peekr._redact import redact_pii
    from peekr._span import Span

    recorded: dict[str, object] = {
        "kind": "retrieval",
        "framework": "chroma",
        "retrieval": {"query": "q", "documents": [{"id": "d1", "text": "t", "score": 0.5}], "top_k": 1},
        "guardrails": [{"guard": "g", "on": "input", "action": "warn", "matches": 1}],
        "agent_actions": [{"tool": "search", "tool_input": {"q": "x"}}],
        "from_agent": None,
        "triggered": True,
        "tools": ["get_weather"],
    }
    redacted = dict(recorded)
    redact_pii(redacted)
    assert redacted["guardrails"] != recorded["guardrails"]  # replaced by the redaction marker
    for attributes in (recorded, redacted):
        span = Span(
            trace_id="1" * 32,
            span_id="2" * 16,
            name="chroma.query",
            start_time="2026-12-03T10:00:00.000000Z",
            end_time="2026-12-03T10:00:00.001000Z",
            duration_ms=1.0,
            attributes=attributes,  # type: ignore[arg-type]
        )
        assert Span.model_validate_json(span.model_dump_json()).attributes == attributes
