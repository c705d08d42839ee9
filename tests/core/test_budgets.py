"""Spend budgets: the next call raises before its request is sent, warns once, recovers, survives a restart.

Real openai SDK against the fake provider over HTTP. ``gpt-4o`` replies cost 2 input + 3 output
tokens = $0.000035 per call (docs/fake-provider.md), so a $0.00005 cap is spent after two calls.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

import peekr
from peekr.testing.fake_provider import FakeProvider

CALL_USD = 0.000035
LIMIT = 0.00005  # over after two calls
MESSAGES = [{"role": "user", "content": "Hello there"}]


@pytest.fixture
def fake() -> Iterator[FakeProvider]:
    with FakeProvider() as provider:
        yield provider


def _call(fake: FakeProvider) -> str:
    with fake.openai_client() as client:
        reply = client.chat.completions.create(model="gpt-4o", messages=MESSAGES)  # type: ignore[arg-type]
    return reply.choices[0].message.content or ""


def _spend_two_calls(fake: FakeProvider) -> None:
    for _ in range(2):
        _call(fake)
    assert peekr.flush(5)


def test_a_spent_raise_budget_stops_the_next_call_before_its_request(fake: FakeProvider) -> None:
    peekr.instrument(storage="memory", budgets=[peekr.Budget(limit_usd=LIMIT, window="1h", on_exceed="raise")])
    _spend_two_calls(fake)
    sent = len(fake.requests)
    with pytest.raises(peekr.BudgetExceededError) as caught:
        _call(fake)
    assert len(fake.requests) == sent, "the provider must receive nothing"
    error = caught.value
    assert error.spent_usd == pytest.approx(2 * CALL_USD)
    assert error.budget.limit_usd == LIMIT and error.key is None
    assert 3500 < error.frees_at - time.time() <= 3600 + 60
    message = str(error)
    assert message.startswith("total budget $0.00005/1h exceeded: $0.00007 spent of $0.00005 in the last 60 min;")
    assert "calls go through again at" in message
    assert "The request was not sent." in message


def test_streaming_and_async_calls_are_stopped_too(fake: FakeProvider) -> None:
    peekr.instrument(storage="memory", budgets=[peekr.Budget(limit_usd=LIMIT, on_exceed="raise")])
    _spend_two_calls(fake)
    sent = len(fake.requests)
    with fake.openai_client() as client, pytest.raises(peekr.BudgetExceededError):
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True)  # type: ignore[arg-type]

    async def main() -> None:
        async with fake.async_openai_client() as client:
            with pytest.raises(peekr.BudgetExceededError):
                await client.chat.completions.create(model="gpt-4o", messages=MESSAGES)  # type: ignore[arg-type]

    for backend in ("asyncio", "trio"):
        anyio.run(main, backend=backend)
    assert len(fake.requests) == sent


def test_per_tenant_budget_stops_only_that_tenant(fake: FakeProvider) -> None:
    peekr.instrument(
        storage="memory", budgets=[peekr.Budget(limit_usd=LIMIT, per="tenant", on_exceed="raise")], tenant_id="acme"
    )
    _spend_two_calls(fake)  # default tenant "acme"
    with pytest.raises(peekr.BudgetExceededError, match="for tenant 'acme'"):
        _call(fake)
    with peekr.session(tenant_id="globex"):
        assert _call(fake)  # another tenant still has its own budget
    with peekr.session(user_id="u1"), pytest.raises(peekr.BudgetExceededError):
        _call(fake)  # still acme


def test_per_user_budget_ignores_calls_without_a_user(fake: FakeProvider) -> None:
    peekr.instrument(storage="memory", budgets=[peekr.Budget(limit_usd=LIMIT, per="user", on_exceed="raise")])
    for _ in range(3):
        _call(fake)  # no user_id: not counted against any user's budget
    with peekr.session(user_id="alice"):
        _spend_two_calls(fake)
        with pytest.raises(peekr.BudgetExceededError, match="for user 'alice'"):
            _call(fake)
    with peekr.session(user_id="bob"):
        assert _call(fake)


def test_warn_budget_logs_once_per_window_and_never_blocks(
    fake: FakeProvider, caplog: pytest.LogCaptureFixture
) -> None:
    peekr.instrument(storage="memory", budgets=[peekr.Budget(limit_usd=LIMIT, window="1h")])
    with caplog.at_level(logging.WARNING, logger="peekr"):
        for _ in range(5):
            assert _call(fake)
        assert peekr.flush(5)
    warnings = [r.getMessage() for r in caplog.records if "exceeded" in r.getMessage()]
    assert len(warnings) == 1, warnings
    assert "total budget $0.00005/1h exceeded: $0.00007 spent of $0.00005" in warnings[0] and "(warn)" in warnings[0]
    assert len(fake.requests) == 5


def test_calls_go_through_again_when_the_window_moves(fake: FakeProvider) -> None:
    peekr.instrument(storage="memory", budgets=[peekr.Budget(limit_usd=LIMIT, window=2, on_exceed="raise")])
    _spend_two_calls(fake)
    with pytest.raises(peekr.BudgetExceededError) as caught:
        _call(fake)
    wait = caught.value.frees_at - time.time()
    assert 0 < wait <= 2.1
    time.sleep(wait + 0.05)
    assert _call(fake), "the spend left the window: the call must go through"


def test_spend_survives_a_restart_with_sqlite_storage(fake: FakeProvider, tmp_path: Path) -> None:
    db = tmp_path / "traces.db"
    budget = peekr.Budget(limit_usd=LIMIT, window="1d", per="tenant", on_exceed="raise")
    peekr.instrument(storage="sqlite", path=db, tenant_id="acme", budgets=[budget])
    _spend_two_calls(fake)
    peekr.shutdown()
    assert sqlite3.connect(db).execute("SELECT count(*) FROM spans").fetchone() == (2,)

    peekr.instrument(storage="sqlite", path=db, tenant_id="acme", budgets=[budget])  # "the next process"
    sent = len(fake.requests)
    with pytest.raises(peekr.BudgetExceededError, match="for tenant 'acme'"):
        _call(fake)
    assert len(fake.requests) == sent
    with peekr.session(tenant_id="globex"):
        assert _call(fake)


def test_no_budget_configured_changes_nothing(fake: FakeProvider) -> None:
    peekr.instrument(storage="memory")
    for _ in range(4):
        assert _call(fake)
    assert len(fake.requests) == 4


def test_judge_calls_are_not_blocked(fake: FakeProvider) -> None:
    """Calls peekr makes for itself (evaluator judges) run suppressed and never hit a budget."""
    peekr.instrument(storage="memory", budgets=[peekr.Budget(limit_usd=LIMIT, on_exceed="raise")])
    _spend_two_calls(fake)
    from peekr._context import suppress_instrumentation

    with suppress_instrumentation():
        assert _call(fake)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"limit_usd": 0}, ValueError, r"limit_usd must be positive"),
        ({"limit_usd": "5"}, TypeError, r"limit_usd must be a number"),
        ({"limit_usd": 5, "window": "daily"}, ValueError, r"window='daily' is not a duration"),
        ({"limit_usd": 5, "window": -3}, ValueError, r"window must be positive"),
        ({"limit_usd": 5, "per": "org"}, ValueError, r"per='org'; expected one of total, tenant, user, feature"),
        ({"limit_usd": 5, "on_exceed": "block"}, ValueError, r"on_exceed='block'; expected 'warn' or 'raise'"),
    ],
)
def test_bad_budget_options_raise_clearly(kwargs: dict[str, object], error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        peekr.Budget(**kwargs)  # type: ignore[arg-type]


def test_instrument_rejects_what_is_not_a_budget_list() -> None:
    with pytest.raises(TypeError, match="expects a list of peekr.Budget"):
        peekr.instrument(storage="memory", budgets=peekr.Budget(limit_usd=1))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="expects peekr.Budget items"):
        peekr.instrument(storage="memory", budgets=[{"limit_usd": 1}])  # type: ignore[list-item]
    assert peekr.stats().state != "running"
