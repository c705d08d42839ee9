"""`peekr dashboard`: the file it writes, bad inputs, and the report opened in headless Chromium."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from _browser import Browser, find_chromium
from _cli_sample import Sample

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"


@pytest.fixture
def report(cli, traces_db: Path, tmp_path: Path) -> Path:
    out = tmp_path / "report.html"
    result = cli(["dashboard", str(traces_db), "-o", str(out)])
    assert result.code == 0, result.err
    assert result.out.startswith(f"Wrote {out} (") and "from 12 spans" in result.out
    return out


def _data(report: Path) -> dict:  # type: ignore[type-arg]
    html = report.read_text()
    raw = re.search(r'<script id="peekr-data" type="application/json">(.*?)</script>', html, re.S)
    assert raw
    return json.loads(raw.group(1))  # type: ignore[no-any-return]


def test_report_is_one_self_contained_file(report: Path) -> None:
    html = report.read_text()
    assert not re.search(r"<script[^>]*\ssrc=", html), "every script is inline"
    markup = re.sub(r"<script[^>]*>.*?</script>", "", html, flags=re.S)  # strings inside ECharts are not markup
    assert not re.search(r"<(link|img|iframe|object|embed)\b", markup), "nothing is loaded from elsewhere"
    assert "default-src 'none'" in html  # the page's CSP forbids any network request
    assert "echarts" in html and len(html) < 3_000_000


def test_report_holds_the_aggregates(report: Path, sample: Sample) -> None:
    data = _data(report)
    totals = data["totals"]
    assert (totals["spans"], totals["calls"], totals["traces"], totals["errors"]) == (12, 7, 7, 1)
    assert totals["tokens"] == 52 + 100 + 330 + 60 + 79 + 8
    assert totals["cost"] == pytest.approx(0.00022 + 0.0004 + 0.00135 + 0.00004 + 0.00003 + 8 * 0.02 / 1e6)
    assert totals["unpriced"] == 0
    by_model = {row["key"]: row for row in data["latency"]["model"]}
    assert by_model["gpt-4o"]["count"] == 2
    assert by_model["gpt-4o"]["p50"] == pytest.approx(800, rel=0.01) and by_model["gpt-4o"]["p99"] == pytest.approx(
        1200, rel=0.01
    )
    assert data["scores"]["histograms"]["hallucination"] == [0, 0, 1, 0, 0, 0, 0, 0, 0, 1]
    assert data["offenders"]["lowest_scores"][0]["trace_id"] == sample.ids["anthropic_trace"]
    assert data["offenders"]["slowest"][0]["trace_id"] == sample.ids["error_trace"]
    assert data["offenders"]["most_expensive"][0]["trace_id"] == sample.ids["anthropic_trace"]
    assert data["errors"][0]["type"] == "openai.RateLimitError"
    tenants = {row["key"]: row for row in data["breakdowns"]["tenant"]}
    assert tenants["globex"]["calls"] == 1 and tenants["acme"]["errors"] == 1
    assert {row["key"] for row in data["breakdowns"]["experiment_variant"]} == {"A", "B", "(none)"}
    for rows in data["offenders"].values():  # every linked trace has its waterfall embedded
        for row in rows:
            assert data["traces"][row["trace_id"]]


def test_html_in_span_names_stays_text(cli, tmp_path: Path) -> None:
    import peekr

    db = tmp_path / "x.db"
    peekr.instrument(storage="sqlite", path=db, providers=[])
    with peekr.span("</script><script>alert(1)</script>"):
        pass
    peekr.shutdown()
    out = tmp_path / "r.html"
    assert cli(["dashboard", str(db), "-o", str(out)]).code == 0
    assert "</script><script>alert(1)" not in out.read_text()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: None, "no such file"),
        (lambda p: p.write_bytes(b""), "empty file (no spans recorded yet)"),
        (lambda p: p.write_text("garbage " * 100), "traces.db: "),
    ],
)
def test_bad_files(cli, tmp_path: Path, make, message: str) -> None:
    db = tmp_path / "traces.db"
    make(db)
    result = cli(["dashboard", str(db), "-o", str(tmp_path / "r.html")])
    assert result.code == 1 and result.err.startswith("peekr: error: ") and message in result.err
    assert result.err.count("\n") == 1 and not (tmp_path / "r.html").exists()


def test_jsonl_is_pointed_at_view(cli, traces_jsonl: Path, tmp_path: Path) -> None:
    result = cli(["dashboard", str(traces_jsonl), "-o", str(tmp_path / "r.html")])
    assert result.code == 1 and "the dashboard reads a SQLite traces.db" in result.err


def test_report_in_headless_chromium(report: Path, sample: Sample) -> None:
    """No console errors, every chart drawn as non-empty SVG, offender links open the right waterfall."""
    chromium = find_chromium()
    if chromium is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing in CI: scripts/deps/chromium.sh should have installed it")
        pytest.skip("chromium is not installed (run scripts/deps/chromium.sh)")
    browser = Browser(chromium)
    try:
        browser.goto(report.as_uri())
        browser.settle()
        assert browser.console_errors() == []
        assert all(url.startswith(("file:", "data:", "about:")) for url in browser.requested_urls())

        charts = browser.evaluate(
            "[...document.querySelectorAll('.chart')].map(c => [c.id, c.querySelectorAll('svg path, svg rect').length])"
        )
        assert len(charts) >= 10  # 3 over time, 2 latency, 1 score histogram, 4 breakdowns
        assert all(count > 5 for _, count in charts), charts
        assert browser.evaluate("document.body.getAttribute('data-charts')") == str(len(charts))
        assert browser.evaluate("document.querySelectorAll('#totals .card').length") == 8

        assert browser.evaluate("document.getElementById('waterfall').hidden") is True
        for table, trace in (("slowest", "error_trace"), ("lowest_scores", "anthropic_trace")):
            clicked = browser.evaluate(
                f"(() => {{ const a = document.querySelector('#offenders-{table} a[data-trace]'); a.click();"
                " return a.getAttribute('data-trace'); })()"
            )
            assert clicked == sample.ids[trace]
            shown = browser.evaluate(
                "[document.getElementById('waterfall').hidden, document.getElementById('waterfall-trace').textContent,"
                " document.querySelectorAll('#waterfall-body .wf-row[data-span]').length, location.hash]"
            )
            assert shown == [False, sample.ids[trace], 1, f"#trace={sample.ids[trace]}"]

        browser.goto(f"{report.as_uri()}#trace={sample.ids['openai_trace']}")  # a link mailed to a colleague
        browser.settle()
        rows = browser.evaluate(
            "[...document.querySelectorAll('#waterfall-body .wf-row[data-span]')].map(r => ["
            " r.querySelector('.wf-name').textContent, r.querySelector('.wf-bar').style.width])"
        )
        assert [name for name, _ in rows] == [
            "handle_chat",
            "openai.chat.completions",
            "get_weather",
            "openai.chat.completions",
        ]
        widths = [float(width.rstrip("%")) for _, width in rows]
        assert widths[0] == 100 and widths[1] == pytest.approx(800 / 2400 * 100, rel=0.01)
        assert browser.console_errors() == []
        ARTIFACTS.mkdir(exist_ok=True)
        browser.goto(report.as_uri())
        browser.settle()
        browser.screenshot(str(ARTIFACTS / "dashboard.png"))
        assert (ARTIFACTS / "dashboard.png").stat().st_size > 50_000
    finally:
        browser.close()


_DRAWN = """(() => [...document.querySelectorAll('.chart')].map(node => {
  const chart = echarts.getInstanceByDom(node);
  if (!chart) return [node.id, null];
  return [node.id, chart.getModel().getSeries().map(series => {
    const data = series.getData();
    let drawn = 0;
    for (let i = 0; i < data.count(); i++) {
      const el = data.getItemGraphicEl(i);
      if (el && !el.invisible && !el.ignore) drawn++;
    }
    const value = v => Array.isArray(v) ? v[v.length - 1] : (v !== null && typeof v === 'object' ? v.value : v);
    const has = (series.option.data || []).some(v => typeof value(v) === 'number' && value(v) > 0);
    return [series.name, has, drawn];
  })];
}))()"""


def test_one_time_bucket_is_drawn_in_every_chart(cli, tmp_path: Path) -> None:
    """`make demo` records a few calls within a second: every chart must still show them."""
    import peekr

    chromium = find_chromium()
    if chromium is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing in CI: scripts/deps/chromium.sh should have installed it")
        pytest.skip("chromium is not installed (run scripts/deps/chromium.sh)")
    db = tmp_path / "traces.db"
    peekr.instrument(storage="sqlite", path=db, providers=[])
    for i, model in enumerate(["gpt-4o-mini", "gpt-4o-mini", "claude-3-5-haiku-latest"]):
        provider = "anthropic" if model.startswith("claude") else "openai"
        with peekr.span(
            f"{provider}.chat",
            provider=provider,
            model=model,
            tokens_input=100 + i,
            tokens_output=20,
            tokens_total=120 + i,
            cost_usd=0.0001,
        ):
            pass
    assert peekr.shutdown(10)
    out = tmp_path / "report.html"
    result = cli(["dashboard", str(db), "-o", str(out)])
    assert result.code == 0, result.err
    assert len(_data(out)["series"]["times"]) == 1
    browser = Browser(chromium)
    try:
        browser.goto(out.as_uri())
        browser.settle()
        assert browser.console_errors() == []
        charts = dict(browser.evaluate(_DRAWN))
        for chart_id in ("chart-cost", "chart-tokens", "chart-calls"):
            series = charts[chart_id]
            assert series, chart_id
            for name, has_data, drawn in series:
                assert drawn > 0 or not has_data, (chart_id, name, series)
        blank = [(cid, s) for cid, series in charts.items() if series for s in series if s[1] and not s[2]]
        assert blank == [], blank
        ARTIFACTS.mkdir(exist_ok=True)
        browser.screenshot(str(ARTIFACTS / "dashboard-one-bucket.png"))
    finally:
        browser.close()


def test_experiments_section(cli, tmp_path: Path) -> None:
    """An experiment recorded by peekr.experiment gets a section with the numbers of `peekr compare`."""
    from experiment_samples import Arm, experiment_sample
    from trace_files import write_db

    db = tmp_path / "traces.db"
    write_db(db, experiment_sample({"A": Arm(), "B": Arm(cost=0.0007)}, 120, seed=2))
    out = tmp_path / "r.html"
    assert cli(["dashboard", str(db), "-o", str(out)]).code == 0
    exp, other = _data(out)["experiments"]  # most calls first
    assert other["experiment"] == "other" and other["verdict"] == "Nothing to compare: only one variant has calls."
    assert exp["experiment"] == "prompt-v2" and exp["control"] == "A"
    assert [v["calls"] for v in exp["variants"]] == [120, 120]
    assert "B is " in exp["verdict"] and "cheaper per call than A" in exp["verdict"]
    chromium = find_chromium()
    if chromium is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing in CI: scripts/deps/chromium.sh should have installed it")
        pytest.skip("chromium is not installed (run scripts/deps/chromium.sh)")
    browser = Browser(chromium)
    try:
        browser.goto(out.as_uri())
        browser.settle()
        assert browser.console_errors() == []
        shown = browser.evaluate(
            "[document.getElementById('experiments').hidden, document.getElementById('nav-experiments').hidden,"
            " [...document.querySelectorAll('[data-experiment=\"prompt-v2\"] th')].map(th => th.textContent),"
            " [...document.querySelectorAll('[data-experiment=\"prompt-v2\"] tr')]"
            "   .find(tr => tr.textContent.startsWith('cost per call')).lastChild.textContent,"
            " document.querySelector('[data-experiment=\"prompt-v2\"] .verdict').textContent]"
        )
        assert shown[:3] == [False, False, ["metric", "A", "B", "B vs A"]]
        assert shown[3].startswith("-3") and shown[3].endswith(" *")
        assert shown[4] == "Verdict: " + exp["verdict"]
    finally:
        browser.close()


def test_no_experiments_no_section(report: Path) -> None:
    assert _data(report)["experiments"] == []
    assert '<section id="experiments" hidden>' in report.read_text()
