"""Tests of :mod:`alliance.mixed`, the package's one linear-mixed-model fitting path.

Three kinds of evidence (see tests/data/README.md for the data's provenance):

1. published values (Bates et al. 2015 for sleepstudy; Pinheiro & Bates 2000 for
   Orthodont; the lme4 constants in statsmodels' own tests for dietox);
2. lme4 1.1.31 itself, run by tests/r/mixed_reference.R, frozen in
   tests/reference/mixed_*.json (CI never runs R);
3. properties: invariances, parameter recovery, the degenerate and invalid-input paths.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from alliance.errors import AllianceWarning, DataError, FitError
from alliance.mixed import MixedFit, RandomTerm, fit_lmm, lrt
from alliance.mixed import fit as mixed_fit  # noqa: F401
from alliance.mixed import optimize as mixed_optimize
from alliance.mixed.model import Model, prepare

HERE = Path(__file__).parent
DATA = HERE / "data"
REF = HERE / "reference"

NESTED_SEED = 20240611


def make_nested_data(seed: int = NESTED_SEED) -> pd.DataFrame:
    """Generator of tests/data/mixed_nested.csv (three levels: occasions in subjects in clusters).

    30 clusters with 2-5 subjects each, 6 occasions; a random intercept per cluster
    (SD 1) and a correlated random intercept and slope per subject; residual SD 0.8.
    Run once with the default seed to write the committed CSV (y rounded to 6 decimals).
    """
    rng = np.random.default_rng(seed)
    rows = []
    subj = 0
    u_c = rng.normal(0.0, 1.0, 30)
    for c in range(30):
        for _ in range(int(rng.integers(2, 6))):
            subj += 1
            b0, b1 = rng.multivariate_normal([0.0, 0.0], [[1.5, -0.1], [-0.1, 0.09]])
            for t in range(6):
                y = 10.0 + 0.5 * t + u_c[c] + b0 + b1 * t + rng.normal(0.0, 0.8)
                rows.append((f"C{c + 1:02d}", f"S{subj:03d}", t, round(y, 6)))
    return pd.DataFrame(rows, columns=["cluster", "subject", "time", "y"])


# --------------------------------------------------------------------------- helpers


def _design(d: pd.DataFrame, time: str) -> pd.DataFrame:
    return pd.DataFrame({"Intercept": 1.0, time: d[time].astype(float)})


def build(model: str):
    """(y, X, random) for each reference model, as lme4's formulas define them."""
    if model == "sleepstudy_nodays":
        d = pd.read_csv(DATA / "growth_sleepstudy.csv")
        X = _design(d, "Days")
        return d["Reaction"], X[["Intercept"]], [RandomTerm("Subject", d["Subject"], X)]
    if model.startswith("sleepstudy"):
        d = pd.read_csv(DATA / "growth_sleepstudy.csv")
        X = _design(d, "Days")
        structure = "diagonal" if model.endswith("diag") else "unstructured"
        return d["Reaction"], X, [RandomTerm("Subject", d["Subject"], X, structure)]
    if model == "orthodont":
        d = pd.read_csv(DATA / "growth_orthodont.csv")
        X = _design(d, "age")
        return d["distance"], X, [RandomTerm("Subject", d["Subject"], X)]
    if model == "dietox":
        d = pd.read_csv(DATA / "growth_dietox.csv")
        X = _design(d, "Time")
        return d["Weight"], X, [RandomTerm("Pig", d["Pig"], X)]
    if model == "nested":
        d = pd.read_csv(DATA / "mixed_nested.csv")
        X = _design(d, "time")
        return (
            d["y"],
            X,
            [RandomTerm("cluster", d["cluster"]), RandomTerm("subject", d["subject"], X)],
        )
    if model == "nestler_example1":  # five random slopes, uncentred level-2 covariates
        d = pd.read_csv(DATA / "mlrsa_nestler2019_example1.csv")
        base = ["x.c", "y.c", "x2.c", "xy.c", "y2.c"]
        l2 = ["x.mean", "y.mean", "x2.mean", "xy.mean", "y2.mean"]
        X = pd.concat([pd.DataFrame({"Intercept": np.ones(len(d))}), d[base + l2]], axis=1)
        return d["z"], X, [RandomTerm("GroupID", d["GroupID"], X[["Intercept", *base]])]
    if model == "penicillin":  # fully crossed: every sample on every plate
        d = pd.read_csv(DATA / "mixed_penicillin.csv")
        X = pd.DataFrame({"Intercept": np.ones(len(d))})
        return d["diameter"], X, [RandomTerm("plate", d["plate"]), RandomTerm("sample", d["sample"])]
    raise KeyError(model)


_FITS: dict = {}


def fitted(model: str, method: str = "REML") -> MixedFit:
    key = (model, method)
    if key not in _FITS:
        y, X, random = build(model)
        _FITS[key] = fit_lmm(y, X, random, method=method)
    return _FITS[key]


def vc(fit: MixedFit, group: str, term1, term2=None) -> pd.Series:
    t = fit.variance_components
    sel = (t["group"] == group) & (t["term1"].eq(term1) if term1 is not None else t["term1"].isna())
    sel &= t["term2"].eq(term2) if term2 is not None else t["term2"].isna()
    assert sel.sum() == 1, (group, term1, term2)
    return t[sel].iloc[0]


