"""Tests of :mod:`alliance.truth_bias`, the truth-and-bias model (West & Kenny 2011).

Evidence (tests/data/README.md gives the data's provenance):

1. lme4 1.1.31, run by tests/r/truth_bias_reference.R and frozen in
   tests/reference/truth_bias_*.json (CI never runs R). The R script builds every model
   variable itself (centring on the truth mean, within/between split, the anchoring lag), so
   agreement checks the construction as well as the fit:
   - the Acitelli (1997) couples data, cross-sectional indistinguishable T&B with a random
     intercept per couple, and the same with gender as moderator;
   - the chapter-4 model on data/sessions.csv (therapist and patient perspective, without
     the therapist intercept, with the anchoring bias).
2. Parameter recovery over repeated draws (slow): (a) data simulated from the T&B model
   itself with known forces; (b) the book's generative model (alliance.simulate), whose
   tracking weight lambda acts on the latent fluctuation, against the implied observed
   within-dyad slope (derived analytically and checked on a 100x draw).
3. Properties: row order, relabelling ids, shifting both ratings, swapping the arms.

Run ``python tests/test_truth_bias.py [n_reps]`` to print the recovery tables.
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest

import alliance
from alliance.cli import main
from alliance.errors import AllianceWarning, DataError, FitError
from alliance.plots.truth_bias import plot_dyads, plot_forces
from alliance.synthetic import SimulationParams, simulate
from alliance.synthetic.truths import implied_temporal_congruence
from alliance.truth_bias import (
    TruthBiasResult,
    fit_truth_bias,
    fit_truth_bias_cross,
    truth_bias_design,
)

HERE = Path(__file__).parent
DATA = HERE / "data"
REF = HERE / "reference"
ACITELLI = DATA / "tb_acitelli_pairwise.csv"


@pytest.fixture(scope="module")
def example():
    return alliance.load_example()


@pytest.fixture(scope="module")
def chapter_fit(example):
    return fit_truth_bias(example)


# --------------------------------------------------------------------------- 1. lme4 frozen

#: R coefficient names -> ours.
_R_NAMES = {
    "(Intercept)": "Intercept", "trained": "condition[training]", "Tw": "truth_within",
    "Tb": "truth_between", "sc": "session_c", "A": "bias", "Tr": "truth", "B": "bias",
    "wife": "Gender_A[Wife]",
}
_R_FORCES = {"truth": "truth force", "bias": "bias force"}


def _name(r: str) -> str:
    parts = r.split(":")
    if len(parts) == 2:  # R writes trained:Tw; we write truth_within:condition[training]
        a, b = (_R_NAMES[p] for p in parts)
        return f"{b}:{a}"
    return _R_NAMES[r]


def _fit_for(ref: dict) -> TruthBiasResult:
    name = ref["model"]
    if name.startswith("acitelli"):
        data = alliance.read_table(ACITELLI, numeric=["OtherPos_A", "SelfPos_P", "SelfPos_A"],
                                   required=["CoupleID", "Gender_A"])
        return fit_truth_bias_cross(data, judgment="OtherPos_A", truth="SelfPos_P",
                                    bias="SelfPos_A", group="CoupleID",
                                    moderator="Gender_A" if name == "acitelli_gender" else None)
    data = alliance.load_example()
    kw = {}
    if name == "sessions_patient":
        kw = {"judgment": "alliance_patient", "truth": "alliance_therapist"}
    elif name == "sessions_therapist_notherapist":
        kw = {"therapist_effects": "none"}
    elif name == "sessions_anchoring":
        kw = {"bias": "anchoring"}
    return fit_truth_bias(data, **kw)


REF_FILES = sorted(REF.glob("truth_bias_*.json"))


@pytest.mark.parametrize("path", REF_FILES, ids=[p.stem for p in REF_FILES])
def test_matches_lme4(path):
    """Fixed effects, vcov, forces, variance components and the criterion match lme4.

    lme4 ran bobyqa to rhoend 1e-10; the fitter's own lme4 tests (test_mixed.py) show
    differences of lme4's stopping error only. Observed here: forces within 3e-8, SEs
    within 6e-7 relative, logLik within 1e-10. Tolerances: estimates 1e-6 absolute
    (ratings are on a 1-5 scale, so that is far below any reported digit), SEs and vcov
    1e-4 relative, variance components 5e-5 relative (flatter likelihood), logLik 1e-6.
    """
    ref = json.loads(path.read_text())
    res = _fit_for(ref)
    fit = res.fit
    assert res.n_obs == ref["nobs"]
    assert res.n_groups == ref["ngrps"]
    assert fit.boundary == ref["singular"]
    assert fit.loglik == pytest.approx(ref["loglik"], abs=1e-6)
    assert fit.deviance == pytest.approx(ref["deviance_or_remlcrit"], abs=2e-6)
    names = [_name(n) for n in ref["vcov_names"]]
    est = np.array([ref["fixed"][n] for n in ref["vcov_names"]])
    np.testing.assert_allclose(fit.estimates.set_index("term").loc[names, "estimate"], est, rtol=0, atol=1e-6)
    V = np.array(ref["vcov"], dtype=float).reshape(len(names), len(names))
    np.testing.assert_allclose(fit.cov_fixed.loc[names, names].to_numpy(), V, rtol=1e-4,
                               atol=1e-12)
    assert np.sqrt(fit.sigma2) == pytest.approx(ref["sigma"], rel=1e-6)
    # forces per level and the level differences: L beta and sqrt(L V L') computed in R
    for f in ref["forces"]:
        term = _R_FORCES.get(f["term"], f["term"])
        assert res.value(term, f["level"]) == pytest.approx(f["estimate"], abs=1e-6)
        assert res.value(term, f["level"], column="se") == pytest.approx(f["se"], rel=1e-4)
    assert len(res.estimates) == len(ref["forces"])
    vcs = fit.variance_components
    for grp, v1, v2, var in zip(*(ref["varcorr"][k] for k in ("grp", "var1", "var2", "vcov"))):
        if grp == "Residual":
            assert vcs.iloc[-1]["variance"] == pytest.approx(var, rel=5e-5)
            continue
        t1 = _name(v1)
        t2 = None if v2 is None else _name(v2)
        row = vcs[(vcs["group"] == grp) & (vcs["term1"] == t1)
                  & ((vcs["term2"].isna()) if t2 is None else (vcs["term2"] == t2))]
        assert len(row) == 1
        assert row["variance"].iloc[0] == pytest.approx(var, rel=5e-5, abs=1e-9)


def test_acitelli_published_direction():
    """Kenny's dyadr vignette on these data: truth and bias forces both about .27, positive
    directional bias (spouses see their partner a little more positively than the partner
    sees themselves). Loose check of the published pattern; the exact values are above."""
    data = pd.read_csv(ACITELLI)
    res = fit_truth_bias_cross(data, judgment="OtherPos_A", truth="SelfPos_P", bias="SelfPos_A",
                               group="CoupleID")
    assert res.value("truth force", "all") == pytest.approx(0.27, abs=0.01)
    assert res.value("bias force", "all") == pytest.approx(0.27, abs=0.01)
    assert 0 < res.value("directional bias", "all") < 0.1


# --------------------------------------------------------------------------- design


def _toy() -> pd.DataFrame:
    """Two patients, one with a missed session 3 (no row) and one missing rating."""
    return pd.DataFrame({
        "therapist": ["T1"] * 5 + ["T2"] * 4,
        "patient": ["a"] * 5 + ["b"] * 4,
        "condition": ["control"] * 5 + ["training"] * 4,
        "session": [1, 2, 4, 5, 6, 1, 2, 3, 4],
        "alliance_patient": [4.0, 4.5, 3.5, 4.0, np.nan, 3.0, 3.5, 4.0, 4.5],
        "alliance_therapist": [3.0, 3.5, 3.0, 3.5, 4.0, 2.5, 3.0, 3.0, 3.5],
        "wellbeing": np.nan,
    })


def test_design_centring_and_split():
    d, info = truth_bias_design(_toy())
    raw = _toy()
    used = raw.dropna(subset=["alliance_patient", "alliance_therapist"])
    mt = used["alliance_patient"].mean()
    assert info["truth_mean"] == pytest.approx(mt)
    assert info["rows_used"] == 8 and info["rows_dropped"] == {"missing:alliance_patient": 1}
    np.testing.assert_allclose(d["judgment_c"], used["alliance_therapist"] - mt)
    np.testing.assert_allclose(d["truth_within"] + d["truth_between"], used["alliance_patient"] - mt)
    np.testing.assert_allclose(d.groupby("patient")["truth_within"].mean(), 0, atol=1e-12)
    assert d.groupby("patient")["truth_between"].nunique().eq(1).all()
    np.testing.assert_allclose(d["session_c"].mean(), 0, atol=1e-12)


def test_anchoring_never_crosses_gaps_or_patients():
    d, info = truth_bias_design(_toy(), bias="anchoring")
    mt = info["truth_mean"]
    # patient a: session 2 anchors on session 1 (3.0); session 4 follows a missed session 3 ->
    # dropped; session 5 anchors on session 4 (3.0); session 6 has no patient rating.
    # patient b: sessions 2, 3, 4 anchor on 2.5, 3.0, 3.0; first sessions are dropped.
    assert list(d.index) == [1, 3, 6, 7, 8]
    np.testing.assert_allclose(d["bias"] + mt, [3.0, 3.0, 2.5, 3.0, 3.0])
    assert info["lag"]["n_gap"] == 1 and info["lag"]["n_first"] == 2
    assert sum(info["rows_dropped"].values()) == 9 - 5


def test_bias_column_and_errors(example):
    with pytest.raises(DataError, match="missing column"):
        fit_truth_bias(example, bias="no_such_column")
    with pytest.raises(DataError, match="single level"):
        fit_truth_bias(example[example["condition"] == "training"])
    with pytest.raises(ValueError, match="therapist_effects"):
        fit_truth_bias(example, therapist_effects="slope")
    with pytest.raises(ValueError, match="different"):
        fit_truth_bias(example, judgment="alliance_patient", truth="alliance_patient")
    with pytest.raises(ValueError, match="session"):
        fit_truth_bias(example, bias="anchoring", control_session=False)
    bad = example.copy()
    bad["alliance_patient"] = bad.groupby("patient")["alliance_patient"].transform("mean")
    # no within-patient variation: a rank-deficient design is a degenerate fit (issue 15)
    with pytest.raises(FitError, match="truth_within"):
        fit_truth_bias(bad)
    bad = example.copy()
    bad["alliance_patient"] = bad["alliance_patient"].astype(object)
    bad.loc[5, "alliance_patient"] = "high"
    with pytest.raises(DataError, match="numeric"):
        fit_truth_bias(bad)


# --------------------------------------------------------------------------- result object


def test_forces_table_shape_and_combinations(chapter_fit):
    f = chapter_fit.estimates
    for col in ("term", "level", "estimate", "se", "statistic", "p", "ci_low", "ci_high"):
        assert col in f.columns
    assert list(dict.fromkeys(f["term"])) == ["directional bias", "temporal congruence",
                                             "level accuracy"]
    assert set(f["level"]) == {"control", "training", "training - control"}
    # the training force is the sum of the control force and the difference
    for term in dict.fromkeys(f["term"]):
        assert chapter_fit.value(term, "training") == pytest.approx(
            chapter_fit.value(term, "control") + chapter_fit.value(term, "training - control"))
    fx = chapter_fit.fit.estimates.set_index("term")
    assert chapter_fit.value("temporal congruence", "control") == fx.loc["truth_within", "estimate"]
    z = f["estimate"] / f["se"]
    np.testing.assert_allclose(f["statistic"], z)


def test_summary_explains_every_force_and_json(chapter_fit):
    text = chapter_fit.summary()
    for term in ("directional bias", "temporal congruence", "level accuracy"):
        assert f"- {term} [training]" in text
    assert "below the patient's rating" in text
    assert "session-to-session tracking" in text
    d = json.loads(chapter_fit.to_json())
    assert {"forces", "fixed", "variance_components", "n_obs", "warnings"} <= set(d)
    assert d["n_groups"] == {"patient": 117, "therapist": 40}


def test_options_no_moderator_no_slope_ml(example):
    res = fit_truth_bias(example, moderator=None, truth_slope=False, method="ML")
    assert set(res.estimates["level"]) == {"all"}
    assert res.fit.method == "ML"
    vc = res.fit.variance_components
    assert "truth_within" not in set(vc["term1"].dropna())


def test_bias_force_from_a_column(example):
    d = example.copy()
    d["prior"] = 3.5 + np.random.default_rng(8).normal(0, 0.4, len(d))  # unrelated to J
    res = fit_truth_bias(d, bias="prior")
    assert "bias force" in set(res.estimates["term"])
    assert abs(res.value("bias force", "control", column="statistic")) < 3
    assert res.info["bias_label"] == "prior"


# --------------------------------------------------------------------------- properties


def test_invariant_to_row_order_and_relabelling(example, chapter_fit):
    rng = np.random.default_rng(3)
    shuffled = example.sample(frac=1.0, random_state=rng.integers(1 << 31)).copy()
    pmap = {p: f"X{k:03d}" for k, p in enumerate(rng.permutation(example["patient"].unique()))}
    tmap = {t: f"Y{k:02d}" for k, t in enumerate(rng.permutation(example["therapist"].unique()))}
    shuffled["patient"] = shuffled["patient"].map(pmap)
    shuffled["therapist"] = shuffled["therapist"].map(tmap)
    res = fit_truth_bias(shuffled)
    cols = ["estimate", "se", "p"]
    np.testing.assert_allclose(res.estimates[cols], chapter_fit.estimates[cols], rtol=1e-5, atol=1e-8)
    # the design keeps the input's index (row alignment)
    assert set(res.design.index) == set(chapter_fit.design.index)


def test_shifting_both_ratings_changes_nothing(example, chapter_fit):
    """Judgment and truth are centred on the truth mean: a common shift cancels."""
    # shifted copies of the two ratings as extra columns (the instruments' ranges stay intact)
    d = example.assign(judge=example["alliance_therapist"] + 0.5,
                       truth=example["alliance_patient"] + 0.5)
    res = fit_truth_bias(d, judgment="judge", truth="truth")
    np.testing.assert_allclose(res.estimates[["estimate", "se"]], chapter_fit.estimates[["estimate", "se"]],
                               rtol=1e-5, atol=1e-8)
    assert res.info["truth_mean"] == pytest.approx(chapter_fit.info["truth_mean"] + 0.5)


def test_swapping_arm_labels_swaps_forces(example, chapter_fit):
    d = example.copy()
    d["condition"] = d["condition"].map({"training": "control", "control": "training"})
    res = fit_truth_bias(d)
    for term in ("directional bias", "temporal congruence", "level accuracy"):
        assert res.value(term, "control") == pytest.approx(chapter_fit.value(term, "training"),
                                                           abs=1e-6)
        assert res.value(term, "training - control") == pytest.approx(
            -chapter_fit.value(term, "training - control"), abs=1e-6)


def test_therapist_level_and_perspectives(example):
    res = fit_truth_bias(example, judgment="alliance_patient", truth="alliance_therapist")
    assert "above" in res.explanations[("directional bias", "control")]
    res0 = fit_truth_bias(example, therapist_effects="none")
    assert set(res0.n_groups) == {"patient"}


# --------------------------------------------------------------------------- CLI and figures


def test_cli_json_and_text(capsys):
    path = str(alliance.example_path())
    assert main(["fit", "truth-bias", path, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    levels = {(r["term"], r["level"]) for r in out["forces"]}
    assert ("temporal congruence", "training - control") in levels
    assert main(["fit", "truth-bias", path, "--bias", "anchoring", "--perspective", "patient"]) == 0
    text = capsys.readouterr().out
    assert "bias force" in text and "alliance_patient (judgment)" in text


def test_cli_cross_sectional_on_any_file(capsys):
    assert main(["fit", "truth-bias", str(ACITELLI), "--judgment", "OtherPos_A", "--truth",
                 "SelfPos_P", "--bias", "SelfPos_A", "--group", "CoupleID", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    ref = json.loads((REF / "truth_bias_acitelli.json").read_text())
    truth = next(r for r in out["forces"] if r["term"] == "truth force")
    assert truth["estimate"] == pytest.approx(ref["fixed"]["Tr"], abs=1e-6)


def test_cli_bad_data_exit_code(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("x,y\n1,2\n")
    assert main(["fit", "truth-bias", str(bad)]) == 1
    assert "invalid data" in capsys.readouterr().err
    assert main(["fit", "truth-bias", str(ACITELLI), "--judgment", "OtherPos_A", "--truth",
                 "nope", "--group", "CoupleID"]) == 1


def test_figures(example, chapter_fit):
    import matplotlib.pyplot as plt

    fig = plot_dyads(example, n_per_arm=3)
    assert len([a for a in fig.axes if a.get_visible()]) == 6
    plt.close(fig)
    fig = plot_forces(chapter_fit)
    assert len(fig.axes) == 2
    plt.close(fig)


# --------------------------------------------------------------------------- 2. recovery

#: Known forces of the dedicated simulator (control, training).
TRUE_FORCES = {
    "directional bias": (-0.40, -0.30),
    "temporal congruence": (0.20, 0.40),
    "level accuracy": (0.30, 0.30),
    "bias force": (0.15, 0.05),
}


def simulate_tb(seed: int, n_therapists: int = 40, n_patients: int = 120, n_sessions: int = 6):
    """Data from the repeated T&B model itself, with the forces of TRUE_FORCES.

    The truth (patient rating) and the bias variable are exogenous; the judgment is built
    from the centred truth parts exactly as the model defines them (truth mean and patient
    means of the analysed rows), plus a random intercept and within-truth slope per patient
    (SDs 0.3, 0.1), a therapist intercept (SD 0.2), a session trend per arm and residual SD
    0.2; 8% of rows are dropped at random (missing ratings).
    """
    rng = np.random.default_rng(seed)
    ther = np.concatenate([np.arange(n_therapists),
                           rng.integers(0, n_therapists, n_patients - n_therapists)])
    arm = (np.arange(n_therapists) % 2 == 1).astype(float)
    pat = np.repeat(np.arange(n_patients), n_sessions)
    ses = np.tile(np.arange(1, n_sessions + 1), n_patients).astype(float)
    a = arm[ther][pat]
    T = 4.0 + rng.normal(0, 0.45, n_patients)[pat] + 0.04 * (ses - 1) + rng.normal(0, 0.33, pat.size)
    B = 3.6 + rng.normal(0, 0.4, n_patients)[pat] + rng.normal(0, 0.3, pat.size)
    keep = rng.random(pat.size) > 0.08
    pat, ses, a, T, B = pat[keep], ses[keep], a[keep], T[keep], B[keep]
    mt = T.mean()
    Tc = T - mt
    Tb = pd.Series(Tc).groupby(pat).transform("mean").to_numpy()
    Tw = Tc - Tb
    sc = ses - ses.mean()
    f = {k: np.where(a == 1, v[1], v[0]) for k, v in TRUE_FORCES.items()}
    u = rng.normal(0, 0.3, n_patients)[pat]
    w = rng.normal(0, 0.1, n_patients)[pat]
    r = rng.normal(0, 0.2, n_therapists)[ther][pat]
    J = (mt + f["directional bias"] + (f["temporal congruence"] + w) * Tw
         + f["level accuracy"] * Tb + f["bias force"] * (B - mt) + (0.02 + 0.04 * a) * sc
         + u + r + rng.normal(0, 0.2, pat.size))
    return pd.DataFrame({
        "therapist": [f"T{j:02d}" for j in ther[pat]], "patient": [f"P{i:03d}" for i in pat],
        "condition": np.where(a == 1, "training", "control"), "session": ses.astype(int),
        # normal ratings are not bounded like the instruments: extra columns beside empty ones
        "alliance_patient": np.nan, "alliance_therapist": np.nan, "wellbeing": np.nan,
        "truth_rating": T, "judge_rating": J, "prior": B,
    })


def _recovery(draw, expected: dict, n_reps: int, **kw) -> pd.DataFrame:
    rows, n_boundary = [], 0
    for rep in range(n_reps):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", AllianceWarning)
            res = fit_truth_bias(draw(rep), **kw)
        n_boundary += res.fit.boundary
        for row in res.estimates.itertuples(index=False):
            key = (row.term, row.level)
            if key in expected:
                rows.append({"term": row.term, "level": row.level, "true": expected[key],
                             "estimate": row.estimate, "se": row.se,
                             "covered": row.ci_low <= expected[key] <= row.ci_high})
    d = pd.DataFrame(rows)
    out = d.groupby(["term", "level"], sort=False).agg(
        true=("true", "first"), mean_estimate=("estimate", "mean"), sd=("estimate", "std"),
        mean_se=("se", "mean"), coverage=("covered", "mean")).reset_index()
    out["bias"] = out["mean_estimate"] - out["true"]
    out["mc_se_bias"] = out["sd"] / np.sqrt(n_reps)
    out.attrs["n_boundary"] = n_boundary
    return out


def recovery_exact(n_reps: int = 200) -> pd.DataFrame:
    truth = {}
    for term, (c, t) in TRUE_FORCES.items():
        truth[(term, "control")] = c
        truth[(term, "training")] = t
        truth[(term, "training - control")] = t - c
    return _recovery(lambda rep: simulate_tb(1000 + rep), truth, n_reps, bias="prior",
                     judgment="judge_rating", truth="truth_rating")


def recovery_simulate(n_reps: int = 200) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Repeated draws of the book's generative model; targets: the implied observed slope
    (analytic) for temporal congruence, and the model's large-sample value (one 100x draw)
    for every force."""
    p = SimulationParams()
    big = simulate(SimulationParams(n_therapists=4000, n_patients=11700), seed=99)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AllianceWarning)
        limit = fit_truth_bias(big).estimates
    truth = {(r.term, r.level): r.estimate for r in limit.itertuples(index=False)}
    out = _recovery(lambda rep: simulate(p, seed=5000 + rep), truth, n_reps)
    analytic = implied_temporal_congruence(p)
    out["analytic"] = [analytic[lv] if t == "temporal congruence" else np.nan
                       for t, lv in zip(out["term"], out["level"])]
    return out, limit


