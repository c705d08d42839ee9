"""The trace list's text search, variant and score filters, trace-id prefixes and trends by user, over HTTP.

A real collector on SQLite and on PostgreSQL; two tenants that share words, variants and id prefixes.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from collector_helpers import BASE, WINDOW, auth, body, database, eval_record, new_key, span_record

from peekr.server import ServerSettings
from peekr.server._sqlite_store import page_trace_ids, text_match_sql, trace_filter_sql
from peekr.server._store import TraceFilter
from peekr.server._testing import run_collector

# Trace ids: two of acme's share the prefix "abcd12"; globex has one starting "abcd99".
IDS = {
    "weather": "abcd1200" + "0" * 24,
    "report": "abcd1211" + "0" * 24,
    "refund": "5e" + "1" * 30,
    "percent": "6f" + "2" * 30,
    "plain": "7a" + "3" * 30,
}
OTHER_ID = "abcd9900" + "9" * 24


def _trace(trace_id: str, minute: int, *, user: str, variant: str | None, prompt: str, answer: str,
           tenant_word: str = "") -> list[dict[str, Any]]:  # fmt: skip
    root = span_record(trace_id=trace_id, name="agent.run", start=BASE + timedelta(minutes=minute), user_id=user)
    extra = {"experiment_variant": variant} if variant else {}
    llm = span_record(
        trace_id=trace_id, parent_id=root["span_id"], name="openai.chat.completions",
        start=BASE + timedelta(minutes=minute, seconds=1), model="gpt-4o", user_id=user,
        input=[{"role": "user", "content": prompt + tenant_word}],
        output={"role": "assistant", "content": answer}, **extra,  # type: ignore[arg-type]
    )  # fmt: skip
    return [root, llm]


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def populated(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    with database(request.param, tmp_path_factory.mktemp("search")) as db:
        with run_collector(ServerSettings(db=db, rate_limit=0, purge_interval_s=0)) as running:
            traces = {
                "weather": _trace(IDS["weather"], 1, user="alice", variant="A", prompt="Weather in Paris?",
                                  answer="It is SUNNY in Paris; the Eiffel Tower is open."),
                "report": _trace(IDS["report"], 2, user="bob", variant="B", prompt="Summarise the quarterly report",
                                 answer="Revenue grew."),
                "refund": _trace(IDS["refund"], 3, user="carol", variant="A", prompt="Can I get a refund?",
                                 answer="Refunds take 5_days."),
                "percent": _trace(IDS["percent"], 4, user="dave", variant=None, prompt="Discount?",
                                  answer="You get 100% off"),
                "plain": _trace(IDS["plain"], 5, user="erin", variant="B", prompt="Hello", answer="Hi there"),
            }  # fmt: skip
            llm = {name: spans[1] for name, spans in traces.items()}
            evals = [
                eval_record(llm["weather"], 0.2),
                eval_record(llm["report"], 0.9),
                eval_record(llm["refund"], 0.6),
                eval_record(llm["percent"], None),  # evaluated, no score: matches no bound
                # A later result replaces the refund score: only the latest counts.
                eval_record(llm["refund"], 0.95, created_at="2026-11-27T10:00:00.000000Z"),
            ]
            spans = [s for t in traces.values() for s in t]
            acme = new_key(db, "acme")
            answer = httpx.post(running.url + "/v1/ingest", json=body(spans, evals), headers=auth(acme)).json()
            assert answer["rejected"] == []
            other = _trace(OTHER_ID, 1, user="alice", variant="A", prompt="Weather in Paris?", answer="SUNNY globex")
            globex = new_key(db, "globex")
            other_evals = [eval_record(other[1], 0.2)]
            assert (
                httpx.post(running.url + "/v1/ingest", json=body(other, other_evals), headers=auth(globex)).json()[
                    "rejected"
                ]
                == []
            )
            yield {"url": running.url, "read": new_key(db, "acme", "read"), "db": db}


def _ids(populated: dict[str, Any], **params: Any) -> set[str]:
    got = httpx.get(populated["url"] + "/v1/traces", params={**WINDOW, **params}, headers=auth(populated["read"]))
    assert got.status_code == 200, got.text
    return {t["trace_id"] for t in got.json()["traces"]}


def test_text_search_finds_a_word_of_the_output_or_input(populated: dict[str, Any]) -> None:
    assert _ids(populated, q="eiffel") == {IDS["weather"]}  # a word of the output, any case
    assert _ids(populated, q="quarterly") == {IDS["report"]}  # a word of the input
    assert _ids(populated, q="sunny") == {IDS["weather"]}  # not globex's trace with the same word
    assert _ids(populated, q="  refund ") == {IDS["refund"]}  # trimmed
    # % and _ are the characters themselves, not wildcards.
    assert _ids(populated, q="100%") == {IDS["percent"]}
    assert _ids(populated, q="5_d") == {IDS["refund"]}
    assert _ids(populated, q="5xd") == set()
    assert _ids(populated, q="no such words") == set()
    # Combined with another filter.
    assert _ids(populated, q="paris", user_id="bob") == set()


def test_variant_and_score_filters(populated: dict[str, Any]) -> None:
    assert _ids(populated, experiment_variant="A") == {IDS["weather"], IDS["refund"]}
    assert _ids(populated, experiment_variant="B") == {IDS["report"], IDS["plain"]}
    assert _ids(populated, max_score=0.5) == {IDS["weather"]}
    # The refund trace's latest score is 0.95 (its earlier 0.6 no longer counts).
    assert _ids(populated, min_score=0.5) == {IDS["report"], IDS["refund"]}
    assert _ids(populated, min_score=0.5, max_score=0.7) == set()
    assert _ids(populated, min_score=0, max_score=1) == {IDS["weather"], IDS["report"], IDS["refund"]}
    assert _ids(populated, min_score=0.1, experiment_variant="A") == {IDS["weather"], IDS["refund"]}
    assert _ids(populated, min_score=0, metric="relevance") == set()


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"q": "ab"}, "q must be 3 to 200 characters"),
        ({"q": "x" * 201}, "q must be 3 to 200 characters"),
        ({"q": "abc\x00"}, "q must not contain a NUL character"),
        ({"experiment_variant": "a\x00"}, "experiment_variant must not contain a NUL"),
        ({"min_score": "0.8", "max_score": "0.2"}, "min_score=0.8 is above max_score=0.2"),
        ({"min_score": "2"}, "min_score"),
        ({"max_score": "-0.5"}, "max_score"),
        ({"min_score": "high"}, "min_score"),
        ({"max_score": "nan"}, "max_score"),
        ({"min_score": "0.1", "metric": "bad metric!"}, "metric='bad metric!' must match"),
    ],
)
def test_bad_filter_values_are_400_with_a_clear_message(
    populated: dict[str, Any], params: dict[str, str], message: str
) -> None:
    got = httpx.get(populated["url"] + "/v1/traces", params=params, headers=auth(populated["read"]))
    assert got.status_code == 400, got.text
    assert got.json()["error"]["code"] == "invalid_parameter"
    assert message in got.json()["error"]["message"]


def test_trace_id_prefix_resolves_within_the_tenant(populated: dict[str, Any]) -> None:
    url, headers = populated["url"], auth(populated["read"])
    assert httpx.get(url + "/ui/resolve/5e11", headers=headers).json() == {"trace_id": IDS["refund"]}
    assert httpx.get(url + "/ui/resolve/ABCD1211", headers=headers).json() == {"trace_id": IDS["report"]}
    # Ambiguous: both of acme's matches, listed; globex's "abcd99..." is not among them.
    several = httpx.get(url + "/ui/resolve/abcd", headers=headers).json()
    assert several == {"trace_id": None, "matches": [IDS["weather"], IDS["report"]], "more": False}
    # Another tenant's prefix is not found; neither is a prefix nobody has, or one too short / not hex.
    for prefix in ("abcd99", "ffff", "abc", "zzzzzz"):
        got = httpx.get(url + f"/ui/resolve/{prefix}", headers=headers)
        assert got.status_code == 404, prefix
        assert prefix in got.json()["error"]["message"]
    assert httpx.get(url + "/ui/resolve/5e11").status_code == 401  # needs a read key


def test_trends_by_user_and_top_groups(populated: dict[str, Any]) -> None:
    url, headers = populated["url"], auth(populated["read"])
    got = httpx.get(url + "/v1/stats/aggregates", params={**WINDOW, "group_by": "user_id"}, headers=headers).json()
    assert {r["group"]: r["calls"] for r in got["rows"]} == {"alice": 2, "bob": 2, "carol": 2, "dave": 2, "erin": 2}
    top = httpx.get(url + "/v1/stats/aggregates", params={**WINDOW, "group_by": "user_id", "top": 2}, headers=headers)
    # Ties rank by value: alice and bob are kept, the other three are summed.
    assert {r["group"]: r["calls"] for r in top.json()["rows"]} == {"alice": 2, "bob": 2, "(other)": 6}
    other = next(r for r in top.json()["rows"] if r["group"] == "(other)")
    assert other["tokens_total"] == 0 and other["p50_ms"] is None  # sums only
    assert next(r for r in top.json()["rows"] if r["group"] == "alice")["p50_ms"] is not None
    tenant = httpx.get(url + "/v1/stats/aggregates", params={"group_by": "tenant"}, headers=headers)
    assert tenant.status_code == 400 and "only for peekr ui" in tenant.json()["error"]["message"]
    # A day per minute is 1,440 buckets: answered per hour, and the answer says so.
    day = {"since": "2026-11-27T00:00:00Z", "until": "2026-11-28T00:00:00Z", "interval": "minute"}
    coarse = httpx.get(url + "/v1/stats/aggregates", params=day, headers=headers).json()
    assert coarse["interval"] == "hour" and [r["bucket"] for r in coarse["rows"]] == ["2026-11-27T09:00:00Z"]
    assert coarse["rows"][0]["calls"] == 10
    hour = {"since": "2026-11-27T09:00:00Z", "until": "2026-11-27T10:00:00Z", "interval": "minute"}
    assert httpx.get(url + "/v1/stats/aggregates", params=hour, headers=headers).json()["interval"] == "minute"


def _spans_db(rows: list[tuple[str, str, str, str, str]]) -> sqlite3.Connection:
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE spans (tenant_id, trace_id, span_id, start_time, attributes)")
    db.executemany("INSERT INTO spans VALUES (?, ?, ?, ?, ?)", rows)
    return db


def _search_every_page(db: sqlite3.Connection, text: str, scan_limit: int) -> tuple[list[str], int]:
    """The trace ids a search finds following each page's cursor (2 traces a page), and the pages read."""
    filt = TraceFilter(text=text)
    where, params = trace_filter_sql(filt, "t")
    match = text_match_sql(filt, params)
    found: list[str] = []
    cursor = None
    for pages in range(1, 100):
        page, resume = page_trace_ids(where, params, 2, cursor, db, match=match, scan_limit=scan_limit)
        found += list(page)
        if len(page) == 2:
            cursor = (page[list(page)[-1]], list(page)[-1])
        elif resume is not None:
            cursor = resume
        else:
            return found, pages
    raise AssertionError(f"the search did not end: {found}")


