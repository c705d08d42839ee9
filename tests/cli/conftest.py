"""Fixtures for the CLI tests: trace files written like the real sinks write them (trace_files), and a runner.

``cli`` runs the ``peekr`` app in this process; ``cli_subprocess`` starts the real command in a new
interpreter (see :mod:`_cli_run`).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from _cli_run import Result, run_cli, run_cli_subprocess
from trace_files import _written, sample, traces, traces_db, traces_jsonl  # noqa: F401 (fixtures)


@pytest.fixture
def cli() -> Callable[..., Result]:
    """Run ``peekr`` in this process."""
    return run_cli


@pytest.fixture
def cli_subprocess() -> Callable[..., Result]:
    """Run the real ``peekr`` command in a subprocess."""
    return run_cli_subprocess


__all__ = ["Result", "run_cli", "run_cli_subprocess", "sample", "traces", "traces_db", "traces_jsonl"]