@pytest.mark.slow
def test_recovery_known_forces():
    """Data from the model itself: every force and arm difference unbiased (|bias| < 3 Monte
    Carlo SEs + 0.005) and Wald CIs covering near 95% (0.89-0.995 with 150 draws: the
    binomial SE of a 95% coverage is 0.018). 150 draws keep the test near a minute; the
    report's figures come from ``python tests/test_truth_bias.py 200``."""
    out = recovery_exact(150)
    print(out.to_string())
    assert (out["bias"].abs() < 3 * out["mc_se_bias"] + 0.005).all()
    assert out["coverage"].between(0.89, 0.995).all()
    # model-based SEs match the sampling SD: with 200 draws the SD itself is uncertain by
    # about 5%, and REML SEs of between-therapist contrasts with 40 clusters run a little
    # high (observed ratios 0.91-1.16)
    assert ((out["mean_se"] / out["sd"]).between(0.8, 1.25)).all()


@pytest.mark.slow
def test_recovery_generative_model():
    """The book's generative model (lambda weights the latent fluctuation): temporal congruence
    recovers the implied observed slope, whose analytic value agrees with a 100x draw within
    0.01; coverage of the large-sample value is near 95% (0.87-1.0 with 100 draws: binomial
    SE 0.022, and the target itself is one 100x draw with SE about 0.004)."""
    out, _limit = recovery_simulate(100)
    print(out.to_string())
    tc = out[out["term"] == "temporal congruence"]
    assert np.allclose(tc["true"], tc["analytic"], atol=0.01)
    assert (out["bias"].abs() < 3 * out["mc_se_bias"] + 0.01).all()
    assert out["coverage"].between(0.87, 1.0).all()


