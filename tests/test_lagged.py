"""Tests of :mod:`alliance.lagged`, the lagged-outcome model and its Nickell-bias simulation.

Evidence:

1. lme4 1.1.31, run by tests/r/lagged_reference.R on data/sessions.csv and frozen in
   tests/reference/lagged_*.json (CI never runs R). The R script implements the lag rule
   itself (previous session = the same patient's row at session exactly s - 1) and the
   within/between centring (patient mean over all the patient's available sessions), so
   agreement checks the construction (rows used, sums of squares of every constructed
   variable) as well as the fit: forward model with person- and grand-centred prior and
   without it, reverse model for each rater.
2. Parameter recovery: a large draw from a lagged model with known within effects per arm;
   the Nickell simulation against its known truth and Nickell's approximation.
3. Properties: row order, relabelled ids, lags never across patients or gaps (through the
   package's one lag builder), the person-mean rule, every row accounted for.
"""

from __future__ import annotations

import io
import json
import warnings
from contextlib import redirect_stdout
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest

import alliance
import alliance.lagged
import alliance.synthetic.truths
from alliance.cli import main
from alliance.data.lags import split_within_between
from alliance.errors import AllianceWarning, DataError
from alliance.lagged import (
    LaggedResult,
    fit_lagged,
    lagged_design,
    nickell_approximation,
    nickell_simulation,
)
from alliance.plots.lagged import plot_effects, plot_nickell

HERE = Path(__file__).parent
REF = HERE / "reference"
ROOT = HERE.parent


@pytest.fixture(scope="module")
def example():
    return alliance.load_example()


@pytest.fixture(scope="module")
def forward(example):
    return fit_lagged(example)


@pytest.fixture(scope="module")
def reverse(example):
    return fit_lagged(example, direction="outcome->alliance")


# --------------------------------------------------------------------------- 1. lme4 frozen

_SHORT = {"aT": "alliance_therapist", "aP": "alliance_patient", "wb": "wellbeing"}

#: reference file -> (fit_lagged keywords, Python name of the R 'prior' column)
CASES = {
    "forward": ({}, "wellbeing_lag1_within"),
    "forward_grand": ({"prior_centring": "grand"}, "wellbeing_lag1_c"),
    "forward_noprior": ({"control_prior": False}, None),
    "reverse_therapist": ({"direction": "outcome->alliance", "predictors": ("alliance_therapist",)},
                          "alliance_therapist_lag1_within"),
    "reverse_patient": ({"direction": "outcome->alliance", "predictors": ("alliance_patient",)},
                        "alliance_patient_lag1_within"),
}


def _py_name(r: str, prior: str | None) -> str:
    """R coefficient name -> ours (R writes trained:aTw, we write <x>_lag1_within:condition[...])."""
    def one(p):
        if p == "(Intercept)":
            return "Intercept"
        if p == "trained":
            return "condition[training]"
        if p == "sc":
            return "session_c"
        if p == "prior":
            return prior
        col = _SHORT[p[:2]]
        return f"{col}_lag1_within" if p[2] == "w" else f"{col}_between"
    parts = r.split(":")
    if len(parts) == 2:
        return f"{one(parts[1])}:{one(parts[0])}"
    return one(r)


