"""Run pytest in two processes, each over half of the test files (``make test-fast``).

The fast tests are many short ones (about three minutes of CPU in all); two processes
on two cores finish them in about half the time, without a plugin. The files are
split by size (a rough measure of their work), the package's doctests go with the
smaller half, each process's report is printed whole when it ends, and the exit
status is the first non-zero one::

    python tests/parallel.py -m "not slow and not book and not browser"
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def halves() -> list[list[Path]]:
    """The test files in two groups of about equal size."""
    files = sorted((ROOT / "tests").glob("test_*.py"), key=lambda p: (-p.stat().st_size, p.name))
    groups: list[list[Path]] = [[], []]
    sizes = [0, 0]
    for f in files:
        i = sizes.index(min(sizes))
        groups[i].append(f)
        sizes[i] += f.stat().st_size
    # the doctests of the package and of the tests' helper modules go with the smaller half
    helpers = sorted(p for p in (ROOT / "tests").glob("*.py")
                     if not p.name.startswith("test_") and p.name != "conftest.py")
    groups[sizes.index(min(sizes))] += [*helpers, ROOT / "src"]
    return groups


def main(argv: list[str]) -> int:
    procs = [subprocess.Popen([sys.executable, "-m", "pytest", *argv,
                               *map(str, group)], cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
             for group in halves()]
    codes = []
    for i, proc in enumerate(procs, 1):
        out, _ = proc.communicate()
        print(f"===== part {i} of {len(procs)} =====")
        print(out, end="", flush=True)
        codes.append(proc.returncode)
    failed = [c for c in codes if c not in (0, 5)]  # 5: nothing collected in that part
    return failed[0] if failed else (0 if 0 in codes else 5)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
