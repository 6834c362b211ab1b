"""The cluster bootstrap over therapists, stratified by arm (alliance.studies.bootstrap)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import alliance
from alliance.draws.runner import draw_rng
from alliance.studies.bootstrap import (
    HEADLINE,
    cluster_bootstrap,
    headline_estimates,
    headline_inference,
    resample_clusters,
)


@pytest.fixture(scope="module")
def data():
    return alliance.load_example()


def _arm_mean_difference(d):
    m = d.groupby("condition")["wellbeing"].mean()
    return {"difference": m["training"] - m["control"], "mean": d["wellbeing"].mean()}


def _fails_sometimes(d):
    if d["therapist"].str.contains("#4").any():
        raise ValueError("a therapist drawn four times")
    return {"mean": d["wellbeing"].mean()}


def _fails_always(d):
    if d["therapist"].str.contains("#").any():  # every resample (not the data themselves)
        raise ValueError("cannot compute")
    return {"mean": d["wellbeing"].mean()}


def test_resampling_keeps_arms_and_makes_copies_distinct(data):
    s = resample_clusters(data, np.random.default_rng(4))
    per_arm = s.groupby("condition")["therapist"].nunique()
    orig = data.groupby("condition")["therapist"].nunique()
    pd.testing.assert_series_equal(per_arm, orig)  # 20 therapists per arm, as drawn
    base = s["therapist"].str.split("#").str[0]
    assert base.isin(set(data["therapist"])).all()
    # a therapist drawn twice is two therapists with distinct patients
    copies = s.groupby(base)["therapist"].nunique()
    assert copies.max() >= 2 and (copies.sum() == 40)
    twice = copies.idxmax()
    pats = s[base == twice].groupby("therapist")["patient"].apply(frozenset)
    assert len(set.intersection(*map(set, pats))) == 0
    # every row of a drawn therapist comes along, and no patient crosses therapists
    one = s[s["therapist"] == f"{twice}#1"]
    assert len(one) == (data["therapist"] == twice).sum()
    assert s.groupby("patient")["therapist"].nunique().max() == 1
    alliance.read_sessions(s)  # a valid data set


def test_draws_are_reproducible_and_independent_of_workers(data):
    a = cluster_bootstrap(data, _arm_mean_difference, 12, seed=5)
    b = cluster_bootstrap(data, _arm_mean_difference, 12, seed=5, jobs=2)
    cols = ["draw", "difference", "mean"]
    pd.testing.assert_frame_equal(a.tables["draws"][cols], b.tables["draws"][cols])
    # draw 3 is the resample drawn with draw_rng(seed, 3)
    s = resample_clusters(data, draw_rng(5, 3))
    assert a.tables["draws"].set_index("draw").loc[3, "mean"] == pytest.approx(
        s["wellbeing"].mean())


def test_percentile_interval_and_p(data):
    res = cluster_bootstrap(data, _arm_mean_difference, 199, seed=11)
    row = res.tables["summary"].set_index("term").loc["difference"]
    v = res.tables["draws"]["difference"].to_numpy()
    lo, hi = np.quantile(v, [0.025, 0.975])
    assert row["ci_low"] == pytest.approx(lo) and row["ci_high"] == pytest.approx(hi)
    k = min(np.sum(v <= 0), np.sum(v >= 0))
    assert row["p"] == pytest.approx(min(1.0, max(2 * k, 1) / 199))
    # the p value and the percentile interval agree on significance
    assert (row["p"] < 0.05) == (not row["ci_low"] <= 0 <= row["ci_high"])
    assert row["se"] == pytest.approx(np.std(v, ddof=1))
    assert row["estimate"] == pytest.approx(_arm_mean_difference(data)["difference"])
    assert row["n_boot"] == 199 and row["n_failed"] == 0
    # the bootstrap SE of a mean of clusters is close to the cluster-level SE
    cl = data.groupby("therapist")["wellbeing"].mean()
    assert row["se"] == pytest.approx(np.sqrt(2) * cl.std() / np.sqrt(20), rel=0.35)


def test_failed_draws_are_reported_not_hidden(data):
    res = cluster_bootstrap(data, _fails_sometimes, 30, seed=2)
    failed = int((res.tables["draws"]["error"] != "").sum())
    assert 0 < failed < 30  # (with "#3" every draw failed: 20 draws of 20 repeat some thrice)
    row = res.tables["summary"].iloc[0]
    assert row["n_failed"] == failed and row["n_boot"] == 30 - failed
    assert any("failed" in w for w in res.warnings)
    with pytest.raises(ValueError, match="n_boot"):
        cluster_bootstrap(data, _fails_sometimes, 1)
    # a bootstrap whose draws all fail has no distribution: an error, not a table of NaN
    with pytest.raises(alliance.FitError, match="every one of the 5 bootstrap draws failed, so "
                                                "there is no bootstrap distribution; the "
                                                "first: ValueError: cannot compute"):
        cluster_bootstrap(data, _fails_always, 5, seed=1)


def test_headline_estimates_are_the_chapters_estimates(data):
    est = headline_estimates(data)
    assert list(est) == [h[0] for h in HEADLINE]
    from alliance.growth import fit_growth

    ther = fit_growth(data, "therapist", df="z")  # an interior fit on the shipped data
    assert not ther.fit.boundary
    assert est["growth difference, therapist-rated"] == pytest.approx(ther.value("time:training"))


@pytest.mark.slow
def test_headline_inference_table(data):
    res = headline_inference(data, n_boot=8, seed=1)
    tab = res.tables["inference"]
    assert len(tab) == 4 * len(HEADLINE)
    assert set(tab["method"]) == {"Wald z", "Satterthwaite t", "Kenward-Roger t",
                                  "Kenward-Roger t (REML refit)", "cluster bootstrap"}
    g = tab[tab["term"] == "temporal congruence, training - control"].set_index("method")
    assert g.loc["Wald z", "p"] < g.loc["Satterthwaite t", "p"]  # z is liberal
    assert np.isinf(g.loc["Wald z", "df"]) and np.isnan(g.loc["cluster bootstrap", "df"])
    # lmerTest's Satterthwaite df of trained:Tw on the shipped data (frozen by tests/r/ddf_reference.R);
    # 1e-4 relative: both fits stop at their optimisers' tolerance, well inside it (test_mixed_ddf)
    ref = {r["term"]: r for r in json.loads(
        (Path(__file__).parent / "reference" / "ddf_truth_bias.json").read_text())["fixed_satterthwaite"]}
    assert g.loc["Satterthwaite t", "df"] == pytest.approx(ref["trained:Tw"]["df"], rel=1e-4)
