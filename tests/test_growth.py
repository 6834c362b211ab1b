"""Tests of alliance.growth: lme4 references, recovery, properties, CLI, figures.

Reference values: tests/reference/growth_lme4.json, written by tests/r/growth_reference.R
(lme4 1.1.31, lmer with bobyqa at rhoend 1e-10, cross-checked with Nelder-Mead and the better
criterion kept) on the shipped synthetic data data/sessions.csv, for every chapter-3 model:
rater (patient / therapist / both stacked) x therapist level (none / intercept /
intercept+slope) x criterion (REML / ML).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import alliance
from alliance import AllianceWarning, DataError
from alliance.growth import (
    SINGLE_TERMS,
    STACKED_TERMS,
    GrowthResult,
    fit_growth,
    growth_frame,
    therapist_level_sensitivity,
)
from alliance.plots.growth import plot_spaghetti, plot_trajectories
from alliance.results import ESTIMATE_COLUMNS, Result

ROOT = Path(__file__).resolve().parents[1]
REF = json.loads((ROOT / "tests" / "reference" / "growth_lme4.json").read_text())
MODELS = REF["models"]


@pytest.fixture(scope="module")
def data():
    return alliance.load_example()


def _fit(data, rater, **kw):
    """Fit, expecting the AllianceWarning that every boundary fit must emit."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", AllianceWarning)
        res = fit_growth(data, rater, **kw)
    emitted = [w for w in caught if issubclass(w.category, AllianceWarning)]
    # a boundary fit is both recorded and emitted; an interior fit does neither
    assert bool(emitted) == res.fit.boundary == bool(res.warnings)
    return res


# --------------------------------------------------------------------------- lme4 references


@pytest.mark.parametrize("key", sorted(MODELS))
def test_matches_lme4(data, key):
    ref = MODELS[key]
    # lme4 has one residual variance: the stacked model as lme4 fits it (residual="shared")
    res = _fit(data, ref["rater"], method=ref["method"], therapist_effects=ref["therapist_effects"],
               residual="shared")
    fx = res.estimates.set_index("term")
    expected_terms = list(STACKED_TERMS if ref["rater"] == "both" else SINGLE_TERMS)
    assert list(fx.index) == expected_terms
    assert set(ref["fixed"]) == set(expected_terms)
    # Observations and groups: same rows dropped (missing ratings) as the R script.
    assert res.n_obs == ref["nobs"]
    assert res.n_groups == {k: int(v) for k, v in ref["ngrps"].items()}
    # Log-likelihood (REML or ML): both are the same profiled criterion optimised to
    # ~1e-10; observed differences < 6e-10. The package must never be worse than lme4
    # (lower likelihood) by more than 1e-6 and is allowed to be better.
    assert res.fit.loglik == pytest.approx(ref["loglik"], abs=1e-6)
    assert res.info["aic"] == pytest.approx(ref["aic"], abs=1e-5)
    # Fixed effects on the 1-5 rating scale: observed max |diff| 3e-7 (stacked ML with a
    # singular 4x4 therapist covariance); 1e-5 is far below any reported digit.
    for term, value in ref["fixed"].items():
        assert fx.loc[term, "estimate"] == pytest.approx(value, abs=1e-5), term
    # SEs from the GLS covariance sigma^2 (X'V^-1X)^-1 (lme4's vcov): observed max relative
    # diff 3e-6; 1e-4 relative allows for the flat (singular) optima.
    for term, value in ref["se"].items():
        assert fx.loc[term, "se"] == pytest.approx(value, rel=1e-4), term
    # Variance components (variances and covariances): observed max |diff| 6e-7; on flat
    # likelihoods these move more than fixed effects, hence abs 1e-5 (variances here are
    # 1e-6 .. 0.2).
    vc = res.tables["variance_components"]
    vr = ref["varcorr"]
    for grp, v1, v2, vcov in zip(vr["grp"], vr["var1"], vr["var2"], vr["vcov"]):
        if grp == "Residual":
            ours = res.fit.sigma2
        else:
            sel = (vc["group"] == grp) & (vc["term1"] == v1)
            sel &= vc["term2"].isna() if v2 is None else (vc["term2"] == v2)
            assert sel.sum() == 1, (grp, v1, v2)
            ours = float(vc.loc[sel, "variance"].iloc[0])
        assert ours == pytest.approx(vcov, abs=1e-5), (grp, v1, v2)
    # lme4's isSingular and the package's boundary flag agree
    assert res.fit.boundary == ref["singular"]


