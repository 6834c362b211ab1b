"""Time :func:`alliance.studies.multiverse.multiverse` (every finding, both grids).

Data: the shipped synthetic trial (40 therapists, 117 patients, 6 sessions) and one draw of
the null scenario of the same size. The "small" grid (the book's specification and each
choice varied alone: 21 model fits) is what the tests run; the "full" grid (every
combination of each model's choices: 180 fits) is what chapter 8 and ``alliance multiverse``
run. Called by ``make bench`` (``benchmarks/bench.py``).
Run: ``.venv/bin/python benchmarks/bench_multiverse.py [--repeats 1]``.
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

import pandas as pd

import alliance
from alliance.errors import AllianceWarning
from alliance.studies.multiverse import multiverse
from alliance.synthetic.scenarios import scenario_params
from alliance.synthetic.simulate import simulate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeats", type=int, default=1)
    args = ap.parse_args()
    files = {"shipped": alliance.load_example(),
             "null scenario": simulate(scenario_params("null"), seed=11)}
    rows = []
    for name, data in files.items():
        for grid in ("small", "full"):
            times = []
            for _ in range(args.repeats):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", AllianceWarning)  # boundary fits, expected
                    t0 = time.perf_counter()
                    res = multiverse(data, grid=grid)
                    times.append(time.perf_counter() - t0)
            rows.append({"data": name, "grid": grid, "fits": res.info["fits"],
                         "specifications": len(res.tables["specifications"]),
                         "not fitted": res.info["failed"], "seconds (best)": min(times),
                         "ms per fit": 1000 * min(times) / res.info["fits"]})
    print(f"load average {os.getloadavg()[0]:.1f}")
    print(pd.DataFrame(rows).to_string(index=False, float_format=lambda v: f"{v:.2f}"))


if __name__ == "__main__":
    main()
