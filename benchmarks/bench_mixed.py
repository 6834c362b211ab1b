"""Time :func:`alliance.mixed.fit_lmm` on a simulated nested growth model.

Design at 1x = the study: 40 therapists, 117 patients, 6 sessions; the model is
``y ~ session + (1 | therapist) + (1 + session | patient)`` by REML. The 10x and
100x designs scale therapists and patients together (400/1,170 and
4,000/11,700). Run: ``.venv/bin/python benchmarks/bench_mixed.py [--max-scale 100]``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from alliance.mixed import RandomTerm, fit_lmm


def simulate(scale: int, seed: int = 2024) -> tuple[np.ndarray, pd.DataFrame, list[RandomTerm]]:
    rng = np.random.default_rng(seed)
    n_ther, n_pat, n_ses = 40 * scale, 117 * scale, 6
    # every therapist gets at least one patient; the rest are allocated at random
    ther_of_pat = np.concatenate([np.arange(n_ther), rng.integers(0, n_ther, n_pat - n_ther)])
    patient = np.repeat(np.arange(n_pat), n_ses)
    therapist = ther_of_pat[patient]
    session = np.tile(np.arange(n_ses, dtype=float), n_pat)
    u_t = rng.normal(0, 0.3, n_ther)
    u_p = rng.multivariate_normal([0, 0], [[0.5, -0.02], [-0.02, 0.02]], n_pat)
    y = (
        4.5
        + 0.08 * session
        + u_t[therapist]
        + u_p[patient, 0]
        + u_p[patient, 1] * session
        + rng.normal(0, 0.4, patient.size)
    )
    X = pd.DataFrame({"Intercept": 1.0, "session": session})
    random = [
        RandomTerm("therapist", therapist),
        RandomTerm("patient", patient, X[["Intercept", "session"]]),
    ]
    return y, X, random


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--max-scale", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    rows = []
    for scale in (1, 10, 100):
        if scale > args.max_scale:
            break
        y, X, random = simulate(scale)
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            fit = fit_lmm(y, X, random, method="REML")
            times.append(time.perf_counter() - t0)
        rows.append(
            {
                "scale": f"{scale}x",
                "rows": fit.n_obs,
                "patients": fit.n_groups["patient"],
                "therapists": fit.n_groups["therapist"],
                "best_s": min(times),
                "median_s": float(np.median(times)),
                "optimizer": fit.optimizer,
                "loglik": fit.loglik,
            }
        )
    print(pd.DataFrame(rows).to_string(index=False, float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()
