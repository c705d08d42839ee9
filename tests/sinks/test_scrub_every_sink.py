"""instrument(scrub=True): seeded secrets of every detector kind end up in 0 bytes of every sink.

A real OpenAI SDK call against the fake provider (which echoes the prompt, so the reply carries the
secrets too), a manual span with attributes, an error and retrieval documents; written to SQLite,
JSONL, OTLP (a real OTLP/HTTP receiver) and a real ``peekr server`` through the HTTP exporter. Then
the raw files, databases (with their WAL) and received bodies are grepped.
"""

from __future__ import annotations

from pathlib import Path

from _otlp_receiver import running_receiver
from collector_helpers import new_key
from exporter_helpers import start
from scrub_secrets import NEGATIVES, SECRETS

import peekr
from peekr.sinks.jsonl import JSONLSink
from peekr.sinks.otlp import OTLPSink
from peekr.testing.fake_provider import FakeProvider

ALL = [secret for values in SECRETS.values() for secret in values]
PROMPT = "Please file these: " + " | ".join(ALL) + " || keep: " + " | ".join(NEGATIVES[:2])


def _needles(secret: str) -> list[bytes]:
    """What must not appear: the secret as written, its JSON-escaped form and its bare digits."""
    forms = {secret, secret.replace("\n", "\\n")}
    digits = "".join(ch for ch in secret if ch.isdigit())
    if len(digits) >= 9 and not any(ch.isalpha() for ch in secret):
        forms.add(digits)
    if secret.startswith("-----BEGIN"):
        forms = {"MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun"}
    return [f.encode() for f in forms]


def _grep(blobs: dict[str, bytes]) -> list[str]:
    found = []  # type: ignore[var-annotated]
    for secret in ALL:
        for needle in _needles(secret):
            found.extend(f"{secret!r} in {name}" for name, blob in blobs.items() if needle in blob)
    return found


def _files(directory: Path, prefix: str) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in directory.iterdir() if p.name.startswith(prefix)}


def test_seeded_secrets_reach_no_sink(tmp_path: Path) -> None:
    collector_db = str(tmp_path / "collector.db")
    key = new_key(collector_db, "acme")
    faults, ctx = start(collector_db)
    with ctx as running, running_receiver() as receiver, FakeProvider() as fake:
        peekr.instrument(
            storage="sqlite",
            path=tmp_path / "traces.db",
            sinks=[JSONLSink(str(tmp_path / "traces.jsonl")), OTLPSink(receiver.url)],
            exporter=peekr.HTTPExporter(running.url, key),
            providers=["openai"],
            scrub=True,
        )
        with fake.openai_client() as client:
            reply = client.chat.completions.create(
                model="gpt-4o-mini",
                messages=[{"role": "system", "content": "secrets: " + ALL[0]}, {"role": "user", "content": PROMPT}],
            )
        assert ALL[0] in (reply.choices[0].message.content or "")  # the caller's reply is untouched
        with peekr.span(
            "retrieve",
            kind="retrieval",
            retrieval={"query": PROMPT, "documents": [{"id": "d1", "score": 0.5, "text": PROMPT}]},
            note=PROMPT,
        ):
            pass
        try:
            with peekr.span("tool"):
                raise ValueError(PROMPT)
        except ValueError:
            pass
        assert peekr.flush(20)
        assert peekr.shutdown(20)
        assert peekr.stats().delivered.get("http") == 3 and peekr.stats().dropped_total == 0
        assert fake.requests  # the provider got the real prompt: scrubbing is about what is recorded
        otlp = {f"otlp-{i}": m.SerializeToString() for i, m in enumerate(receiver.traces)}
        assert otlp

    blobs = {
        **_files(tmp_path, "traces.db"),
        **_files(tmp_path, "traces.jsonl"),
        **_files(tmp_path, "collector.db"),
        **otlp,
    }
    assert {"traces.db", "traces.jsonl", "collector.db"} <= set(blobs)
    assert _grep(blobs) == []
    jsonl = blobs["traces.jsonl"]
    for kind in SECRETS:  # the spans were recorded, with the kind of each match
        assert f"[{kind}]".encode() in jsonl
    for negative in NEGATIVES[:2]:  # checksum failures are kept
        assert negative.encode() in jsonl
