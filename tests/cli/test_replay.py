"""`peekr replay`: the waterfall, --io, --json, unknown ids and interactive stepping on a terminal."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

from _cli_sample import Sample, json_lines


def test_waterfall_shows_the_tree_with_bars_to_scale(cli, traces: Path, sample: Sample) -> None:
    trace = sample.ids["openai_trace"]
    result = cli(["replay", trace, "--db", str(traces)])
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0].startswith(f"trace {trace}") and "4 spans  2.40 s  152 tokens  $0.00062" in lines[0]
    assert lines[1] == "feedback: good  correct (latest of 2)"
    header = next(line for line in lines if "timeline (0 – 2.40 s)" in line)
    rows = [line for line in lines if line.lstrip()[:1].isdigit()]
    names = [row.split()[1] if row.split()[1] != "└" else row.split()[2] for row in rows]
    assert names == ["handle_chat", "openai.chat.completions", "get_weather", "openai.chat.completions"]
    assert "  └ openai.chat.completions" in rows[1]  # children are indented under the root
    col = header.index("timeline")
    root, first, tool, second = (row[col : col + 40] for row in rows)
    # The root spans the whole 40-column timeline; children start later, in order, sized to scale.
    assert root == "█" * 40
    assert first.count("█") == round(800 / 2400 * 40) and second.count("█") == round(1200 / 2400 * 40)
    assert tool.count("█") == 2
    assert first.index("█") < tool.index("█") < second.index("█")
    assert "gpt-4o" in rows[1] and "40→12" in rows[1] and "$0.00022" in rows[1] and "800 ms" in rows[1]


def test_error_spans_are_marked(cli, traces: Path, sample: Sample) -> None:
    result = cli(["replay", sample.ids["error_trace"], "--db", str(traces)])
    assert result.code == 0
    assert "1 error" in result.out.splitlines()[0]
    assert "error" in [line for line in result.out.splitlines() if "gpt-4o-mini" in line][0]


def test_io_prints_each_spans_input_and_output(cli, traces: Path, sample: Sample) -> None:
    result = cli(["replay", sample.ids["openai_trace"], "--db", str(traces), "--io"])
    assert result.code == 0, result.err
    out = result.out
    assert "input: system: You are a weather bot." in out
    assert "output: assistant: It is 21°C and sunny in Paris." in out
    assert "claim [supported]: 21°C — tool" in out
    assert "scores: hallucination=0.9" in out


def test_json_prints_the_trace_oldest_first(cli, traces: Path, sample: Sample) -> None:
    spans = json_lines(cli(["replay", sample.ids["openai_trace"], "--db", str(traces), "--json"]).out)
    assert [s["name"] for s in spans] == [
        "handle_chat",
        "openai.chat.completions",
        "get_weather",
        "openai.chat.completions",
    ]


def test_a_unique_prefix_is_enough(cli, traces: Path, sample: Sample) -> None:
    trace = sample.ids["gemini_trace"]
    result = cli(["replay", trace[:8], "--db", str(traces)])
    assert result.code == 0 and f"trace {trace}" in result.out


def test_unknown_trace_id_explains_how_to_find_ids(cli, traces: Path, sample: Sample) -> None:
    result = cli(["replay", "0123456789abcdef0123456789abcdef", "--db", str(traces)])
    assert result.code == 1 and result.out == ""
    first, hint = result.err.strip().splitlines()
    assert first == f"peekr: error: no trace '0123456789abcdef0123456789abcdef' in {traces}"
    assert f"Find trace ids with `peekr view {traces}`" in hint
    assert sample.ids["bedrock_trace"] in hint  # the most recent trace is suggested


def test_missing_db_is_a_one_line_error(cli, tmp_path: Path) -> None:
    result = cli(["replay", "abc", "--db", str(tmp_path / "nope.db")])
    assert result.code == 1 and result.err.strip() == f"peekr: error: {tmp_path / 'nope.db'}: no such file"


def test_interactive_stepping_on_a_terminal(traces_db: Path, sample: Sample) -> None:
    """On a real terminal replay shows one span at a time: Enter moves on, p goes back, q quits."""
    controller, terminal = pty.openpty()
    env = {**os.environ, "COLUMNS": "160", "LINES": "50", "TERM": "xterm"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "peekr.cli", "replay", sample.ids["openai_trace"], "--db", str(traces_db), "--io"],
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        env=env,
        close_fds=True,
    )
    os.close(terminal)
    screen = b""

    def read_until(marker: bytes, timeout: float = 30) -> None:
        nonlocal screen
        deadline = time.monotonic() + timeout
        while marker not in screen:
            assert time.monotonic() < deadline, f"{marker!r} never appeared in {screen[-2000:]!r}"
            ready, _, _ = select.select([controller], [], [], 0.5)
            if ready:
                try:
                    screen += os.read(controller, 65536)
                except OSError:
                    break

    try:
        read_until(b"[1/4]")
        read_until(b"quit >")
        os.write(controller, b"\n")
        read_until(b"[2/4]")
        read_until(b"Weather in Paris?")  # the rest of the step may arrive after its header
        os.write(controller, b"4\n")
        read_until(b"[4/4]")
        os.write(controller, b"p\n")
        read_until(b"[3/4]")
        os.write(controller, b"q\n")
        assert proc.wait(timeout=30) == 0
    finally:
        proc.kill()
        proc.wait()
        os.close(controller)