def test_reference_file_provenance():
    assert REF["lme4_version"].startswith("1.1")
    assert "growth_reference.R" in REF["source"]
    assert len(MODELS) == 18


# --------------------------------------------------------------------------- API


def test_single_rater_result(data):
    res = _fit(data, "therapist")
    assert isinstance(res, GrowthResult)
    assert isinstance(res, Result)
    assert list(res.estimates.columns[:8]) == list(ESTIMATE_COLUMNS)
    assert res.fit.ddf == res.info["df"] == "satterthwaite" and "Satterthwaite" in res.title
    n_missing = int(data["alliance_therapist"].isna().sum())
    assert res.info["rows_dropped"] == {"missing:alliance_therapist": n_missing}
    assert res.info["rows_used"] == res.n_obs == len(data) - n_missing
    assert "missing" in res.info["describe"]["missing:alliance_therapist"]
    assert res.info["method"] == "REML" and res.info["time"] == "session - 1"
    assert res.fit.method == "REML"
    d = res.to_dict()
    assert {
        "fixed",
        "variance_components",
        "n_obs",
        "n_groups",
        "converged",
        "warnings",
        "info",
    } <= set(d)
    json.dumps(d)
    assert "time:training" in res.summary()


def test_stacked_rows(data):
    res = _fit(data, "both")
    n_expected = int(
        data["alliance_patient"].notna().sum() + data["alliance_therapist"].notna().sum()
    )
    assert res.n_obs == n_expected
    assert res.info["rows_input"] == 2 * len(data)
    assert list(res.estimates["term"]) == list(STACKED_TERMS)
    pat = res.tables["variance_components"].query("group == 'patient' and term2.isna()", engine="python")
    assert list(pat["term1"]) == [
        "patient_rater",
        "therapist_rater",
        "time:patient_rater",
        "time:therapist_rater",
    ]


def test_trajectories_are_linear_combinations(data):
    res = _fit(data, "therapist")
    tr = res.trajectories()
    assert list(tr["session"].unique()) == [1, 2, 3, 4, 5, 6]
    b = res.estimates.set_index("term")["estimate"]
    row = tr[(tr["condition"] == "training") & (tr["session"] == 6)].iloc[0]
    assert row["estimate"] == pytest.approx(
        b["Intercept"] + b["training"] + 5 * (b["time"] + b["time:training"]), abs=1e-12
    )
    row = tr[(tr["condition"] == "control") & (tr["session"] == 1)].iloc[0]
    fx = res.estimates.set_index("term")
    assert row["estimate"] == pytest.approx(b["Intercept"])
    assert row["se"] == pytest.approx(fx.loc["Intercept", "se"])
    assert (tr["ci_low"] < tr["estimate"]).all() and (tr["estimate"] < tr["ci_high"]).all()
    # stacked: the patient rows use only the patient-rater terms
    st = _fit(data, "both").trajectories()
    assert set(st["rater"]) == {"patient", "therapist"} and len(st) == 24


def test_standardized_difference(data):
    res = _fit(data, "therapist")
    sd = res.standardized_difference().set_index("term")
    b = res.estimates.set_index("term")["estimate"]
    raw = b["training"] + 5 * b["time:training"]
    assert sd.loc["d_last_session", "difference"] == pytest.approx(raw)
    assert sd.loc["d_growth", "difference"] == pytest.approx(5 * b["time:training"])
    # the SD: therapist and patient intercept/slope at t = 5 + residual
    v = res.tables["variance_components"]
    get = lambda g, a, c=None: float(
        v[(v.group == g) & (v.term1 == a) & (v.term2.isna() if c is None else v.term2 == c)][
            "variance"
        ].iloc[0]
    )
    var = (
        get("therapist", "Intercept")
        + 25 * get("therapist", "time")
        + 10 * get("therapist", "Intercept", "time")
        + get("patient", "Intercept")
        + 25 * get("patient", "time")
        + 10 * get("patient", "Intercept", "time")
        + res.fit.sigma2
    )
    assert sd.loc["d_last_session", "sd"] == pytest.approx(np.sqrt(var))
    assert sd.loc["d_last_session", "estimate"] == pytest.approx(raw / np.sqrt(var))
    # in the stacked model each rater gets its own SD and its own difference
    st = _fit(data, "both").standardized_difference()
    assert set(st["rater"]) == {"patient", "therapist"}
    sb = _fit(data, "both").estimates.set_index("term")["estimate"]
    th = st[(st.rater == "therapist") & (st.term == "d_growth")].iloc[0]
    assert th["difference"] == pytest.approx(
        5 * (sb["time:training"] + sb["time:training:therapist_rater"])
    )


