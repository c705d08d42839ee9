"""``peekr ui`` on a real traces.db written by peekr, driven in headless Chromium."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from _browser import Browser
from _ui_sample import XSS, build, sid, tid
from ui_helpers import LocalUI, publish, start_local_ui, stop

from peekr._span import Span, iso_utc


@pytest.fixture(scope="module")
def traces_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ui") / "traces.db"
    publish(build(), storage="sqlite", path=path)
    return path


@pytest.fixture(scope="module")
def ui(traces_db: Path) -> Iterator[LocalUI]:
    running = start_local_ui(traces_db)
    try:
        yield running
    finally:
        stop(running)


def _rows(b: Browser) -> list[str]:
    return list(
        b.evaluate("[...document.querySelectorAll('#trace-rows tr[data-trace-id]')].map(r => r.dataset.traceId)")
    )


def test_list_filter_waterfall_claims_feedback(ui: LocalUI, browser: Browser, traces_db: Path, artifacts: Path,
                                               tmp_path: Path) -> None:  # fmt: skip
    b = browser
    b.goto(ui.url + "/")
    b.wait_for("document.querySelectorAll('#trace-rows tr[data-trace-id]').length === 15")
    assert "local · traces.db" in b.text()
    b.screenshot(str(artifacts / "local-traces.png"))

    # Filter by model through the form: the URL carries the filter (a deep link) and the list narrows.
    b.type_into("#f-model", "gpt-4o-mini")
    b.click("#apply")
    b.wait_for("location.search === '?model=gpt-4o-mini'")
    b.wait_for("document.querySelectorAll('#trace-rows tr[data-trace-id]').length === 5")
    assert all("gpt-4o-mini" in m for m in b.evaluate(
        "[...document.querySelectorAll('#trace-rows tr[data-trace-id]')].map(r => r.innerText)"))  # fmt: skip
    b.click("#clear")
    b.wait_for("document.querySelectorAll('#trace-rows tr[data-trace-id]').length === 15")

    # Open the agent trace from the list: a nested waterfall, the judged answer selected first.
    agent = tid("agent")
    b.click(f"tr[data-trace-id='{agent}'] a")
    b.wait_for(f"location.pathname === '/traces/{agent}' && document.querySelectorAll('.wf-row').length === 4")
    assert b.evaluate("document.getElementById('trace-title').textContent") == "handle_chat"
    assert b.evaluate("[...document.querySelectorAll('.wf-name')].map(n => parseInt(n.style.paddingLeft))") == [
        0,
        16,
        16,
        16,
    ]
    assert b.evaluate("document.querySelector('.wf-row[aria-selected=true]').dataset.spanId") == sid("agent-2")
    marks = b.evaluate(
        "[...document.querySelectorAll('#span-detail mark.claim')].map(m => [m.className, m.textContent, m.title])"
    )
    assert [
        "claim contradicted",
        "sunny in Paris",
        'contradicted: The tool said the sky is cloudy. — “"sky": "cloudy"”',
    ] in marks
    assert ["claim supported", "It is 21°C", 'supported: The tool returned 21. — “{"temp_c": 21”'] in marks
    assert any(m[0] == "claim unsupported" for m in marks)
    claims = b.evaluate("document.getElementById('claims').innerText")
    assert "Nothing in the context mentions the Eiffel Tower." in claims and '"sky": "cloudy"' in claims
    # With retrieved chunks, a claim says where its evidence came from and why it is not supported.
    assert "retrieval gap The Eiffel Tower is closed today" in claims
    assert "generation sunny in Paris (chunk 2)" in claims
    # The chat view: system, user, assistant tool call, tool result.
    roles = b.evaluate("[...document.querySelectorAll('#span-detail .turn .role')].map(r => r.textContent)")
    assert roles[:4] == ["system", "user", "assistant", "tool · call_1"]
    b.screenshot(str(artifacts / "local-waterfall.png"))

    # Keyboard: j/k move between spans, and the URL follows the selection.
    b.evaluate("document.querySelector('.wf-row[aria-selected=true]').focus()")
    b.press("k")
    b.wait_for(f"new URLSearchParams(location.search).get('span') === '{sid('agent-tool')}'")
    b.press("ArrowDown")
    b.wait_for(f"new URLSearchParams(location.search).get('span') === '{sid('agent-2')}'")

    # Rate the trace bad with a note; it lands where `peekr export-feedback` reads it.
    b.click("#rate-bad")
    b.type_into("#fb-note", "sunny is wrong, it was cloudy")
    b.click("#fb-submit")
    b.wait_for("document.getElementById('fb-status').textContent.startsWith('Saved')")
    out = tmp_path / "bad.jsonl"
    done = subprocess.run([sys.executable, "-m", "peekr.cli", "export-feedback", str(traces_db), "--filter", "bad",
                           "--format", "raw", "-o", str(out)], capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, done.stderr
    exported = [json.loads(line) for line in out.read_text().splitlines()]
    assert {r["trace_id"] for r in exported} == {agent}
    assert "sunny is wrong, it was cloudy" in out.read_text()
    assert b.console_errors() == []


def test_deep_links_by_prefix_session_and_filters(ui: LocalUI, browser: Browser, artifacts: Path) -> None:
    b = browser
    agent = tid("agent")
    b.goto(f"{ui.url}/traces/{agent[:10]}?span={sid('agent-1')}")
    b.wait_for("document.querySelectorAll('.wf-row').length === 4")
    assert b.evaluate("document.querySelector('.wf-row[aria-selected=true]').dataset.spanId") == sid("agent-1")
    assert "get_weather(" in b.evaluate("document.getElementById('span-detail').innerText")

    b.goto(ui.url + "/?status=error")
    b.wait_for("document.querySelectorAll('#trace-rows tr[data-trace-id]').length === 1")
    assert _rows(b) == [tid("error")]
    b.click(f"tr[data-trace-id='{tid('error')}'] a")
    b.wait_for("!!document.getElementById('span-error')")
    assert (
        b.evaluate("document.getElementById('span-error').textContent")
        == "RateLimitError: Rate limit reached for gpt-4o-mini"
    )

    b.goto(ui.url + "/sessions/sess-1")
    b.wait_for("document.querySelectorAll('#turns > li').length === 2")
    assert "Weather in Paris?" in b.text()
    b.screenshot(str(artifacts / "local-session.png"))

    b.goto(ui.url + "/traces/ffffffffffffffffffffffffffffffff")
    b.wait_for("!!document.querySelector('.banner')")
    assert "not found" in b.text()
    assert [e for e in b.console_errors() if "status of 404" not in e] == []


def test_paging_with_the_api_cursors(ui: LocalUI, browser: Browser) -> None:
    b = browser
    b.goto(ui.url + "/?limit=6")
    b.wait_for("document.querySelectorAll('#trace-rows tr[data-trace-id]').length === 6")
    first = _rows(b)
    b.click("#more")
    b.wait_for("document.querySelectorAll('#trace-rows tr[data-trace-id]').length === 12")
    b.click("#more")
    b.wait_for("document.querySelectorAll('#trace-rows tr[data-trace-id]').length === 15")
    rows = _rows(b)
    assert rows[:6] == first and len(set(rows)) == 15
    assert b.evaluate("document.getElementById('more').parentElement.hidden")  # no further page
    assert b.console_errors() == []


def test_llm_output_with_html_renders_as_text(ui: LocalUI, browser: Browser) -> None:
    b = browser
    b.goto(f"{ui.url}/traces/{tid('xss')}")
    b.wait_for("!!document.querySelector('#span-detail .turn.assistant')")
    b.settle(0.3)
    assert b.evaluate("document.querySelector('#span-detail .turn.assistant .text').textContent") == XSS
    assert b.evaluate("document.querySelectorAll('#span-detail img, #span-detail b:not(.kv b)').length") == 0
    assert b.evaluate("window.__xss === undefined")
    assert b.console_errors() == []


def test_trends_quality_worst_views(ui: LocalUI, browser: Browser, artifacts: Path) -> None:
    b = browser
    b.goto(ui.url + "/trends")
    b.wait_for("document.querySelectorAll('.chart svg').length === 6")
    assert "18" in b.evaluate("document.querySelector('.totals').innerText")  # 18 spans in the last 24 hours
    b.screenshot(str(artifacts / "local-trends.png"))

    b.goto(ui.url + "/quality")
    b.wait_for("!!document.querySelector('.chart svg')")
    b.click("#bin-5")  # 0.5-0.6: the agent's answer (0.5) and one bulk answer (0.53)
    b.wait_for("document.querySelectorAll('#drill tbody tr').length === 2")
    b.wait_for("!!document.getElementById('worst-claims')")
    assert "sunny in Paris" in b.evaluate("document.getElementById('worst-claims').innerText")
    b.screenshot(str(artifacts / "local-quality.png"))
    b.click("#worst-claims a")
    b.wait_for("document.querySelectorAll('.wf-row').length === 4")

    b.goto(ui.url + "/worst?metric=latency")
    b.wait_for("document.querySelectorAll('#worst tbody tr').length > 0")
    first = b.evaluate("document.querySelector('#worst tbody tr a').getAttribute('href')")
    assert first == f"/traces/{tid('error')}?span={sid('error')}"  # 30 s, the slowest
    b.screenshot(str(artifacts / "local-worst.png"))
    b.click("#worst tbody tr a")
    b.wait_for("!!document.getElementById('span-error')")
    assert b.console_errors() == []


def test_live_new_traces_appear_without_reload(traces_db: Path, browser: Browser, tmp_path: Path) -> None:
    db = tmp_path / "live.db"
    publish(build(), storage="sqlite", path=db)
    running = start_local_ui(db)
    try:
        b = browser
        b.goto(running.url + "/")
        b.wait_for("document.querySelectorAll('#trace-rows tr[data-trace-id]').length === 15")
        b.evaluate("window.__sameDocument = true")
        fresh = tid("live-new")
        now = time.time_ns()
        span = Span(trace_id=fresh, span_id=sid("live-new"), name="live.request", start_time=iso_utc(now),
                    end_time=iso_utc(now + 10**6), duration_ms=1.0, status="ok", attributes={})  # fmt: skip
        from _ui_sample import UISample

        publish(UISample(spans=[span]), storage="sqlite", path=db)  # the app writes while the UI is open
        b.wait_for(f"document.querySelector('#trace-rows tr').dataset.traceId === '{fresh}'", timeout=20)
        assert b.evaluate("window.__sameDocument === true")  # no reload happened
        assert b.console_errors() == []
    finally:
        stop(running)


def test_jsonl_file_and_feedback(tmp_path: Path) -> None:
    path = tmp_path / "traces.jsonl"
    publish(build(), storage="jsonl", path=path)
    running = start_local_ui(path)
    try:
        listed = httpx.get(running.url + "/v1/traces").json()["traces"]
        assert len(listed) == 15
        scores = httpx.get(running.url + "/v1/stats/scores", params={"since": "2000-01-01T00:00:00Z"}).json()
        assert scores["count"] == 14  # the eval results of the file feed the quality view
        answer = httpx.post(running.url + "/ui/feedback", headers={"X-Peekr-UI": "1"},
                            json={"trace_id": tid("agent"), "rating": "good", "note": "from the UI"})  # fmt: skip
        assert answer.status_code == 201, answer.text
        detail = httpx.get(f"{running.url}/v1/traces/{tid('agent')}").json()
        assert [f["note"] for f in detail["feedback"]] == ["from the UI"]
        assert '"note":"from the UI"' in path.read_text()
    finally:
        stop(running)


def test_local_ui_security_headers_and_csrf(ui: LocalUI) -> None:
    page = httpx.get(ui.url + "/")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "default-src 'none'" in csp
    assert page.headers["x-content-type-options"] == "nosniff"
    # Without the UI's header (a cross-site form post) feedback is refused.
    refused = httpx.post(ui.url + "/ui/feedback", json={"trace_id": tid("agent"), "rating": "good"})
    assert refused.status_code == 403
    assert httpx.get(ui.url + "/ui/static/..%2F_local.py").status_code == 404


def test_ui_without_the_server_extra_names_it(tmp_path: Path) -> None:
    code = "import sys; sys.modules['uvicorn'] = None; from peekr.cli import main; sys.argv = ['peekr', 'ui', 'x.db']; main()"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "Error: the web UI needs the server extra: pip install 'peekr-sdk[server]'"
    ]


def test_ui_on_a_bad_file(tmp_path: Path) -> None:
    bad = tmp_path / "nope.db"
    done = subprocess.run(
        [sys.executable, "-m", "peekr.cli", "ui", str(bad), "--no-browser"], capture_output=True, text=True
    )
    assert done.returncode == 1 and "no such file" in done.stderr


def test_dark_mode_and_narrow_screen(ui: LocalUI, browser: Browser, artifacts: Path) -> None:
    b = browser
    b.call(
        "Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": "dark"}]}, session=True
    )
    b.goto(f"{ui.url}/traces/{tid('agent')}")
    b.wait_for("document.querySelectorAll('.wf-row').length === 4")
    assert b.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(17, 17, 23)"
    b.screenshot(str(artifacts / "local-waterfall-dark.png"))
    b.goto(ui.url + "/trends")
    b.wait_for("document.querySelectorAll('.chart svg').length === 6")
    b.screenshot(str(artifacts / "local-trends-dark.png"))
    # A phone-sized screen: one column, nothing wider than the viewport.
    b.call("Emulation.setDeviceMetricsOverride", {"width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": True},
           session=True)  # fmt: skip
    b.goto(f"{ui.url}/traces/{tid('agent')}")
    b.wait_for("document.querySelectorAll('.wf-row').length === 4")
    assert b.evaluate("document.documentElement.scrollWidth <= 390 + 1")
    assert b.console_errors() == []


def test_search_variant_score_filters_and_trends_by_user_and_tenant(ui: LocalUI, browser: Browser,
                                                                     artifacts: Path) -> None:  # fmt: skip
    b = browser
    rows = "document.querySelectorAll('#trace-rows tr[data-trace-id]').length"
    b.goto(ui.url + "/")
    b.wait_for(f"{rows} === 15")
    # Full-text search: a word of the agent's final answer (any case) finds its trace.
    b.type_into("#f-q", "EIFFEL tower")
    b.click("#apply")
    b.wait_for("location.search === '?q=EIFFEL+tower'")
    b.wait_for(f"{rows} === 1")
    assert _rows(b) == [tid("agent")]
    b.screenshot(str(artifacts / "local-search.png"))
    # Experiment variant and score bounds, from the filter bar (the URL carries them).
    b.goto(ui.url + "/")
    b.wait_for(f"{rows} === 15")
    b.type_into("#f-experiment_variant", "A")
    b.click("#apply")
    b.wait_for(f"{rows} === 2")
    assert set(_rows(b)) == {tid("agent"), tid("xss")}
    b.goto(ui.url + "/")
    b.wait_for(f"{rows} === 15")
    b.type_into("#f-max_score", "0.3")
    b.click("#apply")
    b.wait_for("location.search === '?max_score=0.3'")
    b.wait_for(f"{rows} === 4")  # the bulk answers scored 0.05, 0.13, 0.21 and 0.29
    assert set(_rows(b)) == {tid(f"bulk-{i}") for i in range(4)}
    b.goto(ui.url + "/?min_score=0.9")
    b.wait_for(f"{rows} === 2")
    assert set(_rows(b)) == {tid("bulk-11"), tid("xss")}  # 0.93 and 0.95
    # Trends by user, and by tenant (a local file may hold several tenants' spans).
    legend = "[...document.querySelectorAll('.chart svg')].map(s => s.textContent).join(' ')"
    b.goto(ui.url + "/trends?range=24h&group_by=user_id")
    b.wait_for("document.querySelectorAll('.chart svg').length === 6")
    b.settle(0.3)
    assert all(user in b.evaluate(legend) for user in ("alice", "bob", "carol"))
    b.screenshot(str(artifacts / "local-trends-user.png"))
    b.goto(ui.url + "/trends?range=24h&group_by=tenant")
    b.wait_for("document.querySelectorAll('.chart svg').length === 6")
    b.settle(0.3)
    assert "acme" in b.evaluate(legend)
    assert b.evaluate("document.querySelector('#t-group').value") == "tenant"
    assert b.console_errors() == []
