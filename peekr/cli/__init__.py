"""The ``peekr`` command line: view, replay and report on traces without any server.

Entry point of the ``peekr`` console script (``peekr.cli:main``). Each command lives in its own
module and registers itself on the typer app in :mod:`peekr.cli._app`.
"""

from __future__ import annotations

import sys

__all__ = ["main"]


def main(argv: list[str] | None = None) -> None:
    """Run the ``peekr`` command line and exit with its status.

    Exit codes: 0 success, 1 the command failed (missing/corrupt file, unknown trace id, ...),
    2 bad command-line usage, 130 interrupted.

    Args:
        argv: Arguments without the program name; defaults to ``sys.argv[1:]``.
    """
    from ._app import build_app

    app = build_app()
    try:
        app(args=argv, prog_name="peekr", standalone_mode=True)
    except KeyboardInterrupt:
        sys.stderr.write("peekr: interrupted\n")
        sys.exit(130)
    except BrokenPipeError:  # `peekr view traces.db | head`
        sys.stderr.close()
        sys.exit(0)


if __name__ == "__main__":
    main()
