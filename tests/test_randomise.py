"""Tests of alliance.randomise: allocation, balance, ICCs / design effects, permutation test.

Reference values: tests/reference/randomise_icc.json, written by tests/r/randomise_reference.R
(lme4 1.1.31, ``lmer(y ~ 1 + (1 | therapist) + (1 | patient))`` on data/sessions.csv, REML and ML).
"""

from __future__ import annotations

import hashlib
import json
import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import alliance
from alliance import AllianceWarning, DataError
from alliance.plots.randomise import plot_balance, plot_permutation
from alliance.randomise import (
    allocate,
    balance,
    design_effect,
    icc,
    icc_summary,
    median_strata,
    permutation_test,
)
from alliance.synthetic import EXAMPLE_SEED

ROOT = Path(__file__).resolve().parents[1]
REF = json.loads((ROOT / "tests" / "reference" / "randomise_icc.json").read_text())
THERAPISTS = [f"T{i:02d}" for i in range(1, 41)]


@pytest.fixture(scope="module")
def data():
    return alliance.load_example()


# --------------------------------------------------------------------------- allocation


def test_allocate_reproducible_with_seed():
    a = allocate(THERAPISTS, seed=7, block_size=4)
    b = allocate(THERAPISTS, seed=7, block_size=4)
    c = allocate(THERAPISTS, seed=8, block_size=4)
    pd.testing.assert_frame_equal(a, b)
    assert not a["condition"].equals(c["condition"])
    # a Generator in the same state gives the same list as the seed
    pd.testing.assert_frame_equal(
        a, allocate(THERAPISTS, rng=np.random.default_rng(7), block_size=4)
    )


def test_allocate_reproduces_the_shipped_allocation(data):
    # simulate() draws the allocation first from default_rng(EXAMPLE_SEED)
    alloc = allocate(THERAPISTS, seed=EXAMPLE_SEED).set_index("unit")["condition"]
    shipped = data.groupby("therapist")["condition"].first()
    pd.testing.assert_series_equal(alloc.reindex(shipped.index), shipped, check_names=False)


@pytest.mark.parametrize("block_size", [None, 2, 4, 6])
@pytest.mark.parametrize("stratified", [False, True])
def test_allocate_exactly_one_to_one_within_blocks_and_strata(block_size, stratified):
    rng = np.random.default_rng(3)
    strata = {u: ("A" if rng.random() < 0.5 else "B") for u in THERAPISTS} if stratified else None
    for seed in range(20):
        alloc = allocate(THERAPISTS, seed=seed, block_size=block_size, strata=strata)
        assert list(alloc["unit"]) == THERAPISTS
        for _, blk in alloc.groupby(["stratum", "block"]):
            counts = blk["condition"].value_counts()
            diff = abs(counts.get("training", 0) - counts.get("control", 0))
            assert diff == len(blk) % 2  # exactly 1:1 in every even block
        for _, st in alloc.groupby("stratum"):
            counts = st["condition"].value_counts()
            # at most one odd block per stratum (its last), so at most one unit of imbalance
            assert abs(counts.get("training", 0) - counts.get("control", 0)) <= 1
        overall = alloc["condition"].value_counts()
        n_odd = sum(len(st) % 2 for _, st in alloc.groupby("stratum"))
        assert abs(overall["training"] - overall["control"]) <= n_odd


def test_allocate_balanced_overall_and_every_unit_equally_likely():
    # 40 units, one stratum: exactly 20/20 every time; each unit in training about half the time
    share = np.zeros(len(THERAPISTS))
    for seed in range(400):
        alloc = allocate(THERAPISTS, seed=seed)
        assert (alloc["condition"] == "training").sum() == 20
        share += (alloc["condition"] == "training").to_numpy()
    share /= 400
    # binomial(400, .5) SD of a share is 0.025; 5 SD over 40 units
    assert np.all(np.abs(share - 0.5) < 0.125)


