"""API keys on a real collector: wrong, revoked and wrong-scope keys; per-key rate limit."""

from __future__ import annotations

import time

import httpx
import pytest
from collector_helpers import auth, body, new_key, span_record

from peekr.server._admin import create_key, list_keys, revoke_key
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
        secret = key.rsplit("_", 1)[-1]
        assert all(secret not in (k.secret_hash, k.salt) for k in stored)
    assert first.salt != second.salt


def test_rate_limit_per_key_answers_429_with_retry_after(start_collector, db: str) -> None:  # type: ignore[no-untyped-def]
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
