"""Small-sample inference and variance functions of :mod:`alliance.mixed`, against R.

1. Satterthwaite (lmerTest 3.1.3) and Kenward-Roger (pbkrtest 0.5.2 via lmerTest) degrees
   of freedom, SEs and p values of every fixed effect and of the linear combinations the book
   reports, on the reference data sets and on every chapter model of the book
   (``tests/r/ddf_reference.R`` -> ``tests/reference/ddf_*.json``).
2. A residual variance per level of a factor against ``nlme::lme`` with ``varIdent``
   (``tests/r/varident_reference.R`` -> ``tests/reference/varident_*.json``): the stacked
   two-rater growth model of chapter 3 (REML and ML) and the Acitelli couples with a residual
   variance per gender.
3. Properties: what the df methods must satisfy whatever the data.

Tolerances. The issue's criterion is 1e-3 relative for df, SE and p. Observed agreement is
far tighter (df and SE to ~1e-5 relative, p to ~5e-5), except Nestler et al.'s Example 1
(21 covariance parameters): Satterthwaite df there agree to 5e-4 relative and t to 5e-5,
because lmerTest's numerical Hessian (numDeriv on lme4's deviance) and the optimum bobyqa
stops at carry that much error (our df do not move in the 7th digit when the differencing
step changes from 1e-3 to 1e-6). So the tests use 1e-3 relative for df, t and p, 1e-5 for
SEs and contrast estimates (lme4's optimizer precision on flat likelihoods).
"""

from __future__ import annotations

import importlib.util
import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import alliance
from alliance.errors import AllianceWarning
from alliance.mixed import RandomTerm, fit_lmm
from alliance.mixed.inference import normalise_ddf

_spec = importlib.util.spec_from_file_location("ddf_cases", Path(__file__).with_name("ddf_cases.py"))
ddf_cases = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ddf_cases)

REF = Path(__file__).parent / "reference"
DATA = Path(__file__).parent / "data"
DDF_FILES = sorted(REF.glob("ddf_*.json"))
CHAPTER = {"growth_therapist", "growth_therapist_slope", "growth_patient", "growth_patient_slope",
           "growth_stacked",
           "truth_bias", "truth_bias_slope", "rsa", "lagged"}
METHODS = {"satterthwaite": "satterthwaite", "kenward_roger": "kenward-roger"}

_CACHE: dict = {}


def _fit(name: str, method: str):
    if name not in _CACHE:
        if name in CHAPTER:
            _CACHE[name] = ddf_cases.chapter_fit(name)
        else:
            _CACHE[name] = (ddf_cases.reference_data(name, method), {"(Intercept)": "Intercept"})
    return _CACHE[name]


