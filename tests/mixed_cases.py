"""The models both the package's engine and statsmodels ``MixedLM`` can express.

Each case returns ``(ours, theirs, variances)``: the arguments of
:func:`alliance.mixed.fit_lmm`, the arguments of ``statsmodels.formula.api.mixedlm``,
and where each variance component sits in statsmodels' result. Shared by
``tests/test_mixed_statsmodels.py`` (agreement) and ``benchmarks/bench_statsmodels.py``
(speed).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

import alliance
from alliance.mixed import RandomTerm

DATA = Path(__file__).parent / "data"


def _sleep():
    return pd.read_csv(DATA / "growth_sleepstudy.csv")


def _ones(d):
    return pd.Series(np.ones(len(d)), index=d.index)


def _case_sleepstudy():
    d = _sleep()
    X = pd.DataFrame({"Intercept": 1.0, "Days": d["Days"].astype(float)})
    ours = (d["Reaction"], X, [RandomTerm("Subject", d["Subject"], X)])
    theirs = dict(formula="Reaction ~ Days", data=d, groups=d["Subject"], re_formula="~Days")
    var = {("Subject", "Intercept"): ("re", 0, 0), ("Subject", "Days"): ("re", 1, 1)}
    return ours, theirs, var


def _case_sleepstudy_nodays():
    d = _sleep()
    X = pd.DataFrame({"Intercept": 1.0, "Days": d["Days"].astype(float)})
    ours = (d["Reaction"], X[["Intercept"]], [RandomTerm("Subject", d["Subject"], X)])
    theirs = dict(formula="Reaction ~ 1", data=d, groups=d["Subject"], re_formula="~Days")
    var = {("Subject", "Intercept"): ("re", 0, 0), ("Subject", "Days"): ("re", 1, 1)}
    return ours, theirs, var


def _case_sleepstudy_diag():
    d = _sleep()
    X = pd.DataFrame({"Intercept": 1.0, "Days": d["Days"].astype(float)})
    ours = (d["Reaction"], X, [RandomTerm("Subject", d["Subject"], X, "diagonal")])
    theirs = dict(formula="Reaction ~ Days", data=d, groups=d["Subject"], re_formula="1",
                  vc_formula={"Days": "0 + Days"})
    var = {("Subject", "Intercept"): ("re", 0, 0), ("Subject", "Days"): ("vc", "Days")}
    return ours, theirs, var


def _slope_case(file, y, t, g):
    d = pd.read_csv(DATA / file)
    X = pd.DataFrame({"Intercept": 1.0, t: d[t].astype(float)})
    ours = (d[y], X, [RandomTerm(g, d[g], X)])
    theirs = dict(formula=f"{y} ~ {t}", data=d, groups=d[g], re_formula=f"~{t}")
    var = {(g, "Intercept"): ("re", 0, 0), (g, t): ("re", 1, 1)}
    return ours, theirs, var


def _case_orthodont():
    return _slope_case("growth_orthodont.csv", "distance", "age", "Subject")


def _case_dietox():
    return _slope_case("growth_dietox.csv", "Weight", "Time", "Pig")


def _case_nested_independent():
    d = pd.read_csv(DATA / "mixed_nested.csv")
    X = pd.DataFrame({"Intercept": 1.0, "time": d["time"].astype(float)})
    ours = (d["y"], X, [RandomTerm("cluster", d["cluster"]),
                        RandomTerm("subject", d["subject"], X, "diagonal")])
    theirs = dict(formula="y ~ time", data=d, groups=d["cluster"], re_formula="1",
                  vc_formula={"subject": "0 + C(subject)", "slope": "0 + C(subject):time"})
    var = {("cluster", "Intercept"): ("re", 0, 0), ("subject", "Intercept"): ("vc", "subject"),
           ("subject", "time"): ("vc", "slope")}
    return ours, theirs, var


def _case_icc_three_level():
    d = alliance.load_example().dropna(subset=["alliance_therapist"]).reset_index(drop=True)
    X = pd.DataFrame({"Intercept": np.ones(len(d))})
    ours = (d["alliance_therapist"], X, [RandomTerm("therapist", d["therapist"]),
                                          RandomTerm("patient", d["patient"])])
    theirs = dict(formula="alliance_therapist ~ 1", data=d, groups=d["therapist"],
                  re_formula="1", vc_formula={"patient": "0 + C(patient)"})
    var = {("therapist", "Intercept"): ("re", 0, 0), ("patient", "Intercept"): ("vc", "patient")}
    return ours, theirs, var


def _case_penicillin():
    d = pd.read_csv(DATA / "mixed_penicillin.csv")
    X = pd.DataFrame({"Intercept": np.ones(len(d))})
    ours = (d["diameter"], X, [RandomTerm("plate", d["plate"]), RandomTerm("sample", d["sample"])])
    theirs = dict(formula="diameter ~ 1", data=d, groups=_ones(d), re_formula="0",
                  vc_formula={"plate": "0 + C(plate)", "sample": "0 + C(sample)"})
    var = {("plate", "Intercept"): ("vc", "plate"), ("sample", "Intercept"): ("vc", "sample")}
    return ours, theirs, var


CASES = {
    "sleepstudy": _case_sleepstudy,
    "sleepstudy_nodays": _case_sleepstudy_nodays,
    "sleepstudy_diag": _case_sleepstudy_diag,
    "orthodont": _case_orthodont,
    "dietox": _case_dietox,
    "nested_independent_slopes": _case_nested_independent,
    "icc_three_level": _case_icc_three_level,
    "penicillin_crossed": _case_penicillin,
}
