"""The Experiments page in headless Chromium, over `peekr ui` on a real traces.db: variants compared
as `peekr compare` does it, the verdict shown, names rendered as text."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from _browser import Browser
from _ui_sample import UISample, _span, sid, tid
from ui_helpers import LocalUI, publish, start_local_ui, stop

XSS_VARIANT = "<img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalUI]:
    path = tmp_path_factory.mktemp("ui-x") / "traces.db"
    rng = random.Random(5)
    sample = UISample()
    now = time.time_ns() - 60 * 60 * 10**9
    for variant, cost in (("short", 0.001), (XSS_VARIANT, 0.004)):
        for i in range(40):
            key = f"{variant[:5]}-{i}"
            sample.spans.append(_span(
                tid(key), sid(key), "openai.chat.completions", now + i * 10**9, rng.uniform(300, 500),
                tenant="acme", provider="openai", model="gpt-4o", cost_usd=cost * rng.uniform(0.9, 1.1),
                tokens_total=120, experiment="prompt-test", experiment_variant=variant,
            ))  # fmt: skip
    publish(sample, storage="sqlite", path=path)
    running = start_local_ui(path)
    try:
        yield running
    finally:
        stop(running)


def test_experiments_page_compares_the_variants(ui: LocalUI, browser: Browser, artifacts: Path) -> None:
    b = browser
    b.goto(ui.url + "/experiments")
    b.wait_for("!!document.getElementById('verdict')")
    verdict = b.evaluate("document.getElementById('verdict').innerText")
    # The control is the first variant by name ("<img..." sorts before "short"); short costs a quarter.
    assert verdict.startswith("short is 7") and f"cheaper per call than {XSS_VARIANT} (p<0.001)" in verdict
    rows = b.evaluate("[...document.querySelectorAll('#variants tbody tr')].map(r => r.innerText)")
    assert len(rows) == 2 and rows[0].startswith(f"{XSS_VARIANT} (control)\t40")  # the name is text, not markup
    assert rows[1].startswith("short\t40") and "p=<0.001" in rows[1]
    assert b.evaluate("document.querySelector('#variants img')") is None
    assert "prompt-test (80 calls)" in b.evaluate("document.getElementById('x-name').innerText")
    assert b.evaluate("document.querySelector('nav a[data-view=experiments]').getAttribute('aria-current')") == "page"
    b.screenshot(str(artifacts / "local-experiments.png"))
    assert b.console_errors() == []


def test_experiments_page_without_experiments_says_how_to_start(ui: LocalUI, browser: Browser) -> None:
    b = browser
    b.goto(ui.url + "/experiments?range=15m")  # the sample's calls are an hour old
    b.wait_for("!!document.querySelector('#experiments .empty')")
    assert "peekr.experiment(name, variants)" in b.evaluate("document.querySelector('#experiments').innerText")
