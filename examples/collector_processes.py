"""Two collector processes sharing one database: a key's rate limit and its revocation hold in both.

Everything runs locally and offline: this script creates an ingest key with the CLI, starts two
`peekr server` processes on free ports over one database (collector.db in the current directory,
or the PostgreSQL DSN in PEEKR_EXAMPLE_DB), sends requests to both in turn with a limit of 1
request/s and a burst of 3 per key, then revokes the key and sends once more to each.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import httpx

PEEKR = [sys.executable, "-m", "peekr.cli"]  # the `peekr` command
DB = os.environ.get("PEEKR_EXAMPLE_DB", "collector.db")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def peekr(*args: str) -> str:
    return subprocess.run([*PEEKR, *args], check=True, capture_output=True, text=True).stdout.strip()


def start_collector() -> tuple[str, subprocess.Popen[bytes]]:
    port = free_port()
    server = subprocess.Popen(
        [*PEEKR, "server", "--db", DB, "--port", str(port), "--rate-limit", "1", "--rate-burst", "3"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"peekr server exited with code {server.returncode}")
        try:
            if httpx.get(url + "/healthz").status_code == 200:
                return url, server
        except httpx.TransportError:
            time.sleep(0.1)
    raise SystemExit("peekr server did not start")


def send(url: str, key: str) -> int:
    # An empty batch is enough to be authenticated and rate-limited.
    body = {"version": 1, "spans": [], "eval_results": [], "feedback": []}
    return httpx.post(url + "/v1/ingest", json=body, headers={"Authorization": f"Bearer {key}"}).status_code


def main() -> None:
    key = peekr("server", "keys", "create", "--tenant", "acme", "--db", DB, "--quiet")
    a, server_a = start_collector()
    b, server_b = start_collector()
    try:
        codes = [send(url, key) for url in (a, b, a, b, a, b)]
        # One bucket for the key in the database: 3 granted in all, not 3 per process.
        print(f"six requests alternating between two processes: {codes} -> {codes.count(200)} granted")
        peekr("server", "keys", "revoke", key, "--db", DB)
        print(f"after `peekr server keys revoke`: process A {send(a, key)}, process B {send(b, key)}")
    finally:
        for server in (server_a, server_b):
            server.terminate()
            server.wait(10)


if __name__ == "__main__":
    main()