def simulate_growth(
    rng, n_subj=30, n_occ=6, sd_int=1.0, sd_slope=0.3, corr=0.0, sigma=0.5, beta=(5.0, 0.5)
):
    subject = np.repeat(np.arange(n_subj), n_occ)
    time = np.tile(np.arange(n_occ, dtype=float), n_subj)
    cov = [[sd_int**2, corr * sd_int * sd_slope], [corr * sd_int * sd_slope, sd_slope**2]]
    b = rng.multivariate_normal([0.0, 0.0], cov, n_subj)
    y = (
        beta[0]
        + beta[1] * time
        + b[subject, 0]
        + b[subject, 1] * time
        + rng.normal(0, sigma, time.size)
    )
    X = pd.DataFrame({"Intercept": 1.0, "time": time})
    return y, X, subject


# --------------------------------------------------------------------------- 1. published values
# Tolerances: fixed effects and SEs to the rounding of the published figure (half a unit in
# the last printed digit); variance components, printed to 2 decimals on flat likelihoods,
# to the same rounding (they are lme4's own numbers, so our optimum should reproduce them);
# criteria to their printed precision.


def test_sleepstudy_published_bates_2015():
    fit = fitted("sleepstudy")
    fx = fit.estimates.set_index("term")
    assert fx.loc["Intercept", "estimate"] == pytest.approx(251.405, abs=5e-4)
    assert fx.loc["Intercept", "se"] == pytest.approx(6.825, abs=5e-4)
    assert fx.loc["Days", "estimate"] == pytest.approx(10.467, abs=5e-4)
    assert fx.loc["Days", "se"] == pytest.approx(1.546, abs=5e-4)
    # 612.10 in the paper; lme4 1.1.31 with a tight optimizer (tests/reference) gives
    # 612.0897, as do we: the likelihood is flat here, so the paper's optimizer stopped
    # 0.01 away. Tolerance 0.02 (3e-5 relative) for this flat direction.
    assert vc(fit, "Subject", "Intercept")["variance"] == pytest.approx(612.10, abs=0.02)
    assert vc(fit, "Subject", "Days")["variance"] == pytest.approx(35.07, abs=5e-3)
    cov = vc(fit, "Subject", "Intercept", "Days")
    assert cov["variance"] == pytest.approx(9.60, abs=5e-3)
    assert cov["corr"] == pytest.approx(0.066, abs=5e-4)
    assert fit.sigma2 == pytest.approx(654.94, abs=5e-3)
    assert fit.deviance == pytest.approx(1743.6, abs=0.05)
    assert fit.method == "REML" and fit.converged and not fit.boundary


def test_orthodont_published_pinheiro_bates_2000():
    fit = fitted("orthodont")
    assert fit.estimates.set_index("term").loc["Intercept", "estimate"] == pytest.approx(16.761, abs=5e-4)
    assert fit.estimates.set_index("term").loc["age", "estimate"] == pytest.approx(0.660, abs=5e-4)
    assert vc(fit, "Subject", "Intercept")["sd"] == pytest.approx(2.327, abs=5e-4)
    assert vc(fit, "Subject", "age")["sd"] == pytest.approx(0.226, abs=5e-4)
    assert vc(fit, "Subject", "Intercept", "age")["corr"] == pytest.approx(-0.609, abs=5e-4)
    assert np.sqrt(fit.sigma2) == pytest.approx(1.310, abs=5e-4)
    assert fit.loglik == pytest.approx(-221.318, abs=5e-4)
    assert not fit.boundary


def test_dietox_published_lme4_constants():
    fit = fitted("dietox")
    fx = fit.estimates.set_index("term")
    assert fx.loc["Intercept", "estimate"] == pytest.approx(15.7387, abs=5e-5)
    assert fx.loc["Intercept", "se"] == pytest.approx(0.5501, abs=5e-5)
    assert fx.loc["Time", "estimate"] == pytest.approx(6.9390, abs=5e-5)
    assert fx.loc["Time", "se"] == pytest.approx(0.0798, abs=5e-5)
    assert fit.sigma2 == pytest.approx(6.0375, abs=5e-5)
    assert fit.loglik == pytest.approx(-2217.047, abs=5e-4)


# --------------------------------------------------------------------------- 2. lme4 frozen
REF_FILES = sorted(REF.glob("mixed_*.json"))


