"""Alerts end to end: the real openai SDK failing against the fake provider, alerts POSTed to a
real local receiver (webhook and Slack format), and a slow or dead receiver never slowing the app."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterator

import openai
import pytest
from alert_receiver import Receiver

import peekr
from peekr.alerts import Cost, ErrorRate, Log, Slack, Webhook
from peekr.testing.fake_provider import FakeProvider


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def fake() -> Iterator[FakeProvider]:
    with FakeProvider() as provider:
        yield provider


def _fail_calls(fake: FakeProvider, n: int) -> None:
    with fake.openai_client() as client:
        for _ in range(n):
            with pytest.raises(openai.InternalServerError):
                client.chat.completions.create(model="gpt-4o-error-500", messages=[{"role": "user", "content": "Hi"}])


def test_failing_calls_alert_a_webhook_slack_and_the_log_once(
    fake: FakeProvider, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    rule = ErrorRate(
        above=0.5, min_calls=3, window="1m", by="model",
        notify=[Webhook(receiver.url + "/hook", headers={"Authorization": "Bearer t0ken"}),
                Slack(receiver.url + "/services/T0/B0/x"), Log()],
    )  # fmt: skip
    peekr.instrument(storage="memory", alerts=[rule])
    with caplog.at_level(logging.WARNING, logger="peekr.alerts"):
        _fail_calls(fake, 6)  # six failures: one alert (cooldown = the window), not six
        bodies = receiver.wait_for(2)
        peekr.shutdown()
    by_path = {b["path"]: b for b in bodies}
    assert len(bodies) == 2
    hook = by_path["/hook"]
    assert hook["auth"] == "Bearer t0ken"
    payload = hook["json"]
    assert payload["source"] == "peekr" and payload["kind"] == "error_rate"
    assert (payload["group_by"], payload["group"]) == ("model", "gpt-4o-error-500")
    assert payload["value"] == 1.0 and payload["threshold"] == 0.5
    assert payload["title"] == "error rate > 50% over 1m (model=gpt-4o-error-500)"
    assert payload["message"].endswith("calls failed (100.0%) in the last 1m")
    slack = by_path["/services/T0/B0/x"]["json"]
    assert set(slack) == {"text"} and "*error rate > 50% over 1m (model=gpt-4o-error-500)*" in slack["text"]
    logged = [r.getMessage() for r in caplog.records if r.name == "peekr.alerts"]
    assert len(logged) == 1 and logged[0].startswith("peekr alert: error rate > 50% over 1m")
    assert peekr.stats().delivered["alerts"] == 3


def test_a_burst_then_silence_still_alerts(fake: FakeProvider, receiver: Receiver) -> None:
    """Rules are also judged by the alert thread's clock, not only when the next record arrives."""
    peekr.instrument(storage="memory", alerts=[ErrorRate(above=0.5, min_calls=3, notify=[Webhook(receiver.url)])])
    _fail_calls(fake, 3)
    assert len(receiver.wait_for(1, timeout=5)) == 1


def test_a_slow_receiver_never_slows_the_calls(fake: FakeProvider, receiver: Receiver) -> None:
    receiver.delay = 5.0
    peekr.instrument(
        storage="memory",
        alerts=[Cost(above_usd=0.00001, window="1m", cooldown=0.01, notify=[Webhook(receiver.url, timeout=10)])],
    )
    started = time.perf_counter()
    with fake.openai_client() as client:
        for _ in range(30):
            client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "Hi"}])
            peekr.flush()
    elapsed = time.perf_counter() - started
    assert elapsed < 4.5, f"30 calls took {elapsed:.2f}s behind a receiver that answers in 5 s"
    assert receiver.bodies == []  # the first delivery is still waiting for its answer


def test_a_full_delivery_queue_drops_and_counts(receiver: Receiver) -> None:
    """Ten alerts at once behind a receiver that takes 0.5 s each and a queue of two: what cannot
    wait is dropped and counted, and every alert is either delivered or counted."""
    from peekr.alerts._engine import AlertEngine

    receiver.delay = 0.5
    engine = AlertEngine([Cost(above_usd=0.5, by="model", notify=[Webhook(receiver.url)])], queue_size=2)
    engine.start()
    for i in range(10):
        engine.observe(_span(f"model-{i}", usd=1.0))
    engine.evaluate()
    assert engine.close(timeout=5)
    dropped = engine.stats.dropped["queue_full"]
    assert dropped >= 7 and dropped + len(receiver.bodies) == 10 == engine.stats.fired
    assert engine.stats.delivered == len(receiver.bodies)


def _span(model: str, usd: float) -> peekr.Span:
    return peekr.Span(
        trace_id="a" * 32, span_id="b" * 16, name="openai.chat.completions", start_time="2026-12-03T10:00:00Z",
        end_time="2026-12-03T10:00:01Z", duration_ms=5.0, status="ok",
        attributes={"provider": "openai", "model": model, "cost_usd": usd},
    )  # fmt: skip


def test_a_dead_receiver_is_retried_then_counted(fake: FakeProvider) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/hook"
    peekr.instrument(
        storage="memory", alerts=[ErrorRate(above=0.5, min_calls=2, notify=[Webhook(dead, attempts=2, timeout=1)])]
    )
    _fail_calls(fake, 2)
    deadline = time.monotonic() + 10
    while peekr.stats().dropped.get(("alerts", "delivery_failed")) != 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert peekr.stats().dropped[("alerts", "delivery_failed")] == 1


def test_a_receiver_that_fails_once_gets_the_retry(fake: FakeProvider, receiver: Receiver) -> None:
    receiver.statuses = [503]
    peekr.instrument(storage="memory", alerts=[ErrorRate(above=0.5, min_calls=2, notify=[Webhook(receiver.url)])])
    _fail_calls(fake, 2)
    bodies = receiver.wait_for(2)
    assert len(bodies) == 2 and bodies[0]["json"] == bodies[1]["json"]  # the same alert, delivered on retry
    peekr.shutdown()
    assert peekr.stats().delivered["alerts"] == 1


def test_instrument_rejects_bad_alerts() -> None:
    with pytest.raises(TypeError, match="expects a list of peekr.alerts rules"):
        peekr.instrument(storage="memory", alerts=ErrorRate())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="expects peekr.alerts rules"):
        peekr.instrument(storage="memory", alerts=["error_rate > 5%"])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="is not an http"):
        Webhook("hooks.example.com/x")
    assert peekr.stats().state != "running"
