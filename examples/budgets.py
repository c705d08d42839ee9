"""Spend budgets: cap what each tenant may spend per day; the call over the cap is never sent.

Runs offline against Peekr's fake provider (a ``gpt-4o`` reply to "Hi" costs $0.0000225 there), with a
deliberately tiny cap so it is reached after two calls. ``python examples/budgets.py``.
"""

from __future__ import annotations

import logging

import peekr
from peekr.testing.fake_provider import FakeProvider


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    peekr.instrument(
        storage="sqlite",
        path="traces.db",
        budgets=[
            peekr.Budget(limit_usd=0.00004, window="1d", per="tenant", on_exceed="raise"),  # hard cap per tenant
            peekr.Budget(limit_usd=0.00006, window="1h"),  # a process-wide early warning, logged once per hour
        ],
    )
    from openai import OpenAI

    with FakeProvider() as fake:
        client = OpenAI(base_url=fake.openai_base_url, api_key="sk-fake-key", max_retries=0)
        for tenant in ("acme", "acme", "acme", "globex"):
            with peekr.session(tenant_id=tenant):
                try:
                    client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "Hi"}])
                    print(f"{tenant}: answered")
                except peekr.BudgetExceededError as exc:
                    print(f"{tenant}: refused: {exc}")
            peekr.flush()  # spend is counted on Peekr's own thread; flushing makes the demo deterministic
        print(f"requests the provider received: {len(fake.requests)}")
    peekr.shutdown()


if __name__ == "__main__":
    main()