@pytest.mark.parametrize("name", list(CASES))
def test_matches_lme4(example, name):
    """Rows, constructed variables, fixed effects, vcov, effects, variance components, logLik.

    lme4 ran bobyqa to rhoend 1e-10. Observed differences: estimates within 2e-7, SEs within
    4e-8 relative, logLik within 1e-11, variance components within 1e-6 relative.
    Tolerances: estimates 1e-5 absolute (well-being is on a 0-40 scale, alliance 1-5: far
    below any reported digit, and above the optimizers' stopping error), SEs and vcov 1e-4
    relative, variance components 1e-4 relative plus 1e-8 absolute (zero on the boundary;
    flatter likelihood), logLik and REML criterion 1e-6 absolute, sums of squares of the
    constructed variables 1e-9 relative (exact arithmetic up to rounding: these check that
    the lag and the centring are the same rule in R and in Python).
    """
    ref = json.loads((REF / f"lagged_{name}.json").read_text())
    kw, prior = CASES[name]
    if ref["singular"]:  # lme4 agrees the fit is on the boundary: the package must say so
        with pytest.warns(AllianceWarning, match="boundary"):
            res = fit_lagged(example, **kw)
    else:
        res = fit_lagged(example, **kw)
    (outcome, fit), = res.fits.items()
    d = res.designs[outcome]
    assert outcome == ref["outcome"]
    assert fit.n_obs == ref["nobs"] == res.n_obs
    assert fit.n_groups == ref["ngrps"]
    assert fit.boundary == ref["singular"]
    assert fit.loglik == pytest.approx(ref["loglik"], abs=1e-6)
    assert fit.deviance == pytest.approx(ref["remlcrit"], abs=1e-6)
    rows = res.tables["rows"].set_index("reason")["n"]
    assert rows["first session of the patient: no previous session"] == ref["n_first_session"]
    for rname, ss in ref["design_sums"].items():
        assert float(np.sum(d[_py_name(rname, prior)] ** 2)) == pytest.approx(ss, rel=1e-9)
    names = [_py_name(n, prior) for n in ref["vcov_names"]]
    assert sorted(names) == sorted(fit.estimates.set_index("term").index)
    est = np.array([ref["fixed"][n] for n in ref["vcov_names"]])
    np.testing.assert_allclose(fit.estimates.set_index("term").loc[names, "estimate"], est, rtol=0, atol=1e-5)
    V = np.array(ref["vcov"], dtype=float).reshape(len(names), len(names))
    np.testing.assert_allclose(fit.cov_fixed.loc[names, names].to_numpy(), V, rtol=1e-4,
                               atol=1e-12)
    assert np.sqrt(fit.sigma2) == pytest.approx(ref["sigma"], rel=1e-5)
    e = res.estimates
    for r in ref["effects"]:
        if r["term"] == "prior":
            row = e[e["part"] == "prior"]
        else:
            # the frozen R output labels the lag "(t-1)"; the package says "(s-1)" (s = session)
            term = r["term"].replace("(t-1)", "(s-1)")
            row = e[(e["term"] == term) & (e["level"] == r["level"])]
        assert len(row) == 1
        assert row["estimate"].iloc[0] == pytest.approx(r["estimate"], abs=1e-5)
        assert row["se"].iloc[0] == pytest.approx(r["se"], rel=1e-4)
    assert len(e) == len(ref["effects"])
    vc = fit.variance_components.set_index("group")["variance"]
    for grp, var in zip(ref["varcorr"]["grp"], ref["varcorr"]["vcov"]):
        assert vc[grp] == pytest.approx(var, rel=1e-4, abs=1e-8)


# --------------------------------------------------------------------------- design rules


def _toy() -> pd.DataFrame:
    """Patient a misses session 3 (no row); b has a missing rating; c has one session only."""
    return pd.DataFrame({
        "therapist": ["T1"] * 5 + ["T2"] * 4 + ["T2"],
        "patient": ["a"] * 5 + ["b"] * 4 + ["c"],
        "condition": ["control"] * 5 + ["training"] * 5,
        "session": [1, 2, 4, 5, 6, 1, 2, 3, 4, 1],
        "alliance_patient": [4.0, 4.5, 3.5, np.nan, 4.0, 3.0, 3.5, 4.0, 4.5, 5.0],
        "alliance_therapist": [3.0, 3.5, 3.0, 3.5, 4.0, 2.5, 3.0, 3.0, 3.5, 4.0],
        "wellbeing": [20.0, 22.0, 25.0, 24.0, 26.0, 10.0, np.nan, 14.0, 15.0, 30.0],
    })


def test_design_rows_and_reasons():
    raw = _toy()
    d, info = lagged_design(raw)
    # a2 <- a1; a4 follows a missed session 3 (gap); a5 <- a4; a6 <- a5, which has no patient
    # rating;
    # b2 has no outcome; b3 <- b2 lacks the prior well-being; b4 <- b3; first sessions dropped.
    assert list(d.index) == [1, 3, 8]
    assert info["rows_dropped"] == {
        "missing:wellbeing": 1,
        "first_session": 3,
        "previous_session_absent": 1,
        "missing_previous:alliance_patient": 1,
        "missing_previous:wellbeing": 1,
    }
    assert "never bridges a gap" in info["describe"]["previous_session_absent"]
    assert info["rows_used"] + sum(info["rows_dropped"].values()) == len(raw)
    # lagged values are the same patient's session s - 1
    np.testing.assert_array_equal(d["alliance_therapist_lag1"], [3.0, 3.0, 3.0])
    np.testing.assert_array_equal(d["wellbeing_lag1"], [20.0, 25.0, 14.0])


