"""Alerts: failing calls raise an error-rate alert, logged and POSTed to a webhook.

Runs offline: the fake provider answers ``gpt-4o-error-500`` with HTTP 500, and a tiny webhook
receiver on 127.0.0.1 stands in for your alerting endpoint. ``python examples/alerts.py``.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import openai

import peekr
from peekr import alerts
from peekr.testing.fake_provider import FakeProvider

received: list[dict[str, object]] = []


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    webhook = f"http://127.0.0.1:{server.server_address[1]}/peekr-alerts"

    peekr.instrument(
        storage="memory",
        alerts=[
            alerts.ErrorRate(
                above=0.2, min_calls=5, window="5m", by="model", notify=[alerts.Log(), alerts.Webhook(webhook)]
            ),
            alerts.LatencyP95(above_ms=5000, window="5m"),  # quiet here: the fake provider is fast
        ],
    )
    with FakeProvider() as fake:
        client = openai.OpenAI(base_url=fake.openai_base_url, api_key="sk-fake-key", max_retries=0)
        for model in ["gpt-4o"] * 5 + ["gpt-4o-error-500"] * 5:
            try:
                client.chat.completions.create(model=model, messages=[{"role": "user", "content": "Hi"}])
            except openai.APIStatusError as exc:
                print(f"{model}: HTTP {exc.status_code}")
    deadline = time.monotonic() + 5
    while not received and time.monotonic() < deadline:
        time.sleep(0.05)
    peekr.shutdown()
    server.shutdown()
    print("webhook received:", json.dumps(received[0], indent=2) if received else "nothing")


if __name__ == "__main__":
    main()