@pytest.mark.parametrize("path", REF_FILES, ids=[p.stem for p in REF_FILES])
def test_matches_lme4(path):
    """Everything lme4 reports, to tolerances set by lme4's own optimizer precision.

    lme4 was run with bobyqa and rhoend = 1e-10; our L-BFGS-B optimum has a smaller
    gradient than lme4's, so differences are lme4's stopping error: the criterion is flat
    (differences < 1e-10 observed), theta differs by up to ~4e-6 (Orthodont), which moves
    fixed effects by < 1e-8 relative, the vcov by < 3e-5 relative (dietox) and variance
    components by < 1e-5 relative. Tolerances sit about 3x above the maxima observed.
    """
    ref = json.loads(path.read_text())
    fit = fitted(ref["model"], ref["method"])
    # criterion: lme4 defines loglik and REMLcrit/deviance identically (tolerance 1e-6)
    assert fit.loglik == pytest.approx(ref["loglik"], abs=1e-6)
    assert fit.deviance == pytest.approx(ref["deviance_or_remlcrit"], abs=2e-6)
    assert fit.aic == pytest.approx(ref["aic"], abs=2e-6)
    assert fit.bic == pytest.approx(ref["bic"], abs=2e-6)
    assert fit.n_obs == ref["nobs"]
    assert fit.n_groups == ref["ngrps"]
    assert fit.boundary == ref["singular"]
    # fixed effects and the full GLS covariance
    names = ["Intercept" if n == "(Intercept)" else n for n in ref["vcov_names"]]
    est = np.array([ref["fixed"][n] for n in ref["vcov_names"]])
    np.testing.assert_allclose(fit.estimates.set_index("term").loc[names, "estimate"], est, rtol=1e-7, atol=1e-9)
    V = np.array(ref["vcov"], dtype=float).reshape(len(names), len(names))  # 1x1 is unboxed
    np.testing.assert_allclose(fit.cov_fixed.loc[names, names].to_numpy(), V, rtol=1e-4)
    np.testing.assert_allclose(fit.estimates.set_index("term").loc[names, "se"], np.sqrt(np.diag(V)), rtol=5e-5)
    # residual and random-effect (co)variances
    assert np.sqrt(fit.sigma2) == pytest.approx(ref["sigma"], rel=1e-6)
    v = ref["varcorr"]
    for grp, v1, v2, var, sdcor in zip(v["grp"], v["var1"], v["var2"], v["vcov"], v["sdcor"]):
        if grp == "Residual":
            row = fit.variance_components.iloc[-1]
            assert row["group"] == "Residual"
            assert row["variance"] == pytest.approx(var, rel=1e-6)
            continue
        grp = grp.removesuffix(".1")
        t1 = "Intercept" if v1 == "(Intercept)" else v1
        t2 = None if v2 is None else ("Intercept" if v2 == "(Intercept)" else v2)
        row = vc(fit, grp, t1, t2)
        assert row["variance"] == pytest.approx(var, rel=5e-5, abs=1e-9)
        if t2 is None:
            assert row["sd"] == pytest.approx(sdcor, rel=5e-5)
        else:
            assert row["corr"] == pytest.approx(sdcor, rel=5e-5, abs=1e-7)


def test_nested_csv_is_reproducible_from_its_seed():
    frozen = pd.read_csv(DATA / "mixed_nested.csv")
    fresh = make_nested_data()
    pd.testing.assert_frame_equal(frozen, fresh, check_exact=False, rtol=1e-12)


def test_nested_blocks_are_clusters():
    fit = fitted("nested")
    assert fit.n_blocks == 30  # subjects are nested in clusters: one block per cluster
    assert fitted("sleepstudy").n_blocks == 18


# --------------------------------------------------------------------------- API behaviour


def test_table_shapes_and_wald_columns():
    fit = fitted("sleepstudy")
    assert list(fit.estimates.set_index("term").columns) == [
        "estimate", "se", "statistic", "df", "p", "ci_low", "ci_high"]
    assert fit.ddf == "satterthwaite"
    row = fit.estimates.set_index("term").loc["Days"]
    assert row["statistic"] == pytest.approx(row["estimate"] / row["se"])
    # Satterthwaite t: 17 df for the slope of 18 subjects (lmerTest prints 17.0)
    assert row["df"] == pytest.approx(17.0, abs=0.05)
    crit = stats.t.ppf(0.975, row["df"])
    assert row["ci_low"] == pytest.approx(row["estimate"] - crit * row["se"])
    assert row["p"] == pytest.approx(2 * stats.t.sf(abs(row["statistic"]), row["df"]))
    z = fit.fixed_effects("z").set_index("term").loc["Days"]
    assert np.isinf(z["df"]) and z["se"] == row["se"]
    assert z["ci_low"] == pytest.approx(z["estimate"] - 1.959963984540054 * z["se"])
    assert list(fit.variance_components.columns) == [
        "group",
        "term1",
        "term2",
        "variance",
        "sd",
        "corr",
    ]
    assert fit.variance_components.iloc[-1]["group"] == "Residual"
    assert fit.n_params == 6 and fit.optimizer == "L-BFGS-B" and fit.warnings == []
    assert fit.theta.shape == (3,)


def test_contrast_and_cov_of():
    fit = fitted("sleepstudy")
    L = {"day 5": {"Intercept": 1.0, "Days": 5.0}, "slope": {"Days": 1.0}}
    con = fit.contrast(L).set_index("term")
    b = fit.estimates.set_index("term")["estimate"]
    V = fit.cov_fixed.to_numpy()
    assert con.loc["day 5", "estimate"] == pytest.approx(b["Intercept"] + 5 * b["Days"])
    lv = np.array([1.0, 5.0])
    assert con.loc["day 5", "se"] == pytest.approx(np.sqrt(lv @ V @ lv))
    assert con.loc["slope", "se"] == pytest.approx(fit.estimates.set_index("term").loc["Days", "se"])
    Ldf = pd.DataFrame(
        [[1.0, 5.0], [0.0, 1.0]], index=["day 5", "slope"], columns=["Intercept", "Days"]
    )
    pd.testing.assert_frame_equal(fit.cov_of(Ldf), fit.cov_of(L))
    with pytest.raises(ValueError, match="unknown"):
        fit.contrast({"x": {"Nope": 1.0}})