def test_person_mean_rule():
    """Patient mean = mean of ALL the patient's non-missing values (every session in the data)."""
    raw = _toy()
    d, info = lagged_design(raw)
    pm = raw.groupby("patient")["alliance_patient"].mean()  # pandas skips NaN
    np.testing.assert_allclose(d["alliance_patient_pmean"], pm[d["patient"]].to_numpy())
    np.testing.assert_allclose(d["alliance_patient_lag1_within"],
                               d["alliance_patient_lag1"] - d["alliance_patient_pmean"])
    gm = d["alliance_patient_pmean"].mean()
    assert info["grand_means"]["alliance_patient"] == pytest.approx(gm)
    np.testing.assert_allclose(d["alliance_patient_between"], d["alliance_patient_pmean"] - gm)
    wb_pm = raw.groupby("patient")["wellbeing"].mean()
    np.testing.assert_allclose(d["wellbeing_lag1_within"],
                               d["wellbeing_lag1"] - wb_pm[d["patient"]].to_numpy())
    pm2, dev = split_within_between([1.0, np.nan, 3.0, 5.0], ["x", "x", "x", "y"])
    np.testing.assert_allclose(pm2, [2.0, 2.0, 2.0, 5.0])
    np.testing.assert_allclose(dev, [-1.0, np.nan, 1.0, 0.0])
    # several columns in one pass: exactly the numbers of one call per column (the RSA
    # design's five level-2 means), NaN and a missing id included
    rng = np.random.default_rng(3)
    V = rng.normal(size=(40, 5))
    V[[2, 7, 19], [0, 3, 4]] = np.nan
    ids = np.array([f"p{i % 9}" for i in range(40)], dtype=object)
    ids[11] = None
    pm_all, dev_all = split_within_between(V, ids)
    for j in range(V.shape[1]):
        one_pm, one_dev = split_within_between(V[:, j], ids)
        np.testing.assert_array_equal(pm_all[:, j], one_pm)
        np.testing.assert_array_equal(dev_all[:, j], one_dev)
    assert np.isnan(pm_all[11]).all()


def test_lag_never_crosses_patients_or_gaps(example):
    """Every lagged value in the design is the same patient's value at session s - 1."""
    res = fit_lagged(example)
    d = res.designs["wellbeing"]
    lookup = example.set_index(["patient", "session"])
    for col in ["alliance_therapist", "alliance_patient", "wellbeing"]:
        prev = lookup.loc[list(zip(d["patient"], d["session"] - 1)), col].to_numpy()
        np.testing.assert_array_equal(d[f"{col}_lag1"].to_numpy(), prev)
    # drop session 3 of every patient: no analysed row may be at session 4 (gap) or 3
    holes = example[example["session"] != 3]
    r2 = fit_lagged(holes)
    assert set(r2.designs["wellbeing"]["session"]) == {2, 5, 6}
    gap = "previous session absent (missed session in between): a lag never bridges a gap"
    n_gap = r2.tables["rows"].set_index("reason")["n"][gap]
    assert n_gap == (holes["session"] == 4).sum() - holes.loc[holes["session"] == 4,
                                                              "wellbeing"].isna().sum()


def test_every_row_accounted_for(forward, reverse, example):
    for res in (forward, reverse):
        r = res.tables["rows"]
        for out, g in r.groupby("outcome"):
            assert g["n"].sum() == len(example), out


# --------------------------------------------------------------------------- properties


def _est(res: LaggedResult) -> np.ndarray:
    return res.estimates[["estimate", "se"]].to_numpy()


