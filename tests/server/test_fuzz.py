"""Fuzz the collector with schemathesis from its own ``/openapi.json``, over real HTTP, on both backends.

Bounded and deterministic (a fixed number of examples per operation, derandomized), so it runs in
the normal suite: every answer must be documented, match its schema and never be a 5xx.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import schemathesis
from collector_helpers import auth, body, new_key, span_record
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from peekr.server import ServerSettings, create_app
from peekr.server._testing import run_collector

# Per operation; PEEKR_FUZZ_EXAMPLES=1000 fuzzes deeper by hand.
EXAMPLES = int(os.environ.get("PEEKR_FUZZ_EXAMPLES", "40"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
# The document the app serves at /openapi.json (the fixture checks that it is this one).
schema = schemathesis.openapi.from_dict(create_app(ServerSettings(db="unused.db")).openapi())


@dataclass
class Target:
    url: str
    headers: dict[str, dict[str, str]]


@pytest.fixture
def target(db: str) -> Iterator[Target]:
    """A real collector holding a little data, with an ingest and a read key."""
    ingest, read = new_key(db, "acme"), new_key(db, "acme", "read")
    with run_collector(ServerSettings(db=db, rate_limit=0, auth_fail_rate=0, purge_interval_s=0)) as collector:
        served = httpx.get(collector.url + "/openapi.json").json()
        assert served == schema.raw_schema
        root = span_record(name="agent.run", model="gpt-4o", tokens_total=3, cost_usd=0.1)
        child = span_record(trace_id=root["trace_id"], parent_id=root["span_id"], model="gpt-4o")
        feedback = [{"trace_id": root["trace_id"], "rating": "good", "created_at": root["start_time"]}]
        payload = body([root, child], feedback=feedback)
        assert httpx.post(collector.url + "/v1/ingest", json=payload, headers=auth(ingest)).json()["stored"] == 3
        yield Target(collector.url, {"ingest": auth(ingest), "read": auth(read)})


@schema.parametrize()
@settings(
    max_examples=EXAMPLES, derandomize=True, deadline=None, database=None, suppress_health_check=list(HealthCheck)
)
def test_collector_api_conforms_to_its_openapi_and_never_answers_5xx(case: Any, target: Target) -> None:
    scope = "ingest" if case.path == "/v1/ingest" else "read"
    case.call_and_validate(base_url=target.url, headers=target.headers[scope], checks=CHECKS)
