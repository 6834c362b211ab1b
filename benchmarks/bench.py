"""Run every benchmark script in this folder and print their tables.

Speed is measured here, not in the tests. Run with ``make bench`` (or
``.venv/bin/python benchmarks/bench.py``). Each ``bench_*.py`` times one
module's models on the shipped data and on data 10x and 100x larger;
``bench_peers.py`` times the book's models side by side with lme4 and nlme (when
``Rscript`` is installed) and mixedlm (when installed) and prints the ratios, and
``bench_draw.py`` what a findings draw costs. The 100x peer fits take a while
(lme4 minutes, nlme beyond its time limit): ``bench_peers.py --scales 1,10`` for
a quick run. ``bench.py --only bench_peers.py,bench_draw.py`` runs some of the scripts;
``--smoke`` runs each at its smallest size once, to check that they all still run (their
times then mean nothing; ``tests/test_benchmarks.py`` does the same in one process).
What the scripts share (the scaled data, the recorder of engine calls, the timer) is in
``_common.py``.
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import sys
import time
from pathlib import Path

from _common import add_smoke, load, machine

HERE = Path(__file__).parent


def scripts() -> list[Path]:
    """Every benchmark script of this folder, by name."""
    return sorted(HERE.glob("bench_*.py"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default="", help="comma-separated script names (bench_peers.py,...)")
    add_smoke(ap)
    a = ap.parse_args(argv)
    chosen = scripts()
    if a.only:
        names = a.only.split(",")
        unknown = sorted(set(names) - {s.name for s in chosen})
        if unknown:
            ap.error(f"unknown scripts {unknown}; known: {[s.name for s in chosen]}")
        chosen = [s for s in chosen if s.name in names]
    print(f"python {platform.python_version()} on {platform.machine()}: {machine()}")
    print(f"before: {load()}")
    failed = []
    for script in chosen:
        print(f"\n## {script.name}\n", flush=True)
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, str(script), *(["--smoke"] if a.smoke else [])],
                              check=False, text=True)
        print(f"({script.name}: {time.perf_counter() - start:.1f} s in all)", flush=True)
        if proc.returncode:
            failed.append(script.name)
    print(f"\nafter: {load()}")
    if failed:
        print(f"failed: {failed}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