def test_ml_and_conf_level(data):
    reml = _fit(data, "patient")
    ml = _fit(data, "patient", method="ml", conf_level=0.9)
    assert ml.fit.method == "ML" and ml.info["method"] == "ML"
    fx = ml.estimates.set_index("term")
    width = fx["ci_high"] - fx["ci_low"]
    assert np.allclose(width, 2 * stats.t.ppf(0.95, fx["df"]) * fx["se"])
    z = _fit(data, "patient", method="ml", conf_level=0.9, df="z").estimates.set_index("term")
    assert np.allclose(z["ci_high"] - z["ci_low"], 2 * 1.6448536 * z["se"])
    # ML shrinks variance components relative to REML
    assert ml.fit.sigma2 < reml.fit.sigma2


def test_sensitivity_table(data):
    with warnings.catch_warnings():  # boundary fits of some structures may warn
        warnings.simplefilter("ignore", AllianceWarning)
        tab = therapist_level_sensitivity(data, "therapist")
    assert list(tab["level"]) == ["none", "intercept", "intercept+slope"]
    ref = [MODELS[f"therapist|{lvl}|REML"]["fixed"]["time:training"] for lvl in tab["level"]]
    assert np.allclose(tab["estimate"], ref, atol=1e-5)


def test_row_order_and_relabelling(data):
    base = _fit(data, "both").estimates.set_index("term")
    rng = np.random.default_rng(7)
    shuffled = data.sample(frac=1.0, random_state=3).reset_index(drop=True)
    ids_p = {p: f"X{rng.integers(1e9)}_{k}" for k, p in enumerate(data["patient"].unique())}
    ids_t = {t: f"Q{k:03d}" for k, t in enumerate(reversed(data["therapist"].unique()))}
    shuffled["patient"] = shuffled["patient"].map(ids_p)
    shuffled["therapist"] = shuffled["therapist"].map(ids_t)
    other = _fit(shuffled, "both").estimates.set_index("term")
    # same model, same optimum: only optimizer tolerance differs
    assert np.allclose(other["estimate"], base["estimate"], atol=1e-6)
    assert np.allclose(other["se"], base["se"], rtol=1e-4)


def test_shift_invariance(data):
    # adding a constant to every rating moves only the intercept
    shifted = data.copy()
    shifted["alliance_patient"] = shifted["alliance_patient"] - 1.0
    a = _fit(data, "patient").estimates.set_index("term")
    b = _fit(shifted, "patient").estimates.set_index("term")
    assert b.loc["Intercept", "estimate"] == pytest.approx(a.loc["Intercept", "estimate"] - 1.0)
    assert np.allclose(a.loc["time":, "estimate"], b.loc["time":, "estimate"], atol=1e-7)


def test_growth_frame_drops_missing(data):
    frame, info = growth_frame(data, "both")
    assert frame["y"].notna().all()
    assert sum(info["rows_dropped"].values()) == int(
        data[["alliance_patient", "alliance_therapist"]].isna().sum().sum()
    )
    assert (frame["time"] == frame["session"] - 1).all()
    assert set(frame["training"]) == {0.0, 1.0}


def test_errors(data):
    with pytest.raises(ValueError, match="rater"):
        fit_growth(data, "supervisor")
    with pytest.raises(ValueError, match="therapist_effects"):
        fit_growth(data, "patient", therapist_effects="slope")
    with pytest.raises(ValueError, match="method"):
        fit_growth(data, "patient", method="OLS")
    with pytest.raises(DataError, match="alliance_patient"):
        fit_growth(data.drop(columns="alliance_patient"), "patient")
    with pytest.raises(DataError, match="both arms"):
        fit_growth(data[data["condition"] == "training"], "patient")
    empty = data.copy()
    empty["alliance_patient"] = np.nan
    with pytest.raises(DataError, match="no non-missing"):
        fit_growth(empty, "patient")