def test_blups_fitted_residuals_sleepstudy():
    fit = fitted("sleepstudy")
    re = fit.random_effects("Subject")
    assert re.shape == (18, 2) and list(re.columns) == ["Intercept", "Days"]
    # lme4 ranef(fm1)$Subject["308", ] = 2.258551, 9.198976 (lme4 1.1; 4 decimals printed)
    assert re.loc[308, "Intercept"] == pytest.approx(2.2585, abs=2e-3)
    assert re.loc[308, "Days"] == pytest.approx(9.1990, abs=2e-3)
    assert re.mean().abs().max() < 1e-8  # BLUPs of a model with an intercept sum to ~0
    y, _X, _ = build("sleepstudy")
    np.testing.assert_allclose(fit.fitted() + fit.residuals(), y.to_numpy())
    with pytest.raises(KeyError):
        fit.random_effects("nobody")


def test_summary_and_to_dict_are_complete_and_json_ready():
    fit = fitted("nested")
    s = fit.summary()
    for piece in [
        "REML",
        "Intercept",
        "time",
        "cluster",
        "subject",
        "Residual",
        "logLik",
        "boundary",
    ]:
        assert piece in s
    d = fit.to_dict()
    for key in [
        "fixed",
        "variance_components",
        "n_obs",
        "n_groups",
        "converged",
        "warnings",
        "loglik",
        "aic",
        "bic",
        "method",
    ]:
        assert key in d
    assert d["fixed"][0]["term"] == "Intercept"
    text = json.dumps(d, allow_nan=False)  # NaN must have become null
    assert json.loads(text)["n_groups"] == {"cluster": 30, "subject": 105}


def test_gradient_matches_finite_differences():
    for model in ("nested", "orthodont"):
        y, X, random = build(model)
        yv, Xa, _, terms, _ = prepare(y, X, random, "t")
        for reml in (True, False):
            mod = Model(yv, Xa, terms, reml)
            th = np.linspace(0.3, 0.9, mod.ntheta)
            _, g = mod.evaluate(th, grad=True)
            h = 1e-6
            num = [
                (mod.evaluate(th + h * e) - mod.evaluate(th - h * e)) / (2 * h)
                for e in np.eye(th.size)
            ]
            np.testing.assert_allclose(g, num, rtol=1e-5, atol=1e-5)


def _growth_model(rater: str, therapist_effects: str, by_rater: bool, session: bool = False):
    import alliance
    from alliance.growth import _design, growth_frame

    frame, _ = growth_frame(alliance.load_example(), rater)
    X, random = _design(frame, rater, therapist_effects, session)
    y, Xa, _, terms, _ = prepare(frame["y"].to_numpy(), X, random, "t")
    Qx, Rx = np.linalg.qr(Xa)
    resid = (frame["rater"].to_numpy() == "therapist").astype(np.intp) if by_rater else None
    return y, Qx, terms, Rx, resid


@pytest.mark.parametrize("rater,therapist_effects,by_rater,session", [
    ("patient", "none", False, False), ("patient", "intercept", False, False),
    ("therapist", "intercept+slope", False, False), ("both", "intercept+slope", True, False),
    ("both", "intercept+slope", True, True), ("both", "none", False, True)])
def test_nested_layout_equals_the_block_layout(rater, therapist_effects, by_rater, session):
    """The nested layout (one factor, two nested ones, or sessions in patients in
    therapists, the sessions folded into the patients' blocks) and the padded-block layout
    are two computations of the same criterion: the value, both gradient parts (theta and
    the variance function's rho), the conditional modes of every term and a batch of points
    agree to rounding (1e-9 relative: the two sum the same terms in different orders)."""
    y, Qx, terms, Rx, resid = _growth_model(rater, therapist_effects, by_rater, session)
    rng = np.random.default_rng(11)
    for reml in (True, False):
        mb = Model(y, Qx, terms, reml, Rx, resid, layout="blocks")
        mn = Model(y, Qx, terms, reml, Rx, resid, layout="nested")
        assert mn.layout == "nested" and mb.layout == "blocks"
        xs = rng.normal(0.4, 0.5, (4, mb.npar))  # signs of every kind, as the free optimizer
        for x, cn in zip(xs, mn.core_batch(xs, want_grad=True)):
            cb = mb._core(x, want_grad=True)
            one = mn._core(x, want_grad=True)
            for c in (cn, one):
                assert c["dev"] == pytest.approx(cb["dev"], rel=1e-9)
                for part in ("g_a", "g_r2"):
                    scale = max(1.0, float(np.max(np.abs(cb[part]))))
                    np.testing.assert_allclose(c[part], cb[part], rtol=0, atol=1e-9 * scale)
        for vn, vb in zip(mn.modes(xs[0]), mb.modes(xs[0])):
            np.testing.assert_allclose(vn, vb, rtol=0, atol=1e-9)