def _rel(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    return np.max(np.abs(a / b - 1.0))


@pytest.mark.parametrize("path", DDF_FILES, ids=[p.stem for p in DDF_FILES])
def test_df_se_p_match_lmertest_and_pbkrtest(path):
    ref = json.loads(path.read_text())
    name = path.stem.removeprefix("ddf_")
    fit, rename = _fit(name, ref["method"])
    assert fit.method == ref["method"]
    assert fit.loglik == pytest.approx(ref["loglik"], abs=1e-5)
    assert fit.boundary == ref["singular"]
    checked = 0
    for key, ddf in METHODS.items():
        if f"fixed_{key}" not in ref:
            continue
        r = pd.DataFrame(ref[f"fixed_{key}"])
        r["term"] = r["term"].map(lambda t: rename.get(t, t))
        ours = fit.fixed_effects(ddf).set_index("term").loc[r["term"]]
        assert _rel(ours["df"], r["df"]) < 1e-3, (key, ours["df"].to_numpy(), r["df"].to_numpy())
        assert _rel(ours["se"], r["se"]) < 1e-5
        assert _rel(ours["statistic"], r["t"]) < 1e-3
        assert _rel(ours["p"], r["p"]) < 1e-3
        checked += 1
        for c in ref.get(f"contrasts_{key}", []):
            L = {c["name"]: {rename.get(t, t): float(w) for t, w in c["weights"].items()}}
            row = fit.contrast(L, ddf=ddf).iloc[0]
            assert row["estimate"] == pytest.approx(c["estimate"], rel=1e-5, abs=1e-7)
            assert row["df"] == pytest.approx(c["df"], rel=1e-3), c["name"]
            assert row["se"] == pytest.approx(c["se"], rel=1e-5)
            assert row["p"] == pytest.approx(c["p"], rel=1e-3)
    assert checked == (2 if ref["method"] == "REML" else 1)


def test_every_chapter_model_has_a_reference():
    names = {p.stem.removeprefix("ddf_") for p in DDF_FILES}
    assert CHAPTER <= names
    # the headline contrasts of chapters 3 to 6 are among the frozen combinations
    tb = json.loads((REF / "ddf_truth_bias.json").read_text())
    assert any(c["name"] == "temporal congruence, training - control"
               for c in tb["contrasts_kenward_roger"])
    rsa = json.loads((REF / "ddf_rsa.json").read_text())
    assert {"a1, training", "a4, difference"} <= {c["name"] for c in rsa["contrasts_satterthwaite"]}


def test_the_three_tests_of_temporal_congruence_in_order():
    """Issue 10's point, on the shipped data: the z test of the arm difference in temporal
    congruence is the most liberal, Satterthwaite's t (therapist intercept) next, Kenward-Roger's t
    with a therapist tracking slope the most cautious; the two t tests equal lmerTest/pbkrtest
    (tests/reference/ddf_truth_bias*.json; df to 1e-3 relative, p to 1e-4 absolute)."""
    fit, _ = _fit("truth_bias", "REML")
    L = {"tc": {"truth_within:condition[training]": 1.0}}
    z = fit.contrast(L, ddf="z").iloc[0]
    s = fit.contrast(L, ddf="satterthwaite").iloc[0]
    slope, _ = _fit("truth_bias_slope", "REML")
    kr = slope.contrast(L, ddf="kenward-roger").iloc[0]
    name = "temporal congruence, training - control"
    ref_s = next(c for c in json.loads((REF / "ddf_truth_bias.json").read_text())[
        "contrasts_satterthwaite"] if c["name"] == name)
    ref_kr = next(c for c in json.loads((REF / "ddf_truth_bias_slope.json").read_text())[
        "contrasts_kenward_roger"] if c["name"] == name)
    assert s["df"] == pytest.approx(ref_s["df"], rel=1e-3) and s["p"] == pytest.approx(
        ref_s["p"], abs=1e-4)
    assert kr["df"] == pytest.approx(ref_kr["df"], rel=1e-3) and kr["p"] == pytest.approx(
        ref_kr["p"], abs=1e-4)
    assert z["p"] < s["p"] < kr["p"]


# --------------------------------------------------------------------------- varIdent vs nlme
VARIDENT = sorted(REF.glob("varident_*.json"))


def _varident_fit(name: str):
    if name.startswith("growth_stacked"):
        from alliance.growth import fit_growth

        method = "REML" if name.endswith("reml") else "ML"
        # the nlme models: a therapist intercept per rater (pdSymm(~ 0 + pr + tr)), or an intercept
        # and a slope per rater (pdSymm(~ 0 + pr + tr + time_pr + time_tr), "_slope")
        te = "intercept+slope" if "_slope" in name else "intercept"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", AllianceWarning)
            return fit_growth(alliance.load_example(), "both", method=method,
                              therapist_effects=te).fit
    aci = pd.read_csv(DATA / "tb_acitelli_pairwise.csv")
    from alliance.truth_bias import fit_truth_bias_cross

    res = fit_truth_bias_cross(aci, judgment="OtherPos_A", truth="SelfPos_P", bias="SelfPos_A",
                               group="CoupleID", moderator="Gender_A", residual_by="Gender_A")
    return res.fit


ACI_RENAME = {"(Intercept)": "Intercept", "wife": "Gender_A[Wife]", "Tr": "truth", "B": "bias",
              "wife:Tr": "truth:Gender_A[Wife]", "wife:B": "bias:Gender_A[Wife]"}


@pytest.mark.parametrize("path", VARIDENT, ids=[p.stem for p in VARIDENT])
def test_residual_variance_per_level_matches_nlme(path):
    """nlme's optimizer (nlminb on a log-Cholesky parametrisation, tolerance 1e-10) reaches
    the same optimum: logLik to 1e-5, fixed effects to 1e-5 relative, their covariance and
    every variance to 1e-3 relative (the stacked model is a boundary fit, where nlme's
    unbounded parametrisation can only approach a zero variance; its random-effect
    covariance is compared to 1e-3 absolute in correlation terms)."""
    ref = json.loads(path.read_text())
    fit = _varident_fit(ref["model"])
    assert fit.loglik == pytest.approx(ref["loglik"], abs=1e-5)
    assert fit.loglik >= ref["loglik"] - 1e-6  # never a worse optimum than nlme
    rename = ACI_RENAME if "acitelli" in ref["model"] else {}
    names = [rename.get(n, n) for n in ref["vcov_names"]]
    est = np.array([ref["fixed"][n] for n in ref["vcov_names"]])
    ours = fit.coef.loc[names].to_numpy()
    np.testing.assert_allclose(ours, est, rtol=1e-4, atol=1e-6)
    V = np.array(ref["vcov"], dtype=float)
    np.testing.assert_allclose(fit.cov_fixed.loc[names, names].to_numpy(), V, rtol=2e-3,
                               atol=1e-8)
    # residual variance of every level: nlme's sigma times its SD ratio
    want = {lv: (ref["sigma"] * r) ** 2 for lv, r in ref["sd_ratio"].items()}
    got = fit.residual_variances
    for lv, v in want.items():
        assert got[lv] == pytest.approx(v, rel=1e-3)
    assert fit.n_params == len(est) + fit.theta.size + len(want)  # theta + 1 ratio + sigma
    for group, g in ref["random"].items():
        G = np.array(g["cov"], dtype=float).reshape(len(g["names"]), len(g["names"]))
        cols = ["Intercept" if c == "(Intercept)" else c for c in g["names"]]
        rename_re = {"pr": "patient_rater", "tr": "therapist_rater",
                     "time_pr": "time:patient_rater", "time_tr": "time:therapist_rater"}
        cols = [rename_re.get(c, c) for c in cols]
        ours_G = fit.random_cov(group).loc[cols, cols].to_numpy()
        scale = np.sqrt(np.outer(np.diag(G), np.diag(G)))
        np.testing.assert_allclose(ours_G / np.where(scale > 0, scale, 1.0),
                                   G / np.where(scale > 0, scale, 1.0), atol=2e-3)


def test_rater_specific_residuals_fit_far_better():
    """The likelihood-ratio test of a residual variance per rater against one shared (issue
    10), with a therapist intercept per rater: the statistic equals the one from the frozen
    references, nlme's varIdent fit (varident_growth_stacked_reml.json) against lme4's shared
    residual (growth_lme4.json, both|intercept|REML), to 1e-4 (both log-likelihoods to 1e-5)."""
    from alliance.growth import fit_growth
    from alliance.mixed import lrt

    data = alliance.load_example()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AllianceWarning)
        shared = fit_growth(data, "both", residual="shared", therapist_effects="intercept")
        rater = fit_growth(data, "both", therapist_effects="intercept")
    res = lrt(shared.fit, rater.fit)
    nlme = json.loads((REF / "varident_growth_stacked_reml.json").read_text())["loglik"]
    lme4 = json.loads((REF / "growth_lme4.json").read_text())["models"]["both|intercept|REML"]
    assert res["df"] == 1
    assert res["statistic"] == pytest.approx(2 * (nlme - lme4["loglik"]), abs=1e-4)
    assert res["p"] < 1e-6
    sd = rater.info["residual_sd"]
    assert sd["patient"] > sd["therapist"]  # patients' ratings are the noisier ones
    assert rater.marginal_sd("therapist") != rater.marginal_sd("patient")


