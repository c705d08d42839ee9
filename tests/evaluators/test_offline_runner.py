"""``peekr eval run`` and ``peekr.testing.evaluate``: an app called on every row of a dataset, its
answers judged (the fake judge on the fake provider, over HTTP), the gate's exit code, a baseline."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import eval_apps
import pytest
from typer.testing import CliRunner

import peekr
from peekr.cli._app import build_app
from peekr.evaluators._offline import DatasetError
from peekr.testing import evaluate
from peekr.testing.fake_provider import FakeProvider


@pytest.fixture
def fake() -> Iterator[FakeProvider]:
    with FakeProvider(chat_responder=eval_apps.responder) as provider:
        eval_apps.configure(provider.openai_base_url)
        yield provider
        eval_apps.close()


def _judge(fake: FakeProvider) -> peekr.eval.Hallucination:
    return peekr.eval.Hallucination(model="gpt-4o-mini", base_url=fake.openai_base_url, api_key="sk-fake")


def _dataset(tmp_path: Path, context: bool = True) -> Path:
    path = tmp_path / "rows.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in eval_apps.rows(context)), encoding="utf-8")
    return path


def test_evaluate_scores_a_grounded_app_and_keeps_its_traces(fake: FakeProvider, tmp_path: Path) -> None:
    report = evaluate(
        _dataset(tmp_path), eval_apps.grounded, [_judge(fake), peekr.eval.NotEmpty()], db=tmp_path / "run.db"
    )
    assert (report.rows, report.app_errors) == (4, 0)
    assert report.scores["hallucination"].mean == 1.0 and report.scores["hallucination"].n == 4
    assert report.scores["not_empty"].mean == 1.0
    report.assert_min(hallucination=0.9, not_empty=1.0)
    result = CliRunner().invoke(build_app(), ["view", str(tmp_path / "run.db")])
    assert result.exit_code == 0 and "eval.row" in result.output


def test_the_rows_context_is_what_the_answer_is_judged_against(fake: FakeProvider, tmp_path: Path) -> None:
    report = evaluate(_dataset(tmp_path), eval_apps.inventive, [_judge(fake)])
    assert report.scores["hallucination"].mean == 0.5  # one supported, one invented sentence per answer
    with pytest.raises(AssertionError, match=r"hallucination: mean 0.500 < 0.8"):
        report.assert_min(hallucination=0.8)


def test_async_apps_and_app_errors(fake: FakeProvider, tmp_path: Path) -> None:
    report = evaluate(_dataset(tmp_path), eval_apps.grounded_async, [peekr.eval.NotEmpty()])
    assert report.scores["not_empty"].n == 4 and report.app_errors == 0
    broken = evaluate(_dataset(tmp_path), eval_apps.broken, [peekr.eval.NotEmpty()])
    assert broken.app_errors == 1 and broken.scores["not_empty"].n == 3


def test_the_gate_exits_0_then_1_and_compares_with_a_baseline(fake: FakeProvider, tmp_path: Path) -> None:
    dataset = _dataset(tmp_path)
    common = ["eval", "run", str(dataset), "--judge-base-url", fake.openai_base_url, "--judge-api-key", "sk-fake"]
    first = CliRunner().invoke(
        build_app(),
        [*common, "--app", "eval_apps:grounded", "--min", "hallucination=0.8", "--db", str(tmp_path / "a.db"),
         "--report", str(tmp_path / "report.html")],
    )  # fmt: skip
    assert first.exit_code == 0, first.output
    assert "PASS: every --min met" in first.output
    assert "<td>hallucination</td><td>4</td><td>1.000</td>" in (tmp_path / "report.html").read_text()
    second = CliRunner().invoke(
        build_app(),
        [*common, "--app", "eval_apps:inventive", "--min", "hallucination=0.8", "--db", str(tmp_path / "b.db"),
         "--baseline", str(tmp_path / "a.db"), "--json"],
    )  # fmt: skip
    assert second.exit_code == 1
    data = json.loads(second.output)
    assert data["failures"] == ["hallucination: mean 0.500 < 0.8"] and data["passed"] is False
    comparison = data["comparisons"]["hallucination"]
    assert comparison["diff"] == -0.5 and comparison["significant"] is True
    assert data["comparisons"]["not_empty"]["significant"] is False


def test_the_legacy_eval_command_still_scores_stored_spans(tmp_path: Path) -> None:
    result = CliRunner().invoke(build_app(), ["eval", str(tmp_path / "missing.db")])
    assert result.exit_code == 1 and "missing.db" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--min", "hallucination"], "expected NAME=NUMBER"),
        (["--evaluator", "max_length:many"], "max_length:many"),
        (["--evaluator", "bogus"], "expected hallucination | not_empty"),
        (["--evaluator", "eval_apps:nothing_here"], "is not a function of eval_apps"),
    ],
)
def test_bad_options_are_usage_errors(tmp_path: Path, args: list[str], message: str) -> None:
    result = CliRunner().invoke(
        build_app(), ["eval", "run", str(_dataset(tmp_path)), "--app", "eval_apps:grounded", *args]
    )
    assert result.exit_code == 2 and message in result.output


@pytest.mark.parametrize(
    ("content", "app", "message"),
    [
        ('{"question": "x"}\n', "eval_apps:grounded", 'rows.jsonl:1: each line must be an object with an "input" key'),
        ("not json\n", "eval_apps:grounded", "rows.jsonl:1: not valid JSON"),
        ("", "eval_apps:grounded", "rows.jsonl: no rows"),
        ('{"input": "x"}\n', "no_such_module:fn", "cannot import 'no_such_module'"),
        ('{"input": "x"}\n', "eval_apps", "expected module:function"),
    ],
)
def test_bad_datasets_and_apps_fail_in_one_line(tmp_path: Path, content: str, app: str, message: str) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_text(content, encoding="utf-8")
    result = CliRunner().invoke(build_app(), ["eval", "run", str(path), "--app", app])
    assert result.exit_code == 1 and message in result.output


def test_a_run_never_overwrites_traces_or_joins_a_running_peekr(fake: FakeProvider, tmp_path: Path) -> None:
    (tmp_path / "run.db").write_text("")
    with pytest.raises(DatasetError, match="exists: each run writes a new traces file"):
        evaluate(eval_apps.rows(), eval_apps.grounded, [peekr.eval.NotEmpty()], db=tmp_path / "run.db")
    peekr.instrument(storage="memory")
    with pytest.raises(DatasetError, match="peekr is already running"):
        evaluate(eval_apps.rows(), eval_apps.grounded, [peekr.eval.NotEmpty()])