def test_allocate_rejects_bad_input():
    with pytest.raises(ValueError, match="unique"):
        allocate(["a", "a"], seed=1)
    with pytest.raises(ValueError, match="even"):
        allocate(THERAPISTS, seed=1, block_size=3)
    with pytest.raises(ValueError, match="no stratum"):
        allocate(THERAPISTS, seed=1, strata={"T01": "A"})
    with pytest.raises(ValueError, match="not both seed and rng"):
        allocate(THERAPISTS, seed=1, rng=np.random.default_rng(1))


def test_median_strata(data):
    strata = median_strata(data)
    per = data.groupby("therapist")["therapist_experience"].first()
    med = per.median()
    assert set(strata) == set(per.index)
    for t, s in strata.items():
        assert s == ("above median" if per[t] > med else "at or below median")
    alloc = allocate(list(strata), seed=1, strata=strata, block_size=4)
    tab = pd.crosstab(alloc["stratum"], alloc["condition"])
    assert (tab["training"] == tab["control"]).all()


# --------------------------------------------------------------------------- balance


def _smd(xt, xc, binary=False):
    if binary:
        vt, vc = xt.mean() * (1 - xt.mean()), xc.mean() * (1 - xc.mean())
    else:
        vt, vc = xt.var(ddof=1), xc.var(ddof=1)
    return (xt.mean() - xc.mean()) / math.sqrt((vt + vc) / 2)


def test_balance_at_the_right_level(data):
    bal = balance(data).estimates.set_index("term")
    ther = data.groupby("therapist").agg(
        x=("therapist_experience", "first"), arm=("condition", "first")
    )
    pat = data.groupby("patient").agg(
        age=("patient_age", "first"), fem=("patient_female", "first"), arm=("condition", "first")
    )
    base = data[data["session"] == 1].set_index("patient")
    # therapist-level: one row per therapist
    row = bal.loc["therapist_experience"]
    assert row["level"] == "therapist"
    assert row["n_training"] + row["n_control"] == 40
    expected = _smd(ther.x[ther.arm == "training"], ther.x[ther.arm == "control"])
    assert row["estimate"] == pytest.approx(expected, rel=1e-12)
    assert row["sd_control"] == pytest.approx(ther.x[ther.arm == "control"].std(), rel=1e-12)
    # patient-level: one row per patient; binary uses p(1 - p)
    row = bal.loc["patient_age"]
    assert row["n_training"] + row["n_control"] == 117
    assert row["estimate"] == pytest.approx(
        _smd(pat.age[pat.arm == "training"], pat.age[pat.arm == "control"]), rel=1e-12
    )
    row = bal.loc["patient_female"]
    assert bool(row["binary"])
    assert row["estimate"] == pytest.approx(
        _smd(pat.fem[pat.arm == "training"], pat.fem[pat.arm == "control"], binary=True), rel=1e-12
    )
    # baseline: the patient's session-1 rating, missing ones left out
    for col in ("alliance_patient", "alliance_therapist", "wellbeing"):
        b = base[[col, "condition"]].dropna()
        row = bal.loc[col]
        assert row["level"] == "baseline"
        assert row["n_training"] + row["n_control"] == len(b)
        assert row["estimate"] == pytest.approx(
            _smd(b[col][b.condition == "training"], b[col][b.condition == "control"]), rel=1e-12
        )
    # descriptive only: no tests of baseline differences
    assert bal[["se", "statistic", "p", "ci_low", "ci_high"]].isna().all().all()


def test_balance_infers_levels_and_refuses_bad_data(data):
    bal = balance(data, covariates=["therapist_experience", "patient_age", "wellbeing"]).estimates
    assert bal["level"].tolist() == ["therapist", "patient", "baseline"]
    bad = data.copy()
    bad.loc[bad.index[0], "condition"] = (
        "control" if bad.loc[bad.index[0], "condition"] == "training" else "training"
    )
    with pytest.raises(DataError, match="each therapist is in one arm"):
        balance(bad)
    with pytest.raises(DataError, match="missing column"):
        balance(data, covariates=["nope"])
    with pytest.raises(DataError, match="constant within therapist"):
        balance(data, covariates={"patient_age": "therapist"})


