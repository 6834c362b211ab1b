"""Time the within-patient / raw / prior-outcome surfaces and the specification study.

Run: ``.venv/bin/python benchmarks/bench_specifications.py [--repeats 3] [--draws 40]``.
Prints one table: each specification of :mod:`alliance.studies.specifications` fitted on
the shipped data and on a simulated trial ten times its size, one synthetic draw of
:func:`~alliance.studies.specifications.specification_draw` (simulate + the within and raw
fits), the study of chapter 5 (``--draws`` draws of the confounded_level scenario, one
process and two) and :func:`~alliance.studies.specifications.specification_recovery` on
1000 stored draws.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd

import alliance
from alliance.draws import run_draws
from alliance.studies.specifications import (
    fit_specification,
    specification_draw,
    specification_recovery,
)
from alliance.synthetic.scenarios import scenario_params


def cases(draws: int):
    ex = alliance.load_example()
    big = alliance.simulate(alliance.SimulationParams(n_therapists=400, n_patients=1170), seed=7)
    for name in ("raw", "within", "prior"):
        yield f"{name}: shipped data", lambda name=name: fit_specification(ex, name)
    for name in ("raw", "within"):
        yield f"{name}: 10x trial", lambda name=name: fit_specification(big, name)
    p = scenario_params("confounded_level")
    yield "one draw (simulate + within + raw)", lambda: specification_draw(
        0, np.random.default_rng(1), p)
    yield f"study: {draws} draws, 1 process", lambda: run_draws(
        specification_draw, draws, seed=2023, args=(p,))
    yield f"study: {draws} draws, 2 processes", lambda: run_draws(
        specification_draw, draws, seed=2023, args=(p,), jobs=2)
    rng = np.random.default_rng(0)
    stored = pd.DataFrame({"draw": range(1000), "error": ""})
    for prefix in ("", "raw_"):
        for key in ("a1_training", "a1_control", "a1_difference", "a4_training"):
            stored[f"est_{prefix}{key}"] = rng.normal(size=1000)
            stored[f"se_{prefix}{key}"] = 1.0
            stored[f"df_{prefix}{key}"] = 400.0
            stored[f"p_{prefix}{key}"] = rng.random(1000)
    yield "specification_recovery, 1000 stored draws", lambda: specification_recovery(stored, p)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--draws", type=int, default=40)
    args = ap.parse_args()
    rows = []
    for name, run in cases(args.draws):
        times = []
        for _ in range(args.repeats):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                t0 = time.perf_counter()
                run()
                times.append(time.perf_counter() - t0)
        rows.append({"case": name, "best_s": min(times), "median_s": float(np.median(times))})
    print(pd.DataFrame(rows).to_string(index=False, float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()
