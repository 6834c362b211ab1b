"""Time :func:`alliance.lagged.fit_lagged` and :func:`alliance.lagged.nickell_simulation`.

Designs: the shipped data (1x: 40 therapists, 117 patients, 6 sessions) and draws of the
book's generative model scaled 10x and 100x (therapists and patients together). Rows:
forward model (both raters, condition-moderated, person-centred prior, patient and
therapist intercepts), the reverse direction (two models), and the Nickell simulation per
replication at the chapter's size (117 series x 6 sessions, two fits per replication).
Run: ``.venv/bin/python benchmarks/bench_lagged.py [--max-scale 100] [--repeats 3]``.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd

import alliance
from alliance.lagged import fit_lagged, nickell_simulation
from alliance.synthetic import SimulationParams, simulate


def _data(scale: int) -> pd.DataFrame:
    if scale == 1:
        return alliance.load_example()
    p = SimulationParams(n_therapists=40 * scale, n_patients=117 * scale)
    return simulate(p, seed=2024)


def _time(fn, repeats: int) -> tuple[float, float, object]:
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), float(np.median(times)), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--max-scale", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    rows = []
    for scale in (1, 10, 100):
        if scale > args.max_scale:
            break
        data = _data(scale)
        for label, kw in [("forward", {}), ("reverse (2 models)", {"direction": "outcome->alliance"})]:
            with warnings.catch_warnings():  # a boundary fit in a random draw is not a timing issue
                warnings.simplefilter("ignore")
                best, med, res = _time(lambda d=data, kw=kw: fit_lagged(d, **kw), args.repeats)
            rows.append({"task": label, "scale": f"{scale}x", "rows_in": len(data),
                         "rows_used": res.n_obs, "best_s": best, "median_s": med})
    reps = 5
    best, med, _ = _time(lambda: nickell_simulation(reps=reps, seed=1), 1)
    rows.append({"task": "nickell_simulation, per replication", "scale": "117 x 6",
                 "rows_in": 117 * 6, "rows_used": 117 * 5, "best_s": best / reps,
                 "median_s": med / reps})
    print(pd.DataFrame(rows).to_string(index=False, float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()