def test_balance_invariant_to_row_order_and_labels(data):
    a = balance(data).estimates
    shuffled = data.sample(frac=1.0, random_state=1)
    rename = {
        t: f"X{i}"
        for i, t in enumerate(np.random.default_rng(2).permutation(data["therapist"].unique()))
    }
    shuffled = shuffled.assign(therapist=shuffled["therapist"].map(rename))
    b = balance(shuffled).estimates
    pd.testing.assert_frame_equal(a, b, rtol=1e-12)


# --------------------------------------------------------------------------- design effect


def test_design_effect_arithmetic():
    assert design_effect(0.0, 10) == 1.0
    assert design_effect(1.0, 10) == pytest.approx(10.0)
    assert design_effect(0.05, 3) == pytest.approx(1.1)
    assert design_effect(0.05, 3, cv=0.5) == pytest.approx(1 + (1.25 * 3 - 1) * 0.05)
    # (1 + CV^2) m = sum m^2 / sum m when the SD has divisor J (Eldridge et al. 2006)
    m = np.array([1, 2, 2, 3, 5, 6])
    cv = m.std(ddof=0) / m.mean()
    assert design_effect(0.2, m.mean(), cv) == pytest.approx(
        1 + ((m**2).sum() / m.sum() - 1) * 0.2, rel=1e-12
    )
    with pytest.raises(ValueError):
        design_effect(0.1, 0.5)
    with pytest.raises(ValueError):
        design_effect(float("nan"), 3)


def test_design_effect_is_variance_ratio_by_simulation():
    # variance of the grand mean of clustered data over its SRS variance, equal clusters
    rng = np.random.default_rng(11)
    J, m, rho = 30, 4, 0.3
    u = rng.normal(0, math.sqrt(rho), (20000, J, 1))
    e = rng.normal(0, math.sqrt(1 - rho), (20000, J, m))
    means = (u + e).mean(axis=(1, 2))
    ratio = means.var() / (1.0 / (J * m))
    # Monte-Carlo SE of a variance ratio with 20000 draws is about 1%: allow 4%
    assert ratio == pytest.approx(design_effect(rho, m), rel=0.04)


# --------------------------------------------------------------------------- ICC vs lme4


def test_reference_data_unchanged():
    md5 = hashlib.md5(alliance.example_path().read_bytes()).hexdigest()
    assert md5 == REF["data_md5"], (
        "data/sessions.csv changed since tests/reference/randomise_icc.json was frozen; "
        "re-run `Rscript tests/r/randomise_reference.R`"
    )


@pytest.mark.parametrize("key", sorted(REF["models"]))
def test_icc_matches_lme4(data, key):
    ref = REF["models"][key]
    res = icc(data, ref["measure"], method=ref["method"])
    info = res.info
    assert res.n_obs == ref["nobs"]
    assert res.n_groups == {
        "therapist": ref["ngrps"]["therapist"],
        "patient": ref["ngrps"]["patient"],
    }
    assert info["boundary"] == ref["singular"]
    # log-likelihood at the optimum: flat in theta, so tight (lme4 bobyqa rhoend 1e-10)
    assert info["loglik"] == pytest.approx(ref["loglik"], abs=1e-6)
    # fixed intercept: GLS given theta, tight
    assert info["intercept"] == pytest.approx(ref["intercept"], rel=1e-7)
    # variance components on a flat likelihood: observed agreement < 1e-6 relative; allow 1e-5
    for q in ("var_therapist", "var_patient", "var_residual"):
        assert info[q] == pytest.approx(ref[q], rel=1e-5), q
    # ICCs and design effects are smooth functions of the components: same tolerance
    assert res.icc_therapist == pytest.approx(ref["icc_therapist"], rel=1e-5)
    assert res.icc_patient == pytest.approx(ref["icc_patient"], rel=1e-5)
    de = res.tables["design_effect"].set_index("unit")
    assert de.loc["patients", "design_effect"] == pytest.approx(ref["design_effect"], rel=1e-5)
    assert de.loc["patients_cv", "design_effect"] == pytest.approx(
        ref["design_effect_cv"], rel=1e-5
    )
    assert de.loc["sessions", "design_effect"] == pytest.approx(
        ref["design_effect_sessions"], rel=1e-5
    )
    assert de.loc["patients", "n_effective"] == pytest.approx(ref["n_effective"], rel=1e-5)
    assert de.loc["patients_cv", "n_effective"] == pytest.approx(ref["n_effective_cv"], rel=1e-5)
    assert de.loc["sessions", "n_effective"] == pytest.approx(ref["n_effective_sessions"], rel=1e-5)
    # counts computed in R: exact
    assert de.loc["patients", "cluster_size"] == pytest.approx(
        ref["patients_per_therapist"], rel=1e-12
    )
    assert de.loc["patients_cv", "cv"] == pytest.approx(ref["cv"], rel=1e-12)
    assert de.loc["sessions", "sessions_per_patient"] == pytest.approx(
        ref["sessions_per_patient"], rel=1e-12
    )


