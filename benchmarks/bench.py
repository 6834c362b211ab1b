"""Run every benchmark script in this folder and print their tables.

Speed is measured here, not in the tests. Run with ``make bench`` (or
``.venv/bin/python benchmarks/bench.py``). Each ``bench_*.py`` times one
module's models on the shipped data and on data 10x and 100x larger;
``bench_peers.py`` times the book's models side by side with lme4 and nlme (when
``Rscript`` is installed) and mixedlm (when installed) and prints the ratios, and
``bench_draw.py`` what a findings draw costs. The 100x peer fits take a while
(lme4 minutes, nlme beyond its time limit): ``bench_peers.py --scales 1,10`` for
a quick run.
"""

from __future__ import annotations

import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent


def main() -> int:
    print(f"python {platform.python_version()} on {platform.machine()}, "
          f"{__import__('os').cpu_count()} cores")
    failed = []
    for script in sorted(HERE.glob("bench_*.py")):
        print(f"\n## {script.name}\n", flush=True)
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, str(script)], text=True)
        print(f"({script.name}: {time.perf_counter() - start:.1f} s in all)")
        if proc.returncode:
            failed.append(script.name)
    if failed:
        print(f"\nfailed: {failed}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
