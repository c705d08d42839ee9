"""Run the ``peekr`` command for a test.

``run_cli`` runs the app in this process (typer's ``CliRunner``: stdout and stderr are not terminals,
``NO_COLOR=1``, ``COLUMNS=200``), which is what a pipe or a log file gets. ``run_cli_subprocess``
starts the real console entry point in a new interpreter; keep it for what only a process shows (exit
through ``peekr.cli.main``, a pty, dropped privileges).
"""

from __future__ import annotations

import os
import subprocess
import sys
import traceback
from dataclasses import dataclass

from typer.testing import CliRunner

from peekr.cli._app import build_app


@dataclass
class Result:
    code: int
    out: str
    err: str


_ENV: dict[str, str | None] = {"NO_COLOR": "1", "COLUMNS": "200", "FORCE_COLOR": None}


def run_cli(
    args: list[str], *, columns: int = 200, env: dict[str, str | None] | None = None, stdin: str | None = None
) -> Result:
    """Run ``peekr *args`` in this process, as a pipe sees it (no terminal, no colour)."""
    environ = {**_ENV, "COLUMNS": str(columns), **(env or {})}
    result = CliRunner().invoke(build_app(), args, input=stdin or "", env=environ, prog_name="peekr")
    err = result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        # what the interpreter would print for an uncaught exception
        assert result.exc_info is not None  # set with the exception
        err += "".join(traceback.format_exception(type(result.exception), result.exception, result.exc_info[2]))
    return Result(result.exit_code, result.stdout, err)


def run_cli_subprocess(args: list[str], *, timeout: float = 60) -> Result:
    """Run the real ``peekr`` command in a new interpreter."""
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200", "PYTHONWARNINGS": "error"}
    env.pop("FORCE_COLOR", None)
    proc = subprocess.run(
        [sys.executable, "-m", "peekr.cli", *args], capture_output=True, text=True, input="", timeout=timeout, env=env
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)