# --------------------------------------------------------------------------- properties


def _sleep(method="REML", ddf="satterthwaite"):
    return ddf_cases.reference_data("sleepstudy", method, ddf)


def test_kenward_roger_needs_reml_and_names_are_checked():
    with pytest.raises(ValueError, match="REML"):
        _sleep("ML", "kenward-roger")
    fit = _sleep("ML")
    with pytest.raises(ValueError, match="REML"):
        fit.contrast({"d": {"Days": 1.0}}, ddf="kenward-roger")
    with pytest.raises(ValueError, match="ddf"):
        normalise_ddf("student")
    assert normalise_ddf("KR") == "kenward-roger" and normalise_ddf("Wald") == "z"


def test_balanced_design_has_textbook_df():
    """In the balanced sleepstudy design the slope's Satterthwaite and Kenward-Roger df are
    the between-subject df, 18 subjects - 1 = 17 (as lmerTest and pbkrtest print)."""
    fit = _sleep()
    row = fit.fixed_effects("satterthwaite").set_index("term").loc["Days"]
    kr = fit.fixed_effects("kenward-roger").set_index("term").loc["Days"]
    assert row["df"] == pytest.approx(17.0, abs=1e-3)
    assert kr["df"] == pytest.approx(17.0, abs=1e-3)
    # balanced: KR's adjustment of the covariance vanishes for this contrast
    assert kr["se"] == pytest.approx(row["se"], rel=1e-6)


