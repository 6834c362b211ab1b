"""Time every growth model of chapter 3 on the shipped data and on 10x and 100x larger trials.

Models: rater (therapist, patient, both stacked) x therapist level (none, intercept,
intercept+slope), REML, via :func:`alliance.growth.fit_growth` (the same call the chapter
makes, including data preparation). Data: the shipped synthetic trial (40 therapists, 117
patients), and draws of :func:`alliance.simulate` with ``SimulationParams(n_therapists=400,
n_patients=1170)`` and ``(4000, 11700)`` (same generative model, seed 1). Boundary-fit
warnings are expected (therapist ratings have no patient-specific slopes in the generative
model) and are silenced here; they are counted in the ``boundary`` column.

Run: ``.venv/bin/python benchmarks/bench_growth.py [--max-scale 100] [--repeats 3]``.
Prints one row per model and scale: the best and median wall time of ``--repeats`` fits.
"""

from __future__ import annotations

import platform

import numpy as np
import pandas as pd
from _common import arguments, data_at, parse, scales, timed

import alliance
from alliance.growth import THERAPIST_EFFECTS, fit_growth


def main(argv: list[str] | None = None) -> None:
    args = parse(arguments(__doc__, max_scale=True), argv)
    rows = []
    for scale in scales(args.max_scale):
        data = data_at(scale)
        repeats = args.repeats if scale < 100 else max(1, min(args.repeats, 2))
        for rater in ("therapist", "patient", "both"):
            for te in THERAPIST_EFFECTS:
                t = timed(lambda: fit_growth(data, rater, therapist_effects=te),  # noqa: B023
                          repeats)
                res = t.result
                tt = res.estimates.set_index("term")
                key = "time:training:therapist_rater" if rater == "both" else "time:training"
                rows.append(
                    {
                        "scale": f"{scale}x",
                        "therapists": data["therapist"].nunique(),
                        "patients": data["patient"].nunique(),
                        "rows": res.n_obs,
                        "rater": rater,
                        "therapist_effects": te,
                        "best_s": t.best,
                        "median_s": t.median,
                        "optimizer": res.fit.optimizer,
                        "boundary": res.fit.boundary,
                        key: round(float(tt.loc[key, "estimate"]), 4),
                    }
                )
                print(rows[-1], flush=True)
    table = pd.DataFrame(rows)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print()
        print(
            f"alliance {alliance.__version__}, numpy {np.__version__}, "
            f"Python {platform.python_version()} on {platform.machine()}"
        )
        print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()