def test_icc_summary_matches_icc(data):
    s = icc_summary(data).set_index("measure")
    for m in ("alliance_patient", "alliance_therapist", "wellbeing"):
        ref = REF["models"][f"{m}_reml"]
        assert s.loc[m, "icc_therapist"] == pytest.approx(ref["icc_therapist"], rel=1e-5)
        assert s.loc[m, "n_effective"] == pytest.approx(ref["n_effective_cv"], rel=1e-5)


def test_icc_invariant_to_relabelling_therapists_and_row_order(data):
    rng = np.random.default_rng(5)
    ids = data["therapist"].unique()
    rename = dict(zip(ids, [f"Z{k:03d}" for k in rng.permutation(len(ids))]))
    relabelled = data.assign(therapist=data["therapist"].map(rename)).sample(
        frac=1.0, random_state=3
    )
    for m in ("alliance_patient", "wellbeing"):
        a, b = icc(data, m), icc(relabelled, m)
        # same likelihood, different optimiser path: agree to optimiser precision
        assert b.icc_therapist == pytest.approx(a.icc_therapist, rel=1e-5)
        assert b.icc_patient == pytest.approx(a.icc_patient, rel=1e-5)
        assert b.info["loglik"] == pytest.approx(a.info["loglik"], abs=1e-8)


def _three_level(rng, J=150, m=3, n=6, var_t=0.2, var_p=0.5, var_e=0.3):
    ther = np.repeat(np.arange(J), m * n)
    pat = np.repeat(np.arange(J * m), n)
    y = (
        rng.normal(0, math.sqrt(var_t), J)[ther]
        + rng.normal(0, math.sqrt(var_p), J * m)[pat]
        + rng.normal(0, math.sqrt(var_e), J * m * n)
    )
    return pd.DataFrame(
        {
            "therapist": ther.astype(str),
            "patient": pat.astype(str),
            "condition": np.where(ther % 2 == 0, "control", "training"),
            "session": np.tile(np.arange(1, n + 1), J * m),
            "alliance_patient": np.nan,
            "alliance_therapist": np.nan,
            "wellbeing": np.nan,
            "y": 3.0 + y,
        }
    )


def test_icc_recovers_known_values():
    rng = np.random.default_rng(2024)
    res = icc(_three_level(rng), "y")
    # truth: rho_T = 0.2, rho_P = 0.7; with 150 therapists the SE of rho_T is about 0.03
    assert res.icc_therapist == pytest.approx(0.2, abs=0.08)
    assert res.icc_patient == pytest.approx(0.7, abs=0.06)
    assert res.design_effect("patients") == pytest.approx(1 + 2 * res.icc_therapist)
    assert res.tables["design_effect"].set_index("unit").loc["patients_cv", "cv"] == 0.0