def test_stacked_residual_variance_per_rater(data):
    """The stacked model's default gives each rater a residual variance (nlme's varIdent,
    validated in tests/test_mixed_ddf.py); the shared variance is lme4's model."""
    rater = _fit(data, "both")
    shared = _fit(data, "both", residual="shared")
    assert rater.residual == "rater" and shared.residual == "shared"
    assert rater.info["residual"] == "rater" and "residual variance per rater" in rater.title
    vc = rater.tables["variance_components"]
    res_rows = vc[vc["group"] == "Residual"]
    assert list(res_rows["term1"]) == ["patient", "therapist"]
    sd = rater.info["residual_sd"]
    assert sd["patient"] == pytest.approx(np.sqrt(rater.fit.sigma2))
    assert sd["therapist"] < sd["patient"]
    assert rater.fit.n_params == shared.fit.n_params + 1
    assert rater.fit.loglik > shared.fit.loglik + 20
    # the model-implied SD of a rating uses that rater's own residual variance
    assert rater.marginal_sd("therapist") < shared.marginal_sd("therapist")
    # single-rater models have one residual variance whatever residual says
    assert _fit(data, "patient", residual="rater").fit.residual_variances is None
    with pytest.raises(ValueError, match="residual"):
        fit_growth(data, "both", residual="per-session")


def test_df_options(data):
    # the therapist-intercept model (lmerTest/pbkrtest: ddf_growth_patient.json)
    s = _fit(data, "patient", therapist_effects="intercept")
    k = _fit(data, "patient", df="kenward-roger", therapist_effects="intercept")
    z = _fit(data, "patient", df="z", therapist_effects="intercept")
    fs, fk, fz = (r.estimates.set_index("term").loc["time:training"] for r in (s, k, z))
    assert np.isinf(fz["df"]) and fz["p"] < fs["p"]
    ref = json.loads((Path(__file__).parent / "reference" / "ddf_growth_patient.json").read_text())
    rs = {r["term"]: r for r in ref["fixed_satterthwaite"]}["time_training"]
    rk = {r["term"]: r for r in ref["fixed_kenward_roger"]}["time_training"]
    assert fs["df"] == pytest.approx(rs["df"], rel=1e-3) and fk["df"] == pytest.approx(
        rk["df"], rel=1e-3)
    assert fk["se"] >= fs["se"] and fs["se"] == pytest.approx(fz["se"])
    # every derived table follows the chosen test
    tr = k.trajectories()
    assert np.isfinite(tr["df"]).all() and (tr["df"] > 1).all()
    assert np.isinf(z.standardized_difference()["df"]).all()
    with pytest.raises(ValueError, match="REML"):
        fit_growth(data, "patient", method="ML", df="kenward-roger")


# --------------------------------------------------------------------------- recovery


#: The truths of the recovery study and the quantity each is compared with, by rater.
_RECOVERY_PARAMS = alliance.SimulationParams(mu_patient=3.4)
_RECOVERY_TRUTH = {
    ("therapist", "time:training"): _RECOVERY_PARAMS.growth_therapist_training_effect,
    ("therapist", "time"): _RECOVERY_PARAMS.growth_therapist_control,
    ("patient", "time:training"): 0.0,
    ("patient", "time"): _RECOVERY_PARAMS.growth_patient,
    ("both", "time:training:therapist_rater"): _RECOVERY_PARAMS.growth_therapist_training_effect,
}


def _recovery_draw(draw, rng):
    """One trial of the recovery study (seed 5000 + draw, as before it ran in processes): per
    truth, whether the 95% CI covers it and the estimate."""
    d = alliance.simulate(_RECOVERY_PARAMS, seed=5000 + draw)
    out = {}
    for rater in ("therapist", "patient", "both"):
        # therapist ratings have no patient-specific slopes in the generative model, so
        # those fits sit on the boundary (slope variance 0) by design: warnings expected.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", AllianceWarning)
            fx = fit_growth(d, rater).estimates.set_index("term")
        for (r, term), value in _RECOVERY_TRUTH.items():
            if r == rater:
                out[f"hit {r} {term}"] = bool(fx.loc[term, "ci_low"] <= value <= fx.loc[term, "ci_high"])
                out[f"est {r} {term}"] = float(fx.loc[term, "estimate"])
    return out


