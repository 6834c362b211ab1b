"""Every frozen draw against the current code (``make check-studies``; not part of ``make test``).

``tests/test_studies.py`` recomputes a few draws of each frozen study. A change of the mixed-model
optimizer can pass those and still move other draws: issue 23's faster stopping rules did, in 32 of
13,050 draws (fits below their optima, two that no longer converged). This script regenerates every
study of ``alliance.studies.frozen.PLAN`` into a folder of its own (``ALLIANCE_STUDIES_DIR``; the
frozen studies in ``data/studies/`` are not touched) and compares each of its draws with the stored
row, within the optimizer tolerance that ``tests/test_studies.py`` derives
(``_assert_within_optimizer_tolerance``; each chunk is checked whole, draw by draw only when it
fails). It prints every draw outside it and exits with 1 if there is one. Run it before merging a
change of the engine (about 20 minutes on 2 cores for the draws, a minute for the comparison)::

    python tests/compare_studies.py [--jobs 2] [--into DIR]   # regenerate, then compare
    python tests/compare_studies.py --against DIR               # compare a regeneration already made
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent


def _tolerance_check():
    spec = importlib.util.spec_from_file_location("test_studies", HERE / "test_studies.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module._assert_within_optimizer_tolerance


def compare(regenerated: Path, frozen_dir: Path) -> list[str]:
    """Draws of ``regenerated`` outside the optimizer tolerance of their row in ``frozen_dir``
    (one line each: chunk, draw and the first check that failed); a chunk or draw missing from
    either side is reported too."""
    check = _tolerance_check()
    out = []
    chunks = sorted(regenerated.rglob("chunk-*.csv"))
    if not chunks:
        return [f"{regenerated}: no chunk files"]
    for path in chunks:
        rel = path.relative_to(regenerated)
        stored = frozen_dir / rel
        if not stored.exists():
            out.append(f"{rel}: not among the frozen studies")
            continue
        a, b = pd.read_csv(path), pd.read_csv(stored)
        if a["draw"].tolist() != b["draw"].tolist():
            out.append(f"{rel}: draws {a['draw'].tolist()} != stored {b['draw'].tolist()}")
            continue
        try:  # the whole chunk at once; draw by draw only to name the draws that fail
            check(a, b, str(rel))
            continue
        except AssertionError:
            pass
        for i in range(len(a)):
            what = f"{rel} draw {int(a['draw'].iloc[i])}"
            try:
                check(a.iloc[[i]], b.iloc[[i]], what)
            except AssertionError as exc:
                lines = [x.strip() for x in str(exc).splitlines() if x.strip()]
                why = next((x for x in lines if x.startswith(what)), lines[0] if lines else "")
                out.append(why[:200] if why.startswith(what) else f"{what}: {why[:200]}")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", type=Path, help="compare this regeneration (no new draws)")
    parser.add_argument("--into", type=Path, help="regenerate into this folder (default: a new "
                        "temporary one)")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes (default 2)")
    a = parser.parse_args(argv)
    from alliance.studies.frozen import STUDIES_DIR

    frozen_dir = STUDIES_DIR
    target = a.against
    if target is None:
        target = a.into or Path(tempfile.mkdtemp(prefix="studies-"))
        env = dict(os.environ, ALLIANCE_STUDIES_DIR=str(target))
        subprocess.run([sys.executable, "-m", "alliance.cli.make_studies", "--jobs", str(a.jobs)],
                       env=env, check=True)
    bad = compare(target, frozen_dir)
    for line in bad:
        print(line)
    n = sum(len(pd.read_csv(p)) for p in target.rglob("chunk-*.csv"))
    print(f"{len(bad)} of {n} regenerated draws (in {target}) outside the optimizer tolerance of "
          f"the frozen rows in {frozen_dir}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
