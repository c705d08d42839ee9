"""``make demo`` ends by telling the user how to look at the traces: that command works as printed,
from where the user typed ``make demo``, without an activated venv (``peekr`` is not on PATH)."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_printed_view_command_works_as_printed(tmp_path: Path) -> None:
    venv = ROOT / ".venv"
    if shutil.which("make") is None or Path(sys.prefix).resolve() != venv.resolve():
        pytest.skip("needs make and the checkout's .venv (make venv)")
    # A clone in miniature: the Makefile runs .venv/bin/python examples/quickstart.py from its directory.
    for name in (".venv", "examples", "pyproject.toml"):
        (tmp_path / name).symlink_to(ROOT / name)
    bin_dir = str(venv / "bin")
    path = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if Path(p).resolve() != Path(bin_dir))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PEEKR_", "OPENAI_", "VIRTUAL_ENV"))}
    env["PATH"] = path
    demo = subprocess.run(
        ["make", "-f", str(ROOT / "Makefile"), "-o", ".venv/.installed", "demo"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert demo.returncode == 0, demo.stdout + demo.stderr
    (hint,) = [line for line in demo.stderr.splitlines() if "See them with: " in line]
    command = hint.split("See them with: ", 1)[1]
    assert shutil.which("peekr", path=path) is None or command.startswith("peekr ")

    shown = subprocess.run(shlex.split(command), cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    assert "openai.chat.completions" in shown.stdout
    assert "What is Peekr?" in shown.stdout  # --io: the inputs are shown