if __name__ == "__main__":  # print the recovery tables (the figures quoted in reports)
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    pd.set_option("display.width", 160)
    exact = recovery_exact(n)
    print(f"T&B model with known forces, {n} draws (boundary fits: {exact.attrs['n_boundary']})")
    print(exact.round(4).to_string(index=False))
    gen, _ = recovery_simulate(n)
    print(f"\nalliance.simulate, {n} draws (boundary fits: {gen.attrs['n_boundary']})")
    print(gen.round(4).to_string(index=False))


# --------------------------------------------------------------------------- issue 10


def test_numeric_moderator_years_married_matches_lmertest():
    """Years married (Yearsmar) moderates linearly: forces at mean - SD, mean, mean + SD and
    per year, each a Satterthwaite t test, as lmerTest on the same model
    (tests/r/truth_bias_numeric_reference.R). Before, it became 124 categories."""
    ref = json.loads((REF / "numeric_moderator_acitelli_years.json").read_text())
    data = pd.read_csv(ACITELLI)
    res = fit_truth_bias_cross(data, judgment="OtherPos_A", truth="SelfPos_P", bias="SelfPos_A",
                               group="CoupleID", moderator="Yearsmar")
    assert res.fit.loglik == pytest.approx(ref["loglik"], abs=1e-6)
    assert res.info["moderator_numeric"]["center"] == pytest.approx(ref["mean"])
    for f in ref["forces"]:
        level = ("per unit of Yearsmar" if f["at"] is None else f"Yearsmar={f['at']:g}")
        row = res.rows(term=f["term"], level=level).iloc[0]
        assert row["estimate"] == pytest.approx(f["estimate"], abs=1e-7)
        assert row["se"] == pytest.approx(f["se"], rel=1e-5)
        assert row["df"] == pytest.approx(f["df"], rel=1e-3)
        assert row["p"] == pytest.approx(f["p"], rel=1e-3)
    assert len(res.estimates) == 12
    assert "per unit of 'Yearsmar'" in res.explanations[("truth force", "per unit of Yearsmar")] or \
        "per unit of Yearsmar" in res.explanations[("truth force", "per unit of Yearsmar")]
    # chosen pick points, and shifting the moderator moves nothing but the labels' meaning
    at = fit_truth_bias_cross(data, judgment="OtherPos_A", truth="SelfPos_P", group="CoupleID",
                              moderator="Yearsmar", moderator_at=[0.0])
    shifted = data.assign(Yearsmar=data["Yearsmar"] + 10.0)
    at2 = fit_truth_bias_cross(shifted, judgment="OtherPos_A", truth="SelfPos_P",
                               group="CoupleID", moderator="Yearsmar", moderator_at=[10.0])
    assert at.value("truth force", "Yearsmar=0") == pytest.approx(
        at2.value("truth force", "Yearsmar=10"), abs=1e-8)
    with pytest.raises(ValueError, match="numeric"):
        fit_truth_bias_cross(data, judgment="OtherPos_A", truth="SelfPos_P", group="CoupleID",
                             moderator="Gender_A", moderator_at=[1.0])