def test_sessions_in_patients_in_therapists_are_folded_into_the_patient_blocks(monkeypatch):
    """Three factors nested in a chain take the nested layout, the innermost folded into the
    fine level's block (``nesting`` names fine, coarse, inner); beyond ``MAX_FINE_Q`` columns
    per fine level, and with crossed factors, the padded-block layout."""
    from alliance.mixed import nested

    y, Qx, terms, Rx, resid = _growth_model("both", "intercept+slope", True, True)
    names = [t.name for t in terms]
    fine, coarse, inner = nested.nesting(terms)
    assert (names[fine], names[coarse], names[inner]) == ("patient", "therapist", "session")
    m = Model(y, Qx, terms, True, Rx, resid)
    assert m.layout == "nested" and m.nested.q1 == terms[fine].q + 6  # six sessions at most
    # the session term's one parameter sits at six places of Lambda_1
    assert np.sum(m.nested.th1 == terms[inner].theta_slice.start) == 6
    monkeypatch.setattr(nested, "MAX_FINE_Q", terms[fine].q + 5)
    assert nested.nesting(terms) is None
    assert Model(y, Qx, terms, True, Rx, resid).layout == "blocks"
    monkeypatch.undo()
    # crossed: the session factor on its own (session number 1..6 across patients)
    crossed = terms[inner].__class__(**terms[inner].__dict__)
    codes = np.asarray([int(str(v).split("\r")[-1]) for v in terms[inner].levels])
    crossed.codes = codes[terms[inner].codes] - 1
    crossed.levels = crossed.levels[:6]
    assert nested.nesting([terms[fine], terms[coarse], crossed]) is None


def test_the_compiled_loop_has_one_signature_for_every_model():
    """``make setup`` compiles the nested layout's loop once (``compile_now``); every model,
    with or without a coarse level, REML or ML, one residual variance or one per rater, calls
    it with the same argument types, so no process compiles it again (a new signature would
    cost 20-40 s at a model's first fit). Also: a point at which the criterion is not finite
    (variances so large that the residual sum of squares is at rounding level) gives None,
    not numbers."""
    from alliance.mixed.kernel import compile_now, fine_sums, nested_core

    compile_now()
    for rater, te, by in [("patient", "none", False), ("therapist", "intercept+slope", False),
                          ("both", "intercept+slope", True)]:
        y, Qx, terms, Rx, resid = _growth_model(rater, te, by)
        for reml in (True, False):
            m = Model(y, Qx, terms, reml, Rx, resid)
            assert m.layout == "nested"
            assert m._core(np.full(m.npar, 0.3), want_grad=True) is not None
            assert m.modes(np.full(m.npar, 0.3))[0].shape[0] > 0
            assert m._core(np.full(m.npar, 1e9), want_grad=True) is None
    assert len(nested_core.signatures) == 1
    assert len(fine_sums.signatures) == 1


def test_the_compiled_statistics_are_numpys_reduceat_bit_for_bit():
    """``fine_sums`` replaces a stable sort of the rows and ``np.add.reduceat`` per column of Z
    (the nested layout's statistics); it claims NumPy's order of additions (the first product
    plus the pairwise sum of the others), so every fit keeps its bits. Levels of 1 to 300 rows
    (NumPy's pairwise sum splits beyond 128), rows in scrambled order, two residual levels."""
    from alliance.mixed.kernel import _pairwise, fine_sums

    rng = np.random.default_rng(5)
    for n in (1, 2, 7, 8, 9, 100, 128, 129, 130, 300, 1000):
        a = rng.normal(size=n + 2)
        assert _pairwise(a, 2, n) == np.add.reduce(a[2:])
    sizes = np.array([1, 2, 5, 9, 17, 128, 130, 300])
    n1, q1, q2, k1 = sizes.size, 2, 1, 4
    fcode = rng.permutation(np.repeat(np.arange(n1), sizes))
    n = fcode.size
    M = rng.normal(size=(n, q1 + q2 + k1))
    lv = rng.integers(0, 2, n)
    F, H = fine_sums(M, q1, q2, fcode, lv, 2, n1)
    rows = np.argsort(fcode, kind="stable")
    seg = np.flatnonzero(np.r_[True, np.diff(fcode[rows]) != 0])
    right = M[rows]
    for lvl in range(2):
        w = (lv[rows] == lvl).astype(float)
        for a in range(q1 + q2):
            cols = right if a < q1 else right[:, q1:]
            want = np.add.reduceat((right[:, a] * w)[:, None] * cols, seg, axis=0)
            got = F[lvl, :, a, :] if a < q1 else H[lvl, :, a - q1, :]
            assert np.array_equal(got, want)
    one, _ = fine_sums(M, q1, q2, fcode, np.zeros(n, dtype=np.intp), 1, n1)
    assert np.array_equal(one[0, :, 0, :], np.add.reduceat(right[:, :1] * right, seg, axis=0))


