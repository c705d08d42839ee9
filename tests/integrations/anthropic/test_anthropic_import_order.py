"""``instrument()`` does not import the SDK, and patches it when the application imports it later."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import sys
import peekr
from peekr.sinks.memory import InMemorySink

sink = InMemorySink()
peekr.instrument(storage="none", sinks=[sink], providers=["anthropic"])
assert "anthropic" not in sys.modules, "instrument() imported the SDK"

import anthropic
from anthropic.resources.messages.messages import Messages
from peekr.integrations._base import is_patched
from peekr.testing.fake_provider import FakeProvider

assert is_patched(Messages, "create") and is_patched(anthropic.Stream, "close")
with FakeProvider() as fake, fake.anthropic_client(in_process=True) as client:
    client.messages.create(model="claude-test", max_tokens=50, messages=[{"role": "user", "content": "Hi"}])
    client.beta.messages.create(model="claude-test", max_tokens=50, messages=[{"role": "user", "content": "Hi"}])
peekr.flush()
print([(s.name, s.attributes["output"]) for s in sink.spans])
"""


def test_sdk_imported_after_instrument() -> None:
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", SCRIPT], capture_output=True, text=True, timeout=90, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str([("anthropic.messages", "Echo: Hi")] * 2)
