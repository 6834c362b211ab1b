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

import numpy as np
import pandas as pd
from _common import arguments, data_at, parse, timed

import alliance
from alliance.draws import run_draws
from alliance.studies.specifications import (
    fit_specification,
    specification_draw,
    specification_recovery,
)
from alliance.synthetic.scenarios import scenario_params


def cases(draws: int, smoke: bool = False):
    """(label, call) of each case; ``smoke``: the 10x trial is the shipped data."""
    ex = alliance.load_example()
    big = data_at(1 if smoke else 10, seed=7)
    for name in ("raw", "within", "prior"):
        yield f"{name}: shipped data", lambda name=name: fit_specification(ex, name)
    for name in ("raw", "within"):
        yield (f"{name}: {'shipped data (smoke)' if smoke else '10x trial'}",
               lambda name=name: fit_specification(big, name))
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


def main(argv: list[str] | None = None) -> None:
    ap = arguments(__doc__)
    ap.add_argument("--draws", type=int, default=40)
    args = parse(ap, argv, draws=2)
    rows = []
    for name, run in cases(args.draws, args.smoke):
        t = timed(run, args.repeats)
        rows.append({"case": name, "best_s": t.best, "median_s": t.median})
    print(pd.DataFrame(rows).to_string(index=False, float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()