def test_icc_and_balance_refuse_a_design_that_cannot_give_them(data):
    """One therapist, or one patient per therapist, cannot separate the therapist variance
    (a fit would return an arbitrary number); one therapist per arm has no SD of a
    therapist-level covariate in either arm (the standardised difference would be NaN)."""
    one_therapist = data[data["therapist"] == data["therapist"].iloc[0]]
    with pytest.raises(alliance.FitError, match=r"\[rule: levels per grouping factor\]"):
        icc(one_therapist, "alliance_patient")
    first = data.groupby("therapist")["patient"].first()
    one_patient_each = data[data["patient"].isin(first.to_numpy())]
    with pytest.raises(alliance.FitError, match=r"\[rule: distinct grouping factors\]"):
        icc(one_patient_each, "alliance_patient")
    per_arm = data.groupby("condition")["therapist"].first().to_numpy()
    with pytest.raises(DataError, match=r"therapist_experience.*1 therapist value\(s\) in "
                                        r"'training' and 1 in 'control'"):
        balance(data[data["therapist"].isin(per_arm)])


def test_icc_boundary_is_warned_and_recorded():
    rng = np.random.default_rng(9)
    d = _three_level(rng, J=20, var_t=0.0)
    d["y"] = d["y"] - d.groupby("therapist")["y"].transform("mean") + 3.0  # no therapist variance
    with pytest.warns(AllianceWarning, match="boundary"):
        res = icc(d, "y")
    assert res.icc_therapist == pytest.approx(0.0, abs=1e-6)
    assert res.info["boundary"] and res.warnings


# --------------------------------------------------------------------------- permutation test


def _arm_difference(d, col="alliance_therapist"):
    y = d[col].to_numpy(dtype=float)
    t = (d["condition"] == "training").to_numpy()
    return float(np.nanmean(y[t]) - np.nanmean(y[~t]))


def test_permutation_never_splits_a_therapist(data):
    seen = []

    def check(d):
        per = d.groupby("therapist")["condition"].nunique()
        assert per.max() == 1  # every patient and session of a therapist in one arm
        assert (d.groupby("therapist")["condition"].first() == "training").sum() == 20
        # nothing but the labels changes
        pd.testing.assert_frame_equal(d.drop(columns="condition"), data.drop(columns="condition"))
        seen.append(tuple(d.groupby("therapist", sort=True)["condition"].first()))
        return _arm_difference(d)

    res = permutation_test(data, check, n_permutations=50, seed=1)
    assert len(seen) == 51 and len(set(seen[1:])) > 45  # distinct re-randomisations
    assert len(res.distribution) == 50
    # the input is not modified
    assert data.groupby("therapist")["condition"].nunique().max() == 1


def test_permutation_respects_strata_and_blocks(data):
    strata = median_strata(data)
    calls = []

    def check(d):
        calls.append(1)
        if len(calls) == 1:  # the observed data were not allocated by these strata
            return _arm_difference(d)
        arm = d.groupby("therapist")["condition"].first()
        tab = pd.crosstab(pd.Series(strata).reindex(arm.index), arm)
        assert (tab["training"] == tab["control"]).all()
        return _arm_difference(d)

    permutation_test(data, check, n_permutations=30, seed=2, strata=strata, block_size=4)


def test_permutation_p_value_formula(data):
    res = permutation_test(data, _arm_difference, n_permutations=199, seed=4)
    extreme = np.sum(np.abs(res.distribution) >= abs(res.observed))
    assert res.p_value == pytest.approx((1 + extreme) / 200)
    assert res.mc_se == pytest.approx(math.sqrt(res.p_value * (1 - res.p_value) / 199))
    assert res.tables["test"].loc[0, "n_extreme"] == extreme
    # reproducible with the seed
    again = permutation_test(data, _arm_difference, n_permutations=199, seed=4)
    np.testing.assert_array_equal(res.distribution, again.distribution)
    # a statistic that ignores the labels: every permutation ties, p = 1
    const = permutation_test(data, lambda d: 1.0, n_permutations=20, seed=1)
    assert const.p_value == 1.0
    # one-sided versions
    g = permutation_test(data, _arm_difference, n_permutations=99, seed=4, alternative="greater")
    assert g.p_value == pytest.approx((1 + np.sum(g.distribution >= g.observed)) / 100)


