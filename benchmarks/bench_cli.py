"""Start-up of the command line: ``alliance validate`` on the shipped file, end to end.

Each command imports only what it needs (``alliance validate`` never loads the
mixed-model engine, SciPy's optimizers or matplotlib). Times are the median
wall time of whole processes. Run: ``.venv/bin/python benchmarks/bench_cli.py [--repeats 7]``.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

from _common import add_smoke, timed

import alliance


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeats", type=int, default=7)
    args = add_smoke(ap).parse_args(argv)
    if args.smoke:
        args.repeats = 1
    exe = shutil.which("alliance") or str(Path(sys.executable).with_name("alliance"))
    data = str(alliance.example_path())
    rows = [
        ("python -c 'import alliance'", [sys.executable, "-c", "import alliance"]),
        ("python -c 'import pandas' (floor)", [sys.executable, "-c", "import pandas"]),
        ("alliance validate sessions.csv", [exe, "validate", data]),
        ("alliance fit growth sessions.csv", [exe, "fit", "growth", data]),
    ][: 3 if args.smoke else None]  # smoke: not the fit (2 s), each process once
    print(f"{'command':40s} {'median s':>9s}   ({args.repeats} runs)")
    for label, cmd in rows:
        t = timed(lambda c=cmd: subprocess.run(c, check=True, capture_output=True), args.repeats)
        print(f"{label:40s} {t.median:9.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