def test_layout_is_chosen_by_the_design():
    y, Qx, terms, Rx, _ = _growth_model("both", "intercept", False)
    assert Model(y, Qx, terms, True, Rx).layout == "nested"
    assert Model(y, Qx, terms[:1], True, Rx).layout == "nested"
    # crossed factors (Penicillin: every plate meets every sample) need the block layout
    yp, Xp, rp = build("penicillin")
    yv, Xa, _, tp, _ = prepare(yp, Xp, rp, "t")
    assert Model(yv, Xa, tp, True).layout == "blocks"
    with pytest.raises(ValueError, match="nested"):
        Model(yv, Xa, tp, True, layout="nested")


def test_lrt_ml_and_refusals():
    y, X, random = build("sleepstudy")
    f1 = fit_lmm(y, X, random, method="ML")
    f0 = fit_lmm(
        y, X[["Intercept"]], random[:0] + [RandomTerm("Subject", random[0].groups, X)], method="ML"
    )
    res = lrt(f0, f1)
    # lme4 anova(): tests/reference/mixed_sleepstudy_nodays_ml.json vs mixed_sleepstudy_ml.json
    ref0 = json.loads((REF / "mixed_sleepstudy_nodays_ml.json").read_text())["loglik"]
    ref1 = json.loads((REF / "mixed_sleepstudy_ml.json").read_text())["loglik"]
    assert res["df"] == 1
    assert res["statistic"] == pytest.approx(2 * (ref1 - ref0), abs=2e-6)
    assert res["p"] == pytest.approx(1.2256e-06, rel=1e-3)
    r0 = fit_lmm(y, X[["Intercept"]], [RandomTerm("Subject", random[0].groups, X)], method="REML")
    r1 = fit_lmm(y, X, random, method="REML")
    with pytest.raises(ValueError, match="REML"):
        lrt(r0, r1)
    # REML fits with the same fixed effects may be compared (random-effect test)
    ri = fit_lmm(y, X, [RandomTerm("Subject", random[0].groups)], method="REML")
    assert lrt(ri, r1)["df"] == 2


def test_fallback_optimizer_is_used_and_warned(monkeypatch):
    real_run = mixed_optimize.run_free

    def broken(model, x0, bounds):
        res = real_run(model, x0, bounds)
        res.success = False
        res.line_search_end = False
        res.message = "simulated failure"
        return res

    monkeypatch.setattr(mixed_optimize, "run_free", broken)
    y, X, random = build("sleepstudy")
    with pytest.warns(AllianceWarning, match="fallback"):
        fit = fit_lmm(y, X, random)
    # the fallback ran; the better of the two valid results is reported (here equal optima)
    assert any("simulated failure" in w and "L-BFGS-B" in w for w in fit.warnings)
    assert fit.optimizer in ("L-BFGS-B", "Nelder-Mead")
    ref = fitted("sleepstudy")
    assert fit.loglik == pytest.approx(ref.loglik, abs=1e-5)
    np.testing.assert_allclose(fit.estimates.set_index("term")["estimate"], ref.estimates.set_index("term")["estimate"], rtol=1e-5)


def test_every_optimizer_reaches_the_same_optimum():
    ref = fitted("nested", "ML")
    y, X, random = build("nested")
    for opt in ("Nelder-Mead", "Powell"):
        fit = fit_lmm(y, X, random, method="ML", optimizers=[opt])
        assert fit.optimizer == opt
        assert fit.loglik == pytest.approx(ref.loglik, abs=1e-5)


# --------------------------------------------------------------------------- 3. properties