@pytest.mark.slow
@pytest.mark.processes
def test_parameter_recovery_coverage():
    """Estimates fall inside their 95% CIs at about the nominal rate over repeated draws.

    Truth (SimulationParams): therapist-rated growth 0.02/session in control plus
    ``growth_therapist_training_effect`` = 0.04 under training; patient-rated growth
    ``growth_patient`` in both arms (time:training = 0); stacked three-way interaction =
    0.04. ``mu_patient`` is lowered to 3.4 so that the instrument's ceiling (5) does not
    bend patient trajectories (clipped ratings are not linear in time; with the default
    3.9 the patient-rated ``time`` is biased down by ~10% and covered ~90%). The draws run
    in two processes (the package's runner; each draw's data from its own fixed seed, so
    the numbers are those of a serial loop).
    """
    from alliance.draws import run_draws

    n_draws = 60
    res = run_draws(_recovery_draw, n_draws, seed=5000, jobs=2)
    assert (res["error"] == "").all()
    truth = _RECOVERY_TRUTH
    hits = {(r, t): res[f"hit {r} {t}"].astype(bool).tolist() for r, t in truth}
    est = {(r, t): res[f"est {r} {t}"].tolist() for r, t in truth}
    for key, value in truth.items():
        cover = float(np.mean(hits[key]))
        # 60 draws: binomial SD of coverage 0.028 at 0.95; 0.85 is 3.6 SD below nominal
        # (Wald z with 40 clusters runs slightly liberal, as expected).
        assert cover >= 0.85, (key, cover)
        e = np.asarray(est[key])
        # unbiased: mean within 3 Monte Carlo SEs of the truth
        assert abs(e.mean() - value) < 3 * e.std(ddof=1) / np.sqrt(n_draws), (key, e.mean())
    # pooled over the five quantities, coverage close to 0.95
    pooled = float(np.mean([h for k in truth for h in hits[k]]))
    assert 0.90 <= pooled <= 0.99, pooled


def _binomial_bounds(n: int, rate: float = 0.05, level: float = 0.999) -> tuple[float, float]:
    """Central ``level`` range of the rejection share of ``n`` independent tests at ``rate``."""
    lo = stats.binom.ppf((1 - level) / 2, n, rate) / n
    hi = stats.binom.ppf(1 - (1 - level) / 2, n, rate) / n
    return lo, hi


def _null_growth_draw(draw, rng, rater, session_effect=False,
                      methods=("satterthwaite", "kenward-roger", "z")):
    params = alliance.SimulationParams(mu_patient=3.4, growth_therapist_training_effect=0.0)
    d = alliance.simulate(params, seed=int(rng.integers(2**31 - 1)))
    term = "time:training:therapist_rater" if rater == "both" else "time:training"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AllianceWarning)
        res = fit_growth(d, rater, session_effect=session_effect)
    out = {"estimate": res.value(term)}
    for m in methods:
        row = res.fit.contrast({"t": {term: 1.0}}, ddf=m).iloc[0]
        out[f"p_{m}"], out[f"se_{m}"] = float(row["p"]), float(row["se"])
    return out


@pytest.mark.slow
@pytest.mark.processes
def test_type_one_error_of_the_df_corrected_growth_tests():
    """Patient-rated growth difference, null true (training does not change patient-rated
    growth in the generative model): over 800 simulated trials the Satterthwaite and
    Kenward-Roger t tests reject at a rate inside the central 99.9% binomial range of 5%
    (2.6% to 7.8%). Draws run through the package's runner (seeded per draw)."""
    from alliance.draws import run_draws

    n = 800
    res = run_draws(_null_growth_draw, n, seed=4242, kwargs={"rater": "patient"}, jobs=2)
    assert (res["error"] == "").all()
    lo, hi = _binomial_bounds(n)
    for m in ("satterthwaite", "kenward-roger"):
        rate = float(np.mean(res[f"p_{m}"] < 0.05))
        assert lo <= rate <= hi, (m, rate, lo, hi)
    # the df-corrected tests are never more liberal than z on the same fits
    assert (res["p_satterthwaite"] >= res["p_z"] - 1e-12).all()


