"""`peekr compare` and `peekr cost` in process (typer's CliRunner), on files written through the real sinks."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from _cli_run import Result
from experiment_samples import Arm, cost_sample, experiment_sample
from trace_files import write_db, write_jsonl


@pytest.fixture(params=["db", "jsonl"])
def experiment_file(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    path = tmp_path / f"traces.{request.param}"
    arms = {"A": Arm(), "B": Arm(cost=0.0007, latency_ms=790)}
    (write_db if request.param == "db" else write_jsonl)(path, experiment_sample(arms, 200, seed=11))
    return path


@pytest.fixture(params=["db", "jsonl"])
def cost_file(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    path = tmp_path / f"traces.{request.param}"
    (write_db if request.param == "db" else write_jsonl)(path, cost_sample())
    return path


def test_compare_table_and_verdict(cli, experiment_file: Path) -> None:
    result: Result = cli(["compare", str(experiment_file), "--experiment", "prompt-v2"])
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0] == "Experiment prompt-v2 — control A; 95 % intervals in brackets"
    assert lines[1].split() == ["metric", "A", "B", "B", "vs", "A"]
    assert lines[2].split() == ["calls", "200", "200"]
    cost_row = next(line for line in lines if line.startswith("cost per call"))
    assert cost_row.rstrip().endswith("*") and " -3" in cost_row  # about -30 %, significant
    assert any(line.startswith("hallucination score") for line in lines)
    verdict = lines[-1]
    assert verdict.startswith("Verdict: B is 3") and "% cheaper per call than A (p<0.001)" in verdict
    assert "no significant difference in tokens per call, latency" in verdict
    assert result.err == ""


def test_compare_json_and_metric_filter(cli, experiment_file: Path) -> None:
    result = cli(["compare", str(experiment_file), "-e", "prompt-v2", "--metric", "cost", "-m", "errors", "--json"])
    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert data["experiment"] == "prompt-v2" and data["control"] == "A"
    assert {t["metric"] for t in data["tests"]} == {"cost", "errors"}
    assert set(data["variants"][1]["metrics"]) == {"cost", "errors"}
    assert data["tests"][0]["significant"] is True


def test_compare_bad_input(cli, experiment_file: Path, tmp_path: Path) -> None:
    result = cli(["compare", str(experiment_file), "-e", "nope"])
    assert result.code == 1
    assert "no LLM calls recorded for experiment 'nope' (experiments here: other, prompt-v2)" in result.err
    result = cli(["compare", str(experiment_file), "-e", "prompt-v2", "--metric", "speed"])
    assert result.code == 2 and "unknown metric 'speed'" in result.err
    result = cli(["compare", str(experiment_file), "-e", "prompt-v2", "--control", "Z"])
    assert result.code == 2 and "--control 'Z' is not a variant" in result.err
    result = cli(["compare", str(tmp_path / "missing.db"), "-e", "x"])
    assert result.code == 1 and result.err.strip() == f"peekr: error: {tmp_path / 'missing.db'}: no such file"
    result = cli(["compare", str(experiment_file)])
    assert result.code == 2 and "--experiment" in result.err


def test_compare_warns_on_small_samples(cli, tmp_path: Path) -> None:
    path = tmp_path / "traces.db"
    write_db(path, experiment_sample({"A": Arm(), "B": Arm()}, 10, seed=1))
    result = cli(["compare", str(path), "-e", "prompt-v2"])
    assert result.code == 0
    assert "peekr: warning: fewer than 30 calls in A, B: the tests are approximate" in result.err


def test_cost_totals_and_unpriced(cli, cost_file: Path) -> None:
    sample = cost_sample()
    costs = [s.attributes["cost_usd"] for s in sample.spans if "cost_usd" in s.attributes]
    unpriced = sum(s.attributes.get("model") == "my-finetune" for s in sample.spans)
    result = cli(["cost", str(cost_file), "--json"])
    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert data["total"]["cost_usd"] == math.fsum(costs)
    assert data["total"]["calls"] == 601 and data["total"]["unpriced_calls"] == unpriced
    table = cli(["cost", str(cost_file), "--by", "model"])
    assert table.code == 0, table.err
    rows = {line.split()[0]: line.split() for line in table.out.splitlines()[1:-1] if line.strip()}
    assert rows["my-finetune"][-1] == "unpriced"  # never "$0"
    assert rows["my-finetune"][1] == rows["my-finetune"][2]  # calls == unpriced
    assert table.out.splitlines()[-1].startswith(f"Total ${math.fsum(costs):,.4f}".rstrip("0"))
    assert f"peekr: warning: {unpriced} calls had no price" in table.err


def test_cost_by_two_dimensions_top_and_range(cli, cost_file: Path) -> None:
    result = cli(["cost", str(cost_file), "--by", "feature", "--by", "day", "--top", "2"])
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0].split()[:3] == ["feature", "day", "calls"]
    # 2 features x 3 days + the failed call without a feature = 7 groups, 2 shown
    assert any(line.startswith("(5 more)") for line in lines)
    empty = cli(["cost", str(cost_file), "--until", "2000-01-01"])
    assert empty.code == 0 and empty.out.strip() == "No LLM calls in this time range."


def test_cost_bad_input(cli, cost_file: Path, tmp_path: Path) -> None:
    result = cli(["cost", str(cost_file), "--by", "region"])
    assert result.code == 2 and "'region'; expected one of: model, tenant, user, feature, endpoint, day" in result.err
    result = cli(["cost", str(cost_file), "--top", "0"])
    assert result.code == 2 and "expected a number >= 1" in result.err
    result = cli(["cost", str(cost_file), "--since", "yesterday"])
    assert result.code == 2 and "not a duration like 30m" in result.err
    result = cli(["cost", str(cost_file), "--since", "1d", "--until", "2d"])
    assert result.code == 1 and "is not before --until" in result.err
    (tmp_path / "x.jsonl").write_text("hello\n")
    result = cli(["cost", str(tmp_path / "x.jsonl")])
    assert result.code == 1 and "is this a peekr traces file?" in result.err


def test_compare_prints_names_verbatim(cli, tmp_path: Path) -> None:
    """Variant and experiment names are text, not rich markup."""
    sample = experiment_sample({"[bold]A": Arm(), "B[/]": Arm(cost=0.0005)}, 40, seed=4, name="exp [x]")
    path = tmp_path / "traces.db"
    write_db(path, sample)
    result = cli(["compare", str(path), "-e", "exp [x]", "-m", "cost"])
    assert result.code == 0, result.err
    assert result.out.startswith("Experiment exp [x] — control B[/];")
    assert "[bold]A vs B[/]" in result.out and "Verdict: [bold]A is " in result.out


def test_the_cost_command_lists_every_dimension_the_report_knows() -> None:
    """The CLI keeps its own copy of the dimensions (to start fast); it must not drift."""
    from peekr.cli.cost import DIMENSIONS
    from peekr.store._cost import DIMENSIONS as REPORT_DIMENSIONS

    assert tuple(DIMENSIONS) == tuple(REPORT_DIMENSIONS)
