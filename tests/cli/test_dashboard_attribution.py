"""`peekr dashboard`: claim attribution (retrieval gap vs generation, evidence per chunk, the responses
with most unsupported claims), from spans scored by the real Hallucination evaluator (fake judge)."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _browser import Browser, find_chromium

import peekr
from peekr.evaluators._fake_judge import FakeJudge
from peekr.testing.fake_provider import FakeProvider

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
APP = "APP:"
CHUNKS = ["The Eiffel Tower is in Paris.", "The Eiffel Tower is 330 metres tall.", "Bananas are yellow."]
ANSWERS = [
    # supported (chunk 2); contradicted (chunk 1): generation; unsupported, chunks discuss it: generation;
    # unsupported, nothing retrieved about it: retrieval gap
    "The Eiffel Tower is 330 metres tall. The Eiffel Tower is painted gold. "
    "Paris keeps the Eiffel Tower open at night. The Louvre has a glass pyramid.",
    # supported (chunk 1); two retrieval gaps
    "The Eiffel Tower is in Paris. The Colosseum stands in Rome. The Prado museum is in Madrid.",
]


@pytest.fixture
def fake() -> Iterator[FakeProvider]:
    judge = FakeJudge()

    def responder(request: dict[str, Any]) -> str:
        system = request["messages"][0]["content"]
        return system[len(APP) :] if system.startswith(APP) else judge(request)

    with FakeProvider(chat_responder=responder) as provider:
        yield provider


@pytest.fixture
def attributed_db(fake: FakeProvider, tmp_path: Path) -> tuple[Path, list[str]]:
    """Two RAG answers scored with attribution, plus spans whose details are not a list of claims."""
    db = tmp_path / "traces.db"
    judge = peekr.eval.Hallucination(base_url=fake.openai_base_url, api_key="sk-fake")
    peekr.instrument(storage="sqlite", path=db, evaluators=[judge])
    traces = []
    with fake.openai_client() as client:
        for answer in ANSWERS:
            with peekr.span("rag") as root:
                documents = [{"id": f"doc-{i}", "text": t} for i, t in enumerate(CHUNKS)]
                with peekr.span("retrieve", kind="retrieval", retrieval={"query": "tower", "documents": documents}):
                    pass
                client.chat.completions.create(
                    model="gpt-4o-mini",
                    messages=[{"role": "system", "content": APP + answer}, {"role": "user", "content": "The tower?"}],
                )
            traces.append(root.trace_id)
    for odd in ("not a list", [1, "two", None], {"claim": "x"}):  # written by something else: skipped
        with peekr.span("imported", hallucination_details=odd):
            pass
    assert peekr.flush(10)
    peekr.shutdown()
    return db, traces


def _data(report: Path) -> dict[str, Any]:
    raw = re.search(r'<script id="peekr-data" type="application/json">(.*?)</script>', report.read_text(), re.S)
    assert raw
    data: dict[str, Any] = json.loads(raw.group(1))
    return data


def test_attribution_numbers(cli, attributed_db: tuple[Path, list[str]], tmp_path: Path) -> None:
    db, traces = attributed_db
    out = tmp_path / "report.html"
    result = cli(["dashboard", str(db), "-o", str(out)])
    assert result.code == 0, result.err
    at = _data(out)["attribution"]
    assert {k: at[k] for k in ("claims", "supported", "not_supported", "retrieval_gap", "generation", "no_cause")} == {
        "claims": 7,
        "supported": 2,
        "not_supported": 5,
        "retrieval_gap": 3,
        "generation": 2,
        "no_cause": 0,
    }
    assert at["attributed"] == 7 and at["responses_checked"] == 2
    # chunk 1: the evidence of one supported and one contradicted claim; chunk 2: one supported claim
    assert at["chunks"] == [
        {"chunk": 1, "supported": 1, "not_supported": 1},
        {"chunk": 2, "supported": 1, "not_supported": 0},
    ]
    rows = [(r["trace_id"], r["value"], r["claims"], r["retrieval_gap"], r["generation"]) for r in at["responses"]]
    assert rows == [(traces[0], 3, 4, 1, 2), (traces[1], 2, 3, 2, 0)]
    assert all(_data(out)["traces"][trace] for trace in traces)  # their waterfalls are embedded


def test_claims_without_chunks_have_no_attribution(cli, traces_db: Path, tmp_path: Path) -> None:
    """The CLI sample's one claim was checked against a plain-text context: counted, no chunk, no cause."""
    out = tmp_path / "report.html"
    assert cli(["dashboard", str(traces_db), "-o", str(out)]).code == 0
    at = _data(out)["attribution"]
    assert (at["claims"], at["supported"], at["attributed"], at["chunks"], at["responses"]) == (1, 1, 0, [], [])


def test_attribution_in_headless_chromium(cli, attributed_db: tuple[Path, list[str]], tmp_path: Path) -> None:
    db, traces = attributed_db
    chromium = find_chromium()
    if chromium is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing in CI: scripts/deps/chromium.sh should have installed it")
        pytest.skip("chromium is not installed (run scripts/deps/chromium.sh)")
    out = tmp_path / "report.html"
    assert cli(["dashboard", str(db), "-o", str(out)]).code == 0
    browser = Browser(chromium)
    try:
        browser.goto(out.as_uri())
        browser.settle()
        assert browser.console_errors() == []
        cards = dict(
            browser.evaluate(
                "[...document.querySelectorAll('#attribution-totals .card')]"
                ".map(c => [c.getAttribute('data-key'), c.querySelector('.value').textContent])"
            )
        )
        assert cards == {
            "claims": "7 in 2 responses",
            "supported": "2",
            "not_supported": "5",
            "retrieval_gap": "3 (60.0%)",
            "generation": "2 (40.0%)",
            "no_cause": "0",
        }
        rows = browser.evaluate(
            "[...document.querySelectorAll('#attribution-responses tbody tr')]"
            ".map(tr => [...tr.children].slice(0, 6).map(td => td.textContent))"
        )
        assert rows == [
            [traces[0][:12], "openai.chat.completions", "gpt-4o-mini", "3 of 4", "1", "2"],
            [traces[1][:12], "openai.chat.completions", "gpt-4o-mini", "2 of 3", "2", "0"],
        ]
        chunks = browser.evaluate(
            "[...document.querySelectorAll('#attribution-chunks tbody tr')]"
            ".map(tr => [...tr.children].map(td => td.textContent))"
        )
        assert chunks == [["1", "1", "1"], ["2", "1", "0"]]
        browser.evaluate("document.querySelector('#attribution-responses a[data-trace]').click()")
        shown = browser.evaluate(
            "[document.getElementById('waterfall').hidden, document.getElementById('waterfall-trace').textContent,"
            " document.querySelectorAll('#waterfall-body .wf-row[data-span]').length]"
        )
        assert shown == [False, traces[0], 3]  # rag, retrieve, the LLM call
        ARTIFACTS.mkdir(exist_ok=True)
        browser.goto(out.as_uri() + "#evals")
        browser.settle()
        browser.screenshot(str(ARTIFACTS / "dashboard-attribution.png"))
        assert browser.console_errors() == []
    finally:
        browser.close()