@pytest.mark.slow
@pytest.mark.processes
def test_type_one_error_and_se_of_the_three_way_test():
    """The rater x condition x session interaction of the stacked model, null true (no extra
    therapist-rated growth under training), with rater-specific residual variances and the
    session effect: the model SE matches the spread of the estimates over 100 trials (within
    15%, 2.1 Monte Carlo SEs of an SD from 100 draws, 1/sqrt(2 * 99) = 7.1% each; with one
    shared residual variance and no session effect it is about 19% too large, a conservative
    test) and the Satterthwaite test rejects inside the central 99.9% binomial range of 5%.
    100 draws take about 25 s on two cores (the session effect folded into the nested layout;
    about 50 s before, in the padded-block layout); the rejection rate at 800 draws is checked
    by the patient-rated test above. Only the
    Satterthwaite test is computed (nothing here reads Kenward-Roger or z)."""
    from alliance.draws import run_draws

    n = 100
    res = run_draws(_null_growth_draw, n, seed=777,
                    kwargs={"rater": "both", "session_effect": True,
                            "methods": ("satterthwaite",)}, jobs=2)
    assert (res["error"] == "").all()
    ratio = res["se_satterthwaite"].mean() / res["estimate"].std(ddof=1)
    assert 0.85 < ratio < 1.15, ratio
    assert abs(res["estimate"].mean()) < 3 * res["estimate"].std(ddof=1) / np.sqrt(n)
    lo, hi = _binomial_bounds(n)
    rate = float(np.mean(res["p_satterthwaite"] < 0.05))
    assert lo <= rate <= hi, (rate, lo, hi)


def test_session_effect_option(data):
    res = _fit(data, "both", session_effect=True)
    vc = res.tables["variance_components"]
    assert (vc["group"] == "session").sum() == 1 and res.info["session_effect"]
    assert res.n_groups["session"] == res.frame.groupby(["patient", "session"]).ngroups
    assert res.marginal_sd("therapist") > 0
    with pytest.raises(ValueError, match="session_effect"):
        fit_growth(data, "patient", session_effect=True)


# --------------------------------------------------------------------------- CLI


def _alliance_exe() -> list[str]:
    exe = Path(sys.executable).with_name("alliance")
    if exe.exists():
        return [str(exe)]
    found = shutil.which("alliance")
    return [found] if found else [sys.executable, "-m", "alliance.cli"]


def test_cli_json():
    proc = subprocess.run(
        [*_alliance_exe(), "fit", "growth", str(alliance.example_path()), "--json"],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)  # exactly one JSON object
    assert isinstance(out, dict)
    assert [r["term"] for r in out["fixed"]] == list(SINGLE_TERMS)
    for rec in out["fixed"]:
        assert {"term", "estimate", "se", "statistic", "p", "ci_low", "ci_high"} <= set(rec)
    assert {"n_obs", "n_groups", "converged", "warnings"} <= set(out)
    # the default: a therapist random intercept and slope (lme4's (1 + time | therapist))
    ref = MODELS["therapist|intercept+slope|REML"]
    est = {r["term"]: r["estimate"] for r in out["fixed"]}
    assert est["time:training"] == pytest.approx(ref["fixed"]["time:training"], abs=1e-5)
    assert out["info"]["therapist_effects"] == "intercept+slope"
    # a fit's warnings are reported in the JSON exactly when it is on the boundary
    assert bool(out["warnings"]) == ref["singular"] == ("boundary" in proc.stderr)


