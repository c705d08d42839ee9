"""Read-only commands never change a traces.db: no -wal/-shm left behind, a live writer is fine,
and a database the user may not write can still be read."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from _cli_sample import Sample, json_lines

import peekr
from peekr._runtime import get_runtime


def _files(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()}


def _commands(db: Path, sample: Sample, out: Path) -> list[list[str]]:
    trace = sample.ids["openai_trace"]
    return [
        ["view", str(db)],
        ["view", str(db), "--io", "--trace", trace[:8]],
        ["replay", trace, "--db", str(db), "--io", "--no-interactive"],
        ["dashboard", str(db), "-o", str(out / "report.html")],
        ["export-feedback", str(db), "-o", str(out / "training.jsonl")],
    ]


def test_read_only_commands_leave_no_wal_files(
    cli, traces_db: Path, sample: Sample, tmp_path_factory: pytest.TempPathFactory
) -> None:
    out = tmp_path_factory.mktemp("out")
    assert _files(traces_db.parent) == {"traces.db"}
    before = traces_db.read_bytes()
    for args in _commands(traces_db, sample, out):
        result = cli(args)
        assert result.code == 0, (args, result.err)
        assert _files(traces_db.parent) == {"traces.db"}, args
    assert traces_db.read_bytes() == before


def test_reading_while_a_writer_holds_the_database(cli, tmp_path: Path, sample: Sample) -> None:
    db = tmp_path / "traces.db"
    peekr.instrument(storage="sqlite", path=db, providers=[])
    runtime = get_runtime()
    assert runtime is not None
    first, rest = sample.spans[:5], sample.spans[5:]
    for span in first:
        runtime.publish(span.model_copy(deep=True))
    assert peekr.flush(10)
    assert Path(f"{db}-wal").exists()  # the writer has it open in WAL mode
    result = cli(["view", str(db), "--json", "--limit", "100"])
    assert result.code == 0, result.err
    assert len(json_lines(result.out)) == len(first)
    for span in rest:  # the writer goes on writing after the reader is gone
        runtime.publish(span.model_copy(deep=True))
    assert peekr.flush(10)
    result = cli(["view", str(db), "--json", "--limit", "100"])
    assert len(json_lines(result.out)) == len(sample.spans)
    assert peekr.shutdown(10)
    assert _files(tmp_path) == {"traces.db"}  # the writer cleaned up; no reader file kept it


def _without_write_permission() -> list[str]:
    """A command prefix that takes away root's power to ignore file permissions."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: cannot drop the permission override")
    return [setpriv, "--bounding-set=-dac_override,-dac_read_search,-fowner"]


@pytest.fixture
def locked(traces_db: Path) -> Iterator[Path]:
    """The traces.db read-only, in a folder the user may not write either."""
    folder = traces_db.parent
    traces_db.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
    folder.chmod(0o555)
    try:
        yield traces_db
    finally:
        folder.chmod(0o755)
        traces_db.chmod(0o644)


@pytest.mark.parametrize("folder_writable", [False, True], ids=["read-only-folder", "writable-folder"])
def test_a_database_without_write_permission_can_be_read(
    locked: Path, tmp_path_factory: pytest.TempPathFactory, sample: Sample, folder_writable: bool
) -> None:
    if folder_writable:
        locked.parent.chmod(0o755)
    out = tmp_path_factory.mktemp("out")
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}
    for args in _commands(locked, sample, out):
        proc = subprocess.run(
            [*_without_write_permission(), sys.executable, "-m", "peekr.cli", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert proc.returncode == 0, (args, proc.stderr)
        assert _files(locked.parent) == {"traces.db"}, args
        if args[0] == "view":
            assert "handle_chat" in proc.stdout
    assert (out / "report.html").exists() and (out / "training.jsonl").exists()