def test_df_do_not_depend_on_the_scale_of_a_covariate():
    d = pd.read_csv(DATA / "growth_sleepstudy.csv")
    out = []
    for scale in (1.0, 100.0):
        X = pd.DataFrame({"Intercept": 1.0, "Days": d["Days"] * scale})
        fit = fit_lmm(d["Reaction"], X, [RandomTerm("Subject", d["Subject"], X)])
        out.append(fit.contrast({"day 5": {"Intercept": 1.0, "Days": 5.0 * scale}}))
    for col in ("estimate", "se", "df", "p"):
        assert out[0][col].iloc[0] == pytest.approx(out[1][col].iloc[0], rel=1e-6)


def test_z_is_the_infinite_df_limit_and_tables_switch():
    fit = _sleep()
    z = fit.fixed_effects("z")
    assert np.isinf(z["df"]).all()
    s = fit.estimates
    assert (s["p"] > z["p"]).all()  # t tails are heavier
    assert (s["ci_high"] - s["ci_low"] > z["ci_high"] - z["ci_low"]).all()
    zfit = _sleep(ddf="z")
    pd.testing.assert_frame_equal(zfit.estimates, z)
    assert zfit.to_dict()["fixed"][0]["df"] is None  # JSON: infinite df is null
    assert "Satterthwaite t" in fit.summary() and "Wald z" in zfit.summary()


def test_contrast_df_between_its_components():
    """A sum of two coefficients tested by Satterthwaite: its df is finite and positive, and
    the KR-adjusted variance is never below the unadjusted one (Kenward & Roger 1997)."""
    fit, _ = _fit("truth_bias", "REML")
    L = {"tc training": {"truth_within": 1.0, "truth_within:condition[training]": 1.0}}
    s = fit.contrast(L, ddf="satterthwaite").iloc[0]
    k = fit.contrast(L, ddf="kenward-roger").iloc[0]
    assert 1 < s["df"] < fit.n_obs and 1 < k["df"] < fit.n_obs
    assert k["se"] >= s["se"] - 1e-12
    Vk = fit.vcov("kenward-roger").to_numpy()
    assert np.all(np.linalg.eigvalsh(Vk - fit.cov_fixed.to_numpy()) > -1e-12)


def test_level2_variances_of_random_slopes_are_quadratic_forms():
    fit = ddf_cases.reference_data("nestler_example1_reml", "REML")
    G = fit.random_cov("GroupID")
    out = fit.random_combination("GroupID", {"a1": {"x.c": 1.0, "y.c": 1.0}})
    assert out["variance"].iloc[0] == pytest.approx(
        G.loc["x.c", "x.c"] + G.loc["y.c", "y.c"] + 2 * G.loc["x.c", "y.c"], rel=1e-12)
    assert out["se"].iloc[0] > 0
    with pytest.raises(ValueError, match="unknown random-effect"):
        fit.random_combination("GroupID", {"a": {"nope": 1.0}})
