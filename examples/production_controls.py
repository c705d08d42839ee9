"""Production controls: sampling that keeps whole traces and every error, scrubbing, a guardrail.

Runs offline against Peekr's fake provider with the real `openai` SDK. 50 requests, each a trace
(a `peekr.span` with one LLM call); every 10th one fails. Sampling keeps 20 % of them plus every
failed one; the secrets in the prompts never reach traces.db; a prompt naming a secret project is
blocked before it is sent.
"""

from __future__ import annotations

import json
import sqlite3

import openai

import peekr
from peekr.testing.fake_provider import FakeProvider


def main() -> None:
    peekr.instrument(
        storage="sqlite",
        path="traces.db",
        sample_rate=0.2,  # 20 % of traces, decided per trace id, kept or dropped whole
        keep_errors=True,  # ... plus every trace with an error span
        sample_rates={"tenant:vip": 1.0},  # every trace of this tenant
        scrub=True,  # emails, phones, cards, IBANs, national ids, keys, tokens -> [EMAIL], ...
        guards=[peekr.Blocklist(["project nightingale"], action="raise")],
    )
    with FakeProvider() as fake:
        client = openai.OpenAI(base_url=fake.openai_base_url, api_key="sk-fake", max_retries=0)
        for i in range(50):
            tenant = "vip" if i % 25 == 0 else "standard"
            model = "gpt-4o-mini-error-500" if i % 10 == 5 else "gpt-4o-mini"  # the fake fails on request
            with peekr.session(tenant_id=tenant), peekr.span("handle-ticket", ticket=i):
                try:
                    client.chat.completions.create(
                        model=model,
                        messages=[
                            {"role": "user", "content": f"Ticket {i}: refund 4111 1111 1111 1111 to jane@example.org"}
                        ],
                    )
                except openai.APIStatusError:
                    pass
        try:
            client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "Status of Project Nightingale?"}]
            )
        except peekr.GuardrailError as exc:
            print(f"blocked: {exc}")
        print(f"the fake provider received {len(fake.requests)} requests (the blocked one is not among them)")

    peekr.flush()
    sampling = peekr.stats().sampling
    peekr.shutdown()
    print(f"sampling: {json.dumps(sampling)}")
    with sqlite3.connect("traces.db") as db:
        traces = db.execute("SELECT COUNT(DISTINCT trace_id) FROM spans WHERE name = 'handle-ticket'").fetchone()[0]
        errors = db.execute(
            "SELECT COUNT(*) FROM spans WHERE status = 'error' AND name LIKE 'openai%' "
            "AND json_extract(attributes, '$.error.type') != 'peekr.GuardrailError'"
        ).fetchone()[0]
        stored = db.execute("SELECT attributes FROM spans WHERE name = 'openai.chat.completions' LIMIT 1").fetchone()
    print(f"traces kept: {traces} of 50; failed LLM calls kept: {errors} of 5")
    print("a stored prompt:", json.loads(stored[0])["input"][0]["content"])


if __name__ == "__main__":
    main()