def test_numeric_moderator_in_the_repeated_model(example):
    d = example.copy()
    codes = {t: float(k % 7) for k, t in enumerate(sorted(d["therapist"].unique()))}
    d["experience"] = d["therapist"].map(codes)  # a therapist-level number, 7 values
    res = fit_truth_bias(d, moderator="experience")
    assert res.info["moderator_kind"] == "numeric"
    lv = list(res.rows(term="temporal congruence")["level"])
    assert lv[-1] == "per unit of experience" and len(lv) == 4
    b = res.fit.coef
    mean = res.info["moderator_numeric"]["center"]
    a = res.info["moderator_numeric"]["at"][0]
    assert res.value("temporal congruence", f"experience={a:g}") == pytest.approx(
        b["truth_within"] + (a - mean) * b["truth_within:experience"])


def test_therapist_tracking_slope_and_df(example):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AllianceWarning)
        res = fit_truth_bias(example, therapist_effects="intercept+slope", df="kenward-roger")
    vc = res.tables["variance_components"]
    assert set(vc.loc[vc["group"] == "therapist", "term1"]) == {"Intercept", "truth_within"}
    assert "(1 + T_within | therapist)" in res.info["model"]
    row = res.rows(term="temporal congruence", level="training - control").iloc[0]
    # lmerTest/pbkrtest's Kenward-Roger df and p of the same contrast
    # (tests/r/ddf_reference.R -> tests/reference/ddf_truth_bias_slope.json); df to 1e-3
    # relative as the ddf tests (numerical Hessians), p to 1e-4 absolute
    ref = json.loads((Path(__file__).parent / "reference" / "ddf_truth_bias_slope.json").read_text())
    kr = next(c for c in ref["contrasts_kenward_roger"]
              if c["name"] == "temporal congruence, training - control")
    assert row["df"] == pytest.approx(kr["df"], rel=1e-3) and row["p"] == pytest.approx(kr["p"], abs=1e-4)
    assert "Kenward-Roger" in res.title
    with pytest.raises(ValueError, match="therapist_effects"):
        fit_truth_bias(example, therapist_effects="slope")


