"""The web UI on a real ``peekr server`` filled by the real HTTPExporter, two tenants, in headless Chromium."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest
from _browser import Browser
from _ui_sample import build, build_other, sid, tid
from collector_helpers import auth, body, database, span_record
from ui_helpers import publish

import peekr
from peekr.server import ServerSettings
from peekr.server._testing import run_collector


@dataclass
class Collector:
    url: str
    db: str
    read_key: str
    other_read_key: str
    ingest_key: str


def _key(db: str, tenant: str, scope: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "peekr.cli", "server", "keys", "create", "--tenant", tenant, "--scope", scope,
         "--db", str(db), "--quiet"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return done.stdout.strip()


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def collector(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Collector]:
    with database(request.param, tmp_path_factory.mktemp("collector")) as db:
        keys = {t: (_key(db, t, "ingest"), _key(db, t, "read")) for t in ("acme", "globex")}
        with run_collector(ServerSettings(db=db, purge_interval_s=0, rate_limit=0)) as running:
            for tenant, sample in (("acme", build(None)), ("globex", build_other(None))):  # type: ignore[arg-type]
                publish(sample, storage="none", tenant_id=tenant,
                        exporter=peekr.HTTPExporter(running.url, keys[tenant][0]))  # fmt: skip
            yield Collector(running.url, db, keys["acme"][1], keys["globex"][1], keys["acme"][0])


def _login(b: Browser, url: str, key: str) -> None:
    b.goto(url + "/")
    b.wait_for("location.pathname === '/login' && !!document.getElementById('key')")
    b.type_into("#key", key)
    b.click("#login")


def test_login_views_feedback_isolation_logout(collector: Collector, browser: Browser, artifacts: Path,
                                               tmp_path: Path) -> None:  # fmt: skip
    b = browser
    # A wrong key and an ingest key are refused with a message; nothing is stored in the page.
    _login(b, collector.url, "pk_live_000000000000_nope")
    b.wait_for("!!document.querySelector('.banner')")
    assert "not valid" in b.text()
    _login(b, collector.url, collector.ingest_key)
    b.wait_for("!!document.querySelector('.banner')")
    assert "read scope" in b.text()
    shots = not collector.db.startswith("postgres")
    if shots:
        b.screenshot(str(artifacts / "server-login.png"))

    _login(b, collector.url, collector.read_key)
    b.wait_for("document.querySelectorAll('#trace-rows tr[data-trace-id]').length === 15")
    assert b.evaluate("document.getElementById('tenant').textContent") == "acme"
    # The key is nowhere the page can read: not in the URL, storage, or document.cookie (HttpOnly).
    assert collector.read_key not in b.evaluate(
        "location.href + JSON.stringify(localStorage) + JSON.stringify(sessionStorage) + document.cookie"
    )
    cookies = b.call("Network.getCookies", session=True)["cookies"]
    session = next(c for c in cookies if c["name"] == "peekr_session")
    assert session["httpOnly"] and session["sameSite"] == "Strict"
    if shots:
        b.screenshot(str(artifacts / "server-traces.png"))

    # Filter, then open a waterfall from the list and read a claim verdict.
    b.type_into("#f-user_id", "alice")
    b.click("#apply")
    b.wait_for("document.querySelectorAll('#trace-rows tr[data-trace-id]').length === 2")
    agent = tid("agent")
    b.click(f"tr[data-trace-id='{agent}'] a")
    b.wait_for("document.querySelectorAll('.wf-row').length === 4")
    verdict = b.evaluate("document.querySelector('#span-detail mark.claim.contradicted').textContent")
    assert verdict == "sunny in Paris"
    if shots:
        b.screenshot(str(artifacts / "server-waterfall.png"))

    # Rate it; the collector stores it with the tenant, and export-feedback reads it from the collector's db.
    b.click("#rate-good")
    b.type_into("#fb-note", "helpful")
    b.click("#fb-submit")
    b.wait_for("document.getElementById('fb-status').textContent.startsWith('Saved')")
    stored = httpx.get(collector.url + "/v1/feedback", headers={"Authorization": f"Bearer {collector.read_key}"})
    assert [(f["trace_id"], f["rating"], f["note"]) for f in stored.json()["feedback"]] == [(agent, "good", "helpful")]
    if not collector.db.startswith("postgres"):  # a SQLite collector database is a traces.db
        out = tmp_path / "good.jsonl"
        done = subprocess.run([sys.executable, "-m", "peekr.cli", "export-feedback", collector.db, "--filter", "good",
                               "--format", "raw", "-o", str(out)], capture_output=True, text=True)  # fmt: skip
        assert done.returncode == 0, done.stderr
        rows = [json.loads(line) for line in out.read_text().splitlines()]
        assert {r["trace_id"] for r in rows} == {agent} and "helpful" in out.read_text()

    # Deep link by full id; the other tenant's trace is not found, and its data shows up in no view.
    b.goto(f"{collector.url}/traces/{agent}?span={sid('agent-1')}")
    b.wait_for("document.querySelectorAll('.wf-row').length === 4")
    b.goto(f"{collector.url}/traces/{tid('globex-secret')}")
    b.wait_for("!!document.querySelector('.banner')")
    for path, ready in [
        ("/", "document.querySelectorAll('#trace-rows tr[data-trace-id]').length === 15"),
        ("/trends?range=24h&group_by=model", "document.querySelectorAll('.chart svg').length === 6"),
        ("/quality", "!!document.querySelector('.chart svg')"),
        ("/worst?metric=cost", "document.querySelectorAll('#worst tbody tr').length > 0"),
        ("/worst?metric=latency", "document.querySelectorAll('#worst tbody tr').length > 0"),
        ("/sessions/sess-1", "document.querySelectorAll('#turns > li').length === 2"),
    ]:
        b.goto(collector.url + path)
        b.wait_for(ready)
        b.settle(0.3)
        html = b.evaluate("document.documentElement.outerHTML")
        assert "globex" not in html.lower() and "GLOBEX" not in html, path
        shot = {"/": "traces"}.get(path, path.strip("/").split("?")[0].replace("/", "-"))
        if shots and path.startswith(("/worst?metric=cost", "/trends", "/quality")):
            b.screenshot(str(artifacts / f"server-{shot}.png"))
    # The one failed request is the other tenant's trace (404).
    assert [e for e in b.console_errors() if "status of 404" not in e] == []

    # Log out: back to the log-in page, and the API refuses the old page's requests.
    b.click("#logout")
    b.wait_for("location.pathname === '/login'")
    assert b.evaluate("fetch('/v1/traces').then(r => r.status)") == 401
    assert [c for c in b.call("Network.getCookies", session=True)["cookies"] if c["name"] == "peekr_session"] == []


def test_cookie_auth_is_scoped_and_guarded(collector: Collector) -> None:
    with httpx.Client(base_url=collector.url) as client:
        login = client.post("/ui/login", data={"key": collector.other_read_key, "next": "//evil.example/"})
        assert login.status_code == 303 and login.headers["location"] == "/"  # no open redirect
        assert "HttpOnly" in login.headers["set-cookie"] and "SameSite=strict" in login.headers["set-cookie"]
        names = {t["name"] for t in client.get("/v1/traces").json()["traces"]}
        assert names == {"globex.secret_pipeline"}
        assert client.get(f"/v1/traces/{tid('agent')}").status_code == 404
        assert client.get("/ui/session").json()["tenant"] == "globex"
        # The cookie can rate only its own tenant's traces, and only with the UI's header (CSRF).
        assert client.post("/ui/feedback", json={"trace_id": tid("agent"), "rating": "bad"},
                           headers={"X-Peekr-UI": "1"}).status_code == 404  # fmt: skip
        assert client.post("/ui/feedback", json={"trace_id": tid("globex-secret"), "rating": "bad"}).status_code == 403
    # An ingest cookie is no read key; no cookie is no access.
    assert httpx.get(collector.url + "/v1/traces", cookies={"peekr_session": collector.ingest_key}).status_code == 403
    assert httpx.get(collector.url + "/v1/traces").status_code == 401
    assert httpx.get(collector.url + "/ui/session").json() == {"mode": "server", "authenticated": False}
    page = httpx.get(collector.url + "/traces/abc")
    assert page.status_code == 200 and "script-src 'self'" in page.headers["content-security-policy"]


def test_search_filters_prefix_links_and_trends_by_user(collector: Collector, browser: Browser,
                                                        artifacts: Path) -> None:  # fmt: skip
    b = browser
    rows = "document.querySelectorAll('#trace-rows tr[data-trace-id]').length"
    ids = "[...document.querySelectorAll('#trace-rows tr[data-trace-id]')].map(r => r.dataset.traceId)"
    _login(b, collector.url, collector.read_key)
    b.wait_for(f"{rows} === 15")
    # Search finds the span by a word of its output; globex's answers never show.
    b.type_into("#f-q", "eiffel")
    b.click("#apply")
    b.wait_for(f"{rows} === 1")
    assert b.evaluate(ids) == [tid("agent")]
    b.goto(collector.url + "/?q=GLOBEX-CONFIDENTIAL")
    b.wait_for("!!document.querySelector('#trace-rows td.empty')")
    # Variant and score filters through the filter bar.
    b.goto(collector.url + "/")
    b.wait_for(f"{rows} === 15")
    b.type_into("#f-experiment_variant", "A")
    b.type_into("#f-min_score", "0.4")
    b.click("#apply")
    b.wait_for("location.search === '?experiment_variant=A&min_score=0.4'")
    b.wait_for(f"{rows} === 2")  # the agent (0.5) and the HTML answer (0.95)
    assert set(b.evaluate(ids)) == {tid("agent"), tid("xss")}
    b.goto(collector.url + "/?max_score=0.3")
    b.wait_for(f"{rows} === 4")
    assert set(b.evaluate(ids)) == {tid(f"bulk-{i}") for i in range(4)}
    if not collector.db.startswith("postgres"):
        b.screenshot(str(artifacts / "server-filters.png"))

    # A unique prefix of a trace id is a deep link; another tenant's prefix is not found.
    agent = tid("agent")
    b.goto(f"{collector.url}/traces/{agent[:8]}")
    b.wait_for("document.querySelectorAll('.wf-row').length === 4")
    assert b.evaluate("location.pathname") == f"/traces/{agent[:8]}"
    b.goto(f"{collector.url}/traces/{tid('globex-secret')[:8]}")
    b.wait_for("!!document.querySelector('.banner')")
    assert "no trace id starts with" in b.text()

    # Trends by user.
    b.goto(collector.url + "/trends?range=24h&group_by=user_id")
    b.wait_for("document.querySelectorAll('.chart svg').length === 6")
    b.settle(0.3)
    legend = b.evaluate("[...document.querySelectorAll('.chart svg')].map(s => s.textContent).join(' ')")
    assert all(user in legend for user in ("alice", "bob", "carol")) and "globex" not in legend
    assert b.evaluate("[...document.querySelectorAll('#t-group option')].map(o => o.value)").count("tenant") == 0
    if not collector.db.startswith("postgres"):
        b.screenshot(str(artifacts / "server-trends-user.png"))
    assert [e for e in b.console_errors() if "status of 404" not in e] == []


def test_ambiguous_trace_id_prefix_lists_the_matches(collector: Collector, browser: Browser) -> None:
    # A tenant of its own, so the other tests' counts stay as they are.
    ingest, read = _key(collector.db, "initech", "ingest"), _key(collector.db, "initech", "read")
    now = datetime.now(timezone.utc)
    spans = [span_record(trace_id=t, name=f"initech.{n}", start=now - timedelta(minutes=5)) for n, t in
             (("first", "abcd0001" + "0" * 24), ("second", "abcd0002" + "0" * 24))]  # fmt: skip
    assert httpx.post(collector.url + "/v1/ingest", json=body(spans), headers=auth(ingest)).status_code == 200
    b = browser
    _login(b, collector.url, read)
    b.wait_for("document.querySelectorAll('#trace-rows tr[data-trace-id]').length === 2")
    b.goto(collector.url + "/traces/ABCD000")
    b.wait_for("document.querySelectorAll('#matches a').length === 2")
    assert "Several traces start with" in b.text()
    b.click("#matches li:nth-child(2) a")
    b.wait_for("document.querySelectorAll('.wf-row').length === 1")
    assert b.evaluate("document.getElementById('trace-title').textContent") == "initech.second"
    assert b.console_errors() == []
