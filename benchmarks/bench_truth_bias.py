"""Time :func:`alliance.truth_bias.fit_truth_bias` (design construction + REML fit + forces).

Designs: the shipped data (1x: 40 therapists, 117 patients, 6 sessions) and draws of the
book's generative model 10x and 100x larger (400/1,170 and 4,000/11,700), each with the
chapter-4 model (patient intercept and tracking slope, therapist intercept, forces per arm)
and with the anchoring bias; plus the cross-sectional model on the Acitelli couples.
Run: ``.venv/bin/python benchmarks/bench_truth_bias.py [--max-scale 100] [--repeats 3]``.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from _common import arguments, data_at, parse, scales, timed

from alliance.truth_bias import fit_truth_bias, fit_truth_bias_cross

ACITELLI = Path(__file__).resolve().parents[1] / "tests" / "data" / "tb_acitelli_pairwise.csv"


def main(argv: list[str] | None = None) -> None:
    args = parse(arguments(__doc__, max_scale=True), argv)
    rows = []
    for scale in scales(args.max_scale):
        data = data_at(scale, seed=scale)
        for bias in (None, "anchoring"):
            t = timed(lambda d=data, b=bias: fit_truth_bias(d, bias=b), args.repeats)
            res = t.result
            rows.append({
                "model": "repeated" + (" + anchoring" if bias else ""), "scale": f"{scale}x",
                "rows": res.n_obs, "patients": res.n_groups["patient"],
                "therapists": res.n_groups["therapist"], "best_s": t.best,
                "median_s": t.median, "optimizer": res.info["optimizer"],
                "boundary": res.info["boundary"],
            })
    aci = pd.read_csv(ACITELLI)
    t = timed(lambda: fit_truth_bias_cross(
        aci, judgment="OtherPos_A", truth="SelfPos_P", bias="SelfPos_A",
        columns={"group": "CoupleID"}),
        args.repeats)
    res = t.result
    rows.append({"model": "cross-sectional (Acitelli)", "scale": "-", "rows": res.n_obs,
                 "patients": sum(res.n_groups.values()), "therapists": 0, "best_s": t.best,
                 "median_s": t.median, "optimizer": res.info["optimizer"],
                 "boundary": res.info["boundary"]})
    print(pd.DataFrame(rows).to_string(index=False, float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()