def test_invariant_to_row_order_and_group_labels():
    y, X, random = build("nested")
    ref = fitted("nested")
    perm = np.random.default_rng(7).permutation(len(y))
    y2 = y.to_numpy()[perm]
    X2 = X.iloc[perm].reset_index(drop=True)
    clus = random[0].groups.to_numpy()[perm]
    subj = random[1].groups.to_numpy()[perm]
    # relabel: clusters become integers in a scrambled order, subjects get new strings
    cmap = {c: int(i) for c, i in zip(sorted(set(clus)), np.random.default_rng(8).permutation(30))}
    smap = {s: f"zz{i}" for i, s in enumerate(sorted(set(subj), reverse=True))}
    fit = fit_lmm(
        y2,
        X2,
        [
            RandomTerm("cluster", [cmap[c] for c in clus]),
            RandomTerm("subject", [smap[s] for s in subj], X2),
        ],
    )
    assert fit.loglik == pytest.approx(ref.loglik, abs=1e-8)
    got, want = fit.estimates.set_index("term"), ref.estimates.set_index("term")
    cols = ["estimate", "se", "statistic", "df", "ci_low", "ci_high"]
    np.testing.assert_allclose(got[cols].to_numpy(), want[cols].to_numpy(), rtol=1e-6)
    # p values of 1e-35 and 1e-26 amplify the optimizer's last digits (a relative change of
    # 1e-7 in t moves p by about 3e-6): compared on the log scale
    np.testing.assert_allclose(np.log(got["p"]), np.log(want["p"]), rtol=1e-6)
    np.testing.assert_allclose(
        fit.variance_components["variance"], ref.variance_components["variance"], rtol=1e-5
    )
    # BLUPs follow their groups
    re_new = fit.random_effects("subject")
    re_ref = ref.random_effects("subject")
    for s in ["S001", "S050"]:
        np.testing.assert_allclose(re_new.loc[smap[s]], re_ref.loc[s], rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(fit.fitted().to_numpy(), ref.fitted().to_numpy()[perm], rtol=1e-7)


def test_slope_ci_coverage_parameter_recovery():
    """200 seeded simulations; the 95% Wald CI of the slope covers the truth.

    Coverage count ~ Binomial(200, 0.95) if nominal: mean 190, SD 3.1. We accept
    [180, 200], the central ~99.9% range (a test that fails by chance about once in a
    thousand seeds-sets); Wald z with 30 clusters may under-cover slightly, still inside.
    The mean estimate must also be unbiased within 4 Monte Carlo SEs.
    """
    true = 0.5
    covered, est = 0, []
    for seed in range(200):
        rng = np.random.default_rng(10_000 + seed)
        y, X, subject = simulate_growth(rng, beta=(5.0, true), corr=0.3)
        fit = fit_lmm(y, X, [RandomTerm("subject", subject, X)])
        row = fit.estimates.set_index("term").loc["time"]
        covered += row["ci_low"] <= true <= row["ci_high"]
        est.append(row["estimate"])
    assert 180 <= covered <= 200
    est = np.asarray(est)
    assert abs(est.mean() - true) < 4 * est.std(ddof=1) / np.sqrt(est.size)


def test_variance_recovery_large_sample():
    rng = np.random.default_rng(3)
    y, X, subject = simulate_growth(rng, n_subj=800, sd_int=1.0, sd_slope=0.3, corr=0.3, sigma=0.5)
    fit = fit_lmm(y, X, [RandomTerm("subject", subject, X)])
    assert vc(fit, "subject", "Intercept")["sd"] == pytest.approx(1.0, rel=0.08)
    assert vc(fit, "subject", "time")["sd"] == pytest.approx(0.3, rel=0.08)
    assert vc(fit, "subject", "Intercept", "time")["corr"] == pytest.approx(0.3, abs=0.1)
    assert np.sqrt(fit.sigma2) == pytest.approx(0.5, rel=0.05)


def test_zero_slope_variance_gives_boundary_and_warning():
    # true slope variance 0: the REML estimate is exactly 0 for this seed
    rng = np.random.default_rng(12)
    y, X, subject = simulate_growth(rng, n_subj=25, sd_slope=0.0, sigma=1.0)
    with pytest.warns(AllianceWarning, match="boundary"):
        fit = fit_lmm(y, X, [RandomTerm("subject", subject, X)])
    assert fit.boundary
    # singular G: here the slope is estimated as perfectly correlated with the intercept
    # (Lambda_22 = 0), i.e. G has rank 1, lme4's isSingular
    assert abs(vc(fit, "subject", "Intercept", "time")["corr"]) == pytest.approx(1.0, abs=1e-6)
    assert any("boundary" in w for w in fit.warnings)
    assert fit.to_dict()["boundary"] is True
    # with independent intercept and slope the slope variance itself is estimated as 0
    with pytest.warns(AllianceWarning, match="boundary.*time"):
        fit_d = fit_lmm(y, X, [RandomTerm("subject", subject, X, "diagonal")])
    assert fit_d.boundary
    assert vc(fit_d, "subject", "time")["variance"] == 0.0
    assert vc(fit_d, "subject", "Intercept")["variance"] > 0.1


def test_exact_linear_outcome_raises_fit_error():
    rng = np.random.default_rng(0)
    _y, X, subject = simulate_growth(rng)
    y_exact = 2.0 + 3.0 * X["time"].to_numpy()
    with pytest.raises(FitError, match="exact linear function"):
        fit_lmm(y_exact, X, [RandomTerm("subject", subject, X)])


def test_outcome_fully_explained_by_groups_raises_fit_error():
    rng = np.random.default_rng(0)
    _y, X, subject = simulate_growth(rng)
    y_groups = rng.normal(size=30)[subject] + 0.5 * X["time"].to_numpy()
    with pytest.raises(FitError):
        fit_lmm(y_groups, X, [RandomTerm("subject", subject)])


def test_nan_in_outcome_names_source_and_rows():
    y, X, random = build("sleepstudy")
    y = y.copy()
    y.iloc[[3, 17]] = np.nan
    with pytest.raises(DataError, match=r"sleep\.csv.*data rows 4, 18"):
        fit_lmm(y, X, random, source="sleep.csv")


def test_inf_in_design_and_missing_group_rejected():
    y, X, random = build("sleepstudy")
    X2 = X.copy()
    X2.loc[5, "Days"] = np.inf
    with pytest.raises(DataError, match="Days.*data row 6"):
        fit_lmm(y, X2, [RandomTerm("Subject", random[0].groups, X)])
    with pytest.raises(DataError, match="random-effect.*data row 6"):
        fit_lmm(y, X, [RandomTerm("Subject", random[0].groups, X2)])
    g = random[0].groups.astype(object).copy()
    g.iloc[0] = None
    with pytest.raises(DataError, match="Subject.*data row 1"):
        fit_lmm(y, X, [RandomTerm("Subject", g, X)])


def test_rank_deficient_design_names_aliased_column():
    y, X, random = build("sleepstudy")
    X2 = X.assign(Days2=2.0 * X["Days"])
    with pytest.raises(FitError, match="rank deficient.*Days"):
        fit_lmm(y, X2, random)


def test_shape_mismatch_and_bad_options():
    y, X, random = build("sleepstudy")
    with pytest.raises(ValueError, match="rows"):
        fit_lmm(y[:-1], X, random)
    with pytest.raises(ValueError, match="rows"):
        fit_lmm(y, X, [RandomTerm("Subject", random[0].groups[:-1])])
    with pytest.raises(ValueError, match="method"):
        fit_lmm(y, X, random, method="OLS")
    with pytest.raises(ValueError, match="structure"):
        fit_lmm(y, X, [RandomTerm("Subject", random[0].groups, X, "compound")])


def test_too_many_random_effects_rejected():
    y, X, _ = build("sleepstudy")
    with pytest.raises(FitError, match="not identifiable"):
        fit_lmm(y, X, [RandomTerm("row", np.arange(len(y)))])


def test_no_global_random_state_touched():
    state = np.random.get_state()[1].copy()
    fitted("orthodont", "ML")
    y, X, random = build("orthodont")
    fit_lmm(y, X, random)
    assert np.array_equal(np.random.get_state()[1], state)


def test_statsmodels_cross_check_fixed_effects():
    sm = pytest.importorskip("statsmodels.formula.api")
    d = pd.read_csv(DATA / "growth_sleepstudy.csv")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = sm.mixedlm("Reaction ~ Days", d, groups=d["Subject"], re_formula="~Days").fit(
            reml=True
        )
    ours = fitted("sleepstudy").estimates.set_index("term")["estimate"].to_numpy()
    np.testing.assert_allclose(ours, res.fe_params.to_numpy(), rtol=1e-4)


@pytest.mark.parametrize("case", ["unsorted", "unused", "numbers", "mixed", "missing", "series"])
def test_categorical_groups_give_the_levels_of_their_labels(case):
    """A categorical grouping factor is read from its codes (issue 23): the same codes and
    levels as factorising its labels, whatever the order of its categories and with
    categories no row uses; mixed-type categories and missing labels take the labels' path
    (its sort, its message)."""
    rng = np.random.default_rng(7)
    labels = np.array([f"p{k:02d}" for k in rng.permutation(30)], dtype=object)
    cats = pd.Index(list(labels) + (["zz-unused", "a-unused"] if case == "unused" else []),
                    dtype=object)
    if case == "numbers":
        cats = pd.Index(rng.permutation(30) * 7 - 50)
    if case == "mixed":
        cats = pd.Index(["b", 3, "a", 1] + [f"q{k}" for k in range(26)], dtype=object)
    codes = rng.integers(0, 30, 200)
    codes[:30] = np.arange(30)
    if case == "missing":
        codes[17] = -1
    cat = pd.Categorical.from_codes(codes, categories=cats)
    groups = pd.Series(cat) if case == "series" else cat
    y = rng.normal(size=200)
    X = pd.DataFrame({"Intercept": np.ones(200)})
    labels_of = np.asarray(cat, dtype=object)
    if case == "missing":
        with pytest.raises(DataError, match=r"grouping factor 'g' is missing in data row 18"):
            prepare(y, X, [RandomTerm("g", groups)], "s")
        return
    got = prepare(y, X, [RandomTerm("g", groups)], "s")[3][0]
    want = prepare(y, X, [RandomTerm("g", labels_of)], "s")[3][0]
    assert np.array_equal(got.codes, want.codes)
    assert got.levels.equals(want.levels) and got.levels.dtype == want.levels.dtype
    assert list(got.levels) == sorted(set(labels_of), key=lambda v: (str(type(v)), v)) or case == "mixed"


def test_rank_check_with_the_fits_R_decides_as_the_pivoted_check():
    """check_rank with the R of the fit's unpivoted QR (issue 23: one factorisation
    fewer per fit) refuses exactly the designs the pivoted factorisation refuses, with the
    same message: designs with a column that is another combination plus noise from 1e-13
    to 1e-2 of its size, around the rule's bound (1e-7), on several scales."""
    from alliance.mixed.model import check_rank

    rng = np.random.default_rng(3)
    decided = {True: 0, False: 0}
    for noise in 10.0 ** np.arange(-13.0, -1.0, 0.5):
        for scale in (1e-3, 1.0, 1e4):
            X = np.column_stack([np.ones(80), rng.normal(size=(80, 3)) * scale])
            X = np.column_stack([X, X[:, 1] - 2.0 * X[:, 2] + noise * scale * rng.normal(size=80)])
            names = [f"x{j}" for j in range(X.shape[1])]
            outcomes = []
            for R in (None, np.linalg.qr(X)[1]):
                try:
                    check_rank(X, names, "s", R=R)
                    outcomes.append(None)
                except FitError as exc:
                    outcomes.append(str(exc))
            assert outcomes[0] == outcomes[1], (noise, scale)
            decided[outcomes[0] is None] += 1
    assert decided[True] and decided[False]  # both decisions among the cases
