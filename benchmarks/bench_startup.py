"""Start-up cost of ``import peekr`` and of the ``peekr`` command, next to the floors they stand on.

Usage::

    .venv/bin/python benchmarks/bench_startup.py            # 15 rounds
    .venv/bin/python benchmarks/bench_startup.py --rounds 31

Each command runs in a fresh interpreter, the commands interleaved round by round so that a
machine whose speed drifts affects them alike. The figure is the child's CPU time (user + sys,
from ``resource.getrusage(RUSAGE_CHILDREN)``), which a busy machine disturbs far less than wall
time; the median and the min-max over rounds are printed. The floors are a bare interpreter and
the CLI framework (typer with its rich help formatter), which ``peekr --help`` cannot avoid.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys

COMMANDS: dict[str, list[str]] = {
    "python (floor)": [sys.executable, "-c", "pass"],
    "import typer + rich help (floor)": [sys.executable, "-c", "import typer, typer.rich_utils"],
    "import peekr": [sys.executable, "-c", "import peekr"],
    "import peekr; peekr.instrument": [sys.executable, "-c", "import peekr; peekr.instrument"],
    "peekr --help": [sys.executable, "-m", "peekr.cli", "--help"],
    "peekr view --help": [sys.executable, "-m", "peekr.cli", "view", "--help"],
}


def _cpu_of(argv: list[str]) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, env={**os.environ, "COLUMNS": "100"})
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    samples: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for argv in COMMANDS.values():  # warm the page cache and .pyc files
        _cpu_of(argv)
    for _ in range(args.rounds):
        for name, argv in COMMANDS.items():
            samples[name].append(_cpu_of(argv))
    print(f"load average {os.getloadavg()[0]:.2f}, {args.rounds} rounds, CPU seconds per process")
    print(f"{'command':<34} {'median':>8} {'min':>8} {'max':>8}")
    for name, values in samples.items():
        print(f"{name:<34} {statistics.median(values):8.3f} {min(values):8.3f} {max(values):8.3f}")


if __name__ == "__main__":
    main()