def test_row_order_invariance(example, forward, reverse):
    shuffled = example.sample(frac=1.0, random_state=3)
    np.testing.assert_allclose(_est(fit_lagged(shuffled)), _est(forward), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(_est(fit_lagged(shuffled, direction="outcome->alliance")),
                               _est(reverse), rtol=1e-6, atol=1e-8)


def test_relabelling_ids_invariance(example, forward):
    relab = example.copy()
    relab["patient"] = "Q" + relab["patient"].str[::-1]
    relab["therapist"] = "Z" + relab["therapist"].str[::-1]
    np.testing.assert_allclose(_est(fit_lagged(relab)), _est(forward), rtol=1e-6, atol=1e-8)


def test_shifting_a_predictor_changes_only_the_intercept(example, forward):
    # a shifted copy of the patient rating as an extra column (the instrument's range stays intact)
    shifted = example.assign(shifted_patient=example["alliance_patient"] + 0.5)
    res = fit_lagged(shifted, predictors=("alliance_therapist", "shifted_patient"))
    np.testing.assert_allclose(_est(res), _est(forward), rtol=1e-6, atol=1e-8)


def test_result_shape(forward, reverse):
    e = forward.estimates
    for c in ("term", "estimate", "se", "statistic", "p", "ci_low", "ci_high", "level"):
        assert c in e
    assert set(e["level"]) == {"control", "training", "training - control", "all"}
    # difference = training - control, from the stored estimates
    for pred in ("alliance_therapist", "alliance_patient"):
        for part in ("within", "between"):
            diff = forward.value(predictor=pred, part=part, level="training") - forward.value(predictor=pred, part=part, level="control")
            assert forward.value(predictor=pred, part=part, level="training - control") == pytest.approx(diff)
    assert set(reverse.fits) == {"alliance_therapist", "alliance_patient"}
    with pytest.raises(KeyError):
        reverse.value(predictor="wellbeing", part="within", level="training")  # two models: outcome needed
    assert reverse.value(predictor="wellbeing", part="within", level="training", outcome="alliance_patient") == \
        pytest.approx(reverse.fits["alliance_patient"].contrast(
            {"x": {"wellbeing_lag1_within": 1, "wellbeing_lag1_within:condition[training]": 1}}
        )["estimate"].iloc[0])
    json.dumps(forward.to_dict())
    assert "rows used" in forward.summary()
    assert forward.converged and not forward.warnings


def test_unmoderated_and_no_therapist(example):
    res = fit_lagged(example, moderator=None, therapist_effects="none")
    assert set(res.estimates["level"]) == {"all"}
    assert list(res.n_groups) == ["patient"]


# --------------------------------------------------------------------------- errors


def test_bad_input(example):
    with pytest.raises(DataError, match="missing column"):
        fit_lagged(example.drop(columns=["wellbeing"]))
    dup = pd.concat([example, example.iloc[[5]]])
    with pytest.raises(DataError, match="patient x session"):
        fit_lagged(dup)
    with pytest.raises(DataError, match="single level"):
        fit_lagged(example[example["condition"] == "training"])
    with pytest.raises(ValueError, match="direction"):
        fit_lagged(example, direction="both")
    with pytest.raises(ValueError, match="prior_centring"):
        fit_lagged(example, prior_centring="none")
    with pytest.raises(ValueError, match="cannot also be"):
        fit_lagged(example, predictors=("wellbeing",))
    with pytest.raises(DataError, match="rows to analyse"):
        fit_lagged(example[example["session"] == 1])


# --------------------------------------------------------------------------- 2. recovery


def _simulate_known(seed: int, n_ther: int = 120, per: int = 8, n_ses: int = 6):
    """Lagged model with known within effects per arm (no feedback, AR(0) outcome residual).

    wellbeing_s = 20 + u_i + v_j + (0.5 + 2.0 a) * dT_{s-1} + (1.0 - 0.5 a) * dP_{s-1} + e,
    with dT, dP the raters' session deviations from their patient's level. The normal ratings
    are not bounded like the instruments, so they are extra columns (``rating_therapist``,
    ``rating_patient``, ``outcome``) beside empty canonical ones.
    """
    rng = np.random.default_rng(seed)
    n = n_ther * per
    ther = np.repeat(np.arange(n_ther), per)
    arm = (np.arange(n_ther) % 2)[ther]
    lvlT, lvlP = rng.normal(3.6, 0.4, n), rng.normal(3.9, 0.4, n)
    dT, dP = rng.normal(0, 0.35, (n, n_ses)), rng.normal(0, 0.35, (n, n_ses))
    xT, xP = lvlT[:, None] + dT, lvlP[:, None] + dP
    u, v = rng.normal(0, 4.0, n), rng.normal(0, 1.5, n_ther)[ther]
    wT = 0.5 + 2.0 * arm
    wP = 1.0 - 0.5 * arm
    y = 20 + (u + v)[:, None] + rng.normal(0, 2.5, (n, n_ses))
    y[:, 1:] += wT[:, None] * dT[:, :-1] + wP[:, None] * dP[:, :-1]
    return pd.DataFrame({
        "therapist": np.repeat([f"T{j}" for j in ther], n_ses),
        "patient": np.repeat([f"P{i}" for i in range(n)], n_ses),
        "condition": np.repeat(np.where(arm == 1, "training", "control"), n_ses),
        "session": np.tile(np.arange(1, n_ses + 1), n),
        "alliance_patient": np.nan, "alliance_therapist": np.nan, "wellbeing": np.nan,
        "rating_therapist": xT.ravel(), "rating_patient": xP.ravel(), "outcome": y.ravel(),
    })


def test_parameter_recovery_within_effects():
    """Known within effects per arm and their difference recovered within 3.5 SE.

    The patient mean of the observed ratings differs from the latent level by a per-patient
    constant, which the between part and the random intercept absorb; no feedback, so the
    Nickell bias of the person-centred prior does not reach the alliance effects (see
    test_nickell_simulation for the case with feedback).
    """
    data = _simulate_known(2024)
    res = fit_lagged(data, outcome="outcome", predictors=("rating_therapist", "rating_patient"))
    truth = {("rating_therapist", "control"): 0.5, ("rating_therapist", "training"): 2.5,
             ("rating_therapist", "training - control"): 2.0,
             ("rating_patient", "control"): 1.0, ("rating_patient", "training"): 0.5,
             ("rating_patient", "training - control"): -0.5}
    for (pred, level), tv in truth.items():
        est = res.value(predictor=pred, part="within", level=level)
        se = res.value(predictor=pred, part="within", level=level, column="se")
        assert abs(est - tv) < 3.5 * se, (pred, level, est, tv, se)
        assert se < 0.4
    # between-patient parts are null in this model
    for pred in ("rating_therapist", "rating_patient"):
        for level in ("control", "training"):
            est = res.value(predictor=pred, part="between", level=level)
            assert abs(est) < 3.5 * res.value(predictor=pred, part="between", level=level, column="se")


def test_nickell_approximation():
    assert nickell_approximation(0.4, 5) == pytest.approx(-0.35)
    assert nickell_approximation(0.0, 5) == pytest.approx(-0.25)
    with pytest.raises(ValueError):
        nickell_approximation(0.4, 1)


def test_nickell_simulation():
    """Person-centred prior: biased down by roughly Nickell's amount, alliance effect nearly
    unbiased; grand-centred prior: biased up, alliance effect biased down through the feedback.

    Bounds are wide compared with the Monte-Carlo SE of the mean (about 0.01-0.02 with 12
    replications): observed with 20 replications, biases -0.29 (approx. -0.35) and +0.26 for
    the prior, -0.03 and -0.15 for the alliance effect.
    """
    sim = nickell_simulation(n_series=117, n_sessions=6, rho=0.4, beta=0.3, reps=12, seed=7)
    s = sim.tables["summary"]
    assert set(s["specification"]) == {"person", "grand"}
    assert -0.45 < sim.value("prior", specification="person", column="bias") < -0.18
    assert sim.value("prior", specification="grand", column="bias") > 0.1
    assert abs(sim.value("alliance within", specification="person", column="bias")) < 0.08
    assert sim.value("alliance within", specification="grand", column="bias") < -0.06
    assert sim.value("prior", specification="person", column="nickell_approx") == pytest.approx(-0.35)
    assert len(sim.tables["estimates"]) == 12 * 4
    # reproducible from the seed
    again = nickell_simulation(n_series=117, n_sessions=6, rho=0.4, beta=0.3, reps=2, seed=7)
    first = sim.tables["estimates"].query("rep <= 2").reset_index(drop=True)
    pd.testing.assert_frame_equal(first, again.tables["estimates"])
    with pytest.raises(ValueError):
        nickell_simulation(rho=0.9, beta=0.5, feedback=0.5)


# --------------------------------------------------------------------------- CLI, figures


def _cli(args):
    buf = io.StringIO()
    with redirect_stdout(buf):
        code = main(args)
    return code, buf.getvalue()


def test_cli_json(forward):
    code, out = _cli(["fit", "lagged", str(alliance.example_path()), "--json"])
    assert code == 0
    obj = json.loads(out)
    assert obj["n_obs"] == forward.n_obs
    est = pd.DataFrame(obj["effects"])
    np.testing.assert_allclose(est["estimate"], forward.estimates["estimate"])
    code, out = _cli(["fit", "lagged", str(alliance.example_path()),
                      "--direction", "outcome->alliance", "--no-prior"])
    assert code == 0 and "alliance_patient[s] ~" in out


def test_cli_column_mapping_and_bad_file(tmp_path, example):
    p = tmp_path / "mine.csv"
    example.rename(columns={"wellbeing": "ors"}).to_csv(p, index=False)
    code, out = _cli(["fit", "lagged", str(p), "--column", "wellbeing=ors", "--json"])
    assert code == 0 and json.loads(out)["n_obs"] > 0
    bad = tmp_path / "bad.csv"
    example.drop(columns=["session"]).to_csv(bad, index=False)
    assert main(["fit", "lagged", str(bad)]) == 1


def test_figures(forward, reverse):
    import matplotlib.pyplot as plt

    fig = plot_effects(forward, reverse)
    assert len(fig.axes) == 3
    plt.close(fig)
    sim = nickell_simulation(n_series=40, reps=2, seed=3)
    fig = plot_nickell(sim)
    assert len(fig.axes) == 2
    plt.close(fig)


def test_boundary_fit_warns(example):
    """The grand-centred prior absorbs the patient level on the shipped data: lme4 agrees it is
    singular; the package warns and records it."""
    with pytest.warns(AllianceWarning, match="boundary"):
        res = fit_lagged(example, prior_centring="grand")
    assert res.warnings and res.fits["wellbeing"].boundary


def test_implied_within_slopes():
    """Control arm zero; training arm = surface slopes at the patients' mean ratings. At the
    surface centre the slopes are b1 and b2; the shipped data's means move them by the
    quadratic terms, so both stay positive and the therapist's is the larger (its mean sits
    further below the centre, where b3 < 0 steepens the surface)."""
    imp = alliance.synthetic.truths.implied_within_slopes().set_index(["predictor", "level"])["implied"]
    assert imp["alliance_therapist", "control"] == 0 and imp["alliance_patient", "control"] == 0
    assert imp["alliance_therapist", "training"] > imp["alliance_patient", "training"] > 0
    p = alliance.SimulationParams()
    flat = pd.DataFrame({"patient": ["a", "a"], "condition": "training",
                         "alliance_therapist": p.surface_center, "alliance_patient": p.surface_center})
    at_c = alliance.synthetic.truths.implied_within_slopes(p, flat).set_index(["predictor", "level"])["implied"]
    assert at_c["alliance_therapist", "training"] == pytest.approx(p.b1_therapist)
    assert at_c["alliance_patient", "training"] == pytest.approx(p.b2_patient)


# --------------------------------------------------------------------------- issue 10


def test_df_and_therapist_slopes(example):
    """Satterthwaite t by default (validated against lmerTest in tests/test_mixed_ddf.py);
    therapist-level slopes of the within parts as an option, for the sensitivity table."""
    res = fit_lagged(example)
    eff = res.estimates
    assert np.isfinite(eff["df"]).all() and (eff["df"] > 1).all()
    assert res.info["df"] == "satterthwaite" and "Satterthwaite" in res.title
    z = fit_lagged(example, df="z")
    assert np.isinf(z.estimates["df"]).all()
    assert (z.estimates["p"] <= eff["p"] + 1e-12).all()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AllianceWarning)
        sl = fit_lagged(example, therapist_effects="intercept+slopes")
    vc = sl.tables["variance_components"]
    ther = vc[(vc["group"] == "therapist") & vc["term2"].isna()]
    assert list(ther["term1"]) == ["Intercept", "alliance_therapist_lag1_within",
                                   "alliance_patient_lag1_within"]
    assert "| therapist)" in sl.info["models"][0]["formula"]
    assert sl.n_groups["therapist"] == res.n_groups["therapist"]
    with pytest.raises(ValueError, match="therapist_effects"):
        fit_lagged(example, therapist_effects="slopes")


def test_cli_df(capsys):
    from alliance.cli import main

    assert main(["fit", "lagged", str(alliance.example_path()), "--df", "kenward-roger",
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["info"]["df"] == "kenward-roger"
    assert all(r["df"] is not None and r["df"] > 1 for r in out["effects"])
