"""Time the response surface fits of chapter 5 and of the validation examples.

Run: ``.venv/bin/python benchmarks/bench_rsa.py [--repeats 3] [--skip-slow]``. Prints one
table: the fit, its rows and groups, best and median wall time over the repeats. The
chapter-5 model is the lagged multilevel surface moderated by arm (therapist and patient
random intercepts, ML); "10x" refits it on a simulated trial with ten times the therapists
and patients (alliance.simulate with scaled design parameters). The model family (RSA's 14
second-order models, with the cubic ones 19) and the therapist-level bootstrap are timed too.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from _common import arguments, data_at, parse, timed

import alliance
from alliance.findings import LAGGED_SURFACE as CH5
from alliance.rsa import RSASpec, bootstrap_rsa, fit_rsa

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
L2 = ["x.mean", "y.mean", "x2.mean", "xy.mean", "y2.mean"]


def cases(skip_slow: bool, smoke: bool = False):
    """(label, call) of each fit; ``smoke``: the 10x trial is the shipped data and the
    bootstraps draw twice."""
    ex = alliance.load_example()
    yield "chapter 5 (lagged, 2 random intercepts, by arm)", lambda: fit_rsa(ex, CH5)
    yield "chapter 5, random slopes of the 5 terms (therapist)", lambda: fit_rsa(
        ex, CH5, group=["patient", "therapist"], lag_within="patient", random="full")
    big = data_at(1 if smoke else 10, seed=7)
    yield f"chapter 5 model, {'shipped data (smoke)' if smoke else '10x trial'}", lambda: fit_rsa(
        big, CH5)
    train = ex[ex["condition"] == "training"]
    yield "single level, lagged, training arm (+ family)", lambda: fit_rsa(
        train, RSASpec("wellbeing", "alliance_therapist", "alliance_patient", time="session",
                       lag=1, lag_within="patient", covariates=["session"]))
    motcon = alliance.read_table(DATA / "rsa_motcon2.csv", numeric=["VA", "EM", "IM"])
    va = RSASpec("VA", "EM", "IM", center="none")
    yield "motcon2 single level HC0 (+ family of 14)", lambda: fit_rsa(motcon, va)
    yield "motcon2 single level, no family", lambda: fit_rsa(motcon, va, family=None)
    yield "motcon2 second-order + cubic family (19 models)", lambda: fit_rsa(
        motcon, va, family="cubic")
    yield "motcon2 every model (family='all', 25, scaled LR tests)", lambda: fit_rsa(
        motcon, va, family="all")
    yield "motcon2 second-order family, ML SEs (no scaled tests)", lambda: fit_rsa(
        motcon, va, se="ml")
    yield "chapter 5 + multilevel family (12 linear models, both arms)", lambda: fit_rsa(
        ex, CH5, family="default")
    yield "chapter 5 cubic, moderated, + cubic family (7 models, both arms)", lambda: fit_rsa(
        ex, CH5, cubic=True, family=["SQD", "CA", "CL", "RRCA", "RRCL", "full", "cubic"])
    ch5_fit = fit_rsa(ex, CH5)
    n_boot = 2 if smoke else 100
    yield f"chapter 5 cluster bootstrap, {n_boot} draws, 1 process", lambda: bootstrap_rsa(
        ch5_fit, n_boot, seed=1)
    yield f"chapter 5 cluster bootstrap, {n_boot} draws, 2 processes", lambda: bootstrap_rsa(
        ch5_fit, n_boot, seed=1, jobs=2)
    l1l2 = alliance.read_table(DATA / "mlrsa_nestler_L1L2_example.csv", numeric=["IV", "selfesteem"],
                               required=["state"])
    yield "L1/L2 example, random intercept, REML", lambda: fit_rsa(
        l1l2, RSASpec("selfesteem", "IV", None, y_as_group_mean=True, group="state"),
        method="REML")
    nes = alliance.read_table(DATA / "mlrsa_nestler2019_example1.csv",
                              numeric=["z", "x.c", "y.c", "g.s", *L2], required=["GroupID"])
    ex1 = RSASpec("z", "x.c", "y.c", group="GroupID", random="full", center="none",
                  covariates=L2)
    yield "Nestler Ex. 1 moderated, 5 random slopes, ML", lambda: fit_rsa(
        nes, ex1, moderator="g.s", at=[-1, 0, 1])
    if not skip_slow:
        yield "Nestler Ex. 1 average, 5 random slopes, ML", lambda: fit_rsa(nes, ex1)


def main(argv: list[str] | None = None) -> None:
    ap = arguments(__doc__)
    ap.add_argument("--skip-slow", action="store_true")
    args = parse(ap, argv, skip_slow=True)
    rows = []
    for name, run in cases(args.skip_slow, args.smoke):
        t = timed(run, args.repeats)
        res = t.result
        rows.append({"fit": name, "rows": res.n_obs,
                     "groups": ", ".join(f"{k} {v}" for k, v in res.n_groups.items()) or "-",
                     "best_s": t.best, "median_s": t.median,
                     "note": res.info.get("optimizer_note") and "Powell retry" or ""})
    print(pd.DataFrame(rows).to_string(index=False, float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()
