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

import pandas as pd
from _common import add_smoke, load, timed

import alliance
from alliance.studies.multiverse import multiverse
from alliance.synthetic.scenarios import scenario_params
from alliance.synthetic.simulate import simulate


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeats", type=int, default=1)
    args = add_smoke(ap).parse_args(argv)
    files = {"shipped": alliance.load_example()}
    if not args.smoke:  # smoke: the small grid on the shipped data
        files["null scenario"] = simulate(scenario_params("null"), seed=11)
    rows = []
    for name, data in files.items():
        for grid in ("small",) if args.smoke else ("small", "full"):
            t = timed(lambda d=data, g=grid: multiverse(d, grid=g), args.repeats)
            res = t.result
            rows.append({"data": name, "grid": grid, "fits": res.info["fits"],
                         "specifications": len(res.tables["specifications"]),
                         "not fitted": res.info["failed"], "seconds (best)": t.best,
                         "ms per fit": 1000 * t.best / res.info["fits"]})
    print(load())
    print(pd.DataFrame(rows).to_string(index=False, float_format=lambda v: f"{v:.2f}"))


if __name__ == "__main__":
    main()
