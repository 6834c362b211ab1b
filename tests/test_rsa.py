"""Tests of :mod:`alliance.rsa` (response surface analysis).

Evidence (data provenance in tests/data/README.md; R script tests/r/rsa_reference.R,
R 4.x with lme4 1.1.31 and sandwich, frozen in tests/reference/rsa_*.json):

1. published algebra: Shanock et al. (2010), Table 2 (as reproduced in the RSA manual);
2. R ``lm`` + ``sandwich::vcovHC(type = "HC0")`` on the RSA package's motcon and motcon2 data
   (estimates, classical and HC0 covariances, log-likelihoods of the constrained family);
3. lme4 on Nestler et al.'s (2019) Example 1 (ML, five random slopes; moderated by g.s),
   the L1/L2 example (random intercept, REML) and the book's chapter-5 model;
4. properties: invariances, relabelling, parameter recovery, error paths, the CLI.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import alliance
from alliance import cli
from alliance.errors import AllianceWarning, DataError
from alliance.rsa import (
    QUANTITIES,
    congruence_checklist,
    fit_rsa,
    regions_of_significance,
    surface_parameters,
    surface_quantities,
)

# Issue 15: the reference data's stationary points (motcon, simulated surfaces) lie far
# outside the data with huge SEs, which fit_rsa now flags with an AllianceWarning;
# tests/test_reliability.py tests the flag itself.
pytestmark = pytest.mark.filterwarnings(
    "ignore:.*stationary point lies far outside the data:alliance.errors.AllianceWarning")

HERE = Path(__file__).parent
DATA = HERE / "data"
REF = HERE / "reference"
A = ["a1", "a2", "a3", "a4", "a5"]


def ref(name: str) -> dict:
    return json.loads((REF / f"rsa_{name}.json").read_text())


def surf(t: pd.DataFrame, level=None) -> pd.DataFrame:
    if level is not None:
        t = t[t["level"] == level]
    return t.set_index("term")


# --------------------------------------------------------------------------- surface algebra


def test_shanock_2010_table2():
    # Shanock et al. (2010), Table 2: b1..b5 = -.23, .77, -.07, .27, -.10 -> a1..a4 = .54, .10, -1.00, -.44
    t = surf(surface_parameters([-0.23, 0.77, -0.07, 0.27, -0.10], np.eye(5) * 0.01))
    np.testing.assert_allclose(t.loc[["a1", "a2", "a3", "a4"], "estimate"], [0.54, 0.10, -1.00, -0.44],
                               atol=1e-12)  # exact arithmetic
    assert t.loc["a5", "estimate"] == pytest.approx(0.03, abs=1e-12)


def test_linear_ses_are_lvlt_and_nonlinear_ses_match_closed_forms():
    rng = np.random.default_rng(5)
    G = rng.normal(size=(5, 5))
    V = G @ G.T / 50
    b = np.array([0.3, -0.2, -0.4, 0.1, -0.3])
    t = surf(surface_parameters(b, V))
    from alliance.rsa import SURFACE_L

    L = SURFACE_L.to_numpy()
    np.testing.assert_allclose(t.loc[A, "se"], np.sqrt(np.diag(L @ V @ L.T)), rtol=1e-12)
    # with b4 = 0 and b3 > b5, lambda1 = b3 exactly, so its SE is sqrt(V33) (central differences: 1e-7)
    b0 = np.array([0.3, -0.2, -0.1, 0.0, -0.5])
    V0 = np.diag([0.01, 0.02, 0.03, 1e-12, 0.05])
    t0 = surf(surface_parameters(b0, V0))
    assert t0.loc["lambda1", "se"] == pytest.approx(np.sqrt(0.03), rel=1e-6)


def test_stationary_point_and_axes_properties():
    b = np.array([0.4, -0.1, -0.5, 0.3, -0.2])
    q = surface_quantities(b)
    x0, y0 = q["X0"], q["Y0"]
    # the gradient vanishes at the stationary point
    assert b[0] + 2 * b[2] * x0 + b[3] * y0 == pytest.approx(0, abs=1e-12)
    assert b[1] + b[3] * x0 + 2 * b[4] * y0 == pytest.approx(0, abs=1e-12)
    # the principal axes are orthogonal, pass through (X0, Y0), and carry the eigenvalues
    assert q["p11"] * q["p21"] == pytest.approx(-1, abs=1e-12)
    assert q["p10"] + q["p11"] * x0 == pytest.approx(y0, abs=1e-12)
    H = np.array([[b[2], b[3] / 2], [b[3] / 2, b[4]]])
    ev = np.linalg.eigvalsh(H)
    assert [q["lambda1"], q["lambda2"]] == pytest.approx([ev[1], ev[0]], abs=1e-12)
    v1 = np.array([1.0, q["p11"]])
    assert H @ v1 == pytest.approx(q["lambda1"] * v1, abs=1e-12)
    # along the LOIC the surface peaks at loic_shift
    a3, a4 = q["a3"], q["a4"]
    assert a3 + 2 * a4 * q["loic_shift"] == pytest.approx(0, abs=1e-12)
    # the first principal axis crosses the LOIC at (pa1_shift, -pa1_shift)
    s = q["pa1_shift"]
    assert q["p10"] + q["p11"] * s == pytest.approx(-s, abs=1e-12)
    assert list(q) == list(QUANTITIES)


def test_degenerate_quadratic_form_gives_nan():
    q = surface_quantities([0.5, 0.5, 0.0, 0.0, 0.0])
    assert np.isnan(q["X0"]) and np.isnan(q["p11"]) and np.isnan(q["loic_shift"])


def test_quantities_of_many_surfaces_at_once_are_those_of_one():
    """The delta method evaluates the quantities at b and at ten steps from it in one pass
    (``_quantities``); each row is exactly :func:`surface_quantities` of that b, and the
    Jacobian is exactly the one of steps taken one by one, on random and degenerate surfaces
    (flat quadratic form, b4 = 0, a4 = 0, a first axis of slope -1, huge and tiny b)."""
    from alliance.rsa.surface import SURFACE_L, _quantities, _values_and_jacobian

    rng = np.random.default_rng(11)
    bs = [rng.normal(size=5) * s for s in (1e-8, 1e-3, 1.0, 1e3, 1e6) for _ in range(40)]
    bs += [np.array(b, dtype=float) for b in (
        [0.5, 0.5, 0.0, 0.0, 0.0], [0.2, -0.3, 0.4, 0.0, -0.1], [0.1, 0.2, 0.5, 1.0, 0.5],
        [0.1, 0.2, 1.0, -2.0, 1.0], [0.0, 0.0, -1.0, 2.0, -1.0], [0.3, 0.1, -1.0, 1.999, -1.0])]
    for b in bs:
        want = np.array(list(surface_quantities(b).values()))
        np.testing.assert_array_equal(_quantities(b[None, :])[0], want)
        J = np.empty((len(QUANTITIES), 5))  # the steps one by one
        for j in range(5):
            h = 1e-6 * max(1.0, abs(b[j]))
            up, dn = b.copy(), b.copy()
            up[j] += h
            dn[j] -= h
            J[:, j] = (np.array(list(surface_quantities(up).values()))
                       - np.array(list(surface_quantities(dn).values()))) / (2.0 * h)
        J[:5] = SURFACE_L.to_numpy()
        est, J_once = _values_and_jacobian(b)
        np.testing.assert_array_equal(est, want)
        np.testing.assert_array_equal(J_once, J)


def test_checklist_on_a_textbook_congruence_surface():
    # z = -(X - Y)^2 with precise estimates: a4 = -4 < 0, ridge on the LOC -> broad AND strict congruence
    b = [0.0, 0.0, -1.0, 2.0, -1.0]
    # b3 = b5 = -b4/2 makes the quadratic form singular (a ridge): the axes come from a tiny tilt
    b = [0.0, 0.0, -1.0, 1.999, -1.0]
    t = surface_parameters(b, np.eye(5) * 1e-4)
    ch = congruence_checklist(t)
    assert ch["met"].all(), ch
    assert ch.attrs["strict"]
    # a rising ridge (a1 > 0) is a broad but not a strict congruence effect
    ch = congruence_checklist(surface_parameters([0.5, 0.5, -1.0, 1.999, -1.0], np.eye(5) * 1e-4))
    assert ch.attrs["broad"] and not ch.attrs["strict"]
    # a shifted ridge (a3 != 0) is not a congruence effect
    ch = congruence_checklist(surface_parameters([0.5, -0.5, -1.0, 1.999, -1.0], np.eye(5) * 1e-4))
    assert not ch.attrs["broad"] and "condition(s)" in ch.attrs["verdict"]


def test_surface_parameters_input_forms():
    b = pd.Series([1.0, 0.1, 0.2, 0.3, 0.4, 0.5], index=["Intercept", "x", "y", "x2", "xy", "y2"])
    V = pd.DataFrame(np.eye(6) * 0.01, index=b.index, columns=b.index)
    t1 = surface_parameters(b, V)
    t2 = surface_parameters(b.to_numpy()[1:], np.eye(5) * 0.01)
    pd.testing.assert_frame_equal(t1, t2)
    with pytest.raises(ValueError, match="5 x 5"):
        surface_parameters([1, 2, 3, 4, 5], np.eye(4))
    with pytest.raises(ValueError, match="lacks"):
        surface_parameters(pd.Series({"x": 1.0}), np.eye(5))


# --------------------------------------------------------------------------- single level vs R


@pytest.mark.parametrize("name,file,z,x,y", [
    ("motcon", "rsa_motcon.csv", "postVA", "ePow", "iPow"),
    ("motcon2", "rsa_motcon2.csv", "VA", "EM", "IM"),
])
def test_single_level_against_r(name, file, z, x, y):
    r = ref(name)
    data = alliance.read_table(DATA / file, numeric=[z, x, y])
    for se in ("classical", "hc0"):
        res = fit_rsa(data, z, x, y, center="none", se=se)
        assert list(res.beta.index) == ["Intercept", "x", "y", "x2", "xy", "y2"]
        # OLS is exact linear algebra: R and NumPy agree to rounding
        np.testing.assert_allclose(res.beta.to_numpy(), r["coef"], rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(res.cov.to_numpy(), r[f"vcov_{se}"], rtol=1e-9, atol=1e-14)
        s = surf(res.tables["surface"])
        rs = pd.DataFrame(r[f"surface_{se}"]).set_index("term")
        np.testing.assert_allclose(s.loc[A, "estimate"], rs.loc[A, "estimate"], rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(s.loc[A, "se"], rs.loc[A, "se"], rtol=1e-9)
    assert res.info["loglik"] == pytest.approx(r["loglik"], rel=1e-12)
    # lavaan's estimator = "ML": SEs = OLS SEs x sqrt((n - p)/n)
    ml = fit_rsa(data, z, x, y, center="none", se="ml")
    cl = fit_rsa(data, z, x, y, center="none", se="classical")
    n, p = r["n"], 6
    np.testing.assert_allclose(ml.tables["coefficients"]["se"],
                               cl.tables["coefficients"]["se"] * np.sqrt((n - p) / n), rtol=1e-12)
    # the constrained family: log-likelihoods of lm() on the reduced designs
    fam = res.tables["models"].set_index("model")
    for m in r["family"]:
        assert fam.loc[m["model"], "loglik"] == pytest.approx(m["loglik"], rel=1e-10), m["model"]
        assert fam.loc[m["model"], "k"] == m["k"]
    assert fam["weight"].sum() == pytest.approx(1.0)
    k, ll = fam["k"], fam["loglik"]
    aicc = -2 * ll + 2 * k + 2 * k * (k + 1) / (n - k - 1)
    np.testing.assert_allclose(fam["aicc"], aicc)


def test_family_constraints_hold():
    data = alliance.read_table(DATA / "rsa_motcon.csv", numeric=["postVA", "ePow", "iPow"])
    fam = fit_rsa(data, "postVA", "ePow", "iPow", center="none").tables["models"].set_index("model")
    b = fam[[f"b{i}" for i in range(1, 6)]]
    assert b.loc["RR", "b1"] == pytest.approx(b.loc["RR", "b2"])
    assert b.loc["SSQD", "b1"] == pytest.approx(-b.loc["SSQD", "b2"])
    for m in ("SQD", "SSQD", "RR", "SRR"):
        assert b.loc[m, "b3"] == pytest.approx(b.loc[m, "b5"])
        assert b.loc[m, "b4"] == pytest.approx(-2 * b.loc[m, "b3"])
    assert (b.loc["IA", ["b3", "b5"]] == 0).all()
    tests = fit_rsa(data, "postVA", "ePow", "iPow", center="none").tables["model_tests"]
    assert (tests["df"] > 0).all() and tests["p"].between(0, 1).all()


# --------------------------------------------------------------------------- multilevel vs lme4


def _nestler():
    cols = ["z", "x.c", "y.c", "x.mean", "y.mean", "x2.mean", "xy.mean", "y2.mean", "g.s"]
    return alliance.read_table(DATA / "mlrsa_nestler2019_example1.csv", numeric=cols,
                               required=["GroupID"])


L2 = ["x.mean", "y.mean", "x2.mean", "xy.mean", "y2.mean"]


@pytest.mark.slow
def test_nestler_example1_average_surface():
    r = ref("nestler_example1")
    res = fit_rsa(_nestler(), "z", "x.c", "y.c", group="GroupID", random="full", center="none",
                  covariates=L2, method="ML")
    # lme4 (bobyqa, rhoend 1e-10): the optimum is reached to ~1e-8 in logLik
    assert res.info["loglik"] == pytest.approx(r["loglik"], abs=1e-5)
    s = surf(res.tables["surface"])
    rs = pd.DataFrame(r["surface"]).set_index("term")
    # 21 covariance parameters on a flat likelihood: estimates to 1e-5, SEs to 1e-4 relative
    np.testing.assert_allclose(s.loc[A, "estimate"], rs.loc[A, "estimate"], atol=1e-5)
    np.testing.assert_allclose(s.loc[A, "se"], rs.loc[A, "se"], rtol=1e-4)


def test_nestler_example1_pick_a_point():
    r = ref("nestler_example1_moderated")
    res = fit_rsa(_nestler(), "z", "x.c", "y.c", group="GroupID", random="full", center="none",
                  covariates=L2, method="ML", moderator="g.s", at=[-1, 0, 1])
    assert res.info["loglik"] == pytest.approx(r["loglik"], abs=1e-5)
    pp = pd.DataFrame(r["pick_a_point"])
    for g in (-1, 0, 1):
        s = surf(res.tables["surface"], f"g.s={g:g}")
        rg = pp[pp["value"] == g].set_index("term")
        np.testing.assert_allclose(s.loc[A, "estimate"], rg.loc[A, "estimate"], atol=1e-5)
        np.testing.assert_allclose(s.loc[A, "se"], rg.loc[A, "se"], rtol=1e-4)
    reg = res.tables["regions"].set_index("term")
    assert set(reg.index) == set(A)


def test_l1l2_random_intercept_reml():
    r = ref("L1L2")
    data = alliance.read_table(DATA / "mlrsa_nestler_L1L2_example.csv", numeric=["IV", "selfesteem"],
                               required=["state"])
    res = fit_rsa(data, "selfesteem", "IV", None, y_as_group_mean=True, group="state", method="REML")
    assert res.info["center_x"] == pytest.approx(r["center"], rel=1e-12)
    # one variance ratio: lme4 and fit_lmm agree to optimizer precision
    assert res.info["loglik"] == pytest.approx(r["loglik"], abs=1e-6)
    np.testing.assert_allclose(res.beta.to_numpy(), r["coef"], rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(res.cov.to_numpy(), r["vcov"], rtol=1e-5, atol=1e-10)
    assert not res.info["boundary"] and res.converged


def test_l1l2_statsmodels_default_is_degenerate():
    # The documented trap (reference-data README): statsmodels' MixedLM default path returns a
    # fit marked converged with an infinite log-likelihood and a zero random-intercept variance.
    sm = pytest.importorskip("statsmodels.api")
    d = pd.read_csv(DATA / "mlrsa_nestler_L1L2_example.csv")
    d["SV"] = d.groupby("state")["IV"].transform("mean")
    c = np.mean(np.r_[d["IV"], d["SV"]])
    x, y = d["IV"] - c, d["SV"] - c
    X = pd.DataFrame({"Intercept": 1.0, "x": x, "y": y, "x2": x * x, "xy": x * y, "y2": y * y})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bad = sm.MixedLM(d["selfesteem"], X, groups=d["state"]).fit(reml=True)
    degenerate = (not np.isfinite(bad.llf)) or float(np.ravel(bad.cov_re)[0]) == 0.0
    if not degenerate:
        pytest.skip("this statsmodels version no longer degenerates here")
    assert bad.converged  # labelled converged, which is the trap
    res = fit_rsa(d, "selfesteem", "IV", None, y_as_group_mean=True, group="state", method="REML")
    assert np.isfinite(res.info["loglik"]) and res.fit.variance_components["variance"].iloc[0] > 0


def test_chapter5_model_against_lme4():
    r = ref("chapter5")
    data = alliance.load_example()
    res = fit_rsa(data, "wellbeing", "alliance_therapist", "alliance_patient",
                  group=["therapist", "patient"], time="session", lag=1, moderator="condition",
                  covariates=["session"])
    assert res.n_obs == r["n"]
    assert res.info["center_x"] == pytest.approx(r["center"], rel=1e-12)
    assert res.info["loglik"] == pytest.approx(r["loglik"], abs=1e-6)
    per_arm = pd.DataFrame(r["per_arm"])
    for level in ("control", "training"):
        s = surf(res.tables["surface"], level)
        rl = per_arm[per_arm["level"] == level].set_index("term")
        np.testing.assert_allclose(s.loc[A, "estimate"], rl.loc[A, "estimate"], rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(s.loc[A, "se"], rl.loc[A, "se"], rtol=1e-5)
    s = surf(res.tables["surface"], "training - control")  # R's "difference"
    rd = pd.DataFrame(r["difference"]).set_index("term")
    np.testing.assert_allclose(s.loc[A, "estimate"], rd.loc[A, "estimate"], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(s.loc[A, "se"], rd.loc[A, "se"], rtol=1e-5)


# --------------------------------------------------------------------------- properties


def _sim_single(n=400, seed=1, b=(0.5, 0.3, -0.4, 0.6, -0.2)):
    rng = np.random.default_rng(seed)
    x = rng.normal(3.5, 0.6, n)
    y = 0.5 * x + rng.normal(1.75, 0.5, n)
    c = 3.5
    X, Y = x - c, y - c
    z = 2 + b[0] * X + b[1] * Y + b[2] * X**2 + b[3] * X * Y + b[4] * Y**2 + rng.normal(0, 0.3, n)
    return pd.DataFrame({"x": x, "y": y, "z": z, "g": rng.integers(0, 2, n)})


def test_recovery_single_level():
    b = (0.5, 0.3, -0.4, 0.6, -0.2)
    res = fit_rsa(_sim_single(n=5000, b=b), "z", "x", "y", center=3.5)
    est = res.b().to_numpy()
    se = res.tables["coefficients"].set_index("term").loc[["x", "y", "x2", "xy", "y2"], "se"]
    assert np.all(np.abs(est - b) < 4 * se.to_numpy())


def test_row_order_and_relabelling_invariance():
    data = alliance.load_example()
    kw = {"group": ["therapist", "patient"], "time": "session", "lag": 1, "moderator": "condition",
              "covariates": ["session"]}
    a = fit_rsa(data, "wellbeing", "alliance_therapist", "alliance_patient", **kw)
    shuffled = data.sample(frac=1.0, random_state=3)
    relab = shuffled.assign(patient="Q" + shuffled["patient"], therapist="U" + shuffled["therapist"])
    b = fit_rsa(relab, "wellbeing", "alliance_therapist", "alliance_patient", **kw)
    np.testing.assert_allclose(a.tables["surface"]["estimate"], b.tables["surface"]["estimate"],
                               rtol=1e-6, atol=1e-7)


def test_swapping_x_and_y_mirrors_the_surface():
    d = _sim_single()
    a = surf(fit_rsa(d, "z", "x", "y").tables["surface"])
    b = surf(fit_rsa(d, "z", "y", "x").tables["surface"])
    for t, sign in (("a1", 1), ("a2", 1), ("a3", -1), ("a4", 1), ("a5", -1)):
        assert b.loc[t, "estimate"] == pytest.approx(sign * a.loc[t, "estimate"], abs=1e-10)
        assert b.loc[t, "se"] == pytest.approx(a.loc[t, "se"], rel=1e-10)


def test_pooled_centring_is_shift_invariant():
    d = _sim_single()
    a = fit_rsa(d, "z", "x", "y").tables["surface"]
    b = fit_rsa(d.assign(x=d["x"] + 10, y=d["y"] + 10), "z", "x", "y").tables["surface"]
    ab = a.set_index("term").loc[A]
    bb = b.set_index("term").loc[A]
    np.testing.assert_allclose(ab[["estimate", "se"]], bb[["estimate", "se"]], rtol=1e-8, atol=1e-10)


def test_variablewise_centring_warns():
    d = _sim_single()
    with pytest.warns(AllianceWarning, match="variable-wise"):
        res = fit_rsa(d, "z", "x", "y", center="variablewise")
    assert any("variable-wise" in w for w in res.warnings)


def test_binary_moderator_matches_separate_fits_for_point_estimates():
    d = _sim_single(n=600)
    res = fit_rsa(d, "z", "x", "y", moderator="g", se="classical")
    for lv in ("0", "1"):
        sub = fit_rsa(d[d["g"] == int(lv)], "z", "x", "y", center=res.info["center_x"], se="classical")
        np.testing.assert_allclose(surf(res.tables["surface"], lv).loc[A, "estimate"],
                                   surf(sub.tables["surface"]).loc[A, "estimate"], atol=1e-10)
    diff = surf(res.tables["surface"], "1 - 0")
    one, zero = surf(res.tables["surface"], "1"), surf(res.tables["surface"], "0")
    np.testing.assert_allclose(diff.loc[A, "estimate"], one.loc[A, "estimate"] - zero.loc[A, "estimate"])


def test_regions_of_significance_boundaries():
    c0, c1, v00, v01, v11 = 0.1, 0.5, 0.04, 0.0, 0.01
    r = regions_of_significance(c0, c1, v00, v01, v11)
    for g in (r["lower"], r["upper"]):
        assert abs(c0 + c1 * g) / np.sqrt(v00 + 2 * g * v01 + g * g * v11) == pytest.approx(1.959964, abs=1e-5)
    assert r["inside"] is False  # significant outside the bounds


def test_lagged_fit_uses_lag_builder_counts():
    data = alliance.load_example()
    res = fit_rsa(data, "wellbeing", "alliance_therapist", "alliance_patient", group="patient",
                  time="session", lag=1)
    rep = res.info["lag_report"]
    assert rep["n_first"] == data["patient"].nunique()
    assert res.info["rows_used"] + sum(res.info["rows_dropped"].values()) == len(data)


def test_prior_outcome_control_and_level2_means():
    data = alliance.load_example()
    # controlling the previous well-being absorbs the patient intercept: a boundary fit, reported
    with pytest.warns(AllianceWarning, match="boundary"):
        res = fit_rsa(data, "wellbeing", "alliance_therapist", "alliance_patient", group="patient",
                      time="session", lag=1, prior_outcome=True, level2_means=True)
    assert res.info["boundary"]
    names = list(res.beta.index)
    assert "wellbeing_lag1" in names and "mean_xy" in names


def test_errors():
    d = _sim_single()
    with pytest.raises(DataError, match="missing column"):
        fit_rsa(d, "z", "x", "nope")
    with pytest.raises(DataError, match="numeric"):
        fit_rsa(d.assign(x="a"), "z", "x", "y")
    with pytest.raises(ValueError, match="multilevel"):
        fit_rsa(d, "z", "x", "y", group="g", se="hc0")
    with pytest.raises(ValueError, match="center"):
        fit_rsa(d, "z", "x", "y", center="median")
    with pytest.raises(DataError, match="binary or a numeric"):
        fit_rsa(d.assign(m=np.array(["a", "b", "c", "d"])[np.arange(len(d)) % 4]), "z", "x", "y",
                moderator="m")
    with pytest.raises(ValueError, match="time and lag"):
        fit_rsa(d, "z", "x", "y", lag=1)


# --------------------------------------------------------------------------- CLI


def test_cli_json_on_reference_file(capsys):
    code = cli.main(["fit", "rsa", str(DATA / "rsa_motcon.csv"), "--outcome", "postVA", "--x", "ePow",
                     "--y", "iPow", "--center", "none", "--se", "hc0", "--json"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    rec = {r["term"]: r for r in out["surface"]}
    assert set(A) <= set(rec)
    for key in ("estimate", "se", "statistic", "p", "ci_low", "ci_high"):
        assert key in rec["a1"]
    rs = pd.DataFrame(ref("motcon")["surface_hc0"]).set_index("term")
    assert rec["a4"]["se"] == pytest.approx(rs.loc["a4", "se"], rel=1e-9)


def test_cli_moderated_multilevel_lagged(capsys):
    code = cli.main(["fit", "rsa", str(alliance.example_path()), "--outcome", "wellbeing",
                     "--x", "alliance_therapist", "--y", "alliance_patient", "--group", "therapist",
                     "--group", "patient", "--time", "session", "--lag", "1", "--moderator", "condition",
                     "--covariate", "session", "--json"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    levels = {r["level"] for r in out["surface"]}
    assert levels == {"control", "training", "training - control"}
    r5 = pd.DataFrame(ref("chapter5")["per_arm"])
    got = {(r["level"], r["term"]): r["estimate"] for r in out["surface"]}
    want = r5.set_index(["level", "term"])["estimate"]
    for key, v in want.items():
        assert got[key] == pytest.approx(v, rel=1e-5, abs=1e-6)


def test_cli_level2_means_is_the_fully_within_surface_of_lme4(capsys):
    """`alliance fit rsa ... --level2-means` on the shipped data equals the fully within-patient
    surface fitted by lme4/lmerTest (patient means of the five terms and their products with the
    arm; tests/r/rsa_within_reference.R -> rsa_within_chapter5.json): estimates and SEs to 1e-6
    (relative; both optimisers stop at gradients ~1e-8 of the ML criterion), Satterthwaite df to
    1e-3 (lmerTest's numerical Hessian)."""
    code = cli.main(["fit", "rsa", str(alliance.example_path()), "--outcome", "wellbeing",
                     "--x", "alliance_therapist", "--y", "alliance_patient", "--group", "therapist",
                     "--group", "patient", "--time", "session", "--lag", "1", "--moderator",
                     "condition", "--moderator-levels", "control", "training",
                     "--covariate", "session", "--level2-means", "--json"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    got = {(r["level"], r["term"]): r for r in out["surface"]}
    want = pd.DataFrame(ref("within_chapter5")["surface"]).set_index(["level", "term"])
    assert len(want) == 15
    for (level, term), w in want.iterrows():
        g = got[({"difference": "training - control"}.get(level, level), term)]
        assert g["estimate"] == pytest.approx(w["estimate"], rel=1e-6, abs=1e-6), (level, term)
        assert g["se"] == pytest.approx(w["se"], rel=1e-6), (level, term)
        assert g["df"] == pytest.approx(w["df"], rel=1e-3), (level, term)


def test_cli_bad_column_exit_code(capsys):
    code = cli.main(["fit", "rsa", str(DATA / "rsa_motcon.csv"), "--outcome", "nope", "--x", "ePow",
                     "--y", "iPow"])
    assert code == 1
    assert "nope" in capsys.readouterr().err


# --------------------------------------------------------------------------- figures


def test_figures_and_kernel_free_view():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    import re

    from alliance.plots.rsa import explorer, interactive_surface, plot_contour, plot_surface

    d = _sim_single(n=300)
    res = fit_rsa(d, "z", "x", "y", moderator="g")
    for fn in (plot_surface, plot_contour):
        fig = fn(res)
        assert isinstance(fig, Figure) and len(fig.axes) >= 2
        assert all(ax.get_title() == "" for ax in fig.axes)  # captions carry titles
        plt.close(fig)
    view = interactive_surface(res)
    assert view.steps == ["0", "1"]  # one button per fitted level, no blended surfaces
    linked = interactive_surface(res, plotly_src="../_static/plotly/plotly-gl3d.min.js")
    page = linked._repr_html_()
    # plotly.js is not loaded up front: the page fetches it when the plot comes near the screen
    assert "plotly-gl3d.min.js" in page and not re.search(r"<script[^>]*\ssrc=", page)
    assert 'data-plotly-code="1"' in page and "IntersectionObserver" in page
    assert len(page) < 600_000 and 'role="group" aria-label="Interactive 3-D' in page
    html = view._repr_html_()

    # plotly.js is embedded (no <script src=...> from any host); the browser test checks the
    # built page makes no request to another host
    assert not re.search(r"<script[^>]*\ssrc=", html)
    assert len(html) > 1_000_000
    assert f'data-rsa-interactive="{view.div_id}"' in html and "updatemenus" in html
    widget = explorer(res.b("1"))
    assert len(widget.children) == 1


@pytest.mark.parametrize("options", [{}, {"lag_gaps": True}, {"prior_outcome": True},
                                     {"lag": 2}, {"level2_means": True}])
def test_analysis_frame_lags_the_columns_as_the_lag_builder_lags_a_frame(monkeypatch, options):
    """The door lags its columns with ``lag_columns`` (no frame of them built): the very
    frame, row counts and lag report as :func:`alliance.data.lags.lag` on that frame, on
    data with missing ratings, rows out of order and row labels."""
    import alliance.rsa.spec as spec_module
    from alliance.data.lags import lag
    from alliance.findings import LAGGED_SURFACE
    from alliance.rsa.fit import rsa_spec

    rng = np.random.default_rng(3)
    d = alliance.load_example().sample(frac=1.0, random_state=2)
    d.index = rng.permutation(len(d)) * 3 + 7
    d.loc[d.index[rng.random(len(d)) < 0.1], "alliance_therapist"] = np.nan
    d.loc[d.index[rng.random(len(d)) < 0.1], "wellbeing"] = np.nan
    data = alliance.read_sessions(d)
    spec = rsa_spec(LAGGED_SURFACE, **options)
    got, got_info = spec_module.analysis_frame(data, spec)

    def via_frame(groups, times, columns, k, source, *, group, time, bridge=None, codes=None):
        tmp = pd.DataFrame({**columns, group: groups, time: times}, index=groups.index)
        tmp.attrs["source"] = source.name
        out = lag(tmp, list(columns), group=group, time=time, lag=k,
                  bridge=["_x", "_y"] if bridge is not None else None)
        return {c: out[c].to_numpy() for c in out.columns}, out.attrs["lag"]

    monkeypatch.setattr(spec_module, "lag_columns", via_frame)
    want, want_info = spec_module.analysis_frame(data, spec)
    pd.testing.assert_frame_equal(got, want, check_exact=True)
    assert got_info["lag_report"] == want_info["lag_report"]
    assert [(k, r, list(b)) for b, k, r in got_info["drops"]] == [
        (k, r, list(b)) for b, k, r in want_info["drops"]]
    assert got_info["lag_report"]["n_no_previous"] > 0


@pytest.mark.parametrize("bad", [0, -1, 1.0, True])
def test_a_lag_that_is_not_a_positive_integer_is_refused_at_the_door(bad):
    from alliance.findings import LAGGED_SURFACE
    from alliance.rsa.fit import rsa_spec
    from alliance.rsa.spec import analysis_frame

    spec = rsa_spec(LAGGED_SURFACE, lag=bad)
    with pytest.raises(ValueError, match="lag must be a positive integer"):
        analysis_frame(alliance.read_sessions(alliance.load_example()), spec)
