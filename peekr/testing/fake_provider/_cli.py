"""``python -m peekr.testing.fake_provider``: serve the fake until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from ._provider import FakeProvider

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the fake provider server in the foreground; returns the exit code.

    Example: ``python -m peekr.testing.fake_provider --port 8765 --latency 0.05``.
    """
    parser = argparse.ArgumentParser(
        prog="python -m peekr.testing.fake_provider",
        description="A fake OpenAI / Anthropic / Gemini / Bedrock endpoint: no keys, no network.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: %(default)s)")
    parser.add_argument("--port", type=int, default=8765, help="port; 0 picks a free one (default: %(default)s)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds to wait before every answer")
    args = parser.parse_args(argv)
    if args.latency < 0:
        parser.error(f"--latency must be >= 0, got {args.latency}")
    if not 0 <= args.port <= 65535:
        parser.error(f"--port must be in 0..65535, got {args.port}")

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    # Signal handlers can only be installed from the main thread (main() may be called from elsewhere).
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, on_signal) if in_main_thread else None
    try:
        with FakeProvider(host=args.host, port=args.port, latency=args.latency) as fake:
            print(f"peekr fake provider listening on {fake.url}", flush=True)  # noqa: T201
            print("Point the SDKs at it with:", flush=True)  # noqa: T201
            for name, value in fake.env().items():
                print(f"  export {name}={value}", flush=True)  # noqa: T201
            print("Press Ctrl-C to stop.", flush=True)  # noqa: T201
            try:
                while not stop.wait(0.5):
                    pass
            except KeyboardInterrupt:
                pass
    except OSError as exc:
        print(f"cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)  # noqa: T201
        return 1
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous)
    return 0
