"""HTTP export to a self-hosted collector: `peekr server` stores the spans, its query API reads them back.

Everything runs locally and offline: this script creates API keys with the CLI, starts
`peekr server` as a subprocess on a free port (database collector.db in the current directory),
sends spans with `peekr.HTTPExporter`, then lists the traces through the collector's query API.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import httpx

import peekr
from peekr.testing.fake_provider import FakeProvider

PEEKR = [sys.executable, "-m", "peekr.cli"]  # the `peekr` command


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def create_key(scope: str) -> str:
    # `peekr server keys create` prints the key once; --quiet prints only the key.
    out = subprocess.run(
        [*PEEKR, "server", "keys", "create", "--tenant", "acme", "--scope", scope, "--db", "collector.db", "--quiet"],
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip()


def wait_until_up(url: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"peekr server exited with code {server.returncode}")
        try:
            if httpx.get(url + "/healthz").status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise SystemExit("peekr server did not start")


def main() -> None:
    ingest_key = create_key("ingest")  # for the app: it can only send
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = open("collector.log", "wb")  # the server's own access log
    server = subprocess.Popen([*PEEKR, "server", "--db", "collector.db", "--port", str(port)], stdout=log, stderr=log)
    try:
        read_key = create_key("read")  # for the query API (created while the server starts)
        wait_until_up(url, server)

        # The app side: spans go to the collector in batches, off your request path.
        peekr.instrument(storage="none", exporter=peekr.HTTPExporter(endpoint=url, api_key=ingest_key))

        from openai import OpenAI

        with FakeProvider() as fake:
            client = OpenAI(base_url=fake.openai_base_url, api_key="sk-fake", max_retries=0)
            for question in ("What is Peekr?", "Does it need an API key?"):
                with peekr.session(user_id="demo", feature="faq"), peekr.span("faq"):
                    client.chat.completions.create(
                        model="gpt-4o-mini", messages=[{"role": "user", "content": question}]
                    )
            client.close()
        peekr.shutdown()  # sends what is still buffered
        print("exporter stats:", dict(peekr.stats().delivered), "dropped:", dict(peekr.stats().dropped))

        # The query API (a read key): the traces of tenant "acme", newest first.
        traces = httpx.get(url + "/v1/traces", headers={"Authorization": f"Bearer {read_key}"}).json()
        for item in traces["traces"]:
            print(
                f"trace {item['trace_id'][:8]}  {item['name']:4}  spans={item['span_count']}  tokens={item['tokens_total']}"
            )
    finally:
        server.terminate()
        server.wait(10)
        log.close()


if __name__ == "__main__":
    main()
