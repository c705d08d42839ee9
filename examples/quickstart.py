"""Quickstart: one line of setup, and every OpenAI call becomes a span.

Runs offline: Peekr's built-in fake provider speaks the OpenAI wire format on 127.0.0.1, and
the real `openai` SDK talks to it. Run it with `make demo` (or `python examples/quickstart.py`),
then look at the traces with the command it prints (`peekr view traces.db --io` in an activated venv).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import peekr
from peekr.testing.fake_provider import FakeProvider

DB_PATH = os.environ.get("PEEKR_PATH", "traces.db")


def peekr_command() -> str:
    """How to run the peekr CLI from the current directory: ``peekr`` when it is on PATH, else this venv's."""
    script = Path(sys.executable).with_name("peekr")
    on_path = shutil.which("peekr")
    if on_path is not None and Path(on_path).resolve() == script.resolve():
        return "peekr"
    if script.exists():
        return os.path.relpath(script)
    return f"{sys.executable} -m peekr.cli"


def main() -> None:
    peekr.instrument(storage="sqlite", path=DB_PATH)  # <- the one line

    from openai import OpenAI  # imported after instrument(): order does not matter either way

    with FakeProvider() as fake:
        client = OpenAI(base_url=fake.openai_base_url, api_key="sk-fake-key", max_retries=0)

        with peekr.session(user_id="demo-user", session_id="quickstart", feature="faq"):
            # A manual span around your own step; the LLM calls inside become its children.
            with peekr.span("answer-question", question="What is Peekr?"):
                reply = client.chat.completions.create(
                    model="gpt-4o-mini",
                    messages=[
                        {"role": "system", "content": "You answer in one sentence."},
                        {"role": "user", "content": "What is Peekr?"},
                    ],
                    temperature=0,
                )
                print("chat:   ", reply.choices[0].message.content)

                # Streaming: you iterate the SDK's own stream; Peekr still gets the token counts.
                stream = client.chat.completions.create(
                    model="gpt-4o-mini",
                    messages=[{"role": "user", "content": "Stream a short greeting."}],
                    stream=True,
                )
                text = "".join(chunk.choices[0].delta.content or "" for chunk in stream)
                print("stream: ", text)

            # Errors are recorded too, and your code sees the SDK's own exception.
            try:
                client.chat.completions.create(model="gpt-error-400", messages=[{"role": "user", "content": "hi"}])
            except Exception as exc:  # openai.BadRequestError
                print("error:  ", type(exc).__name__)

            embedding = client.embeddings.create(model="text-embedding-3-small", input="peekr")
            print("embed:  ", len(embedding.data[0].embedding), "dimensions")

    peekr.shutdown()
    print(f"\nTraces written to {DB_PATH}. See them with: {peekr_command()} view {DB_PATH} --io", file=sys.stderr)


if __name__ == "__main__":
    main()
