"""Live console: a line on stderr per finished request, while your app runs.

`peekr.instrument(console=True)` (or `PEEKR_CONSOLE=1`) prints one line per finished root span —
name, model, tokens, cost, duration, status — from peekr's own thread, rate-limited so a busy app
is not slowed. Runs offline against Peekr's built-in fake provider.
"""

from __future__ import annotations

import peekr
from peekr.testing.fake_provider import FakeProvider


def main() -> None:
    peekr.instrument(storage="sqlite", path="traces.db", console=True)

    from openai import OpenAI

    with FakeProvider() as fake:
        client = OpenAI(base_url=fake.openai_base_url, api_key="sk-fake-key", max_retries=0)
        for question in ("What is Peekr?", "Which models does it trace?"):
            with peekr.span("answer-question"):  # a root span: one console line, its LLM call inside
                client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": question}])
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "A bare call"}])
        try:
            client.chat.completions.create(model="gpt-error-400", messages=[{"role": "user", "content": "hi"}])
        except Exception as exc:  # openai.BadRequestError: the console line shows it in red
            print("error:", type(exc).__name__)

    peekr.flush()
    print("console lines:", peekr.stats().delivered.get("console", 0))
    peekr.shutdown()


if __name__ == "__main__":
    main()
