"""Time :func:`alliance.lagged.fit_lagged` and :func:`alliance.lagged.nickell_simulation`.

Designs: the shipped data (1x: 40 therapists, 117 patients, 6 sessions) and draws of the
book's generative model scaled 10x and 100x (therapists and patients together). Rows:
forward model (both raters, condition-moderated, person-centred prior, patient and
therapist intercepts), the reverse direction (two models), and the Nickell simulation per
replication at the chapter's size (117 series x 6 sessions, two fits per replication).
Run: ``.venv/bin/python benchmarks/bench_lagged.py [--max-scale 100] [--repeats 3]``.
"""

from __future__ import annotations

import pandas as pd
from _common import arguments, data_at, parse, scales, timed

from alliance.lagged import fit_lagged, nickell_simulation


def main(argv: list[str] | None = None) -> None:
    args = parse(arguments(__doc__, max_scale=True), argv)
    rows = []
    for scale in scales(args.max_scale):
        data = data_at(scale, seed=2024)
        for label, kw in [("forward", {}), ("reverse (2 models)", {"direction": "outcome->alliance"})]:
            t = timed(lambda d=data, kw=kw: fit_lagged(d, **kw), args.repeats)
            rows.append({"task": label, "scale": f"{scale}x", "rows_in": len(data),
                         "rows_used": t.result.n_obs, "best_s": t.best, "median_s": t.median})
    reps = 1 if args.smoke else 5
    t = timed(lambda: nickell_simulation(reps=reps, seed=1), 1)
    rows.append({"task": "nickell_simulation, per replication", "scale": "117 x 6",
                 "rows_in": 117 * 6, "rows_used": 117 * 5, "best_s": t.best / reps,
                 "median_s": t.median / reps})
    print(pd.DataFrame(rows).to_string(index=False, float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()
