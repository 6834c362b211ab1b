"""Time :func:`alliance.mixed.fit_lmm`: scaling with the design, and against lme4 on the book's models.

Part 1 (scaling). Design at 1x = the study: 40 therapists, 117 patients, 6 sessions; the model
is ``y ~ session + (1 | therapist) + (1 + session | patient)`` by REML. The 10x and 100x designs
scale therapists and patients together (400/1,170 and 4,000/11,700).

Part 2 (against lme4). Every chapter model behind the four findings and the chapters'
sensitivity models (the same models as ``tests/r/chapter_models.R``), on the shipped data:
the package's fit of each is recorded once (the arguments the analysis passes to ``fit_lmm``)
and timed, with Wald z (fit, convergence checks, no degrees of freedom: lme4's ``lmer``) and
with Satterthwaite degrees of freedom (the package's default: lmerTest's ``lmer`` +
``summary``). The lme4 and lmerTest times are frozen in ``benchmarks/frozen/lme4_timings.json``
by ``tests/r/lme4_timings.R`` (run it on this machine for a fair comparison: both sides are
wall-clock minima of repeated fits, so they move with the machine and its load).

Run: ``.venv/bin/python benchmarks/bench_mixed.py [--max-scale 100] [--repeats 3]``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from _common import arguments, parse, record, scales, timed

import alliance
from alliance.mixed import RandomTerm, fit_lmm

HERE = Path(__file__).parent
FROZEN = HERE / "frozen" / "lme4_timings.json"


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


def scaling(max_scale: int, repeats: int) -> None:
    rows = []
    for scale in scales(max_scale):
        y, X, random = simulate(scale)
        t = timed(lambda: fit_lmm(y, X, random, method="REML"), repeats)  # noqa: B023
        fit = t.result
        rows.append({"scale": f"{scale}x", "rows": fit.n_obs,
                     "patients": fit.n_groups["patient"], "therapists": fit.n_groups["therapist"],
                     "best_s": t.best, "median_s": t.median,
                     "optimizer": fit.optimizer, "loglik": fit.loglik})
    print(pd.DataFrame(rows).to_string(index=False, float_format=lambda v: f"{v:.3f}"))


def chapter_calls() -> dict:
    from alliance.growth import fit_growth
    from alliance.lagged import fit_lagged
    from alliance.rsa import RSASpec, fit_rsa
    from alliance.truth_bias import fit_truth_bias

    d = alliance.load_example()
    # the names of benchmarks/frozen/lme4_timings.json (tests/r/chapter_models.R): no suffix,
    # a therapist intercept; _slope, a therapist intercept and slope
    i, s = "intercept", "intercept+slope"
    surface = RSASpec("wellbeing", "alliance_therapist", "alliance_patient",
                      group=["therapist", "patient"], time="session", lag=1,
                      moderator="condition", covariates=["session"])
    return {
        "growth_therapist": lambda: fit_growth(d, "therapist", therapist_effects=i),
        "growth_therapist_slope": lambda: fit_growth(d, "therapist", therapist_effects=s),
        "growth_patient": lambda: fit_growth(d, "patient", therapist_effects=i),
        # lme4 has one residual variance: compare the stacked model as lme4 fits it
        "growth_stacked": lambda: fit_growth(d, "both", residual="shared", therapist_effects=i),
        "truth_bias": lambda: fit_truth_bias(d, therapist_effects=i),
        "truth_bias_slope": lambda: fit_truth_bias(d, therapist_effects=s),
        "rsa": lambda: fit_rsa(d, surface, method="ML"),
        "lagged": lambda: fit_lagged(d),
    }


def against_lme4(repeats: int) -> None:
    frozen = json.loads(FROZEN.read_text()) if FROZEN.exists() else None
    ref = {m["model"]: m for m in frozen["models"]} if frozen else {}
    rows = []
    for name, call in chapter_calls().items():
        _, [(args, kwargs), *_] = record(call)
        out = {"model": name}
        for ddf, col in (("z", "alliance_fit_s"), ("satterthwaite", "alliance_satterthwaite_s")):
            kw = dict(kwargs, df=ddf)
            t = timed(lambda: fit_lmm(*args, **kw), repeats)  # noqa: B023
            fit = t.result
            out[col] = t.best
        r = ref.get(name, {})
        out["lme4_s"] = r.get("lme4_seconds", np.nan)
        out["lmerTest_s"] = r.get("lmerTest_seconds", np.nan)
        out["fit_ratio"] = out["alliance_fit_s"] / out["lme4_s"]
        out["df_ratio"] = out["alliance_satterthwaite_s"] / out["lmerTest_s"]
        out["loglik"] = fit.loglik
        out["lme4_loglik"] = r.get("loglik", np.nan)
        out["evaluations"] = fit.diagnostics.get("evaluations")
        rows.append(out)
    tab = pd.DataFrame(rows)
    print(tab.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    if frozen:
        print(f"\nlme4 {frozen['lme4']}, lmerTest {frozen['lmerTest']}, {frozen['R']}, "
              f"frozen {frozen['date']} on {frozen['cpu']} ({frozen['cores']} cores)")
        slower = tab[tab["fit_ratio"] > 1]["model"].tolist()
        print("ratios < 1: the package is faster. Slower than lme4 on: "
              + (", ".join(slower) if slower else "none"))


def main(argv: list[str] | None = None) -> None:
    args = parse(arguments(__doc__, max_scale=True), argv)
    print("## scaling\n")
    scaling(args.max_scale, args.repeats)
    print("\n## against lme4 (chapter models, shipped data)\n")
    against_lme4(1 if args.smoke else max(args.repeats, 5))


if __name__ == "__main__":
    main()