def test_cli_df_and_residual_by(capsys):
    from alliance.cli import main

    assert main(["fit", "truth-bias", str(alliance.example_path()), "--df", "z", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert all(r["df"] is None for r in out["forces"])  # z: infinite df is null in JSON
    assert main(["fit", "truth-bias", str(ACITELLI), "--judgment", "OtherPos_A", "--truth",
                 "SelfPos_P", "--group", "CoupleID", "--moderator", "Gender_A", "--residual-by",
                 "Gender_A", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    resid = [r for r in out["variance_components"] if r["group"] == "Residual"]
    assert {r["term1"] for r in resid} == {"Husband", "Wife"}
    assert all(r["df"] > 1 for r in out["forces"])
    assert main(["fit", "truth-bias", str(alliance.example_path()), "--residual-by", "x"]) == 2
    capsys.readouterr()


def _null_tracking_draw(draw, rng):
    params = SimulationParams(tracking_training=0.2)  # training does not change tracking
    d = simulate(params, seed=int(rng.integers(2**31 - 1)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AllianceWarning)
        res = fit_truth_bias(d)
    out = {"estimate": res.value("temporal congruence", "training - control")}
    for m in ("satterthwaite", "kenward-roger", "z"):
        row = res.fit.contrast({"d": {"truth_within:condition[training]": 1.0}}, ddf=m).iloc[0]
        out[f"p_{m}"] = float(row["p"])
    return out


@pytest.mark.slow
@pytest.mark.processes
def test_type_one_error_of_the_temporal_congruence_difference():
    """Null true (tracking equal in both arms): over 400 simulated trials the Satterthwaite
    and Kenward-Roger tests of the arm difference reject inside the central 99.9% binomial
    range of 5% (1.8% to 8.8%), and the estimates centre on zero."""
    from scipy import stats

    from alliance.draws import run_draws

    n = 400
    res = run_draws(_null_tracking_draw, n, seed=2011, jobs=2)
    assert (res["error"] == "").all()
    lo = stats.binom.ppf(0.0005, n, 0.05) / n
    hi = stats.binom.ppf(0.9995, n, 0.05) / n
    for m in ("satterthwaite", "kenward-roger"):
        rate = float(np.mean(res[f"p_{m}"] < 0.05))
        assert lo <= rate <= hi, (m, rate)
    e = res["estimate"]
    assert abs(e.mean()) < 3 * e.std(ddof=1) / np.sqrt(n)


@pytest.mark.parametrize("values", [
    ["control", "training", "training"],
    pd.Series(["control", "training", "training"], dtype="str"),
    np.array(["control", None, "training"], dtype=object),
    np.array(["training\x00", "training", "control"], dtype=object),
    np.array([0, 1, 1]),
    np.array([0.0, np.nan, 1.0], dtype=object),
])
def test_a_levels_indicator_is_the_text_comparison(values):
    """Each row's moderator compared with a level as its text (``astype(str)``), whether the
    distinct values are compared once (text cells) or every cell converted (anything else)."""
    from alliance.moderation import _level_test

    test = _level_test(values)
    for level in ("training", "control", "1", "nan", "None"):
        np.testing.assert_array_equal(test(level), np.asarray(values).astype(str) == level)


@pytest.mark.parametrize("values", [
    pd.Series(["training", "control", "training"], dtype="str"),
    pd.Series(["b", None, "a", "b"], dtype="str"),
    pd.Series(["b", None, "a", "b"], dtype=object),
    pd.Series([1, 0, 1]),
])
def test_moderator_levels_of_text_are_those_of_its_objects(values):
    """A text column's levels read off its own array are the levels of its cells as objects."""
    from alliance.moderation import moderator_levels

    assert (moderator_levels(values, "m", "src")
            == moderator_levels(values.to_numpy(dtype=object).tolist(), "m", "src"))