def test_cli_options_and_columns(tmp_path, data):
    renamed = data.rename(columns={"alliance_patient": "wai_p"})
    path = tmp_path / "mine.csv"
    renamed.to_csv(path, index=False)
    proc = subprocess.run(
        [
            *_alliance_exe(),
            "fit",
            "growth",
            str(path),
            "--rater",
            "patient",
            "--method",
            "ml",
            "--therapist-effects",
            "none",
            "--column",
            "alliance_patient=wai_p",
            "--json",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    ref = MODELS["patient|none|ML"]
    est = {r["term"]: r["estimate"] for r in out["fixed"]}
    assert est["time:training"] == pytest.approx(ref["fixed"]["time:training"], abs=1e-5)
    assert out["info"]["method"] == "ML"
    # human-readable tables by default
    proc = subprocess.run(
        [*_alliance_exe(), "fit", "growth", str(alliance.example_path()), "--rater", "both"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0 and "time:training:therapist_rater" in proc.stdout


def test_cli_df_and_residual(capsys):
    from alliance.cli import main

    with warnings.catch_warnings():  # a boundary fit: the CLI prints its warning on stderr
        warnings.simplefilter("always", AllianceWarning)
        code = main(["fit", "growth", str(alliance.example_path()), "--rater", "both", "--df",
                     "kenward-roger", "--residual", "shared", "--therapist-effects", "intercept",
                     "--json"])
    assert code == 0
    captured = capsys.readouterr()
    out = json.loads(captured.out)
    ref = MODELS["both|intercept|REML"]  # lme4's stacked model
    # a boundary fit's warning is printed on stderr as one line
    assert ("boundary" in captured.err) == ref["singular"]
    assert out["info"]["df"] == "kenward-roger" and out["info"]["residual"] == "shared"
    assert all(r["df"] > 1 for r in out["fixed"])
    est = {r["term"]: r["estimate"] for r in out["fixed"]}
    assert est["time:training:therapist_rater"] == pytest.approx(
        ref["fixed"]["time:training:therapist_rater"], abs=1e-5)
    with warnings.catch_warnings():
        warnings.simplefilter("always", AllianceWarning)
        code = main(["fit", "growth", str(alliance.example_path()), "--df", "z", "--json"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert all(r["df"] is None for r in out["fixed"])
    assert main(["fit", "growth", str(alliance.example_path()), "--method", "ml", "--df",
                 "kenward-roger"]) == 2


def test_cli_bad_data(tmp_path, data):
    bad = data.copy()
    bad.loc[0, "alliance_therapist"] = 9
    path = tmp_path / "bad.csv"
    bad.to_csv(path, index=False)
    proc = subprocess.run(
        [*_alliance_exe(), "fit", "growth", str(path)], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 1 and "invalid data" in proc.stderr


# --------------------------------------------------------------------------- figures


def test_figures(data):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    for rater in ("patient", "both"):
        res = _fit(data, rater)
        fig = plot_trajectories(res)
        assert len(fig.axes) == (2 if rater == "both" else 1)
        assert all(ax.get_title() == "" for ax in fig.axes)
        plt.close(fig)
    fig = plot_spaghetti(data, "both")
    assert len(fig.axes) == 4
    plt.close(fig)
    with pytest.raises(ValueError):
        plot_spaghetti(data, "nobody")


def test_frame_is_copy(data):
    before = data.copy()
    _fit(data, "both")
    pd.testing.assert_frame_equal(data, before)


def test_patient_without_ratings_warns(data):
    d = data.copy()
    first = d["patient"].iloc[0]
    d.loc[d["patient"] == first, "alliance_patient"] = np.nan
    with pytest.warns(AllianceWarning) as caught:  # (and a boundary fit may warn too)
        res = fit_growth(d, "patient")
    assert any("no patient rating" in str(w.message) for w in caught)
    assert res.info["patients_without_ratings"] == 1
    assert res.n_groups["patient"] == data["patient"].nunique() - 1
    assert any("no patient rating" in w for w in res.warnings)


@pytest.mark.parametrize("wide", [False, True])
def test_count_at_least_counts_distinct_members(wide):
    """Owners with at least k distinct members, by the table of pairs (few cells) and by
    sorting (many): as counting the distinct pairs with Python sets."""
    from alliance.growth import _count_at_least

    rng = np.random.default_rng(5)
    owner = rng.integers(0, 30, 400)
    member = rng.integers(0, 5_000 if wide else 12, 400)
    for k in (1, 2, 3, 20):
        pairs = set(zip(owner.tolist(), member.tolist()))
        want = sum(1 for o in set(owner.tolist()) if sum(p[0] == o for p in pairs) >= k)
        assert _count_at_least(owner, member, k) == want
