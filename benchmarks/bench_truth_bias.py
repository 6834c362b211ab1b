"""Time :func:`alliance.truth_bias.fit_truth_bias` (design construction + REML fit + forces).

Designs: the shipped data (1x: 40 therapists, 117 patients, 6 sessions) and draws of the
book's generative model 10x and 100x larger (400/1,170 and 4,000/11,700), each with the
chapter-4 model (patient intercept and tracking slope, therapist intercept, forces per arm)
and with the anchoring bias; plus the cross-sectional model on the Acitelli couples.
Run: ``.venv/bin/python benchmarks/bench_truth_bias.py [--max-scale 100] [--repeats 3]``.
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import alliance
from alliance.errors import AllianceWarning
from alliance.synthetic import SimulationParams, simulate
from alliance.truth_bias import fit_truth_bias, fit_truth_bias_cross

ACITELLI = Path(__file__).resolve().parents[1] / "tests" / "data" / "tb_acitelli_pairwise.csv"


def timed(fn, repeats: int):
    times, res = [], None
    for _ in range(repeats):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", AllianceWarning)  # boundary fits at large scale
            t0 = time.perf_counter()
            res = fn()
            times.append(time.perf_counter() - t0)
    return res, times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--max-scale", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    rows = []
    for scale in (1, 10, 100):
        if scale > args.max_scale:
            break
        data = alliance.load_example() if scale == 1 else simulate(
            SimulationParams(n_therapists=40 * scale, n_patients=117 * scale), seed=scale)
        for bias in (None, "anchoring"):
            res, times = timed(lambda d=data, b=bias: fit_truth_bias(d, bias=b), args.repeats)
            rows.append({
                "model": "repeated" + (" + anchoring" if bias else ""), "scale": f"{scale}x",
                "rows": res.n_obs, "patients": res.n_groups["patient"],
                "therapists": res.n_groups["therapist"], "best_s": min(times),
                "median_s": float(np.median(times)), "optimizer": res.info["optimizer"],
                "boundary": res.info["boundary"],
            })
    aci = pd.read_csv(ACITELLI)
    res, times = timed(lambda: fit_truth_bias_cross(
        aci, judgment="OtherPos_A", truth="SelfPos_P", bias="SelfPos_A", group="CoupleID"),
        args.repeats)
    rows.append({"model": "cross-sectional (Acitelli)", "scale": "-", "rows": res.n_obs,
                 "patients": res.n_groups["CoupleID"], "therapists": 0, "best_s": min(times),
                 "median_s": float(np.median(times)), "optimizer": res.info["optimizer"],
                 "boundary": res.info["boundary"]})
    print(pd.DataFrame(rows).to_string(index=False, float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()