def test_text_search_reads_a_bounded_number_of_spans_per_page() -> None:
    """SQLite: a search stops after scan_limit spans and returns where to continue; continuing finds
    every match exactly once, newest first."""
    rows = []
    for i in range(40):
        output = "needle" if i in (3, 17, 18, 35) else "hay"
        rows.append(("t", f"{i:032x}", f"{i:016x}", f"2026-11-27T09:{i:02d}:00.000000Z",
                     f'{{"input": "q{i}", "output": "{output}"}}'))  # fmt: skip
    found, pages = _search_every_page(_spans_db(rows), "NEEDLE", scan_limit=10)
    assert found == [f"{i:032x}" for i in (35, 18, 17, 3)]
    assert pages >= 4  # 40 spans at most 10 per request


def test_a_text_search_stopping_inside_a_trace_instant_finds_its_match() -> None:
    """SQLite: both spans of a trace start at the same instant and only the second walked matches;
    wherever the bounded walk stops (limits 1..8), continuing finds every matching trace once."""
    rows = []
    for i in range(6):
        start = f"2026-11-27T09:{i:02d}:00.000000Z"
        for j, text in enumerate(("hay", "needle" if i in (1, 2, 4) else "hay")):
            rows.append(("t", f"{i:032x}", f"{i:014x}{j:02x}", start, f'{{"input": "{text}"}}'))
    db = _spans_db(rows)
    for scan_limit in range(1, 9):
        found, _ = _search_every_page(db, "needle", scan_limit)
        assert found == [f"{i:032x}" for i in (4, 2, 1)], scan_limit
