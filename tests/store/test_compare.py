"""compare_experiment on synthetic experiments written through the real sinks: a known effect is found,
identical variants are not told apart (and the false-positive rate stays bounded), bad input is clear."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from _cli_sample import Sample
from experiment_samples import Arm, experiment_sample
from trace_files import write_db, write_jsonl

from peekr.store._compare import compare_experiment, compare_spans
from peekr.store._readers import TraceFileError
from peekr.store._stats import fisher_exact, holm, mann_whitney, quantile, quantile_ci, two_proportions, wilson


@pytest.fixture(params=["db", "jsonl"])
def write(request: pytest.FixtureRequest, tmp_path: Path):
    def _write(sample: Sample) -> Path:
        path = tmp_path / f"traces.{request.param}"
        (write_db if request.param == "db" else write_jsonl)(path, sample)
        return path

    return _write


def test_known_effect_is_significant_in_the_right_direction(write) -> None:
    arms = {
        "A": Arm(),
        "B": Arm(latency_ms=600, cost=0.00077, error_rate=0.15, score=0.7, good_rate=0.5),
    }
    path = write(experiment_sample(arms, 300, seed=1))
    result = compare_experiment(path, "prompt-v2")
    assert result.control == "A" and [v.variant for v in result.variants] == ["A", "B"]
    assert [v.calls for v in result.variants] == [300, 300]  # the user span and the other experiment left out
    tests = {t.metric: t for t in result.tests}
    assert set(tests) == {"cost", "tokens", "latency", "errors", "feedback", "score.hallucination"}
    for metric in ("cost", "latency", "errors", "feedback", "score.hallucination"):
        assert tests[metric].significant, tests[metric]
    assert not tests["tokens"].significant  # same token distribution
    assert tests["cost"].change is not None and -0.3 < tests["cost"].change < -0.15  # ~23 % cheaper
    assert tests["errors"].change is not None and tests["errors"].change > 0.05  # absolute: +10 pp
    assert tests["errors"].test == "two-proportion z" and tests["latency"].test == "Mann-Whitney U"
    b = result.variants[1].metrics
    assert b["cost"].ci_low is not None and b["cost"].ci_high is not None
    assert b["cost"].ci_low < 0.00077 * math.exp(0.045) < b["cost"].ci_high  # true mean of the log-normal
    assert b["latency_p50"].ci_low is not None and b["latency_p50"].ci_low < 600 < (b["latency_p50"].ci_high or 0)
    assert "B is " in result.verdict and "% cheaper per call than A (p" in result.verdict
    assert "no significant difference in tokens per call" in result.verdict
    assert result.warnings == []


def test_identical_variants_show_no_difference(write) -> None:
    path = write(experiment_sample({"A": Arm(), "B": Arm()}, 200, seed=7))
    result = compare_experiment(path, "prompt-v2")
    assert not any(t.significant for t in result.tests), result.tests
    assert result.verdict.startswith("no significant difference in cost per call, tokens per call, latency")


def test_false_positive_rate_is_bounded_over_50_seeds() -> None:
    hits: dict[str, int] = {}
    for seed in range(50):
        sample = experiment_sample({"A": Arm(), "B": Arm()}, 80, seed=seed)
        spans = [s.model_dump() for s in sample.spans]
        by_id = {s["span_id"]: s for s in spans}
        for r in sample.evals:
            by_id[r.span_id]["attributes"]["eval_scores"] = r.scores
        feedback = [f.model_dump() for f in sample.feedback]
        for t in compare_spans(spans, "prompt-v2", feedback=feedback).tests:
            hits[t.metric] = hits.get(t.metric, 0) + t.significant
    # alpha = 0.05: 2.5 expected per metric; P(Binomial(50, 0.05) >= 8) ~ 1 %.
    assert all(count <= 7 for count in hits.values()), hits
    assert sum(hits.values()) <= 25, hits  # six metrics: 15 expected


def test_several_variants_each_against_the_control_holm_adjusted(write) -> None:
    arms = {"control": Arm(), "same": Arm(), "slow": Arm(latency_ms=1400)}
    path = write(experiment_sample(arms, 150, seed=3))
    result = compare_experiment(path, "prompt-v2", control="control", metrics=["latency", "cost"])
    assert [v.variant for v in result.variants] == ["control", "same", "slow"]
    latency = {t.variant: t for t in result.tests if t.metric == "latency"}
    assert latency["slow"].significant and not latency["same"].significant
    assert latency["slow"].change is not None and latency["slow"].change > 0.4
    assert "slow is" in result.verdict and "% slower (p50 latency) than control" in result.verdict
    assert set(result.variants[0].metrics) == {"latency_p50", "latency_p95", "cost"}


def test_small_samples_unpriced_calls_and_one_variant_are_reported(write) -> None:
    sample = experiment_sample({"A": Arm(), "B": Arm()}, 12, seed=5)
    for span in sample.spans[:3]:
        span.attributes.pop("cost_usd", None)
    path = write(sample)
    result = compare_experiment(path, "prompt-v2", metrics=["cost", "errors"])
    assert any("fewer than 30 calls in A, B" in w for w in result.warnings)
    assert any("unpriced calls left out of cost per call (A: 3)" in w for w in result.warnings)
    assert result.variants[0].unpriced_calls == 3 and result.variants[0].metrics["cost"].n == 9
    one = compare_spans([s.model_dump() for s in sample.spans if s.attributes.get("experiment_variant") == "A"], "x")
    assert one.verdict == "Nothing to compare: only one variant has calls." and one.tests == []


def test_bad_input_is_clear(write) -> None:
    path = write(experiment_sample({"A": Arm(), "B": Arm()}, 5, seed=2))
    with pytest.raises(TraceFileError, match=r"no LLM calls recorded for experiment 'nope' \(experiments here: "):
        compare_experiment(path, "nope")
    with pytest.raises(ValueError, match="--control 'C' is not a variant of 'prompt-v2'; variants: A, B"):
        compare_experiment(path, "prompt-v2", control="C")
    with pytest.raises(ValueError, match="unknown metric 'speed'; expected one of: cost, tokens"):
        compare_experiment(path, "prompt-v2", metrics=["speed"])


# --- the statistics against published values -----------------------------------------------------


def test_statistics_match_reference_values() -> None:
    assert fisher_exact(8, 2, 1, 5) == pytest.approx(0.034965, abs=1e-6)  # scipy.stats.fisher_exact
    assert fisher_exact(3, 1, 1, 3) == pytest.approx(0.485714, abs=1e-6)  # Fisher's tea tasting
    assert wilson(5, 10) == pytest.approx((0.236593, 0.763407), abs=1e-6)
    # U = 0, mean 12.5, variance 5*5*11/12; continuity-corrected z = 12 / 4.787 = 2.5067 -> p = 0.012186
    # (scipy.stats.mannwhitneyu(..., method="asymptotic"), use_continuity=True by default)
    assert mann_whitney([1, 2, 3, 4, 5], [6, 7, 8, 9, 10]) == pytest.approx(0.012186, abs=1e-5)
    assert mann_whitney([1, 1, 1], [1, 1]) == 1.0 and mann_whitney([], [1.0]) is None
    # pooled 0.075, se = sqrt(0.075 * 0.925 * 2 / 400) = 0.018625, z = 0.05 / se = 2.6846 -> p = 0.00726
    p, test = two_proportions(40, 400, 20, 400)
    assert test == "two-proportion z" and p == pytest.approx(0.007261, abs=1e-5)
    assert two_proportions(1, 20, 4, 20)[1] == "Fisher exact"
    assert holm([0.01, 0.04, None, 0.03]) == [0.03, 0.06, None, 0.06]
    ordered = [float(i) for i in range(1, 101)]
    assert quantile(ordered, 0.5) == 50.5 and quantile(ordered, 0.95) == pytest.approx(95.05)
    lo, hi = quantile_ci(ordered, 0.5)
    assert 38 <= lo <= 41 and 60 <= hi <= 62


def test_since_and_until_select_a_time_window(write) -> None:
    sample = experiment_sample({"A": Arm(), "B": Arm()}, 50, seed=9)  # spans 10 ms apart, A first
    path = write(sample)
    starts = sorted(
        s.start_time
        for s in sample.spans
        if s.name == "openai.chat.completions" and s.attributes.get("experiment") == "prompt-v2"
    )
    result = compare_experiment(path, "prompt-v2", since=starts[40], until=starts[60], metrics=["latency"])
    assert [(v.variant, v.calls) for v in result.variants] == [("A", 10), ("B", 10)]