def test_permutation_p_uniform_under_the_null():
    # Small null trials (12 therapists, clustered outcome, no training effect), allocated by
    # allocate(); the randomisation p value must be uniform on its grid {1/40, ..., 1}.
    rng = np.random.default_rng(123)
    ther = [f"T{i:02d}" for i in range(12)]
    pvals = []
    for _ in range(100):
        sizes = rng.integers(1, 5, 12)
        t_of = np.repeat(np.arange(12), sizes)
        y = rng.normal(0, 1, 12)[t_of] + rng.normal(0, 1, len(t_of))
        arm = allocate(ther, seed=rng)["condition"].to_numpy()
        d = pd.DataFrame(
            {"therapist": np.asarray(ther)[t_of], "patient": [f"P{k}" for k in range(len(t_of))],
             "condition": arm[t_of], "session": 1, "alliance_patient": np.nan,
             "alliance_therapist": np.nan, "wellbeing": np.nan, "y": y}
        )
        pvals.append(permutation_test(d, lambda e: _arm_difference(e, "y"), n_permutations=39,
                                      seed=rng).p_value)
    pvals = np.array(pvals)
    # P(p <= a) = a for a on the grid; binomial SD with 100 draws <= 0.05: allow 3 SD
    for a in (0.1, 0.25, 0.5, 0.75):
        assert abs(np.mean(pvals <= a + 1e-12) - a) < 0.15, a
    assert pvals.min() >= 1 / 40


def test_permutation_records_and_emits_warnings(data):
    def noisy(d):
        warnings.warn("boundary fit (test)", AllianceWarning, stacklevel=2)
        return _arm_difference(d)

    with pytest.warns(AllianceWarning, match="raised 6 AllianceWarning"):
        res = permutation_test(data, noisy, n_permutations=5, seed=1)
    assert "1 on the observed data, 5 over 5 permutations" in res.warnings[0]


def test_permutation_refuses_bad_input(data):
    bad = data.copy()
    bad.loc[bad.index[0], "condition"] = (
        "control" if bad.loc[bad.index[0], "condition"] == "training" else "training"
    )
    with pytest.raises(DataError, match="each therapist is in one arm"):
        permutation_test(bad, _arm_difference, n_permutations=5, seed=1)
    with pytest.raises(ValueError, match="alternative"):
        permutation_test(data, _arm_difference, n_permutations=5, seed=1, alternative="both")
    with pytest.raises(ValueError, match="non-finite"):
        permutation_test(data, lambda d: float("nan"), n_permutations=3, seed=1)


def test_permutation_of_the_growth_estimate(data):
    growth = pytest.importorskip("alliance.growth")

    def stat(d):
        return growth.fit_growth(d, rater="therapist").value("time:training")

    with warnings.catch_warnings():
        # the shipped data's patient slope variance is on the boundary (chapter 3)
        warnings.simplefilter("ignore", AllianceWarning)
        res = permutation_test(data, stat, n_permutations=5, seed=1)
    ref = growth.fit_growth
    assert res.observed == pytest.approx(
        _quiet(lambda: ref(data, rater="therapist").value("time:training"))
    )
    assert len(res.distribution) == 5


def _quiet(f):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AllianceWarning)
        return f()


# --------------------------------------------------------------------------- figures


def test_figures(data):
    import matplotlib.pyplot as plt

    fig = plot_balance(balance(data))
    assert fig.axes and not fig.axes[0].get_title()
    plt.close(fig)
    res = permutation_test(data, _arm_difference, n_permutations=20, seed=1)
    fig = plot_permutation(res, model_p=0.01)
    assert fig.axes and not fig.axes[0].get_title()
    plt.close(fig)
