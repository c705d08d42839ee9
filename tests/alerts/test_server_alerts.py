"""Alerts inside the collector: rules from a TOML file, judged per tenant over what is ingested,
delivered to a real webhook receiver; a bad file stops `peekr server` with one clear line."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from alert_receiver import Receiver
from collector_helpers import auth, body, new_key, span_record
from typer.testing import CliRunner

from peekr.alerts import CostSpike, ErrorRate, Log, Webhook
from peekr.alerts._config import AlertsFileError, load_rules
from peekr.cli._app import build_app
from peekr.server import ServerSettings
from peekr.server._testing import run_collector


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def _alerts_file(tmp_path: Path, receiver_url: str) -> Path:
    path = tmp_path / "alerts.toml"
    path.write_text(
        f"""
[channels.ops]
type = "webhook"
url = "{receiver_url}/ops"

[[rules]]
type = "error_rate"
above = 0.5
min_calls = 5
window = "5m"
by = "model"
notify = ["ops"]
""",
        encoding="utf-8",
    )
    return path


def test_the_collector_alerts_per_tenant(tmp_path: Path, receiver: Receiver) -> None:
    db = str(tmp_path / "server.db")
    acme, globex = new_key(db, "acme"), new_key(db, "globex")
    settings = ServerSettings(
        db=db, rate_limit=0, purge_interval_s=0, alerts_file=str(_alerts_file(tmp_path, receiver.url))
    )
    with run_collector(settings) as collector, httpx.Client(base_url=collector.url) as client:
        failing = [span_record(status="error", model="gpt-4o", provider="openai") for _ in range(5)]
        healthy = [span_record(model="gpt-4o", provider="openai") for _ in range(20)]
        # globex: 5 errors among 25 calls (20 %) stays quiet; acme: 5 of 5 fail and alerts.
        for key, spans in ((globex, failing + healthy), (acme, failing)):
            response = client.post("/v1/ingest", json=body(spans=spans), headers=auth(key))
            assert response.status_code == 200 and response.json()["stored"] == len(spans)
        bodies = receiver.wait_for(1)
    assert len(bodies) == 1
    alert = bodies[0]["json"]
    assert bodies[0]["path"] == "/ops"
    assert (alert["tenant_id"], alert["group"], alert["kind"]) == ("acme", "gpt-4o", "error_rate")
    assert alert["title"] == "error rate > 50% over 5m (model=gpt-4o, tenant=acme)"


def test_load_rules_reads_every_rule_type(tmp_path: Path) -> None:
    path = tmp_path / "alerts.toml"
    path.write_text(
        """
[channels.pager]
type = "webhook"
url = "https://alerts.example.com/peekr"
headers = { Authorization = "Bearer x" }

[[rules]]
type = "error_rate"
above = 0.05

[[rules]]
type = "cost_spike"
factor = 4
window = "1h"
baseline = "1d"
notify = ["pager", "log"]
""",
        encoding="utf-8",
    )
    error_rate, spike = load_rules(path)
    assert error_rate == ErrorRate(above=0.05, notify=[Log()])
    assert isinstance(spike, CostSpike) and spike.factor == 4 and spike.baseline_seconds == 86400
    assert spike.notify == (Webhook("https://alerts.example.com/peekr", headers={"Authorization": "Bearer x"}), Log())


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("[[rules]]\ntype = 'error_rate'\nabove = 'high'\n", r"rule 1 \(error_rate\): above must be a number"),
        ("[[rules]]\ntype = 'errors'\n", r"rule 1: type='errors'; expected one of error_rate, latency_p95"),
        ("[[rules]]\ntype = 'cost'\nthreshold = 3\n", r"rule 1 \(cost\): .*unexpected keyword argument 'threshold'"),
        ("[[rules]]\ntype = 'cost'\nnotify = ['pager']\n", r"rule 1: unknown channel\(s\) 'pager'; defined: log"),
        (
            "[channels.x]\ntype = 'webhook'\nurl = 'ftp://x'\n[[rules]]\ntype = 'cost'\n",
            r"\[channels.x\] \(webhook\): url='ftp://x' is not an http",
        ),
        ("rules = [\n", r"not valid TOML"),
        ("[alerting]\n", r"unknown section\(s\) alerting"),
        ("", r"no \[\[rules\]\] found"),
    ],
)
def test_a_bad_alerts_file_is_named_with_its_mistake(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "alerts.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(AlertsFileError, match=match) as caught:
        load_rules(path)
    assert str(caught.value).startswith(f"{path}: ")


def test_peekr_server_refuses_a_bad_alerts_file_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "alerts.toml"
    path.write_text("[[rules]]\ntype = 'error_rate'\nabove = 7\n", encoding="utf-8")
    result = CliRunner().invoke(build_app(), ["server", "--db", str(tmp_path / "s.db"), "--alerts", str(path)])
    assert result.exit_code == 1
    assert "rule 1 (error_rate): above is a rate from 0 to 1" in result.output
    missing = CliRunner().invoke(build_app(), ["server", "--alerts", str(tmp_path / "nope.toml")])
    assert missing.exit_code == 1 and "cannot read the alerts file" in missing.output
