"""The models of ``tests/reference/ddf_*.json`` (tests/r/ddf_reference.R), fitted by the package.

Each case returns ``(fit, rename)``: the package's :class:`~alliance.mixed.MixedFit` of the
model lmerTest fitted, and the map from lmerTest's coefficient names to the package's.
Shared by ``tests/test_mixed_ddf.py`` and ``benchmarks/bench_mixed.py``.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import alliance
from alliance.agreement import R_NAMES
from alliance.errors import AllianceWarning
from alliance.mixed import RandomTerm, fit_lmm

DATA = Path(__file__).parent / "data"
REF = Path(__file__).parent / "reference"


def _quiet(fn, *a, **k):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AllianceWarning)
        return fn(*a, **k)


def _xt(d, t):
    return pd.DataFrame({"Intercept": 1.0, t: d[t].astype(float)})


def reference_data(name: str, method: str, ddf: str = "satterthwaite"):
    if name.startswith("sleepstudy"):
        d = pd.read_csv(DATA / "growth_sleepstudy.csv")
        X = _xt(d, "Days")
        return _quiet(fit_lmm, d["Reaction"], X, [RandomTerm("Subject", d["Subject"], X)],
                      method=method, df=ddf)
    if name.startswith("orthodont"):
        d = pd.read_csv(DATA / "growth_orthodont.csv")
        X = _xt(d, "age")
        return _quiet(fit_lmm, d["distance"], X, [RandomTerm("Subject", d["Subject"], X)],
                      method=method, df=ddf)
    if name.startswith("dietox"):
        d = pd.read_csv(DATA / "growth_dietox.csv")
        X = _xt(d, "Time")
        return _quiet(fit_lmm, d["Weight"], X, [RandomTerm("Pig", d["Pig"], X)], method=method,
                      df=ddf)
    if name.startswith("nested"):
        d = pd.read_csv(DATA / "mixed_nested.csv")
        X = _xt(d, "time")
        return _quiet(fit_lmm, d["y"], X, [RandomTerm("cluster", d["cluster"]),
                                           RandomTerm("subject", d["subject"], X)],
                      method=method, df=ddf)
    if name.startswith("penicillin"):
        d = pd.read_csv(DATA / "mixed_penicillin.csv")
        X = pd.DataFrame({"Intercept": np.ones(len(d))})
        return _quiet(fit_lmm, d["diameter"], X, [RandomTerm("plate", d["plate"]),
                                                  RandomTerm("sample", d["sample"])],
                      method=method, df=ddf)
    if name.startswith("nestler_example1"):
        d = pd.read_csv(DATA / "mlrsa_nestler2019_example1.csv")
        base = ["x.c", "y.c", "x2.c", "xy.c", "y2.c"]
        l2 = ["x.mean", "y.mean", "x2.mean", "xy.mean", "y2.mean"]
        X = pd.concat([pd.DataFrame({"Intercept": np.ones(len(d))}), d[base + l2]], axis=1)
        return _quiet(fit_lmm, d["z"], X, [RandomTerm("GroupID", d["GroupID"],
                                                      X[["Intercept", *base]])],
                      method=method, df=ddf)
    raise KeyError(name)


#: lmerTest's coefficient names -> the package's, per chapter model family (one map, shared with
#: the chapters' comparisons with R: :data:`alliance.agreement.R_NAMES`)
RENAME = R_NAMES


def chapter_fit(name: str, ddf: str = "satterthwaite"):
    """The package's fit of a chapter model named as in tests/r/chapter_models.R."""
    from alliance.growth import fit_growth
    from alliance.lagged import fit_lagged
    from alliance.rsa import fit_rsa
    from alliance.truth_bias import fit_truth_bias

    data = alliance.load_example()
    if name.startswith("growth"):
        rater = {"growth_therapist": "therapist", "growth_therapist_slope": "therapist",
                 "growth_patient": "patient", "growth_patient_slope": "patient",
                 "growth_stacked": "both"}[name]
        te = "intercept+slope" if name.endswith("slope") else "intercept"
        # lme4/lmerTest have one residual variance: the stacked model as lme4 fits it
        res = _quiet(fit_growth, data, rater, therapist_effects=te, df=ddf, residual="shared")
        return res.fit, RENAME["growth_stacked" if rater == "both" else "growth_single"]
    if name.startswith("truth_bias"):
        te = "intercept+slope" if name.endswith("slope") else "intercept"
        return _quiet(fit_truth_bias, data, therapist_effects=te, df=ddf).fit, RENAME["truth_bias"]
    if name == "rsa":
        res = _quiet(fit_rsa, data, "wellbeing", x="alliance_therapist", y="alliance_patient",
                     group=["therapist", "patient"], time="session", lag=1,
                     moderator="condition", covariates=["session"], method="ML", df=ddf)
        return res.fit, RENAME["rsa"]
    if name == "lagged":
        return _quiet(fit_lagged, data, df=ddf).fits["wellbeing"], RENAME["lagged"]
    raise KeyError(name)
