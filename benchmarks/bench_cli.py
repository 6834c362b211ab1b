"""Start-up of the command line: ``alliance validate`` on the shipped file, end to end.

Each command imports only what it needs (``alliance validate`` never loads the
mixed-model engine, SciPy's optimizers or matplotlib). Times are the median
wall time of whole processes. Run: ``.venv/bin/python benchmarks/bench_cli.py``.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

import alliance

REPEATS = 7


def _median(cmd: list[str]) -> float:
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def main() -> int:
    exe = shutil.which("alliance") or str(Path(sys.executable).with_name("alliance"))
    data = str(alliance.example_path())
    rows = [
        ("python -c 'import alliance'", [sys.executable, "-c", "import alliance"]),
        ("python -c 'import pandas' (floor)", [sys.executable, "-c", "import pandas"]),
        ("alliance validate sessions.csv", [exe, "validate", data]),
        ("alliance fit growth sessions.csv", [exe, "fit", "growth", data]),
    ]
    print(f"{'command':40s} {'median s':>9s}   ({REPEATS} runs)")
    for label, cmd in rows:
        print(f"{label:40s} {_median(cmd):9.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
