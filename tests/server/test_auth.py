"""API keys on a real collector: wrong, revoked and wrong-scope keys; per-key rate limit."""

from __future__ import annotations

import time

import anyio
import httpx
import pytest
from collector_helpers import auth, body, new_key, span_record

from peekr.server._admin import create_key, list_keys, revoke_key
from peekr.server._backends import open_store
from peekr.server._keys import ApiKey, hash_secret, parse_key
from peekr.server._testing import RunningCollector


def _ingest(collector: RunningCollector, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(collector.url + "/v1/ingest", json=body([span_record()]), headers=headers)


@pytest.mark.parametrize(
    "header",
    [
        None,
        "Bearer",
        "Basic dXNlcjpwYXNz",
        "Bearer not-a-key",
        "Bearer pk_live_000000000000_" + "a" * 43,  # well-formed, unknown id
    ],
)
def test_missing_or_wrong_key_is_401_and_nothing_is_stored(
    collector: RunningCollector, db: str, header: str | None
) -> None:
    answer = _ingest(collector, {"Authorization": header} if header else {})
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    assert answer.json()["error"]["code"] in {"missing_api_key", "invalid_api_key"}
    read = new_key(db, "acme", "read")
    assert httpx.get(collector.url + "/v1/traces", headers=auth(read)).json()["traces"] == []


def test_right_id_with_wrong_secret_is_401(collector: RunningCollector, db: str) -> None:
    key = new_key(db, "acme")
    tampered = key[:-4] + ("AAAA" if not key.endswith("AAAA") else "BBBB")
    assert _ingest(collector, auth(tampered)).status_code == 401
    assert _ingest(collector, auth(key)).status_code == 200


def test_revocation_takes_effect_on_the_next_request(collector: RunningCollector, db: str) -> None:
    record, key = create_key(db, "acme", "ingest")
    assert _ingest(collector, auth(key)).status_code == 200
    assert revoke_key(db, record.key_id) is True
    answer = _ingest(collector, auth(key))
    assert answer.status_code == 401 and "revoked" in answer.json()["error"]["message"]
    assert revoke_key(db, record.key_id) is False
    assert [k.active for k in list_keys(db, "acme")] == [False]


def test_read_key_cannot_ingest_and_ingest_key_cannot_read(collector: RunningCollector, db: str) -> None:
    read, ingest = new_key(db, "acme", "read"), new_key(db, "acme", "ingest")
    answer = _ingest(collector, auth(read))
    assert answer.status_code == 403 and answer.json()["error"]["code"] == "insufficient_scope"
    assert "'ingest'" in answer.json()["error"]["message"]
    answer = httpx.get(collector.url + "/v1/traces", headers=auth(ingest))
    assert answer.status_code == 403 and "'read'" in answer.json()["error"]["message"]
    assert httpx.get(collector.url + "/v1/traces", headers=auth(read)).json()["traces"] == []


def test_keys_are_stored_only_as_salted_hashes(db: str) -> None:
    first, key1 = create_key(db, "acme", "ingest")
    second, key2 = create_key(db, "acme", "ingest")
    stored = list_keys(db)
    for key in (key1, key2):
        parsed = parse_key(key)
        assert parsed is not None
        secret = parsed[1]  # the whole secret, "_" and all
        assert all(secret not in (k.secret_hash, k.salt) for k in stored)
    assert first.salt != second.salt


def test_rate_limit_per_key_answers_429_with_retry_after(start_collector, db: str) -> None:
    busy, calm = new_key(db, "acme"), new_key(db, "acme")
    with start_collector(rate_limit=1, rate_burst=3) as collector, httpx.Client() as client:

        def send(key: str) -> httpx.Response:
            return client.post(collector.url + "/v1/ingest", json=body([span_record()]), headers=auth(key))

        assert [send(busy).status_code for _ in range(3)] == [200, 200, 200]  # the burst
        limited = next(r for r in (send(busy) for _ in range(10)) if r.status_code != 200)
        assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
        assert limited.json()["error"]["code"] == "rate_limited"
        assert send(calm).status_code == 200  # another key of the same tenant has its own bucket
        time.sleep(float(limited.headers["Retry-After"]))
        assert send(busy).status_code == 200


def test_failed_authentication_is_limited_per_client_address(collector: RunningCollector) -> None:
    wrong = {**auth("pk_live_000000000000_" + "a" * 43), "X-Forwarded-For": "203.0.113.7"}
    with httpx.Client() as client:  # the default limit: 2 failures/s, burst 30
        started = time.monotonic()
        statuses = [client.get(collector.url + "/v1/traces", headers=wrong).status_code for _ in range(300)]
        refilled = 2 * (time.monotonic() - started) + 1  # the bucket refills at 2/s meanwhile
    assert statuses[:30] == [401] * 30  # the burst; then refused without checking the key
    assert statuses.count(401) <= 30 + refilled and statuses.count(429) >= 300 - 30 - refilled


def test_a_blocked_address_waits_retry_after_even_with_a_valid_key(start_collector, db: str) -> None:
    good = new_key(db, "acme")
    wrong = "pk_live_000000000000_" + "a" * 43
    attacker, neighbour = {"X-Forwarded-For": "203.0.113.7"}, {"X-Forwarded-For": "198.51.100.1"}
    with start_collector(auth_fail_rate=0.25, auth_fail_burst=5) as collector, httpx.Client() as client:

        def send(key: str, address: dict[str, str]) -> httpx.Response:
            headers = {**auth(key), **address}
            return client.post(collector.url + "/v1/ingest", json=body([span_record()]), headers=headers)

        assert [send(wrong, attacker).status_code for _ in range(5)] == [401] * 5
        limited = send(wrong, attacker)
        assert limited.status_code == 429 and limited.json()["error"]["code"] == "rate_limited"
        assert int(limited.headers["Retry-After"]) >= 1
        assert "failed authentications" in limited.json()["error"]["message"]
        # Decided: a valid key from a blocked address waits too (it cannot be told from a guess unchecked).
        assert send(good, attacker).status_code == 429
        assert send(good, neighbour).status_code == 200  # other addresses are not affected
        assert send(wrong, neighbour).status_code == 401
        time.sleep(float(limited.headers["Retry-After"]))
        assert send(good, attacker).status_code == 200  # the bucket refilled
        assert send(wrong, attacker).status_code == 401


def test_ipv6_clients_are_limited_per_64_network(start_collector, db: str) -> None:
    wrong = "pk_live_000000000000_" + "a" * 43
    with start_collector(auth_fail_rate=1, auth_fail_burst=3) as collector, httpx.Client() as client:
        statuses = [
            client.get(
                collector.url + "/v1/traces", headers={**auth(wrong), "X-Forwarded-For": f"2001:db8:1:2::{i:x}"}
            ).status_code
            for i in range(1, 20)  # one /64, many addresses: one bucket
        ]
        assert statuses[:3] == [401] * 3 and set(statuses[3:]) == {429}
        other = client.get(collector.url + "/v1/traces", headers={**auth(wrong), "X-Forwarded-For": "2001:db8:1:3::1"})
        assert other.status_code == 401


def test_the_failure_limiter_state_is_bounded() -> None:
    from peekr.server._ratelimit import RateLimiter

    limiter = RateLimiter(rate=1, burst=1, max_keys=100)
    for i in range(10_000):
        limiter.acquire(f"10.0.{i // 256}.{i % 256}", now=0.0)
    assert len(limiter) == 100


@pytest.mark.parametrize("secret", ["_", "a_b", "_lead", "trail_", "__x__", "-_-"])
def test_a_secret_containing_underscores_authenticates(collector: RunningCollector, db: str, secret: str) -> None:
    """``pk_live_<12 hex>_<secret>``: the key id has no "_", so the first "_" after it ends it."""
    record = ApiKey("0123456789ab", "acme", "read", "11" * 16, hash_secret("11" * 16, secret), "2026-11-27T00:00:00Z")

    async def store_key() -> None:
        store = open_store(db)
        await store.open()
        try:
            await store.create_key(record)
        finally:
            await store.close()

    anyio.run(store_key)
    assert parse_key(f"pk_live_0123456789ab_{secret}") == ("0123456789ab", secret)
    answer = httpx.get(collector.url + "/v1/traces", headers=auth(f"pk_live_0123456789ab_{secret}"))
    assert answer.status_code == 200, answer.text
    wrong = httpx.get(collector.url + "/v1/traces", headers=auth(f"pk_live_0123456789ab_{secret}x"))
    assert wrong.status_code == 401
