"""The real ``peekr`` command in a new interpreter: the console entry point and its exit codes.

Every other CLI test runs the app in-process (``cli``); these check what only a real process shows.
"""

from __future__ import annotations

from pathlib import Path

from _cli_sample import Sample


def test_view_in_a_real_process(cli_subprocess, traces_db: Path, sample: Sample) -> None:
    result = cli_subprocess(["view", str(traces_db), "--limit", "100"])
    assert result.code == 0 and result.err == ""  # no warning either (PYTHONWARNINGS=error)
    for span in sample.spans:
        assert f" {span.name} " in f" {result.out} ".replace("\n", " "), span.name


def test_exit_codes_of_a_real_process(cli_subprocess, tmp_path: Path) -> None:
    missing = cli_subprocess(["view", str(tmp_path / "nope.db")])
    assert missing.code == 1 and missing.out == ""
    assert missing.err.strip() == f"peekr: error: {tmp_path / 'nope.db'}: no such file"
    usage = cli_subprocess(["explode"])
    assert usage.code == 2 and "No such command" in usage.err
    assert cli_subprocess(["--version"]).code == 0
