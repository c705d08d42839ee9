"""cost_report on files written through the real sinks: totals equal the sum of span costs exactly,
unpriced calls are counted apart (never as $0), grouping, top-N, time range, bad input."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from _cli_sample import Sample
from experiment_samples import DAY_NS, T0, cost_sample
from trace_files import write_db, write_jsonl

from peekr._span import Span, iso_utc
from peekr.store._cost import cost_report
from peekr.store._readers import TraceFileError


@pytest.fixture(scope="module")
def sample() -> Sample:
    return cost_sample()


@pytest.fixture(params=["db", "jsonl"])
def path(request: pytest.FixtureRequest, tmp_path: Path, sample: Sample) -> Path:
    p = tmp_path / f"traces.{request.param}"
    (write_db if request.param == "db" else write_jsonl)(p, sample)
    return p


def _llm(sample: Sample) -> list[Span]:
    return [s for s in sample.spans if s.attributes.get("model")]


def test_totals_equal_the_sum_of_span_costs_exactly(path: Path, sample: Sample) -> None:
    spans = _llm(sample)
    costs = [s.attributes["cost_usd"] for s in spans if "cost_usd" in s.attributes]
    report = cost_report(path)
    assert report.total.cost_usd == math.fsum(costs)  # exact, not approx
    assert report.total.calls == len(spans) == 601
    assert report.total.priced_calls == len(costs)
    assert report.total.unpriced_calls == sum(s.attributes["model"] == "my-finetune" for s in spans) > 0
    # the failed call without usage is a call, neither priced nor unpriced
    assert report.total.calls == report.total.priced_calls + report.total.unpriced_calls + 1
    assert report.total.tokens_total == sum(s.attributes.get("tokens_total", 0) for s in spans)
    assert report.groups == []


def test_grouped_by_model_and_day(path: Path, sample: Sample) -> None:
    report = cost_report(path, by=["model", "day"])
    assert math.fsum(g.cost_usd for g in report.groups) == pytest.approx(report.total.cost_usd, rel=1e-12)
    for g in report.groups:
        model, day = g.key
        spans = [s for s in _llm(sample) if s.attributes["model"] == model and s.start_time[:10] == day]
        assert g.calls == len(spans)
        assert g.cost_usd == math.fsum(s.attributes.get("cost_usd", 0.0) for s in spans)
        if model == "my-finetune":
            assert g.priced_calls == 0 and g.unpriced_calls == len(spans)
    assert {g.key[1] for g in report.groups} == {iso_utc(T0 + d * DAY_NS)[:10] for d in range(3)}
    costs = [g.cost_usd for g in report.groups if g.priced_calls]
    assert costs == sorted(costs, reverse=True)
    assert all(g.priced_calls == 0 for g in report.groups[-3:])  # unpriced groups last


def test_top_n_sums_the_rest(path: Path) -> None:
    report = cost_report(path, by=["user"], top=3)
    assert len(report.groups) == 3 and report.other_groups == 6
    assert report.rest is not None
    assert sum(g.calls for g in report.groups) + report.rest.calls == report.total.calls
    by_tenant = cost_report(path, by=["tenant"])
    assert {g.key[0] for g in by_tenant.groups} == {"acme", "globex", None}


def test_since_and_until(path: Path, sample: Sample) -> None:
    since, until = iso_utc(T0 + DAY_NS), iso_utc(T0 + 2 * DAY_NS)
    report = cost_report(path, since=since, until=until)
    spans = [s for s in _llm(sample) if since <= s.start_time < until]
    assert report.total.calls == len(spans) == 200
    assert report.total.cost_usd == math.fsum(s.attributes.get("cost_usd", 0.0) for s in spans)


def test_bad_input(tmp_path: Path, path: Path) -> None:
    with pytest.raises(ValueError, match="cannot group by 'region'; expected one of: model, tenant"):
        cost_report(path, by=["region"])
    with pytest.raises(ValueError, match="given twice"):
        cost_report(path, by=["model", "model"])
    with pytest.raises(ValueError, match="--top must be at least 1"):
        cost_report(path, top=0)
    with pytest.raises(TraceFileError, match="no such file"):
        cost_report(tmp_path / "missing.db")
    (tmp_path / "junk.db").write_text("not sqlite")
    with pytest.raises(TraceFileError, match="not a SQLite database"):
        cost_report(tmp_path / "junk.db")


def test_progress_is_reported(path: Path) -> None:
    seen: list[float] = []
    cost_report(path, progress=seen.append)
    assert seen and seen[-1] == 1.0 and seen == sorted(seen)
