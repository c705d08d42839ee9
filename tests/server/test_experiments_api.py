"""``/v1/experiments`` over real HTTP on SQLite and PostgreSQL: the experiments a tenant runs, and one
experiment compared as `peekr compare` does it (a known effect found, the other tenant unseen)."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import httpx
from collector_helpers import BASE, auth, body, eval_record, new_key, span_record

from peekr.server._testing import RunningCollector

WINDOW = {"since": "2026-11-26T00:00:00Z", "until": "2026-11-29T00:00:00Z"}


def _calls(rng: random.Random, variant: str, n: int, cost: float, experiment: str = "prompt-ab") -> list[Any]:
    spans, evals = [], []
    for i in range(n):
        span = span_record(
            name="openai.chat.completions", start=BASE + timedelta(minutes=i), duration_ms=rng.uniform(200, 400),
            model="gpt-4o", provider="openai", cost_usd=cost * rng.uniform(0.9, 1.1), tokens_total=100,
            experiment=experiment, experiment_variant=variant,
        )  # fmt: skip
        spans.append(span)
        evals.append(eval_record(span, 0.9 if variant == "concise" else 0.5))
    return [spans, evals]


def _ingest(collector: RunningCollector, key: str, spans: list[Any], evals: list[Any]) -> None:
    for start in range(0, len(spans), 200):
        payload = body(spans[start : start + 200], evals[start : start + 200])
        assert httpx.post(collector.url + "/v1/ingest", json=payload, headers=auth(key)).status_code == 200


def test_experiments_are_listed_and_compared_per_tenant(collector: RunningCollector, db: str) -> None:
    rng = random.Random(7)
    acme, globex = new_key(db, "acme"), new_key(db, "globex")
    read, other = new_key(db, "acme", "read"), new_key(db, "globex", "read")
    concise, verbose = _calls(rng, "concise", 60, 0.001), _calls(rng, "verbose", 60, 0.003)
    _ingest(collector, acme, concise[0] + verbose[0], concise[1] + verbose[1])
    _ingest(collector, globex, *_calls(rng, "x", 5, 0.001, experiment="secret-test"))

    listed = httpx.get(collector.url + "/v1/experiments", params=WINDOW, headers=auth(read)).json()
    assert listed["experiments"] == [{"name": "prompt-ab", "calls": 120, "variants": {"concise": 60, "verbose": 60}}]
    assert listed["truncated"] is False

    got = httpx.get(collector.url + "/v1/experiments/prompt-ab", params=WINDOW, headers=auth(read))
    assert got.status_code == 200, got.text
    result = got.json()
    assert result["control"] == "concise" and [v["variant"] for v in result["variants"]] == ["concise", "verbose"]
    assert [v["calls"] for v in result["variants"]] == [60, 60]
    tests = {t["metric"]: t for t in result["tests"]}
    assert tests["cost"]["significant"] is True and tests["cost"]["change"] > 1.5  # about 3x dearer per call
    assert tests["score.hallucination"]["significant"] is True and tests["score.hallucination"]["change"] < 0
    assert tests["latency"]["significant"] is False
    assert result["verdict"].startswith("verbose is 2") and "more expensive per call than concise" in result["verdict"]

    # The other tenant sees only its own experiment; asking for acme's is a 404.
    assert [e["name"] for e in httpx.get(collector.url + "/v1/experiments", params=WINDOW,
                                         headers=auth(other)).json()["experiments"]] == ["secret-test"]  # fmt: skip
    assert httpx.get(collector.url + "/v1/experiments/prompt-ab", params=WINDOW, headers=auth(other)).status_code == 404


def test_bad_requests_are_clear(collector: RunningCollector, db: str) -> None:
    read = new_key(db, "acme", "read")
    url = collector.url + "/v1/experiments"
    missing = httpx.get(url + "/nope", params=WINDOW, headers=auth(read))
    assert missing.status_code == 404 and "no model calls of experiment 'nope'" in missing.text
    bad_time = httpx.get(url, params={"since": "yesterday"}, headers=auth(read))
    assert bad_time.status_code == 400 and "since='yesterday' is not an ISO-8601 timestamp" in bad_time.text
    backwards = httpx.get(url, params={"since": WINDOW["until"], "until": WINDOW["since"]}, headers=auth(read))
    assert backwards.status_code == 400
    assert httpx.get(url).status_code == 401
    ingest = new_key(db, "acme")
    assert httpx.get(url, headers=auth(ingest)).status_code == 403


def test_an_unknown_control_is_a_400(collector: RunningCollector, db: str) -> None:
    rng = random.Random(3)
    acme, read = new_key(db, "acme"), new_key(db, "acme", "read")
    _ingest(collector, acme, *_calls(rng, "a", 3, 0.001))
    got = httpx.get(
        collector.url + "/v1/experiments/prompt-ab", params={**WINDOW, "control": "zzz"}, headers=auth(read)
    )
    assert got.status_code == 400 and "'zzz' is not a variant" in got.text
